"""Cross-validation's scoring pass keeps its memory bounded: a fold's faces go to the model a batch
at a time (one eager call over a 2-fold run's 900 faces took 24 GB and was killed)."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_DETECTOR
from maskwatch.models.detector import FaceDetector
from maskwatch.models.evaluation.voc import load_scenes, split_of
from maskwatch.models.modelinfo import ModelError
from maskwatch.models.training import crossval
from maskwatch.models.training.dataset import samples_from_scenes


class Recording:
    """Stands in for a trained Keras model: answers a uniform softmax and records each call's size."""

    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, x, training=False):
        assert training is False
        self.calls.append(len(x))
        return np.full((len(x), 3), 1 / 3, np.float32)


def test_a_fold_is_scored_a_batch_at_a_time(scenes_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(crossval, "PREDICT_BATCH", 4)
    scenes = [s for s in load_scenes(scenes_dir) if split_of(s.stem) != "test"]
    detector = FaceDetector(DEFAULT_DETECTOR, score_threshold=0.3, upscale=(2.0, 1.0))
    pool = samples_from_scenes(scenes, detector)
    models: list[Recording] = []

    def fit(part, val):
        models.append(Recording())
        return models[-1], {"val_loss": [1.0]}

    cv = crossval.cross_validate(pool, scenes, detector, 2, 32, 0.15, fit)
    labels, probs = cv.annotated()
    assert len(models) == 2 and probs.shape == (len(labels), 3) and len(labels) == (pool.source == "scene").sum()
    for m, fold_probs in zip(models, cv.probs, strict=True):
        # first the fold's annotated faces, 4 at a time; then the pipeline, an image's faces a call
        first = np.cumsum(m.calls).tolist().index(len(fold_probs)) + 1
        assert max(m.calls[:first]) <= 4 and max(m.calls) <= 32
    assert max(len(x) for x in cv.probs) > 4  # a fold held more faces than one batch
    assert cv.tallies["all"].violations_gt > 0
    # what training keeps (out_of_fold.npz) reads back as the same numbers
    cv.save(tmp_path / "oof.npz")
    back = crossval.CrossVal.load(tmp_path / "oof.npz", 2)
    assert back.rule() == cv.rule() and back.summary(*cv.rule()) == cv.summary(*cv.rule())
    assert back.upscale == cv.upscale == (1.0, 2.0)  # the detector these faces came from
    # kept before the detector was: those came from the 2x one, the default of their day
    legacy = {k: v for k, v in np.load(tmp_path / "oof.npz").items() if k != "upscale"}
    np.savez_compressed(tmp_path / "legacy.npz", **legacy)
    assert crossval.CrossVal.load(tmp_path / "legacy.npz", 2).upscale == (2.0,)
    # the file says how many folds it was cut in; an older one needs telling
    assert crossval.CrossVal.load(tmp_path / "oof.npz").folds == 2
    np.savez_compressed(tmp_path / "unsaid.npz", **{k: v for k, v in legacy.items() if k != "folds"})
    with pytest.raises(ModelError, match="unsaid.npz: does not say how many folds"):
        crossval.CrossVal.load(tmp_path / "unsaid.npz")
    assert crossval.CrossVal.load(tmp_path / "unsaid.npz", 3).folds == 3
    for got, want in zip(back.detections(), cv.detections(), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(back.annotated()[1], probs)


def test_softmax_rows_of_nothing_is_an_empty_table():
    assert crossval.softmax_rows(Recording(), np.zeros((0, 32, 32, 3), np.float32)).shape == (0, 3)


def test_each_scene_set_is_tallied_apart_and_together(scenes_dir, tmp_path):
    scenes = [s for s in load_scenes(scenes_dir) if split_of(s.stem) != "test"]
    detector = FaceDetector(DEFAULT_DETECTOR, score_threshold=0.3, upscale=(1.0,))
    pool = samples_from_scenes(scenes, detector)
    sources = {s.stem: ("a" if i % 2 else "b") for i, s in enumerate(scenes)}
    cv = crossval.cross_validate(pool, scenes, detector, 2, 32, 0.15,
                                 lambda part, val: (Recording(), {}), sources=sources)
    assert set(cv.by_source) == {"a", "b"}
    for bucket in crossval.RULE_BUCKETS:
        parts = [cv.by_source[src][bucket] for src in ("a", "b")]
        assert sum(t.faces_gt for t in parts) == cv.tallies[bucket].faces_gt
        assert sum(t.violations_gt for t in parts) == cv.tallies[bucket].violations_gt
    summary = cv.summary_by_source(0.5, 0.0)
    assert set(summary) == {"a", "b"} and set(summary["a"]) == set(crossval.RULE_BUCKETS)
    # out_of_fold.npz keeps each set's tallies, so a rule can be studied per set without retraining
    cv.save(tmp_path / "oof.npz")
    back = crossval.CrossVal.load(tmp_path / "oof.npz")
    assert back.summary_by_source(0.5, 0.0) == summary
    assert back.by_source["a"]["all"].width == cv.by_source["a"]["all"].width


def copy_scenes(src, dst, stems, rename=lambda s: s):
    (dst / "images").mkdir(parents=True)
    (dst / "annotations").mkdir()
    for stem in stems:
        (dst / "images" / f"{rename(stem)}.jpg").write_bytes((src / "images" / f"{stem}.jpg").read_bytes())
        (dst / "annotations" / f"{rename(stem)}.xml").write_text((src / "annotations" / f"{stem}.xml").read_text())
    return dst


def test_more_scene_sets_are_trained_on_outside_their_test_part_and_named_apart(scenes_dir, tmp_path):
    """Each set keeps its test part back: `evaluate --compare` reads scenes-extra's too (the issue
    asks it), and a candidate must not have trained on it."""
    from maskwatch.models.training.train import TrainSettings, training_scenes

    stems = sorted(p.stem for p in (scenes_dir / "images").glob("*.jpg"))
    extra = copy_scenes(scenes_dir, tmp_path / "extra", stems, rename=lambda s: f"x-{s}")
    scenes, sources = training_scenes(TrainSettings(out=tmp_path, scenes=scenes_dir, more_scenes=(extra,)))
    dev = [s for s in scenes if not s.stem.startswith("x-")]
    assert {sources[s.stem] for s in dev} == {scenes_dir.name} and all(split_of(s.stem) != "test" for s in dev)
    kept_back = [f"x-{s}" for s in stems if split_of(f"x-{s}") == "test"]
    assert kept_back and sorted(s.stem for s in scenes if sources[s.stem] == "extra") == sorted(
        f"x-{s}" for s in stems if f"x-{s}" not in kept_back)
    clash = copy_scenes(scenes_dir, tmp_path / "clash", [s.stem for s in dev[:1]])  # a name trained on already
    with pytest.raises(ValueError, match="images named as in another set"):
        training_scenes(TrainSettings(out=tmp_path, scenes=scenes_dir, more_scenes=(clash,)))



def test_the_metadata_of_a_run_with_more_scene_sets_is_json(tmp_path):
    """A 70-minute run once died writing metadata.json: more_scenes, a tuple of paths, was not JSON."""
    import json

    from maskwatch.models.training.dataset import Samples
    from maskwatch.models.training.train import TrainSettings, _metadata

    pool = Samples(np.zeros((2, 8, 8, 3), np.uint8), np.array([20.0, 30.0]), np.array([0, 1]),
                   np.array(["scene", "scene"]), np.array([False, False]), np.array(["a", "b"]))
    s = TrainSettings(out=tmp_path, scenes=tmp_path / "dev", more_scenes=(tmp_path / "extra", tmp_path / "more"))
    meta = json.loads(json.dumps(_metadata(s, pool, {}, {"max_abs_diff": 0.0}, 0.5, 0.0)))
    assert meta["training"]["settings"]["more_scenes"] == [str(tmp_path / "extra"), str(tmp_path / "more")]
    assert meta["data"]["more_scenes"] == ["extra", "more"]
