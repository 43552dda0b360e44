"""What each training epoch is drawn from, the sizes its views show faces at, and the detector's boxes
on no annotated face."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from maskwatch.geometry import iou_matrix
from maskwatch.models.build import DEFAULT_DETECTOR
from maskwatch.models.detector import FaceDetector
from maskwatch.models.evaluation.voc import load_scenes
from maskwatch.models.training.dataset import (
    NONFACE_IOU,
    PATCH,
    Samples,
    _block_code,
    _motion_blur,
    balanced_epoch,
    cctv_view,
    samples_from_scenes,
    video_degrade,
    view_width,
)
from maskwatch.models_config import SCENE_SHARE

# (source, label, hard) of each pool and how many of each there are
POOLS = {"scene mask": ("scene", 0, False, 40), "detector mask": ("detector", 0, False, 40),
         "nonface": ("nonface", 0, False, 30), "crops mask": ("crops", 0, False, 50),
         "scene no_mask": ("scene", 1, False, 40), "hard": ("scene", 1, True, 10),
         "crops no_mask": ("crops", 1, False, 50)}


def _samples(without: tuple[str, ...] = ()) -> tuple[Samples, np.ndarray]:
    rows = [(name, *spec) for name, spec in POOLS.items() if name not in without for _ in range(spec[3])]
    n = len(rows)
    s = Samples(np.zeros((n, PATCH, PATCH, 3), np.uint8), np.full(n, 20.0, np.float32),
                np.asarray([r[2] for r in rows], np.int8), np.asarray([r[1] for r in rows], dtype="<U8"),
                np.asarray([r[3] for r in rows], bool), np.asarray(["img"] * n))
    return s, np.asarray([r[0] for r in rows])


@pytest.mark.parametrize("hard,nonface,without,want", [
    # each pool's share of its half (1000 draws a half)
    (0.2, 0.0, (), {"scene mask": 0.7, "nonface": 0.0, "crops mask": 0.3, "hard": 0.2, "scene no_mask": 0.5,
                    "crops no_mask": 0.3}),
    (0.2, 0.1, (), {"scene mask": 0.6, "nonface": 0.1, "crops mask": 0.3, "hard": 0.2, "scene no_mask": 0.5}),
    (0.35, 0.3, (), {"scene mask": 0.4, "nonface": 0.3, "crops mask": 0.3, "hard": 0.35, "scene no_mask": 0.35}),
    # asked for, but training found none: the scenes' faces keep their whole share
    (0.2, 0.1, ("nonface",), {"scene mask": 0.7, "crops mask": 0.3, "hard": 0.2}),
])
def test_each_pool_gets_its_share_of_its_half(hard, nonface, without, want):
    samples, names = _samples(without)
    order = balanced_epoch(samples, 2000, np.random.default_rng(0), hard_share=hard, nonface_share=nonface)
    drawn = names[order]
    merged = {"scene mask": ("scene mask", "detector mask")}  # annotated and detector boxes: one pool
    for pool, share in want.items():
        got = np.isin(drawn, merged.get(pool, (pool,))).sum()
        assert abs(got - 1000 * share) <= 1, pool  # shares are cut to whole draws
    assert abs(len(order) - 2000) <= 6 and SCENE_SHARE == 0.7


@pytest.mark.parametrize("dev_mask,extra_mask,dev_bare,extra_bare,want", [
    # (faces of each set) -> each set's share of its half's scene draws (0.7 of the half; 0.2 worn incorrectly)
    (40, 160, 10, 90, {("dev", 0): 0.35, ("extra", 0): 0.35, ("dev", 1): 0.25, ("extra", 1): 0.25}),
    (40, 160, 0, 90, {("dev", 0): 0.35, ("extra", 0): 0.35, ("extra", 1): 0.5}),  # a set with none of a label
    (40, 0, 10, 0, {("dev", 0): 0.7, ("dev", 1): 0.5}),  # one set: nothing to balance
])
def test_balanced_sets_share_the_scene_draws_equally(dev_mask, extra_mask, dev_bare, extra_bare, want):
    rows = [("dev", 0)] * dev_mask + [("extra", 0)] * extra_mask + [("dev", 1)] * dev_bare + \
        [("extra", 1)] * extra_bare + [("", 0)] * 50 + [("", 1)] * 50
    n = len(rows)
    sets = np.asarray([r[0] for r in rows])
    labels = np.asarray([r[1] for r in rows], np.int8)
    samples = Samples(np.zeros((n, PATCH, PATCH, 3), np.uint8), np.full(n, 20.0, np.float32), labels,
                      np.where(sets == "", "crops", "scene"), np.zeros(n, bool), np.asarray(["img"] * n))
    order = balanced_epoch(samples, 2000, np.random.default_rng(0), hard_share=0.2, sets=sets)
    for (name, label), share in want.items():
        got = ((sets[order] == name) & (labels[order] == label)).sum()
        assert abs(got - 1000 * share) <= 2, (name, label)
    assert ((sets[order] == "") & (labels[order] == 1)).sum() == 300  # the crop folders keep theirs
    plain = balanced_epoch(samples, 2000, np.random.default_rng(0), hard_share=0.2)
    if extra_mask:  # unbalanced, the larger set takes the larger share
        assert (sets[plain] == "extra").sum() > (sets[plain] == "dev").sum() * 2


def test_the_detectors_boxes_on_no_annotated_face_are_not_violations(scenes_dir):
    scenes = load_scenes(scenes_dir)[:6]
    detector = FaceDetector(DEFAULT_DETECTOR, score_threshold=0.3, upscale=2.0)
    without = samples_from_scenes(scenes, detector)
    assert not (without.source == "nonface").any()
    # the same scenes with their annotations dropped: every confident detection is on no annotated face
    bare = [dataclasses.replace(sc, boxes=np.zeros((0, 4), np.float32), violation=np.zeros(0, bool),
                                incorrect=np.zeros(0, bool)) for sc in scenes]
    every = samples_from_scenes(bare, detector, nonface_score=0.5)
    found = sum(int((detector.detect(cv2.imread(str(sc.image))).scores >= 0.5).sum()) for sc in scenes)
    assert found > 0 and len(every) == found
    assert (every.source == "nonface").all() and (every.labels == 0).all() and not every.hard.any()
    assert set(every.scene) <= {sc.stem for sc in scenes}
    # with the annotations, only the boxes clear of every annotated face
    some = samples_from_scenes(scenes, detector, nonface_score=0.5)
    nonface = some.subset(some.source == "nonface")
    assert len(some) - len(nonface) == len(without) and len(nonface) < found
    for sc in scenes:
        boxes = detector.detect(cv2.imread(str(sc.image)))
        confident = boxes.boxes[boxes.scores >= 0.5]
        clear = (iou_matrix(confident, sc.boxes).max(1) < NONFACE_IOU).sum() if len(sc.boxes) else len(confident)
        assert (nonface.scene == sc.stem).sum() == clear, sc.stem


# (view_px, the face's own width) -> the narrowest and widest view allowed, and a width some draw must pass
@pytest.mark.parametrize("view_px,face_px,lo,hi,reached", [
    (None, 200.0, 9.0, 96.0, 60.0),      # the recipe: 9-96 px, never sharper than the source
    (None, 30.0, 0.65 * 30, 30.0, 28.0),  # faces of 40 px or less: 0.65-1x their own width
    ((6.0, 24.0), 200.0, 6.0, 24.0, 20.0),  # the tiny-face specialist: its range only
    ((6.0, 24.0), 12.0, 6.0, 12.0, 11.0),   # and never sharper than the source either
    ((6.0, 24.0), 8.0, 0.65 * 8, 8.0, 7.5),
])
def test_views_show_faces_at_the_widths_asked_for(view_px, face_px, lo, hi, reached):
    rng = np.random.default_rng(0)
    widths = np.asarray([view_width(face_px, rng, view_px) for _ in range(3000)])
    assert widths.min() >= lo - 1e-9 and widths.max() <= hi + 1e-9
    assert widths.max() >= reached


def test_a_specialists_view_is_still_a_full_size_input():
    patch = np.random.default_rng(1).integers(0, 255, (PATCH, PATCH, 3), np.uint8)
    view = cctv_view(patch, 120.0, 64, 0.15, np.random.default_rng(2), view_px=(6.0, 24.0))
    assert view.shape == (64, 64, 3) and view.dtype == np.uint8


def _sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def test_video_views_lose_the_detail_a_compressed_moving_face_loses():
    """Half the "video" views are smeared and block-coded on top of the recipe's degradations, so on
    the whole they are blurrier than the recipe's views of the same faces."""
    patch = np.random.default_rng(1).integers(0, 255, (PATCH, PATCH, 3), np.uint8)
    sharp = {d: [_sharpness(cctv_view(patch, 60.0, 64, 0.15, np.random.default_rng(i), degrade=d))
                 for i in range(80)] for d in ("recipe", "video")}
    assert np.median(sharp["video"]) < 0.8 * np.median(sharp["recipe"])
    # and only about half of them: the other half are the recipe's, draw for draw
    same = sum(a == b for a, b in zip(sharp["recipe"], sharp["video"]))
    assert 20 <= same <= 60


# share -> how many of 100 views change: each view chosen is blurred or block-coded, by chance
# neither at times (6%: 0.5 x 0.6 x 0.2)
@pytest.mark.parametrize("share,least,most", [(0.0, 0, 0), (0.5, 35, 60), (1.0, 85, 100)])
def test_video_degradation_touches_the_share_of_views_asked_for(share, least, most):
    img = np.random.default_rng(2).integers(0, 255, (24, 24, 3), np.uint8)
    rng = np.random.default_rng(3)
    changed = sum(not np.array_equal(video_degrade(img, rng, share), img) for _ in range(100))
    assert least <= changed <= most


# a bright column (vertical line) or row, blurred at an angle: how far it spreads across and along itself
@pytest.mark.parametrize("line,angle,spreads", [("column", 0.0, True), ("column", 90.0, False),
                                                ("row", 90.0, True), ("row", 0.0, False)])
def test_motion_blur_smears_along_the_motion_only(line, angle, spreads):
    img = np.zeros((21, 21, 3), np.uint8)
    if line == "column":
        img[:, 10] = 255
    else:
        img[10, :] = 255
    out = _motion_blur(img, 5.0, angle)
    across = out[10, :, 0] if line == "column" else out[:, 10, 0]
    assert (np.count_nonzero(across) > 1) == spreads
    assert out.shape == img.shape


@pytest.mark.parametrize("offset", [(0, 0), (3, 5), (7, 7)])
def test_block_coding_keeps_the_view_its_size_whatever_the_grid(offset):
    img = np.random.default_rng(4).integers(0, 255, (19, 23, 3), np.uint8)
    out = _block_code(img, 20, np.asarray(offset))
    assert out.shape == img.shape and not np.array_equal(out, img)


def test_an_unknown_degradation_is_refused_by_name():
    patch = np.zeros((PATCH, PATCH, 3), np.uint8)
    with pytest.raises(ValueError, match="degrade 'h265': not one of recipe, video"):
        cctv_view(patch, 60.0, 64, 0.15, np.random.default_rng(0), degrade="h265")
