"""Shared fixtures: the bundled CC0 scenes, the shipped models, a config."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from support.settings import DEMO_SCENES, REDIS_URL

pytest_plugins = ["support.browser"]


@pytest.fixture(scope="session")
def scenes_dir() -> Path:
    return DEMO_SCENES


@pytest.fixture(scope="session")
def scene_images() -> list[Path]:
    return sorted((DEMO_SCENES / "images").iterdir())


@pytest.fixture(scope="session")
def pipeline():
    from maskwatch.config import load_config
    from models.build import build_pipeline

    cfg = load_config(None)
    return build_pipeline(cfg.detector, cfg.classifier.model_copy(update={"backend": "tflite"}))


@pytest.fixture(scope="session")
def scenes_oof(tmp_path_factory):
    """A real out-of-fold file of the bundled scenes (the shipped model, raw p, every face kept),
    its folds pooled in the order 1, 0 as training may pool them: (path, CrossVal)."""
    import numpy as np

    from maskwatch.models_config import DetectorConfig
    from models.build import DEFAULT_CLASSIFIER, build_detector
    from models.classifier import MaskClassifier
    from models.crossval import RULE_BUCKETS, CrossVal
    from models.evaluate import tally_scenes
    from models.pipeline import MaskPipeline
    from models.voc import fold_of, load_scenes, split_of

    detector = build_detector(DetectorConfig())
    pipe = MaskPipeline(detector, MaskClassifier.load(DEFAULT_CLASSIFIER, backend="tflite"), 0.5, min_face_score=0.0)
    scenes = [s for s in load_scenes(DEMO_SCENES) if split_of(s.stem) != "test"]
    cv = CrossVal(2, labels=[np.zeros(0, int)], probs=[np.zeros((0, 3), np.float32)], upscale=detector.scales)
    for k in (1, 0):
        for name, t in tally_scenes(pipe, [s for s in scenes if fold_of(s.stem, 2) == k], RULE_BUCKETS).items():
            cv.tallies[name].extend(t, fold=k)
    path = tmp_path_factory.mktemp("oof") / "out_of_fold.npz"
    cv.save(path)
    return path, cv


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    import uuid

    import redis

    prefix = f"mwtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(f"{prefix}:*", count=500):
        r.delete(key)
    r.close()


@pytest.fixture
def redis_bus(redis_prefix):
    from maskwatch.bus import RedisBus

    bus = RedisBus(REDIS_URL, redis_prefix)
    yield bus
    bus.close()


@pytest.fixture
def scenes_missing_one(tmp_path) -> Path:
    """A copy of the bundled scenes without one non-test image that holds faces: another scene set."""
    from models.voc import load_scenes, split_of

    fewer = tmp_path / "scenes"
    shutil.copytree(DEMO_SCENES, fewer)
    next(s for s in load_scenes(fewer) if split_of(s.stem) != "test" and len(s.boxes)).image.unlink()
    return fewer


@pytest.fixture
def without_image_ids(tmp_path):
    """Writes a copy of an out_of_fold.npz as files were before they kept image ids (2026-12-06);
    returns its path."""
    import numpy as np

    from models.metrics import IMAGE_FIELDS

    def strip(src: Path) -> Path:
        dst = tmp_path / "older-out_of_fold.npz"
        with np.load(src) as data:
            kept = {k: data[k] for k in data.files if k.rsplit("/", 1)[-1] not in IMAGE_FIELDS}
        np.savez(dst, **kept)
        return dst
    return strip


@pytest.fixture
def shipped_folds(tmp_path):
    """Makes tmp_path/NAME holding two fold models, each a copy of the shipped Keras file, as
    `models.levers --folds-from` reads them: call it with the folder's name."""
    from models.build import DEFAULT_CLASSIFIER

    def make(name: str = "folds") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for k in range(2):
            shutil.copyfile(DEFAULT_CLASSIFIER / "mask_classifier.keras", folder / f"fold{k}.keras")
        return folder
    return make
