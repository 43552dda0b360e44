"""Shared fixtures: the bundled CC0 scenes, the shipped models, a config."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
DEMO_SCENES = ROOT / "demo" / "scenes"


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
