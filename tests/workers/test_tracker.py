"""The per-camera tracker: tracks at 2-5 fps, out-of-order input, the k-of-n vote, settling
(appearance and identity: test_identity.py)."""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import pytest
from support.tracking import Run, box

from maskwatch.workers.tracker import WARP_HORIZON_S


def walk(x0: float, speed: float, fps: float, n: int, t0: float = 1000.0):
    return [(t0 + i / fps, x0 + speed * i / fps) for i in range(n)]


@pytest.mark.parametrize("fps, steps", [
    (2, [32] * 12),    # 0.8 box widths a frame: the boxes barely overlap
    (2, [20] * 12),
    (5, [13] * 30),
    (5, [30] * 12),
    (2, [20, 30, 40, 50, 60, 70, 80, 80, 80, 80]),  # speeds up to 2 widths a frame: prediction keeps it
    (3, [-30] * 10),   # right to left
])
def test_one_walking_face_stays_one_track(fps, steps):
    run, rng, x, t = Run(), random.Random(1), 10.0 if steps[0] > 0 else 400.0, 1000.0
    for dx in [0] + steps:
        x += dx
        run.frame(t, [("a", box(x, 100, rng), 0.1)])
        t += 1 / fps
    run.finish()
    assert len(set(run.tracks_of["a"])) == 1
    assert len(run.tracks_of["a"]) == len(steps) + 1


@pytest.mark.parametrize("fps, speed", [(5, 100.0), (2, 60.0), (4, 140.0)])
def test_two_crossing_faces_keep_their_identities(fps, speed):
    run, rng = Run(), random.Random(2)
    for i in range(int(260 / speed * fps) + 1):
        t = 1000.0 + i / fps
        dx = speed * i / fps
        run.frame(t, [("a", box(20 + dx, 90, rng), 0.1), ("b", box(280 - dx, 110, rng), 0.1)])
    run.finish()
    a, b = Counter(run.tracks_of["a"]), Counter(run.tracks_of["b"])
    assert len(a) == len(b) == 1, (a, b)
    assert set(a) != set(b)


def test_slightly_out_of_order_sightings():
    run, rng = Run(), random.Random(3)
    frames = walk(10, 60, 5, 20)
    order = list(range(20))
    for i in range(0, 18, 2):
        order[i], order[i + 1] = order[i + 1], order[i]  # pairs swapped
    order.insert(12, order.pop(8))                         # one frame four places late
    for i in order:
        t, x = frames[i]
        run.frame(t, [("a", box(x, 100, rng), 0.9 if i % 2 else 0.1)])
    tr = run.tracker.tracks[0]
    assert (tr.first_seen, tr.last_seen) == (frames[0][0], frames[-1][0])
    run.finish()
    assert len(set(run.tracks_of["a"])) == 1
    assert len(run.fired) == 1


NOISY = [0.1, 0.2, 0.1, 0.9, 0.1, 0.2, 0.1, 0.1, 0.3, 0.1]


@pytest.mark.parametrize("ps, threshold, fires_at", [
    (NOISY, 0.5, None),                                 # one noisy no_mask sighting among masked ones
    ([0.9, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9], 0.5, None),  # never 3 in any 5
    ([0.95] * 12, 0.5, 2),                              # a mostly unmasked person: the 3rd sighting
    ([0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9], 0.5, 4),
    ([0.1, 0.8, 0.7, 0.2, 0.1, 0.1, 0.9, 0.6, 0.1, 0.7], 0.5, 9),  # 0.8, 0.7 left the window before
    ([0.6] * 8, 0.7, None),                             # each message carries its own threshold
    ([0.6] * 8, 0.55, 2),
])
def test_k_of_n_vote(ps, threshold, fires_at):
    run, rng = Run(), random.Random(4)
    steps = [run.frame(1000 + i * 0.2, [("a", box(100, 100, rng), p)], threshold) for i, p in enumerate(ps)]
    run.finish()
    if fires_at is None:
        assert run.fired == []
        return
    assert len(run.fired) == 1  # at most one violation per track, however long it stays
    tr, step = run.fired[0]
    assert step is steps[fires_at] and tr.fired is run.fed[fires_at]
    window = run.fed[max(0, fires_at - 4):fires_at + 1]
    assert tr.best.p_no_mask == max(s.p_no_mask for s in window)
    # the vote window is settled (ackable) only in the step that fired, after the caller commits
    assert {id(s) for s in window} <= {id(s) for s in step.settled}


def test_sightings_leave_the_window_settled_while_voting():
    run = Run()
    steps = [run.frame(1000 + i * 0.2, [("a", box(100, 100), 0.1)]) for i in range(8)]
    assert [len(s.settled) for s in steps] == [0] * 5 + [1] * 3
    assert steps[5].settled[0] is run.fed[0]
    run.finish()


def shift(dx: float, dy: float = 0.0):
    return (1.0, 0.0, dx), (0.0, 1.0, dy)


@pytest.mark.parametrize("warped, tracks", [(True, 1), (False, 3)])
def test_a_camera_that_pans_back_and_forth_does_not_split_a_person(warped, tracks):
    """A hand-held camera at 5 fps sways 3 face widths a frame and back while a person walks
    slowly: told how the camera moved (ingest's pose), the tracker sees only the walk."""
    run, rng, offset = Run(), random.Random(2), 0.0
    pans = [0, 120, -120, 120, 120, -120, -120, 120, 0, -120]
    for k, pan in enumerate(pans):
        offset += pan
        if warped and pan:
            run.tracker.warp(shift(-pan))  # the picture moves against the camera
        run.frame(1000.0 + k / 5, [("a", box(300 + 4 * k - offset, 100, rng), 0.1)])
    assert len(set(run.tracks_of["a"])) == tracks


def test_what_a_track_remembers_moves_with_the_camera():
    run = Run()
    for k in range(4):
        run.frame(1000.0 + k / 5, [("a", box(100 + 10 * k, 100), 0.9)])
    (tr,) = run.tracker.tracks
    before = (tr.box, [b for _, b in tr.trail], tr.vx)
    run.tracker.warp(((2.0, 0.0, -50.0), (0.0, 2.0, 10.0)))  # zoomed in twice, moved
    assert tr.box == pytest.approx((2 * before[0][0] - 50, 2 * before[0][1] + 10, 2 * before[0][2] - 50,
                                    2 * before[0][3] + 10))
    assert tr.trail[0][1][0] == pytest.approx(2 * before[1][0][0] - 50) and tr.vx == pytest.approx(2 * before[2])
    (ident,) = run.tracker.identities.identities  # the violation it fired: its place moved too
    assert ident is tr.identity and ident.box == tr.box and ident.trail[-1][1] == tr.box


def test_only_people_seen_lately_move_with_the_camera():
    """A moving camera's work per frame is bounded: a violator unseen for longer than the horizon
    keeps the place they were last seen at (from there, in that time, anywhere is walkable)."""
    run = Run(revisit_s=600.0)
    for k in range(4):
        run.frame(1000.0 + k / 5, [("a", box(100, 100), 0.9)])
    for k in range(4):  # a's track has ended; a stays a violator the registry remembers
        run.frame(1000.0 + WARP_HORIZON_S + 5 + k / 5, [("b", box(300, 100), 0.9)])
    old, new = sorted(run.tracker.identities.identities, key=lambda i: i.last_seen)
    before_old, before_new = old.box, new.box
    run.tracker.warp(shift(-50.0))
    assert old.box == before_old and new.box[0] == pytest.approx(before_new[0] - 50)
