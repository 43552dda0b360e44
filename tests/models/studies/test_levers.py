"""Inference-time levers (maskwatch.models.studies.levers): each wrapper does what it says, on real scene faces, and
the lever table's "as trained" row is exactly what `maskwatch evaluate` says."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_CLASSIFIER, build_detector
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import crop_faces
from maskwatch.models.evaluation.evaluate import evaluate
from maskwatch.models.evaluation.voc import load_scenes
from maskwatch.models.modelinfo import ModelInfo
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.models.studies.levers import held_out
from maskwatch.models.studies.wrappers import CachedDetector, Ensemble, Flipped, Margins
from maskwatch.models_config import DetectorConfig


@pytest.fixture(scope="module")
def shipped():
    return MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite")


def _faces(scenes_dir, size, margin):
    return np.concatenate([crop_faces(cv2.imread(str(sc.image)), sc.boxes, size, margin)
                           for sc in load_scenes(scenes_dir)])


def test_flip_is_the_mean_over_a_crop_and_its_mirror(shipped, scenes_dir):
    faces = _faces(scenes_dir, shipped.input_size, shipped.info.crop_margin)
    mirrored = np.ascontiguousarray(faces[:, :, ::-1])
    p, pm = shipped.predict_verdicts(faces)[0], shipped.predict_verdicts(mirrored)[0]
    got = Flipped(shipped).predict_verdicts(faces)[0]
    np.testing.assert_allclose(got, (p + pm) / 2, atol=1e-6)
    np.testing.assert_allclose(Flipped(shipped).predict_verdicts(mirrored)[0], got, atol=1e-6)
    assert np.abs(p - pm).max() > 1e-3  # the mirror is a different view: the lever can change something


def test_margins_recut_each_margin_from_the_widest_crop(shipped, scenes_dir):
    size = shipped.input_size
    narrow, wide = _faces(scenes_dir, size, 0.15), _faces(scenes_dir, size, 0.30)
    lever = Margins(shipped, (0.15, 0.30))
    assert lever.info.crop_margin == 0.30  # the pipeline cuts at the widest
    expected = (shipped.predict_verdicts(narrow)[0] + shipped.predict_verdicts(wide)[0]) / 2
    got = lever.predict_verdicts(wide)[0]
    # re-cut from the centre of the wide crop (resampled) is nearly the narrow crop itself
    assert np.abs(got - expected).mean() < 0.02
    np.testing.assert_allclose(Margins(shipped, (0.15,)).predict_verdicts(narrow)[0],
                               shipped.predict_verdicts(narrow)[0], atol=1e-6)


def test_an_ensemble_is_the_mean_of_its_members(shipped, scenes_dir):
    faces = _faces(scenes_dir, shipped.input_size, shipped.info.crop_margin)
    p = shipped.predict_verdicts(faces)[0]
    flipped = Flipped(shipped).predict_verdicts(faces)[0]
    np.testing.assert_allclose(Ensemble([shipped, Flipped(shipped)]).predict_verdicts(faces)[0], (p + flipped) / 2,
                               atol=1e-6)


def test_the_cached_detector_runs_once_per_image(scene_images):
    calls = []

    class Counting:
        def detect_many(self, images, regions=None):
            calls.append(len(images))
            return [f"faces of {img.shape}" for img in images]

    cached = CachedDetector(Counting())
    images = [cv2.imread(str(p)) for p in scene_images[:3]]
    first = cached.detect_many(images)
    assert cached.detect_many(images[::-1]) == first[::-1] and calls == [3]
    cached.detect_many([images[0], cv2.flip(images[0], 1)])
    assert calls == [3, 1]


def test_as_trained_is_what_evaluate_says(scenes_dir):
    detector = CachedDetector(build_detector(DetectorConfig()))
    scenes = load_scenes(scenes_dir)
    info = ModelInfo.load(DEFAULT_CLASSIFIER)
    results = held_out(detector, DEFAULT_CLASSIFIER, info, scenes)
    assert {"as trained", "test-time flip", "margin 0.05", "margin 0.30", "face score off"} <= set(results)
    assert not any(k.startswith("ensemble") for k in results)  # the shipped folder keeps no fold models
    direct = evaluate(MaskPipeline(detector, MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite")), scenes)
    for bucket in ("all", ">=24px"):
        assert results["as trained"][bucket] == {"f1": direct["buckets"][bucket]["violation_f1"],
                                                 "ap": direct["buckets"][bucket]["violation_ap"]}
    assert results["as trained"]["rule"] == [info.threshold, info.min_face_score]
    assert results["face score off"]["rule"] == [info.threshold, 0.0]


@pytest.mark.parametrize("text,want", [("2", (2.0,)), ("1,2,3", (1.0, 2.0, 3.0)), ("1, 2.5", (1.0, 2.5)),
                                       ("1,9", "'1,9': not factors in 0.25..4"), ("x", "'x': not factors"),
                                       ("", "'': not factors")])
def test_the_levers_detector_scales_are_checked_as_the_config_checks_them(text, want, capsys):
    from maskwatch.models.studies import levers as levers_cli

    if isinstance(want, tuple):
        assert levers_cli._upscale(text) == want
        return
    with pytest.raises(SystemExit) as e:
        levers_cli.main(["model", "--scenes", "s", "--upscale", text])
    assert e.value.code == 2 and f"argument --upscale: {want}" in capsys.readouterr().err


def blind_detector(path):
    """The shipped YuNet with its objectness biases at -30: it finds no face anywhere."""
    import onnx
    from onnx import numpy_helper

    from maskwatch.models.build import DEFAULT_DETECTOR

    model = onnx.load(str(DEFAULT_DETECTOR))
    producer = {n.output[0]: n for n in model.graph.node}
    biases = set()
    for out in (o.name for o in model.graph.output if o.name.startswith("obj_")):
        node = producer[out]
        while node.op_type != "Conv":  # Sigmoid <- Reshape <- Transpose <- the head's Conv
            node = producer[node.input[0]]
        biases.add(node.input[2])
    for init in model.graph.initializer:
        if init.name in biases:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 0 - 30.0, init.name))
    onnx.save(model, str(path))
    return path


def test_each_fold_is_seen_by_its_own_detector(scenes_dir, tmp_path, shipped_folds):
    import json

    from maskwatch.models.build import DEFAULT_DETECTOR
    from maskwatch.models.studies import levers as levers_cli
    from maskwatch.models.training.crossval import CrossVal

    blind = blind_detector(tmp_path / "blind.onnx")
    common = [str(DEFAULT_CLASSIFIER), "--scenes", str(scenes_dir), "--folds-from", str(shipped_folds()),
              "--folds", "2", "--as-trained-only"]
    for name, files in (("both", [DEFAULT_DETECTOR, DEFAULT_DETECTOR]), ("first", [DEFAULT_DETECTOR, blind])):
        assert levers_cli.main([*common, "--detector-folds", *map(str, files), "--detector", str(files[-1]),
                                "--save-oof", str(tmp_path / f"{name}.npz"), "--out", str(tmp_path / name)]) == 0
    seen = {name: set(CrossVal.load(tmp_path / f"{name}.npz").tallies["all"].fold) for name in ("both", "first")}
    assert seen == {"both": {0, 1}, "first": {0}}
    held = {name: json.loads((tmp_path / name / "levers.json").read_text())["held_out"] for name in ("both", "first")}
    assert set(held["both"]) == {"as trained"}  # no other lever measured
    assert held["both"]["as trained"]["all"]["f1"] > 0 and held["first"]["as trained"]["all"]["f1"] == 0


def test_a_detector_per_fold_needs_one_file_per_fold(capsys):
    from maskwatch.models.studies import levers as levers_cli

    with pytest.raises(SystemExit) as e:
        levers_cli.main([str(DEFAULT_CLASSIFIER), "--scenes", "s", "--folds", "2", "--detector-folds", "a.onnx"])
    assert e.value.code == 2 and "--detector-folds: 1 files for 2 folds" in capsys.readouterr().err
