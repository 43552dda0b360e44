"""Out-of-fold F1's interval over images (maskwatch.models.studies.oofinterval): read from a file that keeps each
detection's image, or recovered for an older one by finding the same detections again."""
from __future__ import annotations

import json

import numpy as np
import pytest

from maskwatch.models.studies import oofinterval
from maskwatch.models.studies.rulestudy import StudyError
from maskwatch.models.training.crossval import CrossVal


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


def test_an_older_file_is_tallied_again_from_the_same_detections(scenes_oof, scenes_dir, without_image_ids, capsys):
    path, _ = scenes_oof
    older = without_image_ids(path)
    assert not oofinterval.knows_images(CrossVal.load(older))
    assert oofinterval.main([str(older), "--scenes", str(scenes_dir)]) == 0
    assert json.loads(capsys.readouterr().out) == oofinterval.study(path, None)


@pytest.mark.parametrize("scenes, error", [
    (None, "kept before files said which image each detection came from: give --scenes"),
    ("other", "the detector found"),
])
def test_an_older_file_without_its_scenes_is_refused(scenes_oof, scenes_missing_one, without_image_ids, scenes, error):
    older = without_image_ids(scenes_oof[0])
    with pytest.raises(StudyError, match=error):
        oofinterval.study(older, scenes_missing_one if scenes else None)


def test_each_pooled_scene_set_gets_its_own_interval(scenes_oof, tmp_path):
    """A file of training on several sets (train --more-scenes) gives each set's F1 and interval;
    here two sets each holding the same scenes, so each equals the whole."""
    path, cv = scenes_oof
    both = CrossVal.load(path)
    both.by_source = {"dev": CrossVal.load(path).tallies, "extra": CrossVal.load(path).tallies}
    both.save(tmp_path / "sets.npz")
    got = oofinterval.study(tmp_path / "sets.npz", None)
    assert set(got["by_set"]) == {"dev", "extra"}
    for src in ("dev", "extra"):
        assert got["by_set"][src]["all"] == got["buckets"]["all"]
    assert "by_set" not in oofinterval.study(path, None)
