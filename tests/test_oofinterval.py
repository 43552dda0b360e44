"""Out-of-fold F1's interval over images (models.oofinterval): read from a file that keeps each
detection's image, or recovered for an older one by finding the same detections again."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models import oofinterval
from models.crossval import CrossVal
from models.rulestudy import StudyError


def _without_images(src, dst) -> None:
    """The file as written before 2026-12-06."""
    with np.load(src) as data:
        kept = {k: data[k] for k in data.files if not k.endswith(("/image", "/image_violations"))}
    np.savez(dst, **kept)


def test_a_file_that_keeps_its_images_gives_the_interval_of_its_own_tallies(scenes_oof):
    path, cv = scenes_oof
    rule = cv.rule()
    got = oofinterval.study(path, None)
    assert got["rule"] == list(rule)
    for name, t in cv.tallies.items():
        summary = t.summary(*rule)
        assert got["buckets"][name]["violation_f1"] == summary["violation_f1"]
        assert got["buckets"][name]["interval"] == summary["violation_f1_ci"]
        assert got["buckets"][name]["true"] == t.violation_counts(*rule)[0] > 0


def test_an_older_file_is_tallied_again_from_the_same_detections(scenes_oof, scenes_dir, tmp_path, capsys):
    path, _ = scenes_oof
    _without_images(path, tmp_path / "old.npz")
    assert not oofinterval.knows_images(CrossVal.load(tmp_path / "old.npz"))
    assert oofinterval.main([str(tmp_path / "old.npz"), "--scenes", str(scenes_dir)]) == 0
    assert json.loads(capsys.readouterr().out) == oofinterval.study(path, None)


@pytest.mark.parametrize("scenes, error", [
    (None, "kept before files said which image each detection came from: give --scenes"),
    ("other", "the detector found"),
])
def test_an_older_file_without_its_scenes_is_refused(scenes_oof, scenes_missing_one, tmp_path, scenes, error):
    _without_images(scenes_oof[0], tmp_path / "old.npz")
    with pytest.raises(StudyError, match=error):
        oofinterval.study(tmp_path / "old.npz", scenes_missing_one if scenes else None)
