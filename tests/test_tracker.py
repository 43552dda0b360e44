"""The per-camera tracker: identities at 2-5 fps, out-of-order input, the k-of-n vote, cooldown, settling."""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import pytest

from maskwatch.config import parse_config
from workers.tracker import Mark, Sighting, Tracker

W, H = 40.0, 48.0  # face box size in pixels


def events_cfg(**kw):
    base = {"track_iou": 0.2, "track_max_gap_s": 1.0, "vote_n": 5, "vote_k": 3, "cooldown_s": 10.0}
    return parse_config({"events": {**base, **kw}}, env={}).events


def box(x: float, y: float, jitter: random.Random | None = None) -> tuple:
    j = (lambda: jitter.gauss(0, 1.5)) if jitter else (lambda: 0.0)
    return (x + j(), y + j(), x + W + j(), y + H + j())


class Run:
    """Feeds frames to a Tracker and records which track each labelled face joined."""

    def __init__(self, **cfg):
        self.tracker = Tracker(events_cfg(**cfg))
        self.tracks_of: dict[str, list[int]] = defaultdict(list)
        self.fired: list = []       # (track, step) per fire
        self.suppressed: list = []
        self.settled: list[Sighting] = []
        self.fed: list[Sighting] = []
        self.label_of: dict[int, str] = {}

    def frame(self, t: float, faces: list[tuple[str, tuple, float]], threshold: float = 0.5):
        sightings = [Sighting(t, b, p, threshold, f"e{len(self.fed)}-{i}", i, crop=b"c", frame=b"f")
                     for i, (_, b, p) in enumerate(faces)]
        for (label, _, _), s in zip(faces, sightings):
            self.label_of[id(s)] = label
        self.fed += sightings
        step = self.tracker.update(t, sightings)
        self._record(step)
        return step

    def _record(self, step):
        for tr, s in step.matched:
            self.tracks_of[self.label_of[id(s)]].append(tr.id)
        self.fired += [(tr, step) for tr in step.fired]
        self.suppressed += step.suppressed
        self.settled += step.settled

    def finish(self):
        """End every track and check that each sighting was settled exactly once."""
        self._record(self.tracker.expire(math.inf))
        assert not self.tracker.tracks
        counts = Counter(id(s) for s in self.settled)
        assert set(counts) == {id(s) for s in self.fed}
        assert set(counts.values()) == {1}


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


def stay(run: Run, t0: float, x: float, p: float, seconds: float = 1.0, label: str = "a"):
    for i in range(int(seconds * 5)):
        run.frame(t0 + i * 0.2, [(label, box(x, 100), p)])


@pytest.mark.parametrize("again_after_s, dx, fires", [
    (2.0, 0, 1),      # same spot within the cooldown: suppressed
    (2.0, 20, 1),     # a little aside (centre within one box width)
    (12.0, 0, 2),     # after the cooldown
    (2.0, 150, 2),    # elsewhere
])
def test_cooldown(again_after_s, dx, fires):
    run = Run(cooldown_s=10.0)
    stay(run, 1000.0, 100, 0.9)
    run.frame(1001.0 + again_after_s - 0.2, [])  # time passes: the first track ends
    stay(run, 1001.0 + again_after_s, 100 + dx, 0.9, label="b")
    run.finish()
    assert len(set(run.tracks_of["a"]) | set(run.tracks_of["b"])) == 2
    assert len(run.fired) == fires
    assert len(run.suppressed) == 2 - fires


def test_restored_mark_suppresses_a_violator_still_walking():
    """After a restart the violator of a mark (kept in Redis) is re-found on their path, not reported."""
    run = Run(cooldown_s=0.0, track_max_gap_s=1.5)
    m = Mark(1000.0, box(100, 100), vx=60.0, vy=0.0)
    run.tracker.seed([Mark.from_list(m.to_list())])
    for i in range(10):  # replayed entries from before the mark, then new ones past it
        t = 999.4 + i * 0.2
        x = 100 + 60 * (t - 1000)
        run.frame(t, [("a", box(x, 100), 0.9), ("b", box(x, 20), 0.9)])
    run.finish()
    assert len(run.suppressed) == 1 and run.suppressed[0].id == run.tracks_of["a"][0]
    assert [tr.id for tr, _ in run.fired] == [run.tracks_of["b"][0]]


def test_cooldown_marks_follow_a_live_violator():
    run = Run()
    for i in range(10):
        run.frame(1000 + i * 0.2, [("a", box(10 + 20 * i, 100), 0.9)])
    spot, mark = run.tracker.cooldown_marks()  # where it fired (static), where they are now (live)
    assert spot.t == pytest.approx(1000.4) and spot.box == box(50, 100) and spot.vx == 0
    assert mark.t == pytest.approx(1001.8) and mark.box == box(190, 100)
    assert mark.vx == pytest.approx(100.0)
    assert run.tracker.marks_changed
    run.finish()


def test_cooldown_holds_for_a_moving_violator_who_comes_back_to_the_same_spot():
    """A looping scene: the violator drifted away (a mark with velocity), left, and reappears where
    they were last seen within the cooldown: no second violation."""
    run = Run(cooldown_s=60.0, track_max_gap_s=1.5)
    for i in range(8):
        run.frame(1000 + i * 0.2, [("a", box(100 + 8 * i, 100), 0.9)])
    run.frame(1010.0, [])  # gone long enough for the track to end
    for i in range(8):
        run.frame(1016 + i * 0.2, [("b", box(156 + 8 * i, 100), 0.9)])
    run.finish()
    assert len(run.fired) == 1 and len(run.suppressed) == 1


def test_the_spot_stays_cooled_when_the_violators_track_wanders_off():
    """The violator's track is taken over by someone passing close by and leaves the spot; the
    violator reappearing there within the cooldown is not a second violation."""
    run = Run(cooldown_s=60.0, track_max_gap_s=1.5)
    for i in range(5):
        run.frame(1000 + i * 0.2, [("a", box(100, 100), 0.9)])
    for i in range(10):  # someone else at the spot (a scene cut, a crossing), then walking away:
        run.frame(1001 + i * 0.2, [("c", box(110 + 30 * i, 100), 0.1)])  # the track follows them
    run.frame(1006.0, [])
    for i in range(5):
        run.frame(1010 + i * 0.2, [("b", box(100, 100), 0.9)])
    run.finish()
    assert len(run.fired) == 1 and len(run.suppressed) == 1
