"""A training smoke run on the bundled CC0 scenes: tiny, random init, but the whole path."""
import json

import numpy as np
import pytest

from models.build import DEFAULT_DETECTOR


@pytest.mark.slow
def test_training_smoke_run_writes_a_loadable_model(tmp_path, scenes_dir):
    from models.classifier import MaskClassifier
    from models.train import TrainSettings, train

    out = tmp_path / "model"
    meta = train(TrainSettings(out=out, scenes=scenes_dir, detector_weights=DEFAULT_DETECTOR, input_size=32,
                               batch_size=16, samples_per_epoch=64, epochs_head=1, epochs_finetune=1,
                               seed=3, progress=False))
    for name in ("metadata.json", "mask_classifier.keras", "mask_classifier.tflite",
                 "training_curves.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "metadata.json").read_text())
    assert saved["classes"] == ["mask", "no_mask"] and saved["input_size"] == 32
    assert saved["data"]["train_samples"]["scene/no_mask"] > 0
    assert saved["export_check"]["max_abs_diff"] < 1e-3
    assert "val_scenes" in saved["metrics"] and 0 < saved["threshold"] < 1
    assert len(saved["training"]["history"]["loss"]) == 2
    clf = MaskClassifier.load(out, backend="tflite")
    p = clf.predict_batch(np.zeros((3, 32, 32, 3), np.uint8))
    assert p.shape == (3,) and np.isfinite(p).all()
    assert meta["version"] == saved["version"]


def test_training_without_both_classes_is_refused(tmp_path):
    from models.train import TrainSettings, train

    empty = tmp_path / "scenes"
    (empty / "images").mkdir(parents=True)
    (empty / "annotations").mkdir()
    with pytest.raises(ValueError, match="both classes"):
        train(TrainSettings(out=tmp_path / "m", scenes=empty, progress=False))
