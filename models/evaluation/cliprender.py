"""Drawing the person clips (maskwatch.models.evaluation.clips): feathered head patches on a blurred
backdrop, frame by frame."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np

SIZE = (960, 540)
PILLAR = (440, 520)  # x-range of the occluding pillar in the occlusion scenario


class Sprites:
    """A face's head-and-shoulders patch with a feathered alpha, scaled to the wanted face width."""

    def __init__(self):
        self._images: dict[Path, np.ndarray] = {}
        self._made: dict[tuple, tuple[np.ndarray, np.ndarray, float]] = {}

    def get(self, face, width: float, masked: bool) -> tuple[np.ndarray, np.ndarray, float]:
        key = (face, width, masked)
        if key not in self._made:
            self._made[key] = self._make(face, width, masked)
        return self._made[key]

    def _make(self, face, width: float, masked: bool) -> tuple[np.ndarray, np.ndarray, float]:
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


def render(s, fps: float, seed: int, backdrop_scene):
    """Frames of a scenario and, per frame, the box of every person in view: (frame, {id: box})."""
    w, h = SIZE
    back = _backdrop(seed, SIZE, backdrop_scene)
    sprites = Sprites()
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
            fh = p.width * (p.face.box[3] - p.face.box[1]) / (p.face.box[2] - p.face.box[0])
            _torso(frame, cx, cy + fh / 2, p.width, fh, p.id)
            n = patch.shape[0]
            x0, y0 = int(round(cx - n / 2)), int(round(cy - face_dy - n / 2))
            blend(frame, patch, alpha, x0, y0)
            box = (cx - p.width / 2, cy - fh / 2, cx + p.width / 2, cy + fh / 2)
            if s.pillar and box[2] > PILLAR[0] and box[0] < PILLAR[1]:
                continue  # behind the pillar (drawn below): not in view
            if box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h:
                boxes[p.id] = [round(v, 1) for v in box]
        if s.pillar:
            cv2.rectangle(frame, (PILLAR[0], 0), (PILLAR[1], h), (90, 95, 100), -1)
        noise = rng.normal(0, 2.0, frame.shape).astype(np.float32)  # sensor noise: no two frames alike
        yield np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8), boxes


def _torso(frame: np.ndarray, cx: float, chin: float, fw: float, fh: float, pid: str) -> None:
    """A person's body below the chin: a soft-edged shape in colours of their own (from their id, so
    the same person looks the same in every clip and frame). Real people have bodies, and the
    clothing cue (maskwatch.models.appearance) reads this region: without one it read the backdrop,
    alike for everyone who stood at the same spot."""
    digest = hashlib.sha1(pid.encode()).digest()
    main, trim = tuple(int(v) for v in digest[:3]), tuple(int(v) for v in digest[3:6])
    layer, alpha = frame.copy(), np.zeros(frame.shape[:2], np.float32)
    top, bottom = int(chin + 0.2 * fh), int(chin + 4.0 * fh)
    pts = np.int32([[cx - 0.6 * fw, top], [cx + 0.6 * fw, top], [cx + 1.4 * fw, top + 0.6 * fh],
                    [cx + 1.3 * fw, bottom], [cx - 1.3 * fw, bottom], [cx - 1.4 * fw, top + 0.6 * fh]])
    cv2.fillPoly(layer, [pts], main)
    band = (int(cx - 1.3 * fw), int(chin + 1.8 * fh)), (int(cx + 1.3 * fw), int(chin + 2.3 * fh))
    cv2.rectangle(layer, *band, trim, -1)
    cv2.fillPoly(alpha, [pts], 1.0)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, fw / 12))[..., None]
    frame[:] = (alpha * layer + (1 - alpha) * frame).astype(np.uint8)


def blend(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
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
