import numpy as np
import pytest

from maskwatch.detections import Detections
from maskwatch.models.studies import resolution

# one person whose head (the upper half of the box) sits at 200-300 x 100-200 of a 1920x1080 frame
PEOPLE = {"p1": [[200, 100, 300, 300]]}


class Finder:
    """A detector that finds the face, in the frame it is given, only when the frame is at least
    `needs` wide (a small face lost in a small stream), with score `score`."""

    def __init__(self, needs: int, score: float):
        self.needs, self.score = needs, score

    def detect_many(self, images):
        (img,) = images
        s = img.shape[1] / 1920
        if img.shape[1] < self.needs:
            return [Detections()]
        return [Detections(np.array([[220 * s, 120 * s, 280 * s, 180 * s]]), np.array([self.score]))]


@pytest.mark.parametrize("width, shape", [(640, (360, 640)), (1280, (720, 1280)), (1920, (1080, 1920))])
def test_a_frame_is_fitted_to_the_stream(width, shape):
    img, s = resolution._fit(np.zeros((1080, 1920, 3), np.uint8), width)
    assert img.shape[:2] == shape and s == pytest.approx(shape[1] / 1920)
    assert resolution._fit(np.zeros((480, 640, 3), np.uint8), width) is None or width == 640  # never enlarged


def test_each_stream_gets_the_cheapest_setting_that_finds_its_faces_sure():
    frames = [(np.zeros((1080, 1920, 3), np.uint8), PEOPLE)] * 2
    finders = {((1.0,), 1280): Finder(1200, 0.9), ((1.0, 2.0), 1280): Finder(0, 0.9),
               ((1.0, 2.0, 3.0), 1280): Finder(0, 0.5)}
    rows = resolution.measure(lambda up, side: finders[(up, side)], frames, sizes=(640, 1920),
                              settings=tuple(finders))
    got = {(r["size"], tuple(r["upscale"])): (r["found"], r["sure"]) for r in rows}
    assert got[("640 wide", (1.0,))] == (0.0, 0.0) and got[("640 wide", (1.0, 2.0))] == (1.0, 1.0)
    assert got[("640 wide", (1.0, 2.0, 3.0))] == (1.0, 0.0)  # found, never sure enough to vote
    chosen = resolution.choose(rows)
    assert chosen["640 wide"]["upscale"] == [1.0, 2.0]
    assert chosen["1920 wide"]["sure"] == 1.0 and "**[1.0, 2.0]**" in resolution.table(rows, chosen)
