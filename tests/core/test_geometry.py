"""The one box geometry: IoU (a pair and every pair), clamping to the frame, widths, boxes moved with a
camera."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.geometry import box_width, clamp, clamp_box, inverse, iou, iou_matrix, moved_box, moved_point, then

A, B = (0, 0, 10, 10), (5, 0, 15, 10)


@pytest.mark.parametrize("a, b, expected", [
    (A, A, 1.0),
    (A, B, 50 / 150),
    (A, (20, 20, 30, 30), 0.0),
    (A, (10, 0, 20, 10), 0.0),          # touching edges share no area
    ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),  # degenerate boxes never divide by zero
])
def test_iou_of_a_pair_and_of_every_pair_agree(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_iou_matrix_shape_and_empty_sets():
    assert iou_matrix(np.array([A, B]), np.array([A, B, A])).shape == (2, 3)
    assert iou_matrix(np.zeros((0, 4)), np.array([A])).shape == (0, 1)


@pytest.mark.parametrize("box, expected", [
    ((-5, -5, 20, 20), (0, 0, 10, 8)),
    ((2, 2, 4, 4), (2, 2, 4, 4)),
    ((50, 50, 60, 60), (10, 8, 10, 8)),
])
def test_clamp_keeps_boxes_in_the_frame(box, expected):
    assert tuple(clamp(np.array([box], np.float32), 10, 8)[0]) == expected


@pytest.mark.parametrize("box, expected", [
    ((-5, -5, 20, 20), (0.0, 0.0, 10.0, 8.0)),
    ((1e30, 3, 1e30, 4), (10.0, 3.0, 10.0, 4.0)),  # absurd coordinates stay a box at the edge
    ((4, 4, 4, 4), (4.0, 4.0, 5.0, 5.0)),          # an empty box keeps a pixel
])
def test_clamp_box_keeps_a_wire_box_a_box_inside_its_frame(box, expected):
    assert clamp_box(box, 10, 8) == expected


@pytest.mark.parametrize("box, expected", [([10, 0, 48.6, 5], 39), ([5, 0, 1, 1], 0), (None, 0), (["a"], 0)])
def test_box_width_is_whole_pixels_and_zero_when_malformed(box, expected):
    assert box_width(box) == expected


TURN = ((0.8, -0.6, 10.0), (0.6, 0.8, -4.0))  # a quarter-ish turn, a shift
ZOOM = ((1.25, 0.0, -30.0), (0.0, 1.25, 7.0))


@pytest.mark.parametrize("m, point, expected", [
    (((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)), (3.0, 4.0), (3.0, 4.0)),
    (((1.0, 0.0, 5.0), (0.0, 1.0, -2.0)), (3.0, 4.0), (8.0, 2.0)),
    (ZOOM, (10.0, 10.0), (-17.5, 19.5)),
    (TURN, (5.0, 0.0), (14.0, -1.0)),
])
def test_a_point_moved_with_the_camera(m, point, expected):
    assert moved_point(m, *point) == pytest.approx(expected)


def test_a_box_moved_stays_axis_aligned_and_holds_its_corners():
    assert moved_box(ZOOM, (10, 10, 20, 30)) == pytest.approx((-17.5, 19.5, -5.0, 44.5))
    x1, y1, x2, y2 = moved_box(((-1.0, 0.0, 100.0), (0.0, 1.0, 0.0)), (10, 10, 20, 30))  # a mirror
    assert x1 < x2 and (x1, x2) == pytest.approx((80.0, 90.0))


@pytest.mark.parametrize("a, b", [(TURN, ZOOM), (ZOOM, TURN), (TURN, TURN)])
def test_transforms_compose_and_invert(a, b):
    p = (7.0, -3.0)
    assert moved_point(then(a, b), *p) == pytest.approx(moved_point(b, *moved_point(a, *p)))
    assert moved_point(then(a, inverse(a)), *p) == pytest.approx(p)
    assert moved_point(inverse(then(a, b)), *moved_point(then(a, b), *p)) == pytest.approx(p)
