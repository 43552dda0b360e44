"""The appearance descriptor: the face embedding joined with the colours of the torso below it."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.detections import Detections
from maskwatch.models.appearance import CLOTHING_DIM, clothing, joined, with_clothing

FACE = (40.0, 20.0, 60.0, 44.0)  # 20 x 24 px: the torso spans y 56-116, x 20-80


def frame(shirt: tuple[int, int, int]) -> np.ndarray:
    img = np.full((160, 120, 3), 90, np.uint8)
    img[56:116, 20:80] = shirt
    return img


@pytest.mark.parametrize("a, b, alike", [
    ((0, 0, 200), (0, 0, 200), True),       # the same red shirt
    ((0, 0, 200), (10, 10, 210), True),     # nearly the same
    ((0, 0, 200), (200, 60, 0), False),     # red against blue
])
def test_clothing_tells_shirts_apart(a, b, alike):
    sim = float(clothing(frame(a), FACE) @ clothing(frame(b), FACE))
    assert (sim > 0.9) is alike, sim


def test_a_torso_out_of_the_frame_has_no_clothing():
    assert clothing(frame((0, 0, 200)), (40.0, 130.0, 60.0, 158.0)) is None


def test_joined_descriptors_are_unit_vectors_and_unclassified_faces_stay_without():
    face = np.zeros((3, 8), np.float32)
    face[0, 0] = face[1, 1] = 1.0  # the third face was not classified: a zero row
    det = Detections(np.array([FACE, (40.0, 130.0, 60.0, 158.0), FACE], np.float32), np.full(3, 0.9),
                     np.full(3, 0.9), face)
    out = with_clothing(frame((0, 0, 200)), det)
    assert out.embeddings.shape == (3, 8 + CLOTHING_DIM)
    assert np.allclose(np.linalg.norm(out.embeddings[:2], axis=1), 1.0)
    assert not out.embeddings[1, 8:].any()  # torso out of view: the face alone
    assert not out.embeddings[2].any()
    assert out.embeddings[0] @ out.embeddings[0] == pytest.approx(1.0)


def test_a_join_weighs_each_half_alike():
    a, b = np.asarray([1.0, 0.0]), np.asarray([0.0, 1.0])
    assert joined(a, b) @ joined(a, -b) == pytest.approx(0.0)  # faces alike, clothes not
    assert joined(a, b) @ joined(-a, b) == pytest.approx(0.0)  # and the other way round
