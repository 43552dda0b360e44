"""A training smoke run on the bundled CC0 scenes: tiny, random init, but the whole path."""
import json
from pathlib import Path

import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_DETECTOR
from maskwatch.models.evaluation.voc import split_of


@pytest.mark.slow
def test_training_smoke_run_writes_a_loadable_model(tmp_path, scenes_dir):
    from maskwatch.models.classifier import MaskClassifier
    from maskwatch.models.modelinfo import ModelInfo
    from maskwatch.models.training.train import TrainSettings, train
    from maskwatch.models_config import DetectorConfig

    out = tmp_path / "model"
    # not the default detector: the model must say which one its rule was chosen with
    detector = DetectorConfig(upscale=2)
    meta = train(TrainSettings(out=out, scenes=scenes_dir, detector_weights=DEFAULT_DETECTOR, input_size=32,
                               batch_size=16, samples_per_epoch=64, epochs_head=1, epochs_finetune=1,
                               folds=2, seed=3, progress=False, keep_folds=True, nonface_share=0.1,
                               detector=detector))
    for name in ("metadata.json", "mask_classifier.keras", "mask_classifier.tflite", "mask_classifier.onnx",
                 "training_curves.png", "confusion_matrix.png", "reliability.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "metadata.json").read_text())
    assert saved["classes"] == ["mask", "no_mask", "mask_incorrect"] and saved["input_size"] == 32
    assert saved["schema"] == 2
    assert saved["data"]["train_samples"]["scene/no_mask"] > 0
    assert saved["data"]["train_samples"]["nonface/mask"] > 0 == saved["data"]["train_samples"]["nonface/no_mask"]
    assert saved["training"]["settings"]["detector"]["upscale"] == [2.0] != list(DetectorConfig().upscale)
    assert saved["rule_detector"]["upscale"] == [2.0] and ModelInfo.load(out).rule_upscale == (2.0,)
    assert saved["export_check"]["max_abs_diff"] < 1e-3
    # the rule comes from out-of-fold detections over every non-test scene, test scenes unread
    oof = saved["metrics"]["out_of_fold"]
    n_scenes = sum(1 for p in (scenes_dir / "images").iterdir() if split_of(p.stem) != "test")
    assert oof["all"]["violations_gt"] > 0 and oof["all"]["faces_gt"] > n_scenes
    assert 0 < saved["threshold"] < 1 and 0 <= saved["min_face_score"] < 1
    confusion = saved["metrics"]["out_of_fold_confusion"]
    assert len(confusion) == 3 and all(len(row) == 3 for row in confusion) and sum(map(sum, confusion)) > 0
    assert set(saved["metrics"]["out_of_fold_class_ap"]) == {"mask", "no_mask", "mask_incorrect"}
    assert all(0 <= e <= 1 for e in saved["metrics"]["out_of_fold_class_ece"].values())
    # fitted on the out-of-fold detections, chosen on held-out halves; the served threshold is on that scale
    cal = saved["calibration"]
    assert cal["method"] in ("temperature", "platt", "isotonic", "none") and cal["faces"] > 0
    assert set(cal["held_out_ece"]) == {"none", "temperature", "platt", "isotonic"}
    assert cal["held_out_ece"][cal["method"]] == min(cal["held_out_ece"].values())
    assert 0 <= cal["ece_after"] <= cal["ece_before"] + 1e-9
    assert len(saved["training"]["held_out_fold_curves"]["val_loss"]) == 2
    assert len(saved["training"]["history"]["loss"]) == 2
    clf = MaskClassifier.load(out, backend="tflite")
    p, share, _ = clf.predict_verdicts(np.zeros((3, 32, 32, 3), np.uint8))
    assert p.shape == share.shape == (3,) and np.isfinite(p).all() and ((share >= 0) & (share <= 1)).all()
    ort = MaskClassifier.load(out, backend="onnxruntime").predict_verdicts(np.zeros((3, 32, 32, 3), np.uint8))
    np.testing.assert_allclose(ort[0], p, atol=1e-4)
    assert meta["version"] == saved["version"]
    # every out-of-fold number is kept, and the fold models, for the levers' study
    oof = np.load(out / "out_of_fold.npz")
    # calibrated on the detections the rule's face score lets through
    assert len(oof["all/p_no_mask"]) == len(oof["all/conf"]) >= cal["faces"]
    assert (oof["all/conf"] >= saved["min_face_score"] - 1e-3).sum() >= cal["faces"]
    assert oof["annotated_probs"].shape == (len(oof["annotated_labels"]), 3)
    assert int(oof["all/violations_gt"]) == saved["metrics"]["out_of_fold"]["all"]["violations_gt"]
    # and which image each detection came from: the out-of-fold F1's interval over images
    assert len(oof["all/image"]) == len(oof["all/conf"]) and len(oof["all/image_violations"]) == n_scenes
    lo, hi = saved["metrics"]["out_of_fold"]["all"]["violation_f1_ci"]
    assert lo <= saved["metrics"]["out_of_fold"]["all"]["violation_f1"] <= hi
    from maskwatch.models.studies import levers as levers_cli
    from maskwatch.models.training.crossval import CrossVal

    # the levers, out of fold on the kept fold models, through their command line
    assert levers_cli.main([str(out), "--scenes", str(scenes_dir), "--no-held-out", "--out", str(tmp_path / "lv"),
                            "--save-oof", str(tmp_path / "lv.npz"), "--upscale", "2"]) == 0
    levers = json.loads((tmp_path / "lv" / "levers.json").read_text())["out_of_fold"]
    assert levers["folds_measured"] == [0, 1]
    # the same detections training calibrated on: the same choice, the same three-class numbers
    assert levers["calibration"]["held_out_ece"] == cal["held_out_ece"]
    assert levers["annotated"]["out_of_fold_confusion"] == saved["metrics"]["out_of_fold_confusion"]
    assert (tmp_path / "lv" / "reliability.png").is_file() and (tmp_path / "lv" / "confusion_matrix.png").is_file()
    assert {"as trained", "test-time flip", "margin 0.30", "face score off"} <= set(levers)
    # "as trained" out of fold is the cross-validation training did: the same rule, the same F1
    for bucket in ("all", ">=24px"):
        assert levers["as trained"][bucket]["f1"] == saved["metrics"]["out_of_fold"][bucket]["violation_f1"]
    assert levers["face score off"]["rule"][1] == 0.0
    # --save-oof writes what training's cross-validation kept: the same rule from it
    assert CrossVal.load(tmp_path / "lv.npz", 2).rule() == CrossVal.load(out / "out_of_fold.npz", 2).rule()
    assert CrossVal.load(tmp_path / "lv.npz", 2).upscale == (2.0,)
    # both keep each detection's fold and width: rules can be chosen on some folds, scored on another
    assert CrossVal.load(out / "out_of_fold.npz").has_folds() and CrossVal.load(tmp_path / "lv.npz").has_folds()
    # a model calibrated by an older method is calibrated again from its kept numbers: today's map, the same rule
    from maskwatch.models.training.recalibrate import recalibrate

    older = json.loads((out / "metadata.json").read_text())
    older.update(calibration={"method": "temperature", "temperature": 2.0}, threshold=0.61)
    (out / "metadata.json").write_text(json.dumps(older))
    again = recalibrate(out)
    redone = json.loads((out / "metadata.json").read_text())
    assert {k: v for k, v in redone["calibration"].items() if k != "out_of_fold_folds"} == saved["calibration"]
    assert redone["threshold"] == saved["threshold"] and redone["calibration"]["out_of_fold_folds"] == 2
    assert again["method"] == saved["calibration"]["method"] and ModelInfo.load(out).threshold == saved["threshold"]
    # the same weights deciding by a rule chosen again: a version of its own, the weights' one kept
    assert redone["recalibrated_from"] == saved["version"] != redone["version"]
    assert redone["version"].startswith(saved["version"]) and redone["rule_detector"]["upscale"] == [2.0]
    # numbers from elsewhere (levers --save-oof) are copied in, and the metadata says where they came from
    (tmp_path / "elsewhere.npz").write_bytes((out / "out_of_fold.npz").read_bytes())
    recalibrate(out, tmp_path / "elsewhere.npz", "fold models of the same recipe")
    assert json.loads((out / "metadata.json").read_text())["calibration"]["rule_and_calibration_from"] == \
        "fold models of the same recipe"


def test_training_without_both_classes_is_refused(tmp_path):
    from maskwatch.models.training.train import TrainSettings, train

    empty = tmp_path / "scenes"
    (empty / "images").mkdir(parents=True)
    (empty / "annotations").mkdir()
    with pytest.raises(ValueError, match="both classes"):
        train(TrainSettings(out=tmp_path / "m", scenes=empty, progress=False))


@pytest.mark.slow
def test_unknown_finetune_layer_is_named(tmp_path, scenes_dir):
    from maskwatch.models.training.train import TrainSettings, train

    with pytest.raises(ValueError, match="'block_99_expand'"):
        train(TrainSettings(out=tmp_path / "m", scenes=scenes_dir, input_size=32, epochs_head=0, folds=0,
                            finetune_from="block_99_expand", progress=False))


@pytest.mark.parametrize("flag", ["--hard-share", "--nonface-share"])
@pytest.mark.parametrize("value,message", [("0.9", "0.9 is outside 0..0.7"), ("-0.1", "-0.1 is outside 0..0.7"),
                                           ("many", "not a number: 'many'")])
def test_a_bad_share_is_refused_before_training(tmp_path, capsys, flag, value, message):
    from maskwatch.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--out", str(tmp_path / "m"), flag, value])
    assert e.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value,message", [
    ("6", "'6': not two widths LO,HI in px, such as 6,24"), ("6,24,48", "not two widths LO,HI"),
    ("24,6", "'24,6': needs 4 <= LO < HI <= 256 px"), ("2,24", "needs 4 <= LO"), ("6,400", "HI <= 256"),
    ("six,24", "not two widths")])
def test_a_bad_view_size_is_refused_before_training(tmp_path, capsys, value, message):
    from maskwatch.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--out", str(tmp_path / "m"), "--view-px", value])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_specialists_view_sizes_reach_its_training(tmp_path, monkeypatch):
    from maskwatch.cli import main
    from maskwatch.models.training import train as train_module

    seen = []
    monkeypatch.setattr(train_module, "train", lambda s: seen.append(s) or {"threshold": 0.5, "metrics": {}})
    assert main(["train", "--out", str(tmp_path / "m"), "--scenes", str(tmp_path), "--crops", str(tmp_path),
                 "--input-size", "64", "--view-px", "6,24", "--degrade", "video"]) == 0
    assert seen[0].view_px == (6.0, 24.0) and seen[0].input_size == 64 and seen[0].degrade == "video"
    assert main(["train", "--out", str(tmp_path / "n"), "--scenes", str(tmp_path), "--crops", str(tmp_path)]) == 0
    assert seen[1].view_px is None and seen[1].degrade == "recipe"  # the recipe's own


@pytest.mark.parametrize("config,flags,upscale,weights", [
    # the rule is chosen on the faces the workers' detector finds: the config's, else the default
    ("", [], (1.0, 2.0, 3.0), DEFAULT_DETECTOR),
    ("detector:\n  upscale: 2\n  score_threshold: 0.4\n", [], (2.0,), DEFAULT_DETECTOR),
    ("detector:\n  upscale: 3\n", ["--detector-weights", "other.onnx"], (3.0,), "other.onnx"),
    ("detector:\n  upscale: 3\n", ["--no-detector"], (3.0,), None),
])
def test_training_uses_the_configs_detector(tmp_path, monkeypatch, config, flags, upscale, weights):
    from maskwatch.cli import main
    from maskwatch.models.training import train as train_module

    seen = []
    monkeypatch.setattr(train_module, "train", lambda s: seen.append(s) or {"threshold": 0.5, "metrics": {}})
    cfg = tmp_path / "maskwatch.yaml"
    cfg.write_text(config)
    assert main(["train", "-c", str(cfg), "--out", str(tmp_path / "m"), "--scenes", str(tmp_path),
                 "--crops", str(tmp_path), "--nonface-share", "0.1", *flags]) == 0
    (s,) = seen
    assert s.detector.upscale == upscale and s.nonface_share == 0.1
    assert s.detector_weights == (None if weights is None else type(DEFAULT_DETECTOR)(weights))
    if "score_threshold" in config:
        assert s.detector.score_threshold == 0.4
    # options not given are TrainSettings' own defaults, the one place the recipe is written
    defaults = train_module.TrainSettings(out=s.out)
    assert (s.epochs_finetune, s.folds, s.hard_share, s.seed) == (defaults.epochs_finetune, defaults.folds,
                                                                   defaults.hard_share, defaults.seed)


def _scene(stem: str, names: list[str]):
    from maskwatch.models.evaluation.voc import Scene

    boxes = np.asarray([[10 * i, 0, 10 * i + 8, 8] for i in range(len(names))], np.float32).reshape(-1, 4)
    return Scene(stem, Path(f"{stem}.jpg"), boxes, np.asarray([n != "mask" for n in names]),
                 np.asarray([n == "incorrect" for n in names]))


@pytest.mark.parametrize("faces,want", [
    # (the --more-scenes faces trained on) -> faces kept per scene
    ("all", {"dev1": ["mask", "bare", "incorrect"], "web1": ["mask", "bare", "incorrect"], "web2": ["bare"]}),
    ("incorrect", {"dev1": ["mask", "bare", "incorrect"], "web1": ["incorrect"], "web2": []}),
])
def test_only_the_worn_incorrectly_faces_of_the_more_scenes_are_trained_on_when_asked(faces, want):
    from maskwatch.models.training.train import TrainSettings, faces_trained

    names = {"dev1": ["mask", "bare", "incorrect"], "web1": ["mask", "bare", "incorrect"], "web2": ["bare"]}
    scenes = [_scene(stem, n) for stem, n in names.items()]
    sources = {"dev1": "scenes-dev", "web1": "scenes-extra", "web2": "scenes-extra"}
    s = TrainSettings(out=Path("x"), scenes=Path("data/scenes-dev"), more_scenes=(Path("data/scenes-extra"),),
                      more_scenes_faces=faces)
    got = faces_trained(s, scenes, sources)
    assert [sc.stem for sc in got] == list(names)  # every scene stays: cross-validation scores them whole
    kinds = {sc.stem: ["incorrect" if i else "bare" if v else "mask" for v, i in zip(sc.violation, sc.incorrect)]
             for sc in got}
    assert kinds == want
    assert all(len(sc.boxes) == len(sc.violation) for sc in got)
    with pytest.raises(ValueError, match="'all' or 'incorrect'"):
        faces_trained(TrainSettings(out=Path("x"), more_scenes_faces="bare"), scenes, sources)
