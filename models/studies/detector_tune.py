"""`python -m maskwatch.models.studies.detector_tune --scenes DIR --out FILE.onnx`: fine-tune YuNet on the scene set's
annotated faces, to measure whether a detector taught this data set is surer of its tiny faces.

YuNet never saw scenes-dev; small violators are missed mostly because their face score is doubtful
(maskwatch.models.studies.falsestudy), and published detectors trained on this set do better, so this is the lever
"a detector that is surer of tiny faces". Each training view is the image at one of the serving
factors (detector.upscale's default, capped by its max_side, jittered by 0.8-1.25, flipped half
the time), a random 640 x 640 window of it (zero beyond the image, as the detector pads). Labels
are assigned as YOLOX's SimOTA does (anchor points inside the face and within 2.5 strides of its
centre; the k cheapest by score and IoU, k from the IoUs), and the losses are YOLOX's too:
objectness on every anchor, the class score (target 1) and GIoU on the assigned ones. Landmarks
are not annotated and are not trained.

What no face is assigned to is taught one of three ways (`--unannotated`): as background; as
background but for the shipped detector's boxes on no annotated face with a face score of at least
`--ignore-score`, which teach nothing (the default: faces the annotators left out,
maskwatch.models.studies.falsestudy, are no non-faces); or with the shipped detector's own objectness as the target
(`teacher`, distilled), so only annotated faces move. Faces the window cuts to under 60% teach
nothing either. With `--fold K` it learns from the non-test images outside fold K only, so `python
-m maskwatch.models.studies.detlevers --fold K --weights ...` can score it on fold K, which it never saw. Measured,
not shipped: docs/model-studies.md ("A detector taught this scene set").
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from maskwatch.geometry import iou_matrix
from maskwatch.models.studies.yunet_torch import TorchYuNet, decode, heads, priors
from maskwatch.models_config import DetectorConfig

log = logging.getLogger(__name__)

VIEW = 640  # training window side
SERVING = DetectorConfig()  # its upscale factors and max_side: the views training sees
CAMERA_FACE_PX = (10.0, 40.0)  # a camera frame's median face: TUD's 12 px to a near passer-by's 40
MIN_TILE = 48  # a camera view's frames are at least this wide and high, or the row or view ends
MIN_VISIBLE = 0.6  # a face cut by the window to less than this share teaches nothing
CENTRE_RADIUS = 2.5  # strides: SimOTA's candidate region around a face's centre
NO_BOXES = np.zeros((0, 4), np.float32)


@dataclass(frozen=True)
class View:
    """One training input: a (3, VIEW, VIEW) float image, the faces to learn and the regions to ignore."""
    image: np.ndarray
    faces: np.ndarray  # (G, 4) x1 y1 x2 y2 in the view
    ignore: np.ndarray  # (I, 4)


@dataclass(frozen=True)
class Settings:
    epochs: int = 4
    views_per_image: int = 2
    batch: int = 8
    lr: float = 1e-4
    seed: int = 0
    teacher: bool = False  # background objectness distilled from the starting weights
    video_share: float = 0.0  # views filled with compressed video cameras' frames (camera_view)


def camera_frame(image: np.ndarray, faces: np.ndarray, ignore: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image as a 720p or 1080p video camera would send it: shrunk so that its median face is
    CAMERA_FACE_PX wide (a web photo is never enlarged), then smeared, softened and block-coded at
    that size (dataset.video_degrade: the classifier's video views, here on the whole frame)."""
    from maskwatch.models.training.dataset import video_degrade

    widths = faces[:, 2] - faces[:, 0]
    median = float(np.median(widths)) if len(widths) else float(rng.uniform(*CAMERA_FACE_PX))
    c = min(1.0, rng.uniform(*CAMERA_FACE_PX) / max(median, 1.0))
    h, w = image.shape[:2]
    if c < 1.0:
        image = cv2.resize(image, (max(1, round(w * c)), max(1, round(h * c))), interpolation=cv2.INTER_AREA)
    return video_degrade(image, rng, share=1.0, face_px=median * c), faces * c, ignore * c


def _window(image: np.ndarray, faces: np.ndarray, ignore: np.ndarray, s: float, rng: np.random.Generator,
            side: tuple[int, int] = (VIEW, VIEW)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image resized by s, flipped half the time, and a random window of it at most side (w, h):
    (window, faces to learn, boxes to ignore) in the window's pixels. A face the window cuts to
    under MIN_VISIBLE is ignored, not learned."""
    h, w = image.shape[:2]
    image = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
    boxes = np.concatenate([faces, ignore]).astype(np.float32) * s
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = image.shape[1] - boxes[:, [2, 0]]
    x0 = int(rng.integers(0, max(1, image.shape[1] - side[0] + 1)))
    y0 = int(rng.integers(0, max(1, image.shape[0] - side[1] + 1)))
    part = image[y0:y0 + side[1], x0:x0 + side[0]]
    boxes -= [x0, y0, x0, y0]
    clipped = np.clip(boxes, 0, [part.shape[1], part.shape[0]] * 2)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1e-6, None), 1)
    visible = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), 1) / area
    face = np.arange(len(boxes)) < len(faces)
    learn = face & (visible >= MIN_VISIBLE) & (clipped[:, 2] - clipped[:, 0] >= 2)
    return part, clipped[learn], clipped[(visible > 0) & ~learn]


def view_of(image: np.ndarray, faces: np.ndarray, ignore: np.ndarray, rng: np.random.Generator) -> View:
    """A random training view of an image with its annotated faces and the boxes to ignore."""
    h, w = image.shape[:2]
    s = min(float(rng.choice(SERVING.upscale)), SERVING.max_side / max(h, w)) * rng.uniform(0.8, 1.25)
    part, learn, ignored = _window(image, faces, ignore, s, rng)
    canvas = np.zeros((VIEW, VIEW, 3), np.float32)
    canvas[:part.shape[0], :part.shape[1]] = part
    return View(canvas.transpose(2, 0, 1).copy(), learn, ignored)


def camera_view(images: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rng: np.random.Generator) -> View:
    """A view filled, row by row like a wall of monitors, with camera frames (camera_frame) of
    images drawn at random, each as serving looks at a 720p or 1080p frame: unenlarged (jittered).
    A shrunk web photo alone would leave most of the view empty, where a camera's frame is not."""
    canvas = np.zeros((VIEW, VIEW, 3), np.float32)
    learn, ignored = [NO_BOXES], [NO_BOXES]
    x = y = row = 0
    while VIEW - y >= MIN_TILE:
        if VIEW - x < MIN_TILE:
            x, y, row = 0, y + row, 0
            continue
        frame, faces, ignore = camera_frame(*images[int(rng.integers(len(images)))], rng)
        part, f, g = _window(frame, faces, ignore, rng.uniform(0.8, 1.25), rng, (VIEW - x, VIEW - y))
        canvas[y:y + part.shape[0], x:x + part.shape[1]] = part
        learn.append(f + [x, y, x, y])
        ignored.append(g + [x, y, x, y])
        x, row = x + max(part.shape[1], MIN_TILE), max(row, part.shape[0], MIN_TILE)
    return View(canvas.transpose(2, 0, 1).copy(), np.concatenate(learn), np.concatenate(ignored))


def _area(b: torch.Tensor) -> torch.Tensor:
    return (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)


def _inside(pts: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """(B, A): whether each anchor point lies strictly inside each box."""
    return ((pts[None] > boxes[:, None, :2]) & (pts[None] < boxes[:, None, 2:])).all(-1)


def giou_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """1 - GIoU of each predicted box with its face, row by row."""
    inter = (torch.min(p[:, 2:], g[:, 2:]) - torch.max(p[:, :2], g[:, :2])).clamp(min=0).prod(-1)
    union = _area(p) + _area(g) - inter + 1e-9
    hull = (torch.max(p[:, 2:], g[:, 2:]) - torch.min(p[:, :2], g[:, :2])).clamp(min=0).prod(-1) + 1e-9
    return 1 - (inter / union - (hull - union) / hull)


@torch.no_grad()
def assign(score: torch.Tensor, boxes: torch.Tensor, pts: torch.Tensor, st: torch.Tensor,
           faces: torch.Tensor) -> torch.Tensor:
    """SimOTA: each anchor's face index (-1: background). score (A,) and boxes (A, 4) are the
    network's own, faces (G, 4)."""
    match = torch.full((len(pts),), -1, dtype=torch.long)
    if not len(faces):
        return match
    centre = (faces[:, :2] + faces[:, 2:]) / 2
    in_box = _inside(pts, faces)
    in_ctr = ((pts[None] - centre[:, None]).abs() < CENTRE_RADIUS * st[None, :, None]).all(-1)
    idx = torch.nonzero((in_box | in_ctr).any(0)).squeeze(1)
    if not len(idx):
        return match
    iou = torch.from_numpy(iou_matrix(faces.numpy(), boxes[idx].numpy())).float()  # the metric's IoU
    cost = (-torch.log(score[idx].clamp(1e-6, 1 - 1e-6)))[None] - 3.0 * torch.log(iou + 1e-8) \
        + 1e5 * ~(in_box & in_ctr)[:, idx]
    k = iou.topk(min(10, len(idx)), dim=1).values.sum(1).int().clamp(min=1)
    chosen = torch.zeros_like(cost, dtype=torch.bool)
    for g in range(len(faces)):
        chosen[g, cost[g].topk(int(k[g]), largest=False).indices] = True
    shared = chosen.sum(0) > 1  # an anchor two faces chose learns the cheaper one
    if shared.any():
        cheapest = cost[:, shared].argmin(0)
        chosen[:, shared] = False
        chosen[cheapest, torch.nonzero(shared).squeeze(1)] = True
    pos = chosen.any(0)
    match[idx[pos]] = chosen[:, pos].float().argmax(0)
    return match


def loss(out: dict[str, torch.Tensor], views: list[View], pts: torch.Tensor, st: torch.Tensor,
         teacher_obj: torch.Tensor | None = None) -> torch.Tensor:
    """YOLOX's losses over a batch, per assigned anchor. Background anchors learn objectness 0, or
    with teacher_obj (N, A) the teacher's own (distilled: what no annotation covers keeps its score)."""
    cls, obj, bbox = heads(out)
    boxes = decode(bbox, pts, st)
    total, positives = torch.zeros(()), 0
    for i, v in enumerate(views):
        faces = torch.from_numpy(v.faces)
        match = assign(torch.sqrt(torch.sigmoid(cls[i]) * torch.sigmoid(obj[i])), boxes[i].detach(), pts, st, faces)
        pos = match >= 0
        weight = torch.ones(len(pts))
        if len(v.ignore):
            weight[_inside(pts, torch.from_numpy(v.ignore)).any(0) & ~pos] = 0.0
        target = pos.float() if teacher_obj is None else torch.where(pos, 1.0, teacher_obj[i])
        total = total + F.binary_cross_entropy_with_logits(obj[i], target, weight=weight, reduction="sum")
        if pos.any():
            total = total + F.binary_cross_entropy_with_logits(cls[i][pos], torch.ones(int(pos.sum())),
                                                               reduction="sum")
            total = total + 5.0 * giou_loss(boxes[i][pos], faces[match[pos]]).sum()
        positives += int(pos.sum())
    return total / max(positives, 1)


def fine_tune(weights: Path, images: list[tuple[np.ndarray, np.ndarray, np.ndarray]], out: Path,
              settings: Settings = Settings()) -> list[float]:
    """Train from `weights` on (BGR image, faces, boxes to ignore) triples; write the ONNX to out.
    Returns each epoch's mean loss."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    net = TorchYuNet(weights)
    teacher = TorchYuNet(weights).eval() if settings.teacher else None
    pts, st = priors(VIEW, VIEW)
    per_epoch = max(1, len(images) * settings.views_per_image // settings.batch)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=settings.epochs * per_epoch,
                                                pct_start=0.1)
    losses = []
    for epoch in range(settings.epochs):
        order, start, seen = np.repeat(rng.permutation(len(images)), settings.views_per_image), time.time(), []
        rng.shuffle(order)
        for b in range(per_epoch):
            batch = order[b * settings.batch:(b + 1) * settings.batch]
            views = [camera_view(images, rng) if rng.random() < settings.video_share else view_of(*images[j], rng)
                     for j in batch]
            x = torch.from_numpy(np.stack([v.image for v in views]))
            with torch.no_grad():
                taught = torch.sigmoid(heads(teacher(x))[1]) if teacher is not None else None
            value = loss(net(x), views, pts, st, taught)
            opt.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            sched.step()
            seen.append(float(value.detach()))
        losses.append(float(np.mean(seen)))
        log.info("detector_tune: epoch %d/%d, loss %.3f (%.0f s)", epoch + 1, settings.epochs, losses[-1],
                 time.time() - start)
    net.to_onnx(out)
    return losses


def unannotated(detector, image: np.ndarray, faces: np.ndarray, min_score: float = 0.5) -> np.ndarray:
    """The detector's confident boxes that overlap no annotated face (IoU < 0.3)."""
    found = detector.detect(image)
    iou = iou_matrix(found.boxes, faces)
    far = iou.max(1) < 0.3 if iou.size else np.ones(len(found.boxes), bool)
    return found.boxes[far & (found.scores >= min_score)]


def main(argv: list[str] | None = None) -> int:
    from maskwatch.models.build import DEFAULT_DETECTOR, build_detector
    from maskwatch.models.evaluation.voc import fold_of, load_scenes, split_of

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=Path, required=True, help="scenes-dev (VOC); its test split is never read")
    ap.add_argument("--more-scenes", type=Path, action="append", default=[],
                    help="another VOC scene set (scenes-extra), its test split left out the same way")
    ap.add_argument("--video-share", type=float, default=0.0,
                    help="share of the views first made a compressed video camera's frame (0: none)")
    ap.add_argument("--out", type=Path, required=True, help="the fine-tuned ONNX file to write")
    ap.add_argument("--fold", type=int, help="leave this fold of the non-test images out (to score it there)")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--unannotated", choices=("negative", "ignore", "teacher"), default="ignore",
                    help="what no annotation covers: background; background but the shipped detector's "
                         "boxes there, ignored; or the shipped detector's own objectness (distilled)")
    ap.add_argument("--ignore-score", type=float, default=0.5,
                    help="with --unannotated ignore: the least face score of the boxes ignored")
    ap.add_argument("--epochs", type=int, default=Settings.epochs)
    ap.add_argument("--lr", type=float, default=Settings.lr)
    args = ap.parse_args(argv)
    if args.fold is not None and not 0 <= args.fold < args.folds:
        ap.error(f"--fold {args.fold}: expected 0..{args.folds - 1}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scenes = [s for root in (args.scenes, *args.more_scenes) for s in load_scenes(root)
              if split_of(s.stem) != "test" and (args.fold is None or fold_of(s.stem, args.folds) != args.fold)]
    detector = build_detector(DetectorConfig()) if args.unannotated == "ignore" else None
    images = []
    for sc in scenes:
        image = cv2.imread(str(sc.image))
        if image is None:
            raise ValueError(f"{sc.image}: not an image OpenCV can read")
        ignore = unannotated(detector, image, sc.boxes, args.ignore_score) if detector else NO_BOXES
        images.append((image, sc.boxes, ignore))
    log.info("detector_tune: %d images, %d faces, %d unannotated boxes ignored", len(images),
             sum(len(f) for _, f, _ in images), sum(len(i) for *_, i in images))
    fine_tune(DEFAULT_DETECTOR, images, args.out,
              Settings(epochs=args.epochs, lr=args.lr, teacher=args.unannotated == "teacher",
                       video_share=args.video_share))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
