"""The one resolver of data paths: every file the product reads from its own package (weights,
migrations, the demo's scenes) and the shared data beside a checkout is found here, never from a
module's `__file__` elsewhere.

Package data is found through `importlib.resources`, so the same call works from a checkout (the
editable install), a strict editable install and a wheel in site-packages or a container image.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from maskwatch.errors import MaskwatchError

# the shared data and tools beside a developer's checkout (../shared); a site never needs it
SHARED_ENV = "MASKWATCH_SHARED"


class DataPathError(MaskwatchError, FileNotFoundError):
    """A data folder the command needs is not where it should be; the message says where to get it."""


def _package_dir(package: str) -> Path:
    return Path(str(files(package)))


def weights_dir() -> Path:
    """The shipped YuNet files and the classifier folder (models/weights in a checkout)."""
    return _package_dir("maskwatch.models") / "weights"


def migrations_dir() -> Path:
    """Alembic's scripts (maskwatch/migrations)."""
    return _package_dir("maskwatch") / "migrations"


def demo_scenes() -> Path:
    """The bundled CC0 scenes (demo/scenes in a checkout, maskwatch/demo/scenes when installed): the
    demo clip, the benchmarks' frames and the tests' fixtures are made from them."""
    path = _package_dir("maskwatch.demo") / "scenes"
    if not (path / "images").is_dir():
        raise DataPathError(f"the bundled demo scenes are missing: {path}/images (reinstall maskwatch)")
    return path


def video_labels() -> Path:
    """Our labels of real footage (models/evaluation/labels in a checkout: never in the wheel, like
    the footage they describe)."""
    path = _package_dir("maskwatch.models.evaluation") / "labels"
    if not path.is_dir():
        raise DataPathError(f"no video labels at {path}: run from a checkout, or pass --labels DIR")
    return path


# the ledger of reads of the scene sets' test splits (models/evaluation/heldout.py)
TEST_READS_ENV = "MASKWATCH_TEST_READS"


def test_reads_ledger() -> Path:
    """$MASKWATCH_TEST_READS, else the ledger kept in a checkout (models/evaluation/test-reads.jsonl,
    committed with the numbers it counts), else (an installed wheel, which has none) one in the
    user's cache."""
    if os.environ.get(TEST_READS_ENV):
        return Path(os.environ[TEST_READS_ENV])
    checkout = _package_dir("maskwatch.models.evaluation") / "test-reads.jsonl"
    return checkout if checkout.is_file() else Path.home() / ".cache" / "maskwatch" / "test-reads.jsonl"


def shared_dir() -> Path:
    """The shared data beside a checkout: $MASKWATCH_SHARED, else ../shared from the current folder
    (the project's root, where `make` runs)."""
    return Path(os.environ.get(SHARED_ENV, "../shared"))


def shared(rel: str) -> Path | None:
    """A path under the shared data, or None where it does not exist (a site, CI without it)."""
    path = shared_dir() / rel
    return path if path.exists() else None


# where TensorRT keeps the engines and timing caches it builds, across restarts (a mounted volume in
# the GPU image): building one takes tens of seconds to minutes, per input shape
ENGINE_CACHE_ENV = "MASKWATCH_ENGINE_CACHE"


def engine_cache_dir() -> Path:
    """$MASKWATCH_ENGINE_CACHE, else ~/.cache/maskwatch/tensorrt."""
    return Path(os.environ.get(ENGINE_CACHE_ENV) or Path.home() / ".cache" / "maskwatch" / "tensorrt")
