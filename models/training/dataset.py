"""Training samples for the mask classifier, and augmentation that makes them look like CCTV.

A sample keeps a square "context patch" around its face (CONTEXT x the face's longest side) at a
fixed resolution, the face's size in the source pixels, its label and where it came from. Each time
a sample is drawn, the face square is re-cut with jitter, shrunk to a realistic CCTV face size,
degraded (blur, JPEG, noise, light, colour, grey) and enlarged to the classifier input, the way
`crops.crop_face` sees a small face at inference.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.geometry import iou_matrix
from maskwatch.models.crops import crop_face, cut_square, square_region
from maskwatch.models.evaluation.voc import Scene
from maskwatch.models_config import DEGRADES, SCENE_SHARE

log = logging.getLogger(__name__)

CONTEXT = 2.0      # context patch side / face side
PATCH = 160        # stored patch resolution (face occupies PATCH / CONTEXT px)
# a detector box overlapping no annotated face by this much is on something else: an annotated
# face's detector box overlaps it by 0.4 or more (margins differ), a neighbour's seldom by 0.1
NONFACE_IOU = 0.1


@dataclass
class Samples:
    patches: np.ndarray   # (N, PATCH, PATCH, 3) uint8 BGR
    face_px: np.ndarray   # (N,) face side in source pixels
    labels: np.ndarray    # (N,) 1 = no_mask
    source: np.ndarray    # (N,) str: "crops", "scene", "detector"
    hard: np.ndarray      # (N,) bool: mask worn under the nose or on the chin
    scene: np.ndarray     # (N,) str: the scene image it was cut from ("" for crop folders)

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def concat(parts: list[Samples]) -> Samples:
        parts = [p for p in parts if len(p)]
        if not parts:
            return _pack([], [], [], "scene")
        return Samples(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("patches", "face_px", "labels", "source", "hard", "scene")))

    def verdicts(self) -> np.ndarray:
        """0 mask, 1 no_mask, 2 mask_incorrect (under the nose, on the chin): the classifier's classes."""
        return np.where(self.labels == 0, 0, np.where(self.hard, 2, 1)).astype(np.int64)

    def subset(self, keep: np.ndarray) -> Samples:
        return Samples(self.patches[keep], self.face_px[keep], self.labels[keep], self.source[keep],
                       self.hard[keep], self.scene[keep])


def _patch(image: np.ndarray, box) -> np.ndarray:
    region = square_region(box, CONTEXT - 1.0)
    patch = cut_square(image, region)
    interp = cv2.INTER_AREA if patch.shape[0] > PATCH else cv2.INTER_LINEAR
    return cv2.resize(patch, (PATCH, PATCH), interpolation=interp)


def _pack(patches, face_px, labels, source, hard=None, scene="") -> Samples:
    return Samples(np.asarray(patches, np.uint8).reshape(-1, PATCH, PATCH, 3),
                   np.asarray(face_px, np.float32), np.asarray(labels, np.int8),
                   np.asarray([source] * len(labels), dtype="<U8"),
                   np.zeros(len(labels), bool) if hard is None else np.asarray(hard, bool),
                   np.asarray([scene] * len(labels), dtype=str))  # as long as the stem: folds key on it


def samples_from_crop_folders(root: Path, limit: int | None = None) -> Samples:
    """A folder with with_mask/ and without_mask/ face crops (each image is one face)."""
    patches, px, labels = [], [], []
    for label, name in ((0, "with_mask"), (1, "without_mask")):
        folder = Path(root) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{root}: no {name}/ folder")
        files = sorted(folder.iterdir())[:limit]
        for f in files:
            img = cv2.imread(str(f))
            if img is None:
                log.warning("%s: unreadable image, skipped", f)
                continue
            h, w = img.shape[:2]
            # these crops carry some hair and background; the face is roughly the central 80%
            box = (0.1 * w, 0.1 * h, 0.9 * w, 0.9 * h)
            patches.append(_patch(img, box))
            px.append(0.8 * max(w, h))
            labels.append(label)
    return _pack(patches, px, labels, "crops")


def samples_from_reviews(root: Path) -> Samples:
    """Faces operators reviewed (maskwatch export-reviews): confirmed ones are violations (under the
    nose: the hard kind), false positives are not (a mask, or not a face at all)."""
    from maskwatch.models.evaluation.reviewset import load_reviews

    faces = load_reviews(root)
    return _pack([_patch(f.image, f.box) for f in faces], [f.box[2] - f.box[0] for f in faces],
                 [int(f.violation) for f in faces], "review", [f.label == "mask_incorrect" for f in faces])


def samples_from_scenes(scenes: list[Scene], detector=None, min_iou: float = 0.4,
                        nonface_score: float | None = None) -> Samples:
    """Annotated faces of scenes, plus the detector's own boxes matched to them (its margins); with
    `nonface_score`, also its boxes of at least that face score on no annotated face (source
    "nonface", not violations): what the pipeline would otherwise call a violation on a bag or a
    poster."""
    parts = []
    for sc in scenes:
        img = cv2.imread(str(sc.image))
        if img is None:
            raise ValueError(f"{sc.image}: unreadable image")
        if len(sc.boxes):
            parts.append(_pack([_patch(img, b) for b in sc.boxes], np.max(
                sc.boxes[:, 2:] - sc.boxes[:, :2], axis=1), sc.violation, "scene", sc.incorrect, sc.stem))
        if detector is None or not (len(sc.boxes) or nonface_score is not None):
            continue
        found = detector.detect(img)
        if not len(found):
            continue
        ious = iou_matrix(found.boxes, sc.boxes) if len(sc.boxes) else np.zeros((len(found), 1))
        best = ious.argmax(1)
        overlap = ious[np.arange(len(found)), best]
        keep = overlap >= min_iou
        boxes = found.boxes[keep]
        if len(boxes):
            parts.append(_pack([_patch(img, b) for b in boxes], np.max(boxes[:, 2:] - boxes[:, :2], axis=1),
                               sc.violation[best[keep]], "detector", sc.incorrect[best[keep]], sc.stem))
        if nonface_score is not None:
            parts.append(_nonfaces(img, found.boxes[(overlap < NONFACE_IOU) & (found.scores >= nonface_score)],
                                   sc.stem))
    return Samples.concat(parts)


def _nonfaces(img: np.ndarray, boxes: np.ndarray, stem: str) -> Samples:
    if not len(boxes):
        return _pack([], [], [], "nonface")
    return _pack([_patch(img, b) for b in boxes], np.max(boxes[:, 2:] - boxes[:, :2], axis=1),
                 np.zeros(len(boxes), np.int8), "nonface", None, stem)


def view_width(face_px: float, rng: np.random.Generator, view_px: tuple[float, float] | None = None) -> float:
    """The width, in px, a training view shows a face of face_px at: the face as a CCTV camera
    would see it, never sharper than its source. The recipe's (view_px None): log-uniform 9-96 px,
    and faces of 40 px or less at 0.65-1x their own width. A face-size specialist's (view_px (lo,
    hi), such as (6, 24) for a model of the tiny faces): log-uniform lo-hi, and at most 0.65-1x
    the face's own width."""
    if view_px is None:  # the draws, in this order, are the shipped recipe's: keep it reproducible
        target = np.exp(rng.uniform(np.log(9), np.log(96)))
        return min(target, face_px) if face_px > 40 else face_px * rng.uniform(0.65, 1.0)
    lo, hi = view_px
    return min(np.exp(rng.uniform(np.log(lo), np.log(hi))), face_px * rng.uniform(0.65, 1.0))


def cctv_view(patch: np.ndarray, face_px: float, size: int, margin: float,
              rng: np.random.Generator, view_px: tuple[float, float] | None = None,
              degrade: str = "recipe") -> np.ndarray:
    """One augmented RGB size x size classifier input from a context patch (view_px: view_width's;
    degrade: one of DEGRADES)."""
    if degrade not in DEGRADES:
        raise ValueError(f"degrade {degrade!r}: not one of {', '.join(DEGRADES)}")
    face = PATCH / CONTEXT
    c = PATCH / 2 + rng.uniform(-0.08, 0.08, 2) * face
    side = face * rng.uniform(0.88, 1.15)
    box = (c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2)
    target = view_width(face_px, rng, view_px)
    small = max(6, int(round(target * (1 + margin))))
    region = cut_square(patch, square_region(box, margin))
    img = cv2.resize(region, (small, small), interpolation=cv2.INTER_AREA)
    img = _degrade(img, rng)
    if degrade == "video":
        img = video_degrade(img, rng)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB)


def _degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32)
    if rng.random() < 0.8:  # exposure and contrast
        x = (x - x.mean()) * rng.uniform(0.7, 1.3) + x.mean() * rng.uniform(0.65, 1.35)
    if rng.random() < 0.3:  # white balance
        x *= rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.15:  # monochrome (IR, night mode)
        x[:] = x.mean(axis=2, keepdims=True)
    if rng.random() < 0.3:
        x += rng.normal(0, rng.uniform(2, 10), x.shape)
    img = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < 0.6:
        img = _block_code(img, int(rng.integers(25, 90)))
    return img


def video_degrade(img: np.ndarray, rng: np.random.Generator, share: float = 0.5,
                  face_px: float | None = None) -> np.ndarray:
    """The faces real cameras send are not the sharp web photos the scenes are: a walking face is
    smeared along its motion in a 1/50 s exposure, a fixed-focus lens leaves passers-by soft, and
    H.264 at a site's bitrate wipes a 30 px face's detail in blocks that do not line up with the
    face. For `share` of the views, at the face's CCTV size: motion blur, defocus, and a hard
    block-coding pass on a grid offset from the face. The blurs scale with the face's width,
    face_px (default: the image's own width, a face crop); a whole frame passes its faces' width."""
    if rng.random() >= share:
        return img
    width = img.shape[1] if face_px is None else face_px
    if rng.random() < 0.5:  # walking 1.4 m/s, 1/100-1/25 s: 0.1-0.4 of a 15 cm face; mostly sideways
        img = _motion_blur(img, max(1.5, width * rng.uniform(0.05, 0.25)), rng.normal(0.0, 30.0))
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), max(0.5, width * rng.uniform(0.02, 0.06)))
    if rng.random() < 0.8:
        img = _block_code(img, int(rng.integers(8, 40)), rng.integers(0, 8, 2))
    return img


def _motion_blur(img: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    k = int(np.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    dx, dy = np.cos(np.radians(angle_deg)) * length / 2, np.sin(np.radians(angle_deg)) * length / 2
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0)
    return cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REPLICATE)


def _block_code(img: np.ndarray, quality: int, offset=(0, 0)) -> np.ndarray:
    """JPEG at `quality`, its 8 px blocks (16 for colour) shifted by offset against the face."""
    ox, oy = (int(v) for v in offset)
    padded = cv2.copyMakeBorder(img, oy, 0, ox, 0, cv2.BORDER_REPLICATE)
    ok, buf = cv2.imencode(".jpg", padded, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[oy:, ox:]


def plain_view(patch: np.ndarray, size: int, margin: float) -> np.ndarray:
    """The un-augmented input for a patch, exactly as inference would crop it."""
    face = PATCH / CONTEXT
    c = PATCH / 2
    return crop_face(patch, (c - face / 2, c - face / 2, c + face / 2, c + face / 2), size, margin)


def _by_set(pool: np.ndarray, share: float, sets: np.ndarray | None) -> list[tuple[np.ndarray, float]]:
    """A pool's share, split equally among the scene sets it holds (sets None, or the crop
    folders' "": not split)."""
    names = [] if sets is None else sorted(set(sets[pool].tolist()) - {""})
    if len(names) < 2:
        return [(pool, share)]
    return [(pool & (sets == name), share / len(names)) for name in names]


def balanced_epoch(samples: Samples, n: int, rng: np.random.Generator, scene_share: float = SCENE_SHARE,
                   hard_share: float = 0.2, nonface_share: float = 0.0, sets: np.ndarray | None = None) -> np.ndarray:
    """Indices for one epoch: half no_mask, half mask; within each, `scene_share` from real scenes.
    Masks worn under the nose are rare (3% of faces) and absent from the crop folders, yet they are
    violations: they get `hard_share` of the no_mask half of their own. The detector's boxes on no
    annotated face (source "nonface"), where there are any, get `nonface_share` of the mask half.
    `sets` (each sample's scene set, "" for the crop folders): each scene pool's share is split
    equally among the sets it holds, so a larger set of other faces does not outweigh a smaller one
    of the faces a site's cameras see (TrainSettings.balance_sets); None: drawn as they come."""
    out = []
    crops, nonface = samples.source == "crops", samples.source == "nonface"
    scene = ~crops & ~nonface
    nonface_share = nonface_share if nonface.any() else 0.0
    pools = {0: ((scene, scene_share - nonface_share), (nonface, nonface_share), (crops, 1 - scene_share)),
             1: ((scene & samples.hard, hard_share), (scene & ~samples.hard, scene_share - hard_share),
                 (crops, 1 - scene_share))}
    for label in (0, 1):
        for pool, share in pools[label]:
            for part, part_share in _by_set((samples.labels == label) & pool, share, sets):
                idx = np.flatnonzero(part)
                if len(idx) and part_share > 0:
                    out.append(rng.choice(idx, int(n / 2 * part_share), replace=True))
    order = np.concatenate(out)
    rng.shuffle(order)
    return order
