import numpy as np
import pytest

from maskwatch.models.evaluation.voc import Scene
from maskwatch.models.studies import detlevers


def scene():
    boxes = np.array([[0, 0, 10, 10], [50, 0, 70, 20], [100, 0, 130, 30], [200, 0, 230, 30]], np.float32)
    return Scene("s", None, boxes, np.array([True, True, True, False]), np.zeros(4, bool))


@pytest.mark.parametrize("boxes,scores,expected,unmatched", [
    # the tiny violator found but doubtful, the large one confident, a confident box on nothing
    ([[0, 0, 10, 10], [100, 0, 130, 30], [300, 300, 330, 330]], [0.5, 0.9, 0.9],
     [(1.0, 0.0, 1), (0.0, 0.0, 1), (1.0, 1.0, 1)], 1),
    # a face on the masked person counts for no violator; a doubtful stray is not counted
    ([[200, 0, 230, 30], [300, 300, 330, 330]], [0.95, 0.4], [(0.0, 0.0, 1)] * 3, 0),
    ([], [], [(0.0, 0.0, 1)] * 3, 0),
])
def test_found_counts_violators_by_width_and_confidence(boxes, scores, expected, unmatched):
    f = detlevers.Found()
    f.add(scene(), np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32), 0.8)
    assert f.shares() == expected
    assert f.unmatched_confident == unmatched


def test_the_command_measures_each_setting_on_non_test_scenes(scenes_dir, monkeypatch, capsys):
    monkeypatch.setattr(detlevers, "SETTINGS", ((2.0,), (1.0, 2.0, 3.0)))
    assert detlevers.main(["--scenes", str(scenes_dir)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| [")]
    assert [r.split(" | ")[0] for r in rows] == ["| [2.0]", "| [1.0, 2.0, 3.0]"]
    assert rows[0].endswith("| 1.0 |")  # times are relative to the first setting


@pytest.mark.parametrize("n,cut,found", [
    (0, 0.9, [(0, 1), (0, 1), (0, 1)]),  # nothing unmatched let through: only faces above 0.9
    (1, 0.6, [(0, 1), (0, 1), (1, 1)]),  # the 0.9 stray let through: the large violator (0.8) is above
    (2, 0.0, [(1, 1), (0, 1), (1, 1)]),  # every stray let through: the cut falls to 0; one never found
])
def test_violators_found_at_the_cut_that_lets_n_unmatched_through(n, cut, found):
    r = detlevers.Ranked()
    boxes = np.array([[0, 0, 10, 10], [100, 0, 130, 30], [300, 300, 330, 330], [400, 400, 430, 430]], np.float32)
    r.add(scene(), boxes, np.array([0.5, 0.8, 0.9, 0.6], np.float32))
    assert r.at_unmatched(n) == (pytest.approx(cut), found)
