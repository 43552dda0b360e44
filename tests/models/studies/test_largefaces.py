"""A second network for large faces (maskwatch.models.studies.largefaces): the raw threshold behind
a served one, the routes by width on hand-made tallies and replay frames, and the masks worn
incorrectly counted per route. Pure."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from maskwatch.models.calibration import Calibration
from maskwatch.models.evaluation.metrics import Tally
from maskwatch.models.modelinfo import ModelError
from maskwatch.models.studies.largefaces import (
    by_score,
    joined,
    merged,
    raw_threshold,
    route_cuts,
    routes,
    worn_incorrectly,
)
from maskwatch.models.studies.replayframes import Frame

WIDTHS = (10.0, 30.0, 60.0)


@pytest.mark.parametrize("calibration, served, raw", [
    (Calibration(), 0.94, 0.94),                                # no map: the threshold is raw
    (Calibration("temperature", temperature=2.0), 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-2.0))),
])
def test_the_raw_threshold_behind_a_served_one(calibration, served, raw):
    assert raw_threshold(SimpleNamespace(calibration=calibration, threshold=served)) == pytest.approx(raw, abs=2e-4)


def tally(p) -> dict[str, Tally]:
    """Three faces of the WIDTHS, the same detections for every model: only p differs."""
    t = Tally()
    boxes = [(0, 0, w, w) for w in WIDTHS]
    t.add(np.asarray(boxes, np.float32) + np.arange(3)[:, None] * 100, [0.9, 0.91, 0.92], p,
          np.asarray(boxes, np.float32) + np.arange(3)[:, None] * 100, [True, False, True])
    return {"all": t}


@pytest.mark.parametrize("route, expected", [
    ("shipped alone", [0.1, 0.2, 0.3]),
    ("candidate alone", [0.7, 0.8, 0.9]),
    ("faces >= 24 px: the candidate", [0.1, 0.8, 0.9]),
    ("faces >= 48 px: the candidate", [0.1, 0.2, 0.9]),
])
def test_faces_from_the_cut_are_the_candidate_s(route, expected):
    got = routes(tally([0.1, 0.2, 0.3]), tally([0.7, 0.8, 0.9]))
    assert set(got) == set(route_cuts())
    assert got[route]["all"].p_no_mask == pytest.approx(expected)
    assert got[route]["all"].width == list(WIDTHS)


def test_two_models_tallies_of_one_set_are_joined_by_the_detector_s_score():
    mine, theirs = tally([0.7, 0.8, 0.9]), tally([0.1, 0.2, 0.3])
    got = joined(mine["all"], by_score(theirs["all"]), "the shipped model")
    assert got.p_no_mask == pytest.approx([0.1, 0.2, 0.3]) and got.width == mine["all"].width
    theirs["all"].conf[1] = 0.5  # a face the other model's detector scored otherwise
    with pytest.raises(ModelError, match="1 of 3 detections have no p of the shipped model"):
        joined(mine["all"], by_score(theirs["all"]), "the shipped model")


def frames(p, share, embedding) -> list[Frame]:
    boxes = np.asarray([[0, 0, 20, 24], [50, 0, 100, 60]], np.float32)
    return [Frame(0.2, boxes, np.asarray([0.9, 0.9]), np.asarray(p), np.asarray(share),
                  np.asarray(embedding, np.float32), np.zeros((2, 4), np.float32), None)]


def test_the_candidate_judges_the_wide_faces_and_the_shipped_model_says_who_is_who():
    (f,) = merged(frames([0.1, 0.2], [0.0, 0.1], [[1, 0], [0, 1]]), frames([0.7, 0.8], [0.5, 0.6], [[9, 9], [9, 9]]),
                  cut=32.0, own=0.8, target=0.4)
    assert f.p.tolist() == pytest.approx([0.1, 0.4])  # the candidate's threshold lands on the shipped one's
    assert f.p_incorrect.tolist() == pytest.approx([0.0, 0.6])
    assert f.face.tolist() == [[1, 0], [0, 1]]


def test_two_replays_of_other_faces_are_refused_by_frame():
    other = frames([0.7, 0.8], [0.5, 0.6], [[0, 0], [0, 0]])
    other[0].boxes = other[0].boxes + 1
    with pytest.raises(ValueError, match="frame at 0.20 s"):
        merged(frames([0.1, 0.2], [0.0, 0.1], [[1, 0], [0, 1]]), other, cut=32.0, own=0.8, target=0.4)


def test_masks_worn_incorrectly_counted_and_named_per_route():
    rows = [(20.0, {"shipped": (0.6, 0.2), "candidate": (0.4, 0.9)}),
            (60.0, {"shipped": (0.3, 0.1), "candidate": (0.7, 0.8)})]
    got = worn_incorrectly(rows, dict.fromkeys(route_cuts(), 0.5))
    assert got["shipped alone"] == {"faces": 2, "counted": 0.5, "verdict": 0.0}
    assert got["candidate alone"] == {"faces": 2, "counted": 0.5, "verdict": 0.5}
    assert got["faces >= 24 px: the candidate"] == {"faces": 2, "counted": 1.0, "verdict": 0.5}
    assert got["faces >= 64 px: the candidate"] == got["shipped alone"]
