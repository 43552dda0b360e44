"""A test split is read only through heldout.read_test_split: each read said (a warning), counted (the
ledger) and refused inside a selection loop unless the caller says why."""
from __future__ import annotations

import json
import logging
from contextlib import nullcontext

import pytest

from maskwatch.models.evaluation import heldout
from maskwatch.models.evaluation.evaluate import select_scenes
from maskwatch.models.evaluation.voc import load_scenes, scene_crops, split_of


def _lines(ledger) -> list[dict]:
    return [json.loads(x) for x in ledger.read_text().splitlines()] if ledger.is_file() else []


@pytest.mark.parametrize("loop, say, refused", [
    (None, "", False),                       # a report: read, said, counted
    ("a rule grid", "", True),               # inside a selection loop: refused
    ("a rule grid", "the final report", False),  # inside one, said why: read and the reason kept
])
def test_a_test_split_read_is_said_counted_or_refused(scenes_dir, test_reads_ledger, caplog, loop, say, refused):
    before = len(_lines(test_reads_ledger))
    want = sorted(s.stem for s in load_scenes(scenes_dir) if split_of(s.stem) == "test")
    with caplog.at_level(logging.WARNING), heldout.selecting(loop) if loop else nullcontext():
        if refused:
            with pytest.raises(heldout.HeldOutError, match=f"{scenes_dir}: its test split .* inside a selection loop "
                                                           f"\\({loop}\\)"):
                heldout.read_test_split(scenes_dir, "a study", say)
        else:
            assert sorted(s.stem for s in heldout.read_test_split(scenes_dir, "a study", say)) == want
    lines = _lines(test_reads_ledger)
    if refused:
        assert len(lines) == before
        return
    assert len(lines) == before + 1 and lines[-1]["set"] == scenes_dir.name and lines[-1]["purpose"] == "a study"
    assert (lines[-1].get("inside"), lines[-1].get("said")) == ((loop, say) if loop else (None, None))
    assert f"scenes {scenes_dir.name}: test split read ({len(want)} images) for a study: read" in caplog.text


def test_the_count_includes_the_reads_from_before_the_ledger(tmp_path, monkeypatch, scenes_dir, caplog):
    ledger = tmp_path / "reads.jsonl"
    ledger.write_text(json.dumps({"set": scenes_dir.name, "reads": 20, "purpose": "earlier levers"}) + "\n"
                      + json.dumps({"set": "another-set", "purpose": "elsewhere"}) + "\n")
    monkeypatch.setenv(heldout.TEST_READS_ENV, str(ledger))
    with caplog.at_level(logging.WARNING):
        heldout.read_test_split(scenes_dir, "the final report")
    assert heldout.reads(ledger, scenes_dir.name) == 21 and "read 21 times" in caplog.text
    assert heldout.reads(ledger, "another-set") == 1 and heldout.reads(tmp_path / "none.jsonl", "x") == 0


def test_a_read_that_cannot_be_counted_is_not_made(tmp_path, monkeypatch, scenes_dir):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(heldout.TEST_READS_ENV, str(tmp_path / "a-file" / "reads.jsonl"))  # no folder can be made
    with pytest.raises(heldout.HeldOutError, match="cannot count this read"):
        heldout.read_test_split(scenes_dir, "a report")


@pytest.mark.parametrize("split, counted", [("test", True), ("all", True), ("train", False), ("val", False)])
def test_evaluate_counts_every_split_that_holds_the_test_images(scenes_dir, test_reads_ledger, split, counted):
    before = len(_lines(test_reads_ledger))
    scenes = select_scenes(scenes_dir, split)
    assert {split_of(s.stem) for s in scenes} <= ({"test", "train", "val"} if split == "all" else {split})
    assert len(_lines(test_reads_ledger)) == before + counted


def test_crops_of_the_test_split_go_through_the_ledger(scenes_dir):
    with pytest.raises(ValueError, match="read the test split through .*heldout.read_test_split"):
        scene_crops(scenes_dir, "test", 32, 0.15)


def test_training_is_a_selection_loop_where_the_test_split_is_refused(scenes_dir, tmp_path, monkeypatch):
    """Whatever training calls (here: a stand-in for its body that asks for the test split), a read
    of a test split inside `maskwatch train` fails before any number is looked at."""
    from maskwatch.models.training import train

    monkeypatch.setattr(train, "_train", lambda s: select_scenes(scenes_dir, "test"))
    with pytest.raises(heldout.HeldOutError, match=r"inside a selection loop \(maskwatch train"):
        train.train(train.TrainSettings(out=tmp_path))
