"""The one resolver of data paths finds the package's own data wherever it is installed."""
from __future__ import annotations

import pytest
from support.settings import ROOT

from maskwatch import paths


def test_package_data_is_found():
    assert (paths.weights_dir() / "classifier" / "metadata.json").is_file()
    assert (paths.migrations_dir() / "env.py").is_file()
    assert len(list((paths.demo_scenes() / "images").glob("*.jpg"))) >= 4


def test_shared_data_follows_its_variable(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv(paths.SHARED_ENV, str(tmp_path))
    assert paths.shared("data") == tmp_path / "data"
    assert paths.shared("models/none") is None


def test_missing_demo_scenes_say_so(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "_package_dir", lambda package: tmp_path)
    with pytest.raises(paths.DataPathError, match="demo scenes are missing"):
        paths.demo_scenes()


def test_the_ledger_of_test_reads_is_the_checkouts_unless_named(monkeypatch, tmp_path):
    from maskwatch.paths import TEST_READS_ENV, test_reads_ledger

    monkeypatch.setenv(TEST_READS_ENV, str(tmp_path / "reads.jsonl"))
    assert test_reads_ledger() == tmp_path / "reads.jsonl"
    monkeypatch.delenv(TEST_READS_ENV)
    assert test_reads_ledger() == ROOT / "models" / "evaluation" / "test-reads.jsonl"
