"""The replay study (maskwatch.models.studies.replaytracks): its selection out of fold (--select),
each video judged by the setting chosen on the others, ties to the smallest change; and its
dropped frames (--drop), the same for every variant. Pure, on hand-made rows."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from maskwatch.models.studies.replayframes import Frame, cache_key
from maskwatch.models.studies.replaygrids import (
    BEFORE,
    BEFORE_CONFIRMED,
    BEFORE_FACE_ID,
    BEFORE_IDENTITY,
    BEFORE_JUDGE,
    CONFIRMED_GRID,
    FACE_ID_GRID,
    IDENTITY_GRID,
    JUDGE_GRID,
    rule_grid,
)
from maskwatch.models.studies.replaytracks import (
    change,
    descriptor,
    dropping,
    leave_one_out,
    mean_row,
    replay,
    sized_rule,
)

GRID = {"before": ({"appearance_gate": 0.5, "overlap_gate": None, "on_course_threshold": 0.7}, "face", True),
        "loose": ({"appearance_gate": 0.4, "overlap_gate": None, "on_course_threshold": 0.7}, "face", True),
        "looser": ({"appearance_gate": 0.4, "overlap_gate": 0.3, "on_course_threshold": 0.7}, "face", True)}


def row(found: int, duplicates: int) -> dict:
    return {"violators": 4, "found": found, "duplicates": duplicates, "false": 0}


@pytest.mark.parametrize("name, moved, grid", [
    (BEFORE, (0, 0.0), {}),
    ("gate0.4", (1, 0.2), {}),                     # the gate, and the overlap gate that is the gate itself
    ("gate0.4 overlap0.3", (2, 0.3), {}),
    ("gate0.5 overlap0.3 oncourse0.6", (2, 0.3), {}),
    # who a violator is: the descriptor counts as a setting moved
    ("face 0.84", (1, 0.04), dict(grid=IDENTITY_GRID, before=BEFORE_IDENTITY)),
    ("face+clothing 0.88", (1, 0.0), dict(grid=IDENTITY_GRID, before=BEFORE_IDENTITY)),
    ("face+clothing 0.8", (2, 0.08), dict(grid=IDENTITY_GRID, before=BEFORE_IDENTITY)),
    # doubted faces voting on a track seen sure: a lower score is a larger change
    ("confirmed 0.7", (1, 0.3), dict(grid=CONFIRMED_GRID, before=BEFORE_CONFIRMED)),
    # a face-recognition model's descriptor, beside the one shipped
    ("face-id+clothing 0.84", (1, 0.0), dict(grid=FACE_ID_GRID, before=BEFORE_FACE_ID)),
    ("face-id 0.8", (2, 0.04), dict(grid=FACE_ID_GRID, before=BEFORE_FACE_ID)),
    ("confirmed 0.5", (1, 0.5), dict(grid=CONFIRMED_GRID, before=BEFORE_CONFIRMED)),
    # a model's rule for its smaller faces: one setting moved, of no size the others measure
    ("under 24 px: p 0.5, face 0.7", (1, 0.0), dict(grid=rule_grid(0.8), before="the model's rule")),
    # the vote's size: k and n count as settings moved, the widths by how far they moved
    ("3 of 5, 8-24 px", (1, 2.0), dict(grid=JUDGE_GRID, before=BEFORE_JUDGE)),
    ("2 of 4, 10-20 px", (3, 4.0), dict(grid=JUDGE_GRID, before=BEFORE_JUDGE)),
])
def test_a_setting_s_change_from_the_one_before(name, moved, grid):
    assert change(name, **grid) == moved


def test_the_vote_s_size_grid_starts_from_the_shipped_vote():
    from maskwatch.events_config import EventsConfig

    shipped, (overrides, _, _) = EventsConfig(), JUDGE_GRID[BEFORE_JUDGE]
    assert {k: getattr(shipped, k) for k in ("vote_k", "vote_n", "judge_min_px", "judge_full_px")} == \
        {k: overrides[k] for k in ("vote_k", "vote_n", "judge_min_px", "judge_full_px")}


@pytest.mark.parametrize("results, chosen, on_all", [
    # loose and looser each take a duplicate off a and b; looser loses a person on c
    ({"before": [row(4, 2), row(4, 2), row(4, 0)], "loose": [row(4, 1), row(4, 1), row(4, 0)],
      "looser": [row(4, 1), row(4, 1), row(3, 0)]}, ["loose", "loose", "loose"], "loose"),
    # c alone shows a gain: a and b cannot choose it for each other, nor for c (the smallest change)
    ({"before": [row(4, 0), row(4, 0), row(4, 3)], "loose": [row(4, 0), row(4, 0), row(4, 1)],
      "looser": [row(4, 0), row(4, 0), row(4, 1)]}, ["loose", "loose", "before"], "loose"),
    # nothing helps anywhere: the setting before stays
    ({"before": [row(4, 1)] * 3, "loose": [row(4, 1)] * 3, "looser": [row(4, 1)] * 3},
     ["before", "before", "before"], "before"),
])
def test_each_video_is_judged_by_the_setting_chosen_without_it(results, chosen, on_all):
    result = {name: dict(zip("abc", rows)) for name, rows in results.items()}
    got = leave_one_out(result, before="before", grid=GRID)
    assert [got["chosen"][v] for v in "abc"] == chosen and got["on_all"] == on_all
    assert got["held_out"] == {v: result[c][v] for v, c in zip("abc", chosen)}
    assert got["before_total"]["duplicates"] == sum(r["duplicates"] for r in results["before"])


@pytest.mark.parametrize("chance, seeds, patterns, kept", [
    (0.0, 20, 1, (1000, 1000)),     # no drop: the frames once, all of them
    (0.15, 20, 20, (800, 900)),     # about 15% gone from each pattern
    (0.5, 3, 3, (430, 570)),
])
def test_dropped_frames_are_the_same_for_every_variant(chance, seeds, patterns, kept):
    frames = list(range(1000))  # stand-ins: dropping looks at nothing but the order
    got = dropping(frames, chance, seeds, "video-a")
    assert len(got) == patterns and all(kept[0] <= len(p) <= kept[1] for p in got)
    assert got == dropping(frames, chance, seeds, "video-a")  # paired: the same drops again
    assert all(p == sorted(p) for p in got)
    if chance:
        assert got != dropping(frames, chance, seeds, "video-b")


def test_the_mean_of_several_replays_and_one_replay_as_it_is():
    one = dict(row(4, 1), violations=5, on_masked=0, optional=0, recall=1.0)
    assert mean_row([one]) is one
    assert mean_row([row(4, 1) | dict(violations=5, on_masked=0, optional=1),
                     row(3, 0) | dict(violations=3, on_masked=0, optional=0)]) == {
        "violators": 4, "violations": 4, "found": 3.5, "false": 0, "on_masked": 0, "optional": 0.5, "duplicates": 0.5}


@pytest.mark.parametrize("small, width, rule", [
    (None, 8.0, (0.34, 0.8)),                    # the model's rule for every face
    ((24.0, 0.5, 0.7), 23.9, (0.5, 0.7)),        # narrower than 24 px: the small faces' own
    ((24.0, 0.5, 0.7), 24.0, (0.34, 0.8)),
    ((float("inf"), 0.5, 0.7), 300.0, (0.5, 0.7)),  # every face
])
def test_a_face_is_judged_by_the_rule_of_its_size(small, width, rule):
    assert sized_rule((0.34, 0.8), small)(width) == rule


def test_cached_detections_are_keyed_by_the_detector_file_as_well_as_its_setting(tmp_path):
    from maskwatch.models.build import DEFAULT_DETECTOR

    def key(model, scales=(1.0, 2.0)):
        return cache_key(SimpleNamespace(detector=SimpleNamespace(model_path=model, scales=scales, max_side=1280)))

    tuned, other = tmp_path / "tuned.onnx", tmp_path / "other.onnx"
    tuned.write_bytes(b"one")
    other.write_bytes(b"two")
    assert key(DEFAULT_DETECTOR) == "up1_2-max1280"  # the shipped file: the caches made before stay valid
    assert len({key(DEFAULT_DETECTOR), key(tuned), key(other), key(tuned, (1.0,))}) == 4


def frame(face_id) -> Frame:
    """One frame of two faces: the registry's embeddings, torsos, and dlib's descriptors or none."""
    import numpy as np

    return Frame(0.0, np.zeros((2, 4), np.float32), np.ones(2, np.float32), np.zeros(2), None,
                 np.asarray([[1, 0], [0, 0]], np.float32), np.asarray([[0, 1], [0, 1]], np.float32), None,
                 None if face_id is None else np.asarray(face_id, np.float32))


# a sighting's descriptor by kind: the registry's, clothing joined, dlib's, dlib's joined
@pytest.mark.parametrize("kind,face_id,i,expected", [
    ("face", None, 0, [1, 0]),
    ("both", None, 0, [0.7071, 0, 0, 0.7071]),
    ("face", None, 1, None),  # not classified: no descriptor
    ("face-id", [[0, 1], [1, 0]], 0, [0, 1]),
    ("face-id+clothing", [[0, 1], [1, 0]], 1, [0.7071, 0, 0, 0.7071]),
    ("face-id", [[0, 1], [0, 0]], 1, None),  # dlib did not describe this face
    ("face-id", None, 0, None),  # no descriptors were made
])
def test_a_sightings_descriptor_by_kind(kind, face_id, i, expected):
    got = descriptor(frame(face_id), i, kind)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got == pytest.approx(expected, abs=1e-4)


def test_face_id_descriptors_are_given_to_the_faces_a_worker_classifies_and_cached(tmp_path):
    import cv2
    import numpy as np

    from maskwatch.models.studies.dlibface import with_face_id

    video = tmp_path / "v.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for n in range(4):
        out.write(np.full((48, 64, 3), 40 * n, np.uint8))
    out.release()

    class Described:
        dim, calls = 2, []

        def __call__(self, image, box):
            self.calls.append(int(image[0, 0, 0]))
            return np.asarray([1.0, 0.0], np.float32)

    def frames():  # every other frame, as replaytracks read them: a sure face and a doubted one each
        return [Frame(n / 10, np.asarray([[0, 0, 8, 8], [9, 9, 20, 20]], np.float32), np.asarray([0.9, 0.5]),
                      np.zeros(2), None, None, np.zeros((2, 2), np.float32), None) for n in (0, 2)]

    read = frames()
    with_face_id(read, Described(), video, 2, 0.8, tmp_path / "cache.pkl")
    assert [f.face_id.tolist() for f in read] == [[[1, 0], [0, 0]]] * 2  # only the sure face is described
    assert len(Described.calls) == 2 and Described.calls[1] > Described.calls[0]  # frames 1 and 3 of the video
    again = frames()
    with_face_id(again, None, video, 2, 0.8, tmp_path / "cache.pkl")  # from the cache: no descriptor needed
    assert [f.face_id.tolist() for f in again] == [f.face_id.tolist() for f in read]


@pytest.mark.parametrize("step_px, rows", [(0.0, 1), (6.0, 1)])
def test_a_face_held_still_to_the_video_s_end_is_reported_as_a_quiet_camera_ends_it(step_px, rows):
    """A bare face that passes the vote standing still is held until it moves or its track ends:
    the replay ends every track when the video does, as the events service does a quiet camera's."""
    import numpy as np

    from maskwatch.events_config import EventsConfig

    frames_ = [Frame(n / 5, np.asarray([[100 + step_px * n, 100, 140 + step_px * n, 148]], np.float32),
                     np.asarray([0.9]), np.asarray([0.95]), None, None, np.zeros((1, 4), np.float32), None)
               for n in range(10)]
    got = replay(frames_, EventsConfig(), sized_rule((0.5, 0.8)), "face", cmc=False)
    assert len(got) == rows


@pytest.mark.parametrize("first, phases, read", [
    (0, 1, {"tud": [0], "mot": [0]}),
    (0, 6, {"tud": [0, 1, 2, 3, 4], "mot": [0, 1, 2, 3, 4, 5]}),  # a 25 fps video has five at 5 fps
    (1, 2, {"tud": [1, 2], "mot": [1, 2]}),
])
def test_each_video_is_read_from_the_phases_its_frame_step_makes_distinct(monkeypatch, tmp_path, first, phases,
                                                                         read):
    from maskwatch.models.studies import replayframes

    fps = {"tud": 25.0, "mot": 30.0}
    monkeypatch.setattr(replayframes, "labelled_videos", lambda videos, labels: [(s, tmp_path / s) for s in fps])
    monkeypatch.setattr(replayframes, "load_truth", lambda stem, labels, where: {"fps": fps[stem]})
    monkeypatch.setattr(replayframes, "load", lambda pipeline, stem, video, truth, cache, rate, phase, face_id: phase)
    got = replayframes.load_phases(None, [tmp_path], tmp_path, tmp_path / "cache", 5.0, first, phases)
    assert {stem: frames_ for stem, (frames_, _) in got.items()} == read
