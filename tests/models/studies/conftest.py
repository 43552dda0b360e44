"""Fixtures of the studies' tests; every test here is marked `study` (`pytest -m "not study"` leaves
the research out)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.settings import DEMO_SCENES


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.study)


@pytest.fixture(scope="session")
def scenes_oof(tmp_path_factory):
    """A real out-of-fold file of the bundled scenes (the shipped model, raw p, every face kept),
    its folds pooled in the order 1, 0 as training may pool them: (path, CrossVal)."""
    import numpy as np

    from maskwatch.models.build import DEFAULT_CLASSIFIER, build_detector
    from maskwatch.models.classifier import MaskClassifier
    from maskwatch.models.evaluation.evaluate import tally_scenes
    from maskwatch.models.evaluation.voc import fold_of, load_scenes, split_of
    from maskwatch.models.pipeline import MaskPipeline
    from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal
    from maskwatch.models_config import DetectorConfig

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
def scenes_missing_one(tmp_path) -> Path:
    """A copy of the bundled scenes without one non-test image that holds faces: another scene set."""
    from maskwatch.models.evaluation.voc import load_scenes, split_of

    fewer = tmp_path / "scenes"
    shutil.copytree(DEMO_SCENES, fewer)
    next(s for s in load_scenes(fewer) if split_of(s.stem) != "test" and len(s.boxes)).image.unlink()
    return fewer


@pytest.fixture
def shipped_folds(tmp_path):
    """Makes tmp_path/NAME holding two fold models, each a copy of the shipped Keras file, as
    `maskwatch.models.studies.levers --folds-from` reads them: call it with the folder's name."""
    from maskwatch.models.build import DEFAULT_CLASSIFIER

    def make(name: str = "folds") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for k in range(2):
            shutil.copyfile(DEFAULT_CLASSIFIER / "mask_classifier.keras", folder / f"fold{k}.keras")
        return folder
    return make
