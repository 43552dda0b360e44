import json
import shutil

import cv2
import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_CLASSIFIER
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import crop_faces
from maskwatch.models.evaluation.voc import load_scenes
from maskwatch.models.modelinfo import ModelError, ModelInfo


@pytest.fixture(scope="module")
def real_crops(scenes_dir):
    info = ModelInfo.load(DEFAULT_CLASSIFIER)
    out = []
    for sc in load_scenes(scenes_dir):
        out.append(crop_faces(cv2.imread(str(sc.image)), sc.boxes, info.input_size, info.crop_margin))
    return np.concatenate(out)


def _copy_model(tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(DEFAULT_CLASSIFIER, dst)
    return dst


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.update(classes=["no_mask", "mask"]), "classes"),
    (lambda m: m.update(schema=99), "schema 99"),
    (lambda m: m.pop("input_size"), "missing or bad field 'input_size'"),
    (lambda m: m.update(threshold=1.5), "threshold 1.5"),
    (lambda m: m.update(input_size=4), "input_size 4"),
    (lambda m: m.update(calibration={"method": "temperature", "temperature": 30}), "temperature 30.0 out of"),
    (lambda m: m.update(calibration={"method": "beta"}), "calibration method 'beta'"),
    (lambda m: m.update(calibration={"method": "platt", "slope": -1.0}), "calibration slope -1.0"),
    (lambda m: m.update(calibration={"method": "platt", "slope": 1.0, "intercept": 40}), "intercept 40.0"),
    (lambda m: m.update(calibration={"method": "isotonic", "knots": [[0, 0.5], [0, 0.2]]}), "calibration knots"),
    (lambda m: m.update(calibration={"method": "isotonic", "knots": [[0, 0.5], [1, 0.2]]}), "calibration knots"),
    (lambda m: m.update(calibration={"method": "isotonic", "knots": [[0, 0.1]]}), "calibration knots"),
    (lambda m: m.update(rule_detector={"upscale": [1, -2]}), r"rule_detector upscale \[-2.0, 1.0\]"),
    (lambda m: m.update(rule_detector={"upscale": ["x"]}), "missing or bad field"),
])
def test_wrong_metadata_names_the_file(tmp_path, edit, message):
    model = _copy_model(tmp_path)
    meta = json.loads((model / "metadata.json").read_text())
    edit(meta)
    (model / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message) as e:
        MaskClassifier.load(model, backend="tflite")
    assert str(model / "metadata.json") in str(e.value)


def test_unreadable_metadata_and_missing_weights_name_the_file(tmp_path):
    model = _copy_model(tmp_path)
    (model / "metadata.json").write_text("{not json")
    with pytest.raises(ModelError, match="metadata unreadable"):
        ModelInfo.load(model)
    model = _copy_model(tmp_path / "b")
    (model / "mask_classifier.tflite").unlink()
    with pytest.raises(ModelError, match=f"TFLite file not found: {model / 'mask_classifier.tflite'}"):
        MaskClassifier.load(model, backend="tflite")
    (model / "mask_classifier.keras").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="Keras file unusable"):
        MaskClassifier.load(model, backend="keras")


def test_predict_batch_shapes(real_crops):
    clf = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite", max_batch=8)
    p = clf.predict_batch(real_crops[:13])  # crosses a batch boundary and pads the tail
    assert p.shape == (13,) and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p[:5], clf.predict_batch(real_crops[:5]), atol=1e-5)
    assert clf.predict_batch(real_crops[:0]).shape == (0,)
    with pytest.raises(ValueError, match="expects crops of shape"):
        clf.predict_batch(np.zeros((2, 10, 10, 3), np.uint8))


@pytest.mark.slow
def test_tflite_export_matches_keras_on_real_crops(real_crops):
    tfl = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite").predict_batch(real_crops)
    ker = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="keras").predict_batch(real_crops)
    assert len(real_crops) >= 50
    assert np.max(np.abs(tfl - ker)) < 1e-3
    t = ModelInfo.load(DEFAULT_CLASSIFIER).threshold
    assert ((tfl >= t) == (ker >= t)).all()
    _, e_tfl = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite").predict(real_crops)
    _, e_ker = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="keras").predict(real_crops)
    assert np.min(np.sum(e_tfl * e_ker, axis=1)) > 0.999  # the same embedding on both runtimes


def test_shipped_model_separates_the_classes(scenes_dir, real_crops):
    """On the bundled CC0 faces (annotated boxes) the shipped model ranks violations high."""
    labels = np.concatenate([sc.violation for sc in load_scenes(scenes_dir)])
    p = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite").predict_batch(real_crops)
    assert p[labels].mean() - p[~labels].mean() > 0.3


def test_doubtful_faces_can_skip_the_classifier(pipeline, scene_images):
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    full = pipeline.run([img])[0]
    fast = pipeline.run([img], skip_doubtful=True)[0]
    sure = full.scores >= pipeline.min_face_score
    assert sure.any() and (~sure).any()
    np.testing.assert_allclose(fast.p_no_mask[sure], full.p_no_mask[sure], atol=1e-5)
    assert (fast.p_no_mask[~sure] == 0).all()
    np.testing.assert_array_equal(fast.violations(pipeline.threshold, pipeline.min_face_score),
                                  full.violations(pipeline.threshold, pipeline.min_face_score))


def test_faces_down_to_a_lower_bar_can_be_classified_too(pipeline, scene_images):
    """classify_from (events.confirmed_min_score): faces the rule doubts, down to it, get p and a
    descriptor; below it, none."""
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    full = pipeline.run([img])[0]
    bar = float(np.median(full.scores[full.scores < pipeline.min_face_score]))
    some = pipeline.run([img], skip_doubtful=True, classify_from=bar)[0]
    kept = full.scores >= bar
    assert kept.any() and (~kept).any() and (full.scores[kept] < pipeline.min_face_score).any()
    np.testing.assert_allclose(some.p_no_mask[kept], full.p_no_mask[kept], atol=1e-5)
    assert (some.p_no_mask[~kept] == 0).all() and not some.embeddings[~kept].any()


def test_one_pass_gives_p_no_mask_and_a_unit_embedding(real_crops):
    clf = MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite")
    p, emb = clf.predict(real_crops)
    assert emb.shape == (len(real_crops), clf.embedding_dim) and clf.embedding_dim == 256
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(p, clf.predict_batch(real_crops))
    # the same face cut a little differently is more alike itself than any other face
    shifted = np.stack([cv2.resize(c[4:-4, 4:-4], c.shape[:2][::-1]) for c in real_crops])
    _, emb2 = clf.predict(shifted)
    sims = emb @ emb2.T
    assert (np.argmax(sims, axis=1) == np.arange(len(sims))).mean() > 0.9


def test_a_model_without_an_embedding_still_classifies(tmp_path, real_crops):
    model = _copy_model(tmp_path)
    meta = json.loads((model / "metadata.json").read_text())
    meta.pop("embedding")
    (model / "metadata.json").write_text(json.dumps(meta))
    p, emb = MaskClassifier.load(model, backend="tflite").predict(real_crops[:3])
    assert emb is None and p.shape == (3,)


def test_embedding_dim_is_checked(tmp_path, real_crops):
    model = _copy_model(tmp_path)
    meta = json.loads((model / "metadata.json").read_text())
    meta["embedding"]["dim"] = 128
    (model / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="embedding has 256 values, metadata says 128"):
        MaskClassifier.load(model, backend="tflite").predict(real_crops[:2])


@pytest.mark.parametrize("upscale,threshold,rule_upscale,warns", [
    ((1, 2, 3), None, (1.0, 2.0, 3.0), False),   # the detector the rule was chosen with
    ((3, 2, 1), None, (1.0, 2.0, 3.0), False),   # the same passes, in another order
    ((2,), None, (1.0, 2.0, 3.0), True),         # other faces: the measured F1 does not carry over
    ((1, 2, 3), None, None, True),               # a model made before rule_detector: chosen at 2x
    ((2,), 0.4, (1.0, 2.0, 3.0), False),         # the site chose its own threshold
])
def test_a_rule_chosen_with_another_detector_is_said(tmp_path, caplog, upscale, threshold, rule_upscale, warns):
    from maskwatch.models.build import warn_if_rule_unfit
    from maskwatch.models_config import ClassifierConfig, DetectorConfig

    model = _copy_model(tmp_path)
    meta = json.loads((model / "metadata.json").read_text())
    meta.pop("rule_detector", None)
    if rule_upscale:
        meta["rule_detector"] = {"upscale": list(rule_upscale)}
    (model / "metadata.json").write_text(json.dumps(meta))
    info = ModelInfo.load(model)
    rule_upscale = rule_upscale or (2.0,)
    assert info.rule_upscale == rule_upscale
    with caplog.at_level("WARNING", logger="maskwatch.models.build"):
        said = warn_if_rule_unfit(DetectorConfig(upscale=upscale), ClassifierConfig(threshold=threshold), info)
    assert said is warns and bool(caplog.records) is warns
    if warns:
        assert info.version in caplog.text and str(list(rule_upscale)) in caplog.text


def test_the_warning_is_said_once_per_model_and_detector_setting(tmp_path, caplog):
    """A process that builds several pipelines of one model (`run --workers N`, `evaluate --compare
    --clips`) says the same misfit once, not once a pipeline."""
    from maskwatch.models.build import build_pipeline
    from maskwatch.models_config import ClassifierConfig, DetectorConfig

    model = _copy_model(tmp_path)
    with caplog.at_level("WARNING", logger="maskwatch.models.build"):
        for upscale in ((2,), (2,), (3,), (2,)):
            build_pipeline(DetectorConfig(upscale=upscale), ClassifierConfig(model_dir=model))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "runs [2.0]" in said[0] and "runs [3.0]" in said[1], said


def test_the_shipped_rule_was_chosen_with_the_default_detector():
    from maskwatch.config import load_config
    from maskwatch.models.build import warn_if_rule_unfit

    cfg = load_config(None)
    info = ModelInfo.load(DEFAULT_CLASSIFIER)
    assert info.rule_upscale == cfg.detector.upscale
    assert not warn_if_rule_unfit(cfg.detector, cfg.classifier, info)


@pytest.mark.parametrize("p, own, target, expected", [
    (0.6, 0.6, 0.3385, 0.3385),   # the second model's own threshold lands on the first's
    (0.3, 0.6, 0.3385, 0.16925),  # below it, in proportion
    (0.8, 0.6, 0.3385, 0.6692),   # above it, in proportion of what is left
    (0.0, 0.6, 0.3385, 0.0),
    (1.0, 0.6, 0.3385, 1.0),
])
def test_a_second_model_s_p_on_the_first_model_s_scale(p, own, target, expected):
    from maskwatch.models.calibration import onto

    assert float(onto([p], own, target)[0]) == pytest.approx(expected, abs=1e-4)


def test_the_wide_faces_are_judged_by_the_second_model_on_the_first_one_s_scale(pipeline, scene_images, tmp_path):
    """classifier.large_faces: the faces from from_px on take the second model's p (here the
    shipped weights under another threshold, so the same p moved onto the first model's scale); the
    narrower faces and every embedding stay the first model's."""
    from maskwatch.config import parse_config
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.calibration import onto

    second = _copy_model(tmp_path)
    meta = json.loads((second / "metadata.json").read_text())
    (second / "metadata.json").write_text(json.dumps({**meta, "threshold": 0.6}))
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    base = pipeline.run([img])[0]
    from_px = float(np.median(base.widths[base.scores >= 0.3]))
    cfg = parse_config({"classifier": {"backend": "tflite",
                                       "large_faces": {"model_dir": str(second), "from_px": from_px}}}, env={})
    two = build_pipeline(cfg.detector, cfg.classifier)
    got = two.run([img])[0]
    wide = base.widths >= from_px
    assert wide.any() and (~wide).any()
    np.testing.assert_allclose(got.p_no_mask[~wide], base.p_no_mask[~wide], atol=1e-6)
    np.testing.assert_allclose(got.p_no_mask[wide], onto(base.p_no_mask[wide], 0.6, pipeline.threshold), atol=1e-5)
    np.testing.assert_allclose(got.embeddings, base.embeddings, atol=1e-6)


def test_a_route_to_a_second_model_is_named_in_the_model_version(tmp_path):
    from maskwatch.config import parse_config
    from maskwatch.models.build import model_version

    second = _copy_model(tmp_path)
    meta = json.loads((second / "metadata.json").read_text())
    (second / "metadata.json").write_text(json.dumps({**meta, "version": "20261208-0112"}))
    shipped = ModelInfo.load(DEFAULT_CLASSIFIER).version
    cfg = parse_config({"classifier": {"large_faces": {"model_dir": str(second), "from_px": 48}}}, env={})
    assert model_version(parse_config({}, env={}).classifier) == shipped
    assert model_version(cfg.classifier) == f"{shipped}+20261208-0112>=48px"
