"""Who is who by a learnt metric (maskwatch.models.studies.learnedid): LDA keeps the directions
people differ along and shrinks those one person varies along; each video is described by a metric
fitted on the others alone. Pure, on hand-made descriptors and frames."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.models.appearance import CLOTHING_DIM
from maskwatch.models.studies.learnedid import attach, fit, labelled, separations
from maskwatch.models.studies.replayframes import Frame

FACE_DIM = 8


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def people(n_people: int = 4, per: int = 12, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """Each person a small offset along their own axis; everyone varies widely along one nuisance
    axis (a turn), so raw cosines follow the turn, not the person."""
    rng = np.random.default_rng(seed)
    xs, who = [], []
    for k in range(n_people):
        for _ in range(per):
            v = np.full(FACE_DIM + CLOTHING_DIM, 0.05, np.float32)
            v[k + 1] += 0.3
            v[0] += rng.uniform(-3, 3)          # the nuisance
            v += rng.normal(0, 0.01, v.shape).astype(np.float32)
            xs.append(v)
            who.append(f"p{k}")
    return xs, who


def test_the_metric_follows_the_person_not_the_turn():
    xs, who = people()
    metric = fit(xs, who)
    x = np.asarray(xs)
    a, b = x[who.index("p0")].copy(), x[who.index("p1")].copy()
    a_turned, b_alike = a.copy(), b.copy()
    a_turned[0], b_alike[0] = a[0] + 4.0, a[0]  # the same person turned; another person posed alike
    raw = (unit(a) @ unit(a_turned), unit(a) @ unit(b_alike))
    learnt = (metric(a) @ metric(a_turned), metric(a) @ metric(b_alike))
    assert raw[0] < raw[1]            # raw: the other person, posed alike, is closer
    assert learnt[0] > 0.9 > learnt[1]  # learnt: the same person is


@pytest.mark.parametrize("who, message", [(["a"] * 5, "two people or more, got 1"), ([], "got 0")])
def test_a_metric_needs_two_people(who, message):
    xs = [np.ones(FACE_DIM + CLOTHING_DIM, np.float32)] * len(who)
    with pytest.raises(ValueError, match=message):
        fit(xs, who)


def frame(t: float, boxes: list, scores: list, classified: list[bool], seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    face = np.stack([unit(rng.normal(size=FACE_DIM)) if c else np.zeros(FACE_DIM, np.float32) for c in classified])
    body = np.stack([unit(rng.uniform(0.1, 1, CLOTHING_DIM)) for _ in boxes])
    return Frame(t, np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.full(len(boxes), 0.9),
                 None, face, body, None)


TRUTH = {"fps": 10.0, "persons": [{"id": "7", "boxes": [[10, 0, 0, 100, 300]]},
                                  {"id": "8", "boxes": [[10, 200, 0, 300, 300]]}]}


@pytest.mark.parametrize("box, score, classified, who", [
    ((30, 20, 60, 50), 0.9, True, ["v/7"]),      # on person 7's head
    ((230, 20, 260, 50), 0.9, True, ["v/8"]),
    ((130, 20, 160, 50), 0.9, True, []),         # on nobody labelled
    ((30, 20, 60, 50), 0.5, True, []),           # below the bar: no worker classifies it
    ((30, 20, 60, 50), 0.9, False, []),          # not classified
])
def test_each_classified_face_is_given_to_the_person_whose_head_holds_it(box, score, classified, who):
    f = frame(1.0, [box], [score], [classified])  # frame 10 at 10 fps
    xs, names = labelled([f], TRUTH, bar=0.8, prefix="v/")
    assert names == who and len(xs) == len(who)


def test_each_video_is_described_by_a_metric_fitted_on_the_others_alone():
    def videos(a_truth: dict) -> dict:
        return {stem: ([frame(1.0, [(30, 20, 60, 50), (230, 20, 260, 50)], [0.9, 0.9], [True, True], seed + n)
                        for n in range(3)], a_truth if stem == "a" else TRUTH)
                for stem, seed in (("a", 1), ("b", 5), ("c", 9))}
    labelled_a, unlabelled_a = videos(TRUTH), videos({"fps": 10.0, "persons": []})
    # two faces a frame, three frames, two other videos
    assert attach(labelled_a, min_face_score=0.8) == {"a": 12, "b": 12, "c": 12}
    assert attach(unlabelled_a, min_face_score=0.8) == {"a": 12, "b": 6, "c": 6}

    def alike(stem: str) -> bool:
        return all(np.allclose(f.learned, g.learned) for f, g in zip(labelled_a[stem][0], unlabelled_a[stem][0]))
    assert alike("a")                        # a's metric never learnt from a's labels
    assert not alike("b") and not alike("c")  # the others' did


def test_separations_per_video_and_pooled():
    xs, who = people(n_people=3, per=8)
    faces = {"a": (xs, [f"a/{w}" for w in who]), "b": people(n_people=3, per=8, seed=1)}
    faces["b"] = (faces["b"][0], [f"b/{w}" for w in faces["b"][1]])
    out = separations(faces)
    assert out["videos"]["a"]["faces"] == 24
    # 3 people x 2 runs of four: one same pair each, four different pairs per pair of people
    assert out["videos"]["a"]["learned"]["same_pairs"] == 3
    assert out["videos"]["a"]["learned"]["different_pairs"] == 12
    assert out["all"]["learned"]["same_pairs"] == 6
    assert out["all"]["learned"]["auc"] > out["all"]["face+clothing"]["auc"]
