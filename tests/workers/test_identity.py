"""Appearance and identity in the tracker: dedup by who, not where (queues at one spot, revisits,
crossings, occlusion), two-stage association, people counts, and replays and restarts with
identities restored from Redis."""
from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
from support.tracking import People, Run, box, pause, visit

from maskwatch.workers.identity import Identity, Registry, on_course
from maskwatch.workers.tracker import State


@pytest.mark.parametrize("name, plan, violations, rejoined", [
    # a queue at one spot: different unmasked people pass the same place every 3 s
    ("queue of strangers", [("a", 0), ("b", 3), ("c", 6), ("d", 9), ("e", 12)], 5, 0),
    # the same person back at the spot within the revisit window: one violation
    ("revisit", [("a", 0), ("a", 30)], 1, 1),
    ("revisit elsewhere", [("a", 0, 0), ("a", 30, 300)], 1, 1),
    # back after the window: a new violation
    ("after the window", [("a", 0), ("a", 700)], 2, 0),
    # alternating people, each coming back: two violations, two rejoins
    ("two regulars", [("a", 0), ("b", 5), ("a", 10), ("b", 15)], 2, 2),
])
def test_dedup_is_by_who_not_where(name, plan, violations, rejoined):
    run, people = Run(track_max_gap_s=1.0, revisit_s=600.0), People(1)
    for label, t, *x in plan:
        end = visit(run, people, label, 1000.0 + t, x[0] if x else 100, 0.95)
        pause(run, end + 1.5)
    run.finish()
    assert len(run.fired) == violations, name
    assert len(run.rejoined) == rejoined, name


def test_a_rejoined_track_extends_the_first_violation():
    run, people = Run(track_max_gap_s=1.0), People(2)
    visit(run, people, "a", 1000.0, 100, 0.95)
    pause(run, 1002.0)
    visit(run, people, "a", 1010.0, 200, 0.95, seconds=2.0)
    pause(run, 1013.0)
    run.finish()
    ((tr, _),), (again,) = run.fired, run.rejoined
    assert again.identity is tr.identity and again.state is State.REJOINED
    assert tr.identity.violation == (tr.fired.entry_id, tr.fired.face)
    assert tr.identity.last_seen == pytest.approx(1011.8) and tr.identity.sightings == 5 + 10


def test_two_violators_in_view_at_once_are_two_people_even_if_alike():
    """Place and time must be plausible: two faces seen at the same moment are never one person."""
    run, people = Run(track_max_gap_s=1.0), People(3, noise=0.0)
    twin = people("a")
    for i in range(8):
        t = 1000.0 + i * 0.2
        run.frame(t, [("a", box(50, 100), 0.95, twin), ("b", box(400, 100), 0.95, twin)])
    run.finish()
    assert len(run.fired) == 2 and not run.rejoined


def _turns(t0: float, xs: list[float], step_s: float = 0.2) -> list:
    return [(t0 + i * step_s, box(x, 100)) for i, x in enumerate(xs)]


@pytest.mark.parametrize("name, theirs, ours, one_person", [
    # W = 40 px: spacing in widths is the x difference / 40
    ("in one frame at one place: a replay", _turns(1000.0, [100]), _turns(1000.0, [110]), True),
    ("in one frame two widths apart: two people", _turns(1000.0, [100]), _turns(1000.0, [180]), False),
    # a dancer on a hand-held camera: the tracker split one face into two tracks that take turns
    ("turns a frame apart, two widths: one face", _turns(1000.0, [100, 0, 180][::2], 0.4),
     _turns(1000.2, [180, 100], 0.4), True),
    ("turns a frame apart, five widths: two people", _turns(1000.0, [100, 100], 0.4),
     _turns(1000.2, [300, 300], 0.4), False),
    ("turns, but once in one frame two widths apart", _turns(1000.0, [100, 100, 100], 0.2),
     _turns(1000.2, [180], 0.2), False),
    ("over one span, never near in time", _turns(1000.0, [100, 100], 2.0), _turns(1001.0, [120], 0.2), False),
])
def test_two_tracks_over_one_span_are_one_person_only_where_one_face_could_be_both(name, theirs, ours, one_person):
    v = np.eye(64, dtype=np.float32)[0]
    registry = Registry(600.0, 0.88, 1.0)
    registry.add(Identity(theirs[0][0], theirs[-1][0], theirs[-1][1], [v], ("e", 0), trail=theirs))
    assert (registry.match(v, ours, violators_only=True) is not None) is one_person, name


@pytest.mark.parametrize("fps, speed", [(5, 100.0), (2, 60.0), (5, 180.0)])
def test_crossing_faces_keep_identities_by_appearance(fps, speed):
    """Fast crossing at 2-5 fps: motion alone is ambiguous where the boxes meet, appearance is not."""
    run, people, rng = Run(), People(4), random.Random(5)
    for i in range(int(300 / speed * fps) + 2):
        t = 1000.0 + i / fps
        dx = speed * i / fps
        run.frame(t, [("a", box(20 + dx, 100, rng), 0.1, people("a")),
                      ("b", box(320 - dx, 104, rng), 0.1, people("b"))])
    run.finish()
    a, b = Counter(run.tracks_of["a"]), Counter(run.tracks_of["b"])
    assert len(a) == len(b) == 1, (a, b)
    assert set(a) != set(b)


def test_appearance_gate_refuses_a_stranger_on_the_spot():
    """Someone else appearing exactly where a track was is a new track, not the old one's continuation."""
    run, people = Run(track_max_gap_s=3.0), People(6)
    for i in range(5):
        run.frame(1000 + i * 0.2, [("a", box(100, 100), 0.1, people("a"))])
    for i in range(5):
        run.frame(1001 + i * 0.2, [("b", box(102, 100), 0.1, people("b"))])
    run.finish()
    assert set(run.tracks_of["a"]).isdisjoint(run.tracks_of["b"])


@pytest.mark.parametrize("dx, overlap_gate, same_track", [
    (4, None, False),   # on the track's box, 0.35 alike: below appearance_gate (0.5), someone else
    (4, 0.3, True),     # ...unless the looser gate for a face standing on the box lets it continue
    (4, 0.4, False),    # ...down to that gate only
    (20, 0.3, False),   # half a width off (IoU 0.33): appearance_gate again
])
def test_a_face_on_the_track_s_box_is_asked_the_overlap_gate(dx, overlap_gate, same_track):
    v, w = np.eye(64, dtype=np.float32)[:2]
    turned = 0.35 * v + math.sqrt(1 - 0.35 ** 2) * w  # the same person's face, turned: cosine 0.35
    run = Run(track_max_gap_s=3.0, overlap_gate=overlap_gate)
    for i in range(3):
        run.frame(1000 + i * 0.2, [("a", box(100, 100), 0.1, v)])
    run.frame(1000.6, [("b", box(100 + dx, 100), 0.1, turned)])
    run.finish()
    assert (run.tracks_of["b"][0] in run.tracks_of["a"]) is same_track


@pytest.mark.parametrize("gap_s", [0.5, 2.0, 6.0])
def test_occluded_violator_is_one_violation(gap_s):
    """Hidden for 0.5-6 s behind a pillar, then seen again further on: one violation either way."""
    run, people = Run(track_max_gap_s=1.0), People(7)
    visit(run, people, "a", 1000.0, 50, 0.95, speed=40)
    visit(run, people, "a", 1001.0 + gap_s, 50 + 40 * (1 + gap_s), 0.95, speed=40)
    run.finish()
    assert len(run.fired) == 1 and len(run.rejoined) <= 1


def _walk(t0: float, x0: float, speed: float, seconds: float, fps: float = 5.0, y: float = 100.0) -> list:
    return [(t0 + i / fps, box(x0 + speed * i / fps, y)) for i in range(int(seconds * fps))]


@pytest.mark.parametrize("name, found, expected", [
    # lost at x=120 at t=1.8 walking right at 40 px/s (a width a second), found again...
    ("where the walk leads, 3 s on", _walk(1004.8, 240, 40, 1), True),
    ("a little short of it (slowed down behind the pillar)", _walk(1004.8, 190, 25, 1), True),
    ("far beyond it", _walk(1004.8, 480, 40, 1), False),
    ("back where it was lost", _walk(1004.8, 120, 40, 1), False),
    ("where the walk leads, but walking back", _walk(1004.8, 240, -40, 1), False),
    ("where the walk leads, too late to say", _walk(1013.8, 480, 40, 1), False),
    ("where the walk leads, one point (no heading yet)", _walk(1004.8, 240, 40, 0.2), True),
    ("before it was lost", _walk(1000.8, 80, 40, 1), False),
])
def test_on_course_means_where_the_walk_leads(name, found, expected):
    lost = _walk(1000.0, 48, 40, 2)
    assert on_course(lost, found) is expected, name


def test_someone_standing_still_is_never_on_course():
    lost = [(1000.0 + i * 0.2, box(100, 100)) for i in range(10)]
    assert not on_course(lost, _walk(1004.0, 100, 0, 1))
    assert not on_course(lost, _walk(1004.0, 130, 40, 1))


@pytest.mark.parametrize("name, cosine, after, violations, by_course", [
    # a walker's crops change along the way (backdrop, pose): past the pillar, 0.78 alike
    ("on course, changed look", 0.78, dict(gap_s=3.0), 1, True),
    ("on course, someone else", 0.3, dict(gap_s=3.0), 2, None),
    ("off course, changed look", 0.78, dict(gap_s=3.0, x=700), 2, None),
    ("on course but lost too long", 0.78, dict(gap_s=12.0), 2, None),
    ("off course, the same look", 0.99, dict(gap_s=3.0, x=700), 1, False),  # a revisit: appearance alone
])
def test_a_walker_found_again_on_course_needs_less_likeness(name, cosine, after, violations, by_course):
    run, people = Run(track_max_gap_s=1.0), People(15, noise=0.1)
    people.drift("a", "a past the pillar", cosine)
    visit(run, people, "a", 1000.0, 50, 0.95, seconds=2.0, speed=40)
    gap = after["gap_s"]
    x = after.get("x", 50 + 40 * (2.0 + gap))
    for i in range(10):
        t = 1002.0 + gap + i * 0.2
        run.frame(t, [("a past the pillar", box(x + 8 * i, 100), 0.95, people("a past the pillar"))])
    run.finish()
    assert len(run.fired) == violations, name
    assert [tr.rejoin.on_course for tr in run.rejoined] == ([] if by_course is None else [by_course]), name


def test_low_score_faces_continue_tracks_but_never_start_one():
    run = Run(track_high_score=0.5)
    run.frame(1000.0, [("a", box(100, 100), 0.1, None, 0.9)])
    run.frame(1000.2, [("a", box(104, 100), 0.1, None, 0.3), ("ghost", box(400, 300), 0.1, None, 0.3)])
    run.frame(1000.4, [("a", box(108, 100), 0.1, None, 0.9)])
    assert len(set(run.tracks_of["a"])) == 1 and len(run.tracks_of["a"]) == 3
    assert run.tracks_of["ghost"] == [] and len(run.tracker.tracks) == 1
    run.finish()  # the ghost sighting was settled all the same


def test_restored_violator_is_not_reported_again_after_a_restart():
    """After a restart the violator's identity (kept in Redis) is recognised wherever they now are."""
    people = People(8)
    first = Run(track_max_gap_s=1.0)
    visit(first, people, "a", 1000.0, 100, 0.95)
    (stored,) = first.tracker.identities.violators()
    restored = Identity.from_record(stored.to_record())  # the Redis round trip: float16 exemplars
    second = Run("after-restart-", track_max_gap_s=1.0)
    second.tracker.seed([restored])
    visit(second, people, "a", 1001.0, 180, 0.95, seconds=2.0)
    visit(second, people, "b", 1004.0, 100, 0.95)  # somebody else at the first one's spot
    second.finish()
    assert len(second.rejoined) == 1 and second.rejoined[0].identity is restored
    assert [second.label_of[id(tr.fired)] for tr, _ in second.fired] == ["b"]
    assert restored.sightings == 5 + 10


def test_without_embeddings_only_the_same_spot_within_the_track_gap_is_the_same_person():
    """A model without an embedding: a restored violator is recognised only where they were, just
    after; anyone at that spot later is someone new."""
    run = Run(track_max_gap_s=1.0)
    run.tracker.seed([Identity(999.0, 1000.0, box(100, 100), [], ("e-before", 0), 5, dirty=False, committed=True)])
    for i in range(5):
        run.frame(1000.4 + i * 0.2, [("a", box(102, 100), 0.95)])
    pause(run, 1003.0)
    for i in range(5):
        run.frame(1010.0 + i * 0.2, [("b", box(100, 100), 0.95)])
    run.finish()
    assert len(run.rejoined) == 1 and [run.label_of[id(tr.fired)] for tr, _ in run.fired] == ["b"]


def test_people_are_counted_once_per_identity():
    run, people = Run(track_max_gap_s=1.0), People(9)
    for label, t in [("a", 0), ("b", 3), ("a", 6), ("c", 9), ("b", 12)]:
        end = visit(run, people, label, 1000.0 + t, 100, 0.1)
        pause(run, end + 1.5)
    run.finish()
    assert sum(tr.new_person for tr in run.ended) == 3
    assert len(run.ended) == 5


@pytest.mark.parametrize("with_appearance, tracks", [(True, 1), (False, 6)])
def test_a_fast_walker_at_2_fps_is_refound_by_appearance(with_appearance, tracks):
    """2.5 face widths a frame is beyond any motion gate; a face that looks the same is still them."""
    run, people = Run(track_max_gap_s=1.0), People(10)
    for i in range(6):
        emb = people("a") if with_appearance else None
        run.frame(1000 + i * 0.5, [("a", box(20 + 100 * i, 100), 0.1, emb)])
    run.finish()
    assert len(set(run.tracks_of["a"])) == tracks


# -- replays and restarts (identities restored from Redis) ---------------------------------------

def test_a_replay_refiring_a_violations_own_sighting_is_that_violation_not_a_rejoin():
    """Stopped while the database was down: the identity exists (in memory or restored), the row
    may not. Replaying the same entries fires the same sighting: a violation again (idempotent)."""
    people, frames = People(11), []
    first = Run(track_max_gap_s=1.0)
    for i in range(5):
        frames.append((1000 + i * 0.2, [("a", box(100, 100), 0.95, people("a"))], 0.5, f"entry{i}"))
        first.frame(*frames[-1])
    ((tr, _),) = first.fired
    again = Run(track_max_gap_s=1.0)
    again.tracker.seed([tr.identity])
    for f in frames:
        again.frame(*f)
    again.finish()
    ((tr2, _),) = again.fired
    assert not again.rejoined and tr2.identity is tr.identity
    assert (tr2.fired.entry_id, tr2.fired.face) == tr.identity.violation


def test_replayed_sightings_of_a_walking_violator_rejoin_after_a_crash():
    """Entries still held by another face's vote window are replayed after a crash; they are older
    than the restored identity's last sighting, and the violator has walked on since."""
    people, frames = People(12), []
    for i in range(15):
        t = 1000 + i * 0.2
        faces = [("a", box(20 + 30 * i, 100), 0.95, people("a")), ("m", box(500, 300), 0.1, people("m"))]
        frames.append((t, faces, 0.5, f"entry{i}"))
    first = Run(track_max_gap_s=1.0)
    for f in frames[:12]:
        first.frame(*f)
    (ident,) = first.tracker.identities.violators()
    restored = Identity.from_record(ident.to_record())
    second = Run(track_max_gap_s=1.0)
    second.tracker.seed([restored])
    for f in frames[7:]:  # the masked person's window: five entries back, then on
        second.frame(*f)
    second.finish()
    assert not second.fired and len(second.rejoined) == 1


def test_a_violator_back_masked_who_walks_far_before_unmasking_is_the_same_violation():
    """Plausibility is judged from where the track appeared, not from where it fired."""
    run, people = Run(track_max_gap_s=1.0), People(13)
    visit(run, people, "a", 1000.0, 100, 0.95)
    pause(run, 1002.0)
    for i in range(100):  # back 9 s later at the same spot, masked, walking right 40 px/s
        t = 1010.0 + i * 0.2
        run.frame(t, [("a", box(110 + 8 * i, 100), 0.95 if i >= 90 else 0.1, people("a"))])
    run.finish()
    assert len(run.fired) == 1 and len(run.rejoined) == 1


def test_two_faces_seen_at_the_same_moments_elsewhere_are_two_people():
    run, people = Run(track_max_gap_s=1.0), People(14, noise=0.0)
    twin = people("a")
    for i in range(10):
        run.frame(1000 + i * 0.2, [("a", box(50 + 10 * i, 100), 0.95, twin)] +
                  ([("b", box(500 - 10 * i, 100), 0.95, twin)] if i >= 4 else []))
    run.finish()
    assert len(run.fired) == 2 and not run.rejoined
