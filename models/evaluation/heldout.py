"""Every scene set's test split is read through here, and each read is said and counted.

A test split looked at again and again stops being held out: every choice made by looking at it
spends it. So reading one (a) logs a warning that names the set, the purpose and how often it has
been read, (b) adds a line to the ledger of reads (`models/evaluation/test-reads.jsonl` in a
checkout, or $MASKWATCH_TEST_READS), which the model card's count comes from, and (c) is refused
inside a selection loop (`selecting`: all of `maskwatch train`, where the folds, the rule and the
calibration are chosen) unless the caller says why (`say=`): there, a read would be a choice made
on the test split.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from maskwatch.models.evaluation.voc import Scene, load_scenes, split_of
from maskwatch.models.modelinfo import ModelError
from maskwatch.paths import TEST_READS_ENV, test_reads_ledger

log = logging.getLogger(__name__)

_selecting: ContextVar[str | None] = ContextVar("selecting", default=None)


class HeldOutError(ModelError):
    """A test split asked for where reading it would spend it, or a read that could not be counted."""


@contextmanager
def selecting(what: str) -> Iterator[None]:
    """Marks a selection loop (`what` names it): a test split asked for inside it is refused."""
    token = _selecting.set(what)
    try:
        yield
    finally:
        _selecting.reset(token)


def reads(ledger: Path, scene_set: str) -> int:
    """How often the ledger says one scene set's (by folder name) test split was read (a line that
    stands for several reads, from before the ledger was kept, says how many)."""
    if not ledger.is_file():
        return 0
    lines = [json.loads(x) for x in ledger.read_text().splitlines() if x.strip()]
    return sum(int(x.get("reads", 1)) for x in lines if x.get("set") == scene_set)


def read_test_split(root: Path, purpose: str, say: str = "", scenes: list[Scene] | None = None) -> list[Scene]:
    """The test split of the scenes at `root`, read for `purpose` (what the numbers will be used
    for); `say`: why a read inside a selection loop is wanted all the same (said in the ledger);
    `scenes`: the folder's scenes, where the caller has loaded them already."""
    inside = _selecting.get()
    if inside and not say:
        raise HeldOutError(f"{root}: its test split was asked for inside a selection loop ({inside}): a choice "
                           "made on it spends it; choose on out-of-fold numbers, or say why it must be read")
    scenes = [s for s in (load_scenes(root) if scenes is None else scenes) if split_of(s.stem) == "test"]
    ledger = test_reads_ledger()
    line = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "set": Path(root).name,
            "images": len(scenes), "purpose": purpose, **({"inside": inside, "said": say} if inside else {})}
    try:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        with ledger.open("a") as f:
            f.write(json.dumps(line) + "\n")
    except OSError as e:
        raise HeldOutError(f"{ledger}: cannot count this read of {root}'s test split ({e}): set "
                           f"${TEST_READS_ENV} to a writable file") from e
    log.warning("scenes %s: test split read (%d images) for %s: read %d times in %s", Path(root).name, len(scenes),
                purpose, reads(ledger, Path(root).name), ledger)
    return scenes
