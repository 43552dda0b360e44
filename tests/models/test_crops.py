import numpy as np
import pytest

from maskwatch.models.crops import crop_face, crop_faces, cut_square, square_region


def test_square_region_is_centred_and_enlarged():
    x1, y1, x2, y2 = square_region((10, 20, 30, 60), margin=0.5)
    assert x2 - x1 == y2 - y1 == 60  # longest side 40 * 1.5
    assert (x1 + x2) / 2 == pytest.approx(20, abs=1) and (y1 + y2) / 2 == pytest.approx(40, abs=1)


@pytest.mark.parametrize("region", [(-5, -5, 5, 5), (95, 45, 105, 55), (-3, 40, 7, 60), (90, -10, 110, 10)])
def test_cut_square_replicates_border_outside_the_image(region):
    img = np.zeros((50, 100, 3), np.uint8)
    img[:, :, 0] = np.arange(100, dtype=np.uint8)[None, :]  # x coordinate in the blue channel
    patch = cut_square(img, region)
    x1, y1, x2, y2 = region
    assert patch.shape == (y2 - y1, x2 - x1, 3)
    # columns left of the image repeat column 0, right of it repeat column 99
    for col in range(patch.shape[1]):
        assert patch[0, col, 0] == min(max(x1 + col, 0), 99)


def test_cut_square_outside_the_image_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        cut_square(np.zeros((10, 10, 3), np.uint8), (20, 20, 30, 30))


def test_crop_at_a_corner_keeps_the_face_undistorted():
    img = np.full((100, 100, 3), 255, np.uint8)
    img[0:20, 0:20] = (0, 0, 255)  # a red 20x20 "face" in the corner (BGR)
    crop = crop_face(img, (0, 0, 20, 20), size=40, margin=1.0)  # square (-10, -10, 30, 30)
    assert crop.shape == (40, 40, 3)
    assert tuple(crop[20, 20]) == (255, 0, 0)  # RGB red: the face stays at the centre
    assert tuple(crop[0, 0]) == (255, 0, 0)  # replicated from the corner, not black
    assert tuple(crop[39, 39]) == (255, 255, 255)  # image pixel (29, 29), white


def test_crop_faces_batches_in_order_and_handles_none():
    img = np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)
    boxes = np.array([[0, 0, 10, 10], [70, 50, 80, 60]], np.float32)
    batch = crop_faces(img, boxes, 24, 0.2)
    assert batch.shape == (2, 24, 24, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[0], crop_face(img, boxes[0], 24, 0.2))
    assert crop_faces(img, np.zeros((0, 4)), 24, 0.2).shape == (0, 24, 24, 3)
