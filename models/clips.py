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
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from models.voc import load_labelled

SIZE = (960, 540)
SCENARIOS = ("queue", "occlusion", "revisit", "crossing", "crowd", "pulldown", "static", "drifting")
PILLAR = (440, 520)  # x-range of the occluding pillar in the occlusion scenario


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


def scenarios(bad: list[Face], good: list[Face], seed: int) -> list[Scenario]:
    rng = np.random.default_rng(seed)
    out = []

    def cast():
        return _Cast(bad, good, rng)

    def w():
        return float(rng.uniform(48, 68))

    c = cast()  # queue: unmasked strangers through one barrier every 3-10 s, a few masked among them
    people, t = [], 1.0
    for i in range(8):
        violator = i not in (2, 5)
        stay = float(rng.uniform(2.5, 3.5))
        people.append(Person(c.take(violator), [(t, 150, 280), (t + 1.2, 480, 270), (t + stay, 480, 270),
                                                 (t + stay + 1.2, 820, 280)], w(), [(t, t + stay + 1.2)]))
        t += float(rng.uniform(3.0, 10.0))
    out.append(Scenario("queue", t + 3.0, people))

    c = cast()  # occlusion: behind a pillar for 2-8 s, then on
    hide = float(rng.uniform(2.0, 8.0))
    speed = (PILLAR[1] - PILLAR[0] + 60) / hide
    x_in, x_out = PILLAR[0] - 30, PILLAR[1] + 30
    t_in = (x_in - 120) / speed + 1.0
    path = [(1.0, 120, 260), (t_in, x_in, 260), (t_in + hide, x_out, 260), (t_in + hide + 3.0, x_out + 3 * speed, 260)]
    people = [Person(c.take(True), path, w(), [(1.0, t_in), (t_in + hide, t_in + hide + 3.0)]),
              Person(c.take(False), _walk(1.0, 12.0, 850, 650, 400), w(), [(1.0, 12.0)])]
    out.append(Scenario("occlusion", t_in + hide + 4.0, people, pillar=True, notes={"hidden_s": round(hide, 1)}))

    c = cast()  # revisit: leaves, back 8-20 s later somewhere else
    away = float(rng.uniform(8.0, 20.0))
    a = c.take(True)
    people = [Person(a, [(1.0, 200, 260), (5.0, 260, 260)], w(), [(1.0, 5.0)]),
              Person(c.take(False), [(1.0, 700, 300), (9.0 + away, 760, 300)], w(), [(1.0, 9.0 + away)])]
    back = Person(a, [(5.0 + away, 600, 230), (9.0 + away, 520, 240)], people[0].width, [(5.0 + away, 9.0 + away)])
    out.append(Scenario("revisit", 10.0 + away, people + [back], notes={"away_s": round(away, 1)}))

    c = cast()  # crossing: two violators walk through each other
    people = [Person(c.take(True), _walk(1.0, 9.0, 120, 840, 270), w(), [(1.0, 9.0)]),
              Person(c.take(True), _walk(1.0, 9.0, 840, 120, 285), w(), [(1.0, 9.0)]),
              Person(c.take(False), _walk(1.0, 9.0, 300, 420, 440), w(), [(1.0, 9.0)])]
    out.append(Scenario("crossing", 10.0, people))

    c = cast()  # crowd: six masked, one not, milling about
    people = []
    for i in range(7):
        x, y = 130 + 120 * i, float(rng.uniform(180, 400))
        dx, dy = rng.uniform(-60, 60, size=2)
        people.append(Person(c.take(i == 3), [(1.0, x, y), (15.0, x + dx, y + dy)], w(), [(1.0, 15.0)]))
    out.append(Scenario("crowd", 16.0, people))

    c = cast()  # pulldown: masked (painted) for 6 s, then not
    down = 7.0
    people = [Person(c.take(True), [(1.0, 300, 270), (14.0, 420, 260)], w(), [(1.0, 14.0)], masked_until=down),
              Person(c.take(False), [(1.0, 700, 300), (14.0, 640, 300)], w(), [(1.0, 14.0)])]
    out.append(Scenario("pulldown", 15.0, people, notes={"mask_down_at_s": down}))

    for name, drift in (("static", 0.0), ("drifting", 40.0)):
        c = cast()  # people standing still (a waiting area), the camera still or swaying
        people = [Person(c.take(i == 1), [(1.0, 200 + 260 * i, 280 + 30 * i), (15.0, 200 + 260 * i, 280 + 30 * i)],
                         w(), [(1.0, 15.0)]) for i in range(3)]
        out.append(Scenario(name, 16.0, people, drift_px=drift))
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


class _Sprites:
    """A face's head-and-shoulders patch with a feathered alpha, scaled to the wanted face width."""

    def __init__(self):
        self._images: dict[Path, np.ndarray] = {}
        self._made: dict[tuple, tuple[np.ndarray, np.ndarray, float]] = {}

    def get(self, face: Face, width: float, masked: bool) -> tuple[np.ndarray, np.ndarray, float]:
        key = (face, width, masked)
        if key not in self._made:
            self._made[key] = self._make(face, width, masked)
        return self._made[key]

    def _make(self, face: Face, width: float, masked: bool) -> tuple[np.ndarray, np.ndarray, float]:
        img = self._images.get(face.image)
        if img is None:
            img = self._images[face.image] = cv2.imread(str(face.image))
            if img is None:
                raise ValueError(f"clips: unreadable image {face.image}")
        img = img.copy()
        for o in face.others:  # a neighbour's face in this patch would be a person without ground truth
            if o[0] < face.box[2] and face.box[0] < o[2] and o[1] < face.box[3] and face.box[1] < o[3]:
                continue  # overlapping this face: blotting it would blot this one
            ox1, oy1, ox2, oy2 = (int(round(v)) for v in o)
            pad = int((ox2 - ox1) * 0.15)
            ox1, oy1, ox2, oy2 = max(0, ox1 - pad), max(0, oy1 - pad), ox2 + pad, oy2 + pad
            if ox2 > ox1 and oy2 > oy1 and img[oy1:oy2, ox1:ox2].size:
                img[oy1:oy2, ox1:ox2] = img[oy1:oy2, ox1:ox2].mean(axis=(0, 1))
        x1, y1, x2, y2 = face.box
        fw, fh = x2 - x1, y2 - y1
        side = max(fw, fh) * 1.8
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.15 * fh
        s = width / fw
        m = cv2.getAffineTransform(np.float32([[cx - side / 2, cy - side / 2], [cx + side / 2, cy - side / 2],
                                               [cx - side / 2, cy + side / 2]]),
                                   np.float32([[0, 0], [side * s, 0], [0, side * s]]))
        n = max(8, int(round(side * s)))
        patch = cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if masked:
            _paint_mask(patch, (n / 2 - width / 2, n / 2 - 0.15 * fh * s - fh * s / 2, width, fh * s))
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        r = np.sqrt(((xx - n / 2) / (n * 0.46)) ** 2 + ((yy - n / 2) / (n * 0.5)) ** 2)
        alpha = np.clip((1.0 - r) / 0.25, 0, 1)[..., None]
        face_dy = -0.15 * fh * s  # the face centre sits above the patch centre
        return patch, alpha, face_dy


def _paint_mask(patch: np.ndarray, face: tuple[float, float, float, float]) -> None:
    """A surgical-mask-coloured shape over the nose, mouth and chin of the face at (x, y, w, h),
    with soft edges and a little shading, so the detector still sees one face."""
    x, y, w, h = face
    pts = np.int32([[x + 0.04 * w, y + 0.46 * h], [x + 0.5 * w, y + 0.42 * h], [x + 0.96 * w, y + 0.46 * h],
                    [x + 0.9 * w, y + 0.86 * h], [x + 0.5 * w, y + 1.0 * h], [x + 0.1 * w, y + 0.86 * h]])
    layer = patch.copy()
    cv2.fillPoly(layer, [pts], (225, 195, 150))  # surgical blue (BGR)
    for k in (0.64, 0.74, 0.84):  # pleats
        cv2.line(layer, (int(x + 0.14 * w), int(y + k * h)), (int(x + 0.86 * w), int(y + k * h)), (200, 170, 130), 1)
    alpha = np.zeros(patch.shape[:2], np.float32)
    cv2.fillPoly(alpha, [pts], 1.0)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, w / 30))[..., None]
    patch[:] = (alpha * layer + (1 - alpha) * patch).astype(np.uint8)


def _backdrop(seed: int, size: tuple[int, int], scene: Path) -> np.ndarray:
    w, h = size
    img = cv2.imread(str(scene))
    img = cv2.resize(img, (w + 200, h + 200), interpolation=cv2.INTER_AREA)
    img = cv2.GaussianBlur(img, (0, 0), 25)  # no face survives: the backdrop is only texture
    rng = np.random.default_rng(seed)
    for _ in range(6):  # doors, shelves: edges for the eye and for the detector to ignore
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h // 2))
        colour = tuple(int(v) for v in rng.integers(40, 200, size=3))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(40, 160)), y + int(rng.integers(80, 300))), colour, -1)
    return img


def render(s: Scenario, fps: float, seed: int, backdrop_scene: Path):
    """Frames of a scenario and, per frame, the box of every person in view: (frame, {id: box})."""
    w, h = SIZE
    back = _backdrop(seed, SIZE, backdrop_scene)
    sprites = _Sprites()
    rng = np.random.default_rng(seed + 1)
    for i in range(int(round(s.duration * fps))):
        t = i / fps
        ox = 100 + s.drift_px / 2 * math.sin(2 * math.pi * t / 12.0)
        frame = back[100:100 + h, int(ox):int(ox) + w].copy()
        boxes = {}
        for p in sorted(s.people, key=lambda p: p.at(t)[1] if p.at(t) else 0):  # nearer (lower) drawn last
            pos = p.at(t)
            if pos is None:
                continue
            patch, alpha, face_dy = sprites.get(p.face, p.width, t < p.masked_until)
            cx, cy = pos[0] - (ox - 100), pos[1]
            n = patch.shape[0]
            x0, y0 = int(round(cx - n / 2)), int(round(cy - face_dy - n / 2))
            _blend(frame, patch, alpha, x0, y0)
            fh = p.width * (p.face.box[3] - p.face.box[1]) / (p.face.box[2] - p.face.box[0])
            box = (cx - p.width / 2, cy - fh / 2, cx + p.width / 2, cy + fh / 2)
            if s.pillar and box[2] > PILLAR[0] and box[0] < PILLAR[1]:
                continue  # behind the pillar (drawn below): not in view
            if box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h:
                boxes[p.id] = [round(v, 1) for v in box]
        if s.pillar:
            cv2.rectangle(frame, (PILLAR[0], 0), (PILLAR[1], h), (90, 95, 100), -1)
        noise = rng.normal(0, 2.0, frame.shape).astype(np.float32)  # sensor noise: no two frames alike
        yield np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8), boxes


def _blend(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    h, w = frame.shape[:2]
    n = patch.shape[0]
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    px0, py0 = fx0 - x0, fy0 - y0
    p = patch[py0:py0 + fy1 - fy0, px0:px0 + fx1 - fx0].astype(np.float32)
    a = alpha[py0:py0 + fy1 - fy0, px0:px0 + fx1 - fx0]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (a * p + (1 - a) * region).astype(np.uint8)


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
    sprites, keep = _Sprites(), []
    for f in faces:
        patch, alpha, _ = sprites.get(f, width, False)
        canvas = np.full((360, 640, 3), 120, np.uint8)
        _blend(canvas, patch, alpha, 320 - patch.shape[0] // 2, 180 - patch.shape[0] // 2)
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
