"""Person-annotated test clips built from the bundled CC0 scenes: deterministic for a seed.

Each person is one annotated face of demo/scenes (with its head and some surroundings, feathered
into the frame), walking or standing on a blurred backdrop, so that every frame's ground truth is
known: who is where, and whether they are a violator. Scenarios (SCENARIOS) cover what a camera
over a gate or a lobby sees: a queue of different unmasked people passing one spot, someone hidden
behind a pillar and seen again, someone who leaves and comes back, two violators crossing, a masked
crowd with one violator, a mask pulled down mid-clip (a synthetic mask painted over an unmasked
face, then gone), and still and drifting cameras. `build_clips` writes, per scenario and frame
rate, `clip.avi` (MJPEG) and `truth.json` (boxes per person and frame).

The clips measure tracking and identity, not the frame-level model (the scenes evaluation does
that): with `vet` (`reads_correctly(pipeline)`), only faces that the model reads right on a plain
background at clip size are cast, so that a violator the detector is unsure of, or a masked face
the classifier gets wrong, does not count against the tracker.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.evaluation.cliprender import PILLAR, SIZE, Sprites, blend, render
from maskwatch.models.evaluation.voc import load_labelled

SCENARIOS = ("queue", "occlusion", "revisit", "crossing", "crowd", "pulldown", "static", "drifting")


@dataclass(frozen=True)
class Face:
    """A face of a scene photo: the image and its box, and whether its label is a violation."""
    image: Path
    box: tuple[float, float, float, float]
    violator: bool
    others: tuple = ()  # the photo's other annotated faces: blotted out of this one's patch


@dataclass
class Person:
    face: Face
    path: list[tuple[float, float, float]]  # (t, x, y) of the face centre, linear in between
    width: float                            # face width in the clip, pixels
    visible: list[tuple[float, float]]      # time intervals in view
    masked_until: float = -1.0              # pulldown: a painted mask until this time
    id: str = ""

    def at(self, t: float) -> tuple[float, float] | None:
        if not any(a <= t < b for a, b in self.visible):
            return None
        pts = self.path
        if t <= pts[0][0]:
            return pts[0][1:]
        for (t0, x0, y0), (t1, x1, y1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                f = (t - t0) / max(t1 - t0, 1e-9)
                return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        return pts[-1][1:]

    @property
    def violator(self) -> bool:
        return self.face.violator


@dataclass
class Scenario:
    name: str
    duration: float
    people: list[Person]
    drift_px: float = 0.0  # camera sway, pixels peak to peak
    pillar: bool = False
    notes: dict = field(default_factory=dict)


def scene_faces(root: Path, min_px: float = 30.0) -> tuple[list[Face], list[Face]]:
    """(unmasked, masked) faces of a VOC folder at least min_px wide in their photo (smaller ones,
    blown up, are too blurred for the detector's confidence); masks worn wrongly are left out: the
    clips test tracking and identity, not the classifier's hardest cases."""
    bad, good = [], []
    for xml in sorted((root / "annotations").glob("*.xml")):
        img = root / "images" / f"{xml.stem}.jpg"
        boxes, names = load_labelled(xml)
        every = tuple(tuple(float(v) for v in b) for b in boxes)
        for b, n in zip(every, names):
            if b[2] - b[0] < min_px or n == "mask_weared_incorrect":
                continue
            (bad if n == "without_mask" else good).append(
                Face(img, b, n == "without_mask", tuple(o for o in every if o != b)))
    return bad, good


class _Cast:
    """Draws distinct faces for one clip: nobody appears as two people."""

    def __init__(self, bad: list[Face], good: list[Face], rng: np.random.Generator):
        self.bad = [bad[i] for i in rng.permutation(len(bad))]
        self.good = [good[i] for i in rng.permutation(len(good))]

    def take(self, violator: bool) -> Face:
        pool = self.bad if violator else self.good
        if not pool:
            raise ValueError("clips: not enough distinct faces in the scenes for this scenario")
        return pool.pop()


def _walk(t0: float, t1: float, x0: float, x1: float, y: float) -> list[tuple[float, float, float]]:
    return [(t0, x0, y), (t1, x1, y)]


class _Draw:
    """The seeded choices of one set of scenarios, drawn in a fixed order (the clips of a seed
    never change)."""

    def __init__(self, bad: list[Face], good: list[Face], seed: int):
        self.bad, self.good, self.rng = bad, good, np.random.default_rng(seed)

    def cast(self) -> _Cast:
        return _Cast(self.bad, self.good, self.rng)

    def width(self) -> float:
        return float(self.rng.uniform(48, 68))

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))


def _queue(d: _Draw) -> Scenario:
    """Unmasked strangers through one barrier every 3-10 s, a few masked among them."""
    c, people, t = d.cast(), [], 1.0
    for i in range(8):
        violator = i not in (2, 5)
        stay = d.uniform(2.5, 3.5)
        people.append(Person(c.take(violator), [(t, 150, 280), (t + 1.2, 480, 270), (t + stay, 480, 270),
                                                 (t + stay + 1.2, 820, 280)], d.width(), [(t, t + stay + 1.2)]))
        t += d.uniform(3.0, 10.0)
    return Scenario("queue", t + 3.0, people)


def _occlusion(d: _Draw) -> Scenario:
    """Behind a pillar for 2-8 s, then on."""
    c, hide = d.cast(), d.uniform(2.0, 8.0)
    speed = (PILLAR[1] - PILLAR[0] + 60) / hide
    x_in, x_out = PILLAR[0] - 30, PILLAR[1] + 30
    t_in = (x_in - 120) / speed + 1.0
    path = [(1.0, 120, 260), (t_in, x_in, 260), (t_in + hide, x_out, 260), (t_in + hide + 3.0, x_out + 3 * speed, 260)]
    people = [Person(c.take(True), path, d.width(), [(1.0, t_in), (t_in + hide, t_in + hide + 3.0)]),
              Person(c.take(False), _walk(1.0, 12.0, 850, 650, 400), d.width(), [(1.0, 12.0)])]
    return Scenario("occlusion", t_in + hide + 4.0, people, pillar=True, notes={"hidden_s": round(hide, 1)})


def _revisit(d: _Draw) -> Scenario:
    """Leaves, back 8-20 s later somewhere else."""
    c, away = d.cast(), d.uniform(8.0, 20.0)
    a = c.take(True)
    people = [Person(a, [(1.0, 200, 260), (5.0, 260, 260)], d.width(), [(1.0, 5.0)]),
              Person(c.take(False), [(1.0, 700, 300), (9.0 + away, 760, 300)], d.width(), [(1.0, 9.0 + away)])]
    back = Person(a, [(5.0 + away, 600, 230), (9.0 + away, 520, 240)], people[0].width, [(5.0 + away, 9.0 + away)])
    return Scenario("revisit", 10.0 + away, people + [back], notes={"away_s": round(away, 1)})


def _crossing(d: _Draw) -> Scenario:
    """Two violators walk through each other."""
    c = d.cast()
    people = [Person(c.take(True), _walk(1.0, 9.0, 120, 840, 270), d.width(), [(1.0, 9.0)]),
              Person(c.take(True), _walk(1.0, 9.0, 840, 120, 285), d.width(), [(1.0, 9.0)]),
              Person(c.take(False), _walk(1.0, 9.0, 300, 420, 440), d.width(), [(1.0, 9.0)])]
    return Scenario("crossing", 10.0, people)


def _crowd(d: _Draw) -> Scenario:
    """Six masked, one not, milling about."""
    c, people = d.cast(), []
    for i in range(7):
        x, y = 130 + 120 * i, d.uniform(180, 400)
        dx, dy = d.rng.uniform(-60, 60, size=2)
        people.append(Person(c.take(i == 3), [(1.0, x, y), (15.0, x + dx, y + dy)], d.width(), [(1.0, 15.0)]))
    return Scenario("crowd", 16.0, people)


def _pulldown(d: _Draw) -> Scenario:
    """Masked (painted) for 6 s, then not."""
    c, down = d.cast(), 7.0
    people = [Person(c.take(True), [(1.0, 300, 270), (14.0, 420, 260)], d.width(), [(1.0, 14.0)], masked_until=down),
              Person(c.take(False), [(1.0, 700, 300), (14.0, 640, 300)], d.width(), [(1.0, 14.0)])]
    return Scenario("pulldown", 15.0, people, notes={"mask_down_at_s": down})


# a standing person's head sways: on the real group clip five people standing wandered 0.14-0.35 of
# their face's width in 5 s (docs/real-footage.md); a face that does not move at all is a picture
SWAY = 0.14


def _standing(x: float, y: float, width: float, t0: float, t1: float) -> list[tuple[float, float, float]]:
    """A standing person's path: side to side by SWAY face widths, once a second."""
    half = SWAY * width / 2
    return [(t, x + (half if k % 2 else -half), y) for k, t in enumerate(np.arange(t0, t1 + 1e-9, 1.0))]


def _waiting(name: str, drift: float):
    """People standing (a waiting area), the camera still or swaying."""
    def build(d: _Draw) -> Scenario:
        c, people = d.cast(), []
        for i in range(3):
            face, w = c.take(i == 1), d.width()  # in this order: the draws of the clips before sway
            people.append(Person(face, _standing(200 + 260 * i, 280 + 30 * i, w, 1.0, 15.0), w, [(1.0, 15.0)]))
        return Scenario(name, 16.0, people, drift_px=drift)
    return build


BUILDERS = (_queue, _occlusion, _revisit, _crossing, _crowd, _pulldown, _waiting("static", 0.0),
            _waiting("drifting", 40.0))


def scenarios(bad: list[Face], good: list[Face], seed: int) -> list[Scenario]:
    d = _Draw(bad, good, seed)
    out = [build(d) for build in BUILDERS]
    for s in out:
        for i, p in enumerate(s.people):
            p.id = f"{s.name}-{i}"
        _same_person_ids(s)
    return out


def _same_person_ids(s: Scenario) -> None:
    """A person who comes back is one id (one face, one person)."""
    first: dict[tuple, str] = {}
    for p in s.people:
        key = (str(p.face.image), p.face.box)
        p.id = first.setdefault(key, p.id)


Vet = Callable[[np.ndarray, bool], bool]  # (image with one face, is it a violator) -> read right?


def reads_correctly(pipeline) -> Vet:
    """A vet from the shipped pipeline: one confident face, labelled as the annotation says."""
    def vet(img: np.ndarray, violator: bool) -> bool:
        (d,) = pipeline.run([img])
        if len(d) != 1 or float(d.scores[0]) < pipeline.min_face_score + 0.1:
            return False
        p = float(d.p_no_mask[0])
        return p >= pipeline.threshold if violator else p < 0.5
    return vet


def vetted(faces: list[Face], vet: Vet | None, width: float = 58.0) -> list[Face]:
    if vet is None:
        return faces
    sprites, keep = Sprites(), []
    for f in faces:
        patch, alpha, _ = sprites.get(f, width, False)
        canvas = np.full((360, 640, 3), 120, np.uint8)
        blend(canvas, patch, alpha, 320 - patch.shape[0] // 2, 180 - patch.shape[0] // 2)
        if vet(canvas, f.violator):
            keep.append(f)
    return keep


def build_clips(scenes: Path, out: Path, fps_list: tuple[float, ...] = (2.0, 5.0), seed: int = 1,
                only: tuple[str, ...] = SCENARIOS, vet: Vet | None = None) -> list[Path]:
    """Write every scenario at every frame rate under `out`; returns the clip folders."""
    bad, good = (vetted(f, vet) for f in scene_faces(scenes))
    backdrops = sorted((scenes / "images").glob("*.jpg"))
    made = []
    for k, s in enumerate(x for x in scenarios(bad, good, seed) if x.name in only):
        for fps in fps_list:
            folder = Path(out) / f"{s.name}-{fps:g}fps"
            folder.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
            if not writer.isOpened():
                raise OSError(f"cannot write video {folder / 'clip.avi'}")
            frames = []
            try:
                for img, boxes in render(s, fps, seed * 100 + k, backdrops[k % len(backdrops)]):
                    writer.write(img)
                    frames.append(boxes)
            finally:
                writer.release()
            truth = {"scenario": s.name, "fps": fps, "size": list(SIZE), "seed": seed, "notes": s.notes,
                     "persons": _persons(s, frames)}
            (folder / "truth.json").write_text(json.dumps(truth, indent=1))
            made.append(folder)
    return made


def _persons(s: Scenario, frames: list[dict]) -> list[dict]:
    out: dict[str, dict] = {}
    for p in s.people:
        out.setdefault(p.id, {"id": p.id, "violator": p.violator, "source": f"{p.face.image.name}", "boxes": []})
    for i, boxes in enumerate(frames):
        for pid, box in boxes.items():
            out[pid]["boxes"].append([i, *box])
    return list(out.values())
