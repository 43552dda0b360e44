"""Judge only what can be judged: small faces vote less or not at all, a person never seen well
enough is counted as not judged, and a face that never moves (a poster, a screen) is never a
violation (workers.tracker: Tracker.weight, Track.tally, the still-face hold)."""
from __future__ import annotations

import pytest
from support.tracking import People, Run, pause

from maskwatch.workers.events.changes import changes_of, hour_of
from maskwatch.workers.tracker import State

T0 = 1000.0


def sized(x: float, y: float, w: float) -> tuple:
    return (x, y, x + w, y + 1.2 * w)


def walk_sized(run: Run, widths: list[float], p: float = 0.95, fps: float = 5.0, speed: float = 20.0):
    """One face walking right at `speed` px/s, one sighting per width given."""
    return [run.frame(T0 + i / fps, [("a", sized(50 + speed * i / fps, 100, w), p)]) for i, w in enumerate(widths)]


@pytest.mark.parametrize("widths, fires_at", [
    ([30] * 8, 2),             # large: three agreeing sightings, as ever
    ([24] * 8, 2),             # judge_full_px: a whole vote each
    ([18] * 8, 3),             # 0.83 a sighting: four agree
    ([15] * 8, 4),             # 0.74: all five of the window
    ([10] * 8, 4),             # judge_min_px: vote_k / vote_n a sighting, all five
    ([8] * 12, None),          # below judge_min_px: never a violation
    ([8] * 6 + [30] * 3, 8),   # too small at first, judged once large: the third large one
])
def test_small_faces_need_more_agreeing_sightings(widths, fires_at):
    run = Run()
    steps = walk_sized(run, widths)
    run.finish()
    if fires_at is None:
        assert run.fired == []
        return
    ((tr, step),) = run.fired
    assert step is steps[fires_at]


@pytest.mark.parametrize("name, confirmed, scores, fires_at", [
    ("off: a doubted face never votes", None, [0.9] + [0.6] * 6, None),
    ("after a sure face, doubted ones vote", 0.5, [0.9] + [0.6] * 6, 2),
    ("doubted before the first sure face count not", 0.5, [0.6] * 3 + [0.9] + [0.6] * 3, 5),
    ("doubted below the confirmed score: never", 0.7, [0.9] + [0.6] * 6, None),
    ("never seen sure: never", 0.5, [0.6] * 8, None),
])
def test_a_doubted_face_votes_on_a_track_seen_sure(name, confirmed, scores, fires_at):
    """events.confirmed_min_score: the rule asks a face score of 0.8 here; a blurred face the
    detector doubts is, on a track that showed a sure face before, the same face."""
    run = Run(min_score=0.8, confirmed_min_score=confirmed)
    steps = [run.frame(T0 + i / 5, [("a", sized(50 + 4 * i, 100, 30), 0.95, None, sc)]) for i, sc in enumerate(scores)]
    run.finish()
    assert [step for _, step in run.fired] == ([] if fires_at is None else [steps[fires_at]]), name


def test_a_person_never_seen_well_enough_is_not_judged_and_counted_once():
    run = Run()
    walk_sized(run, [6, 7, 8, 9, 8, 7, 6, 8])
    end = run.tracker.expire(T0 + 100)
    run._record(end)
    assert run.fired == [] and end.ended[0].tally == "not_judged"
    hours = changes_of("cam", end).hours
    assert hours[hour_of(T0), "not_judged"] == 1 and hours[hour_of(T0), "people"] == 0


@pytest.mark.parametrize("widths, p, tally", [
    ([30] * 5 + [8] * 3, 0.95, "people"),  # a violator is one of the people compliance counts
    ([8] * 3 + [30] * 5, 0.95, "people"),
    ([8] * 6, 0.05, "not_judged"),         # masked or not, nobody could tell
    ([8] * 6, 0.95, "not_judged"),
    ([30], 0.95, None),                     # one sighting: a flicker of the detector, nobody
    ([8], 0.05, None),
])
def test_what_an_ended_track_counts_as(widths, p, tally):
    run = Run()
    walk_sized(run, widths, p=p)
    (tr,) = run.tracker.expire(T0 + 100).ended
    assert tr.tally == tally


@pytest.mark.parametrize("scores, confirmed, tally, judged", [
    ([0.9] * 5, None, "people", 5),           # every face sure: judged
    ([0.6] * 5, None, "not_judged", 0),       # large but always doubted (blurred): nobody could tell
    ([0.6] * 5, 0.5, "not_judged", 0),        # confirmed faces vote only after a sure one: none came
    ([0.6, 0.6, 0.9, 0.6, 0.6], None, "people", 1),  # one sure face judges the person
    ([0.9, 0.6, 0.6, 0.6, 0.6], 0.5, "people", 5),   # after a sure one, doubted faces vote too
])
def test_a_person_the_detector_only_doubted_is_not_judged(scores, confirmed, tally, judged):
    """A face below the rule's face score can never say "no mask" (the workers do not even
    classify it): a track of such faces alone is a person not judged, not a compliant one."""
    run = Run(min_score=0.8, confirmed_min_score=confirmed)
    for i, sc in enumerate(scores):
        run.frame(T0 + i / 5, [("a", sized(50 + 4 * i, 100, 30), 0.05, None, sc)])
    (tr,) = run.tracker.expire(T0 + 100).ended
    assert (tr.tally, tr.judged) == (tally, judged)


def test_a_masked_person_seen_large_is_a_judged_person():
    run = Run()
    walk_sized(run, [8, 8, 30, 30, 30], p=0.05)
    (tr,) = run.tracker.expire(T0 + 100).ended
    assert tr.tally == "people" and tr.judged == 3


def test_a_violator_who_turns_away_and_back_stays_one_violation():
    """Turned away, the face is not found for longer than the track gap; turned back, the new
    track passes the vote again and rejoins the first violation instead of making a second."""
    run, people = Run(), People(3)
    for i in range(6):
        run.frame(T0 + i * 0.2, [("a", sized(100 + 4 * i, 100, 40), 0.95, people("a"))])
    pause(run, T0 + 4.0)  # turned away: nothing for 2.8 s, the track ends
    for i in range(6):
        run.frame(T0 + 5.0 + i * 0.2, [("a", sized(130 - 4 * i, 104, 40), 0.95, people("a"))])
    run.finish()
    assert len(run.fired) == 1 and len(run.rejoined) == 1
    assert run.rejoined[0].identity is run.fired[0][0].identity


def still_face(run: Run, seconds: float, p: float = 0.95, fps: float = 5.0, start: float = T0, drift: float = 0.0):
    steps = []
    for i in range(int(seconds * fps)):
        x = 200 + drift * i / fps
        steps.append(run.frame(start + i / fps, [("poster", sized(x, 60, 40), p)]))
    return steps


def test_a_face_that_never_moves_is_a_picture_never_a_violation():
    run = Run(still_s=5.0)
    still_face(run, 12.0)
    (tr,) = run.tracker.tracks
    assert tr.state is State.STILL and tr.reach == 0.0
    end = run.tracker.expire(T0 + 100)
    run._record(end)
    run.finish()  # every sighting settled once, the held ones included
    assert run.fired == [] and end.ended[0].tally == "still"
    assert changes_of("cam", end).hours[hour_of(T0), "still"] == 1


def test_a_still_face_that_leaves_before_still_s_is_reported_when_it_goes():
    """Bare and still for a second, then gone (hands over the face, turned away): it passed the vote
    and nothing showed it was a picture, so it is reported, on the window it passed with."""
    run = Run(still_s=10.0)
    still_face(run, 1.0)
    end = run.tracker.expire(T0 + 100)
    run._record(end)
    run.finish()
    ((tr, step),) = run.fired
    assert step is end and tr.state is State.VIOLATION and tr.tally == "people"


def test_where_a_picture_was_found_a_still_face_is_one_at_once():
    run = Run(still_s=5.0)
    still_face(run, 6.0)                       # the poster, found to be one after 5 s
    pause(run, T0 + 20.0)                      # occluded: its track ends
    still_face(run, 1.0, start=T0 + 21.0)      # the same place again: a picture from its first vote
    end = run.tracker.expire(T0 + 100)
    run._record(end)
    run.finish()
    assert run.fired == [] and [tr.tally for tr in end.ended] == ["still"]


def test_a_standing_violator_is_held_until_they_move_then_reported():
    """Standing still and bare for a second, then masked and moving (the group clip's people): the
    vote passed on the bare window, which is kept while held; the move reports it after all."""
    run = Run(still_s=20.0)
    still_face(run, 1.0)
    assert run.fired == [] and run.tracker.tracks[0].held
    held = list(run.tracker.tracks[0].window)
    later = still_face(run, 2.0, start=T0 + 1.0, drift=4.0, p=0.05)  # masked now; sways 4 px a second
    run.finish()
    ((tr, step),) = run.fired
    assert step in later and tr.reach >= 0.1
    assert tr.fired is held[-1] and tr.best in held  # named and evidenced by the bare sightings


def test_a_walking_violator_is_not_held():
    run = Run(still_s=20.0)
    steps = walk_sized(run, [40] * 6, speed=20.0)
    run.finish()
    ((tr, step),) = run.fired
    assert step is steps[2] and not tr.held


def test_stillness_is_judged_in_the_pictures_pixels_even_on_a_camera_that_pans():
    """A photo drifting across the screen (the demo clip, a slideshow) as a panning camera would
    show it: the tracker follows the pan, but the face moves in the picture, so it is a person's,
    reported; in the camera's own coordinates it would never have moved."""
    run = Run(still_s=5.0)
    for i in range(int(8 * 5)):
        if i:
            run.tracker.warp(((1.0, 0.0, 2.0), (0.0, 1.0, 0.0)))  # the camera's pose: 10 px a second
        run.frame(T0 + i / 5, [("photo", sized(200 + 2.0 * i, 60, 40), 0.95)])
    run.finish()
    ((tr, _),) = run.fired
    assert tr.state is State.VIOLATION and tr.reach >= 0.1
