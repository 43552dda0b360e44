"""Fixtures of the models' tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def without_image_ids(tmp_path):
    """Writes a copy of an out_of_fold.npz as files were before they kept image ids (2026-12-06);
    returns its path."""
    import numpy as np

    from maskwatch.models.evaluation.metrics import IMAGE_FIELDS

    def strip(src: Path) -> Path:
        dst = tmp_path / "older-out_of_fold.npz"
        with np.load(src) as data:
            kept = {k: data[k] for k in data.files if k.rsplit("/", 1)[-1] not in IMAGE_FIELDS}
        np.savez(dst, **kept)
        return dst
    return strip
