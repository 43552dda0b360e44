"""The tracker's test helpers: feeding labelled faces, people with appearance embeddings."""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import numpy as np

from maskwatch.config import parse_config
from maskwatch.workers.tracker import Sighting, Tracker

W, H = 40.0, 48.0  # face box size in pixels


def events_cfg(**kw):
    # the helpers' faces stand still (a jitter of 1.5 px) unless a test walks them: the still-face
    # rule is off here and tested on its own (test_tracker_judging.py)
    base = {"track_iou": 0.2, "track_max_gap_s": 1.0, "vote_n": 5, "vote_k": 3, "revisit_s": 600.0,
            "still_s": 0.0}
    return parse_config({"events": {**base, **kw}}, env={}).events


def box(x: float, y: float, jitter: random.Random | None = None) -> tuple:
    j = (lambda: jitter.gauss(0, 1.5)) if jitter else (lambda: 0.0)
    return (x + j(), y + j(), x + W + j(), y + H + j())


class Run:
    """Feeds frames to a Tracker and records which track each labelled face joined."""

    def __init__(self, entries: str = "e", min_score: float = 0.0, **cfg):
        self.entries = entries  # entry id prefix: stream ids are unique across runs
        self.min_score = min_score  # the rule's minimum face score, on every sighting
        self.tracker = Tracker(events_cfg(**cfg))
        self.tracks_of: dict[str, list[int]] = defaultdict(list)
        self.fired: list = []       # (track, step) per fire
        self.rejoined: list = []
        self.ended: list = []
        self.settled: list[Sighting] = []
        self.fed: list[Sighting] = []
        self.label_of: dict[int, str] = {}

    def frame(self, t: float, faces: list[tuple], threshold: float = 0.5, entry: str | None = None):
        """faces: (label, box, p_no_mask[, embedding[, score]]); `entry`: the entry id (a replay
        passes the original's)."""
        entry = entry or f"{self.entries}{len(self.fed)}"
        sightings = [Sighting(t, f[1], f[2], threshold, f"{entry}-{i}", i,
                              score=f[4] if len(f) > 4 else 0.9, crop=b"c", frame=b"f", min_score=self.min_score,
                              embedding=f[3] if len(f) > 3 else None)
                     for i, f in enumerate(faces)]
        for (label, *_), s in zip(faces, sightings):
            self.label_of[id(s)] = label
        self.fed += sightings
        step = self.tracker.update(t, sightings)
        self._record(step)
        return step

    def _record(self, step):
        for tr, s in step.matched:
            self.tracks_of[self.label_of[id(s)]].append(tr.id)
        self.fired += [(tr, step) for tr in step.fired]
        self.rejoined += step.rejoined
        self.ended += step.ended
        self.settled += step.settled

    def finish(self):
        """End every track and check that each sighting was settled exactly once."""
        self._record(self.tracker.expire(math.inf))
        assert not self.tracker.tracks
        counts = Counter(id(s) for s in self.settled)
        assert set(counts) == {id(s) for s in self.fed}
        assert set(counts.values()) == {1}



class People:
    """Appearance embeddings: each person a random unit vector, each sighting of them a noisy copy
    (similarity about 0.9 to their own mean, about 0 to anyone else's)."""

    def __init__(self, seed: int = 0, dim: int = 64, noise: float = 0.35):
        self.rng, self.dim, self.noise = np.random.default_rng(seed), dim, noise
        self.base: dict[str, np.ndarray] = {}

    def __call__(self, label: str) -> np.ndarray:
        if label not in self.base:
            self.base[label] = unit(self.rng.normal(size=self.dim))
        return unit(self.base[label] + self.rng.normal(size=self.dim) * self.noise / np.sqrt(self.dim))

    def drift(self, label: str, new_label: str, cosine: float) -> None:
        """`new_label` looks `cosine` alike `label` (the same person further on, or a near twin)."""
        self(label)  # draws the first look if there is none yet
        a = self.base[label]
        o = self.rng.normal(size=self.dim)
        o = unit(o - (o @ a) * a)
        self.base[new_label] = unit(cosine * a + np.sqrt(1 - cosine ** 2) * o)


def unit(v):
    return (v / np.linalg.norm(v)).astype(np.float32)


def visit(run: Run, people: People, label: str, t0: float, x: float, p: float, seconds: float = 1.0,
          fps: float = 5.0, speed: float = 0.0):
    for i in range(int(seconds * fps)):
        t = t0 + i / fps
        run.frame(t, [(label, box(x + speed * i / fps, 100), p, people(label))])
    return t0 + seconds


def pause(run: Run, t: float):
    run.frame(t, [])  # time passes with nobody in view: tracks end
