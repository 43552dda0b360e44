import numpy as np
import pytest

from maskwatch.detections import Detections
from maskwatch.models.studies import closerlook

FACE = (100.0, 60.0, 120.0, 80.0)  # a 20 px face in a 320x240 frame


class Looker:
    """A detector that finds, in the enlarged square it is shown, a box at `where` (the frame's
    pixels, mapped into the square) with `score`; it remembers the squares' sizes."""

    def __init__(self, where, score: float):
        self.where, self.score, self.shown = where, score, []

    def detect(self, image):
        self.shown.append(image.shape[:2])
        f = image.shape[1] / 80.0  # the square is 4 face widths (80 px) wide at the face's size
        x1, y1 = 110 - 40, 70 - 40  # the square's corner in the frame
        box = [(self.where[0] - x1) * f, (self.where[1] - y1) * f, (self.where[2] - x1) * f, (self.where[3] - y1) * f]
        return Detections(np.array([box], np.float32), np.array([self.score], np.float32))


# where the closer look finds its face -> the score it gives the doubted face
@pytest.mark.parametrize("where,score,expected", [
    (FACE, 0.93, 0.93),                        # the same face, surer
    ((102.0, 62.0, 122.0, 82.0), 0.9, 0.9),    # its box a little off: still the face
    ((150.0, 60.0, 170.0, 80.0), 0.95, 0.0),   # a face beside it is not it
])
def test_a_closer_look_scores_the_doubted_face_only(where, score, expected):
    looker = Looker(where, score)
    got = closerlook.closer_look(looker, np.zeros((240, 320, 3), np.uint8), FACE, 48)
    assert got == pytest.approx(expected)
    assert looker.shown == [(192, 192)]  # 4 widths around the face, enlarged to a 48 px face


def test_a_face_at_the_frames_edge_is_looked_at_inside_the_frame_only():
    looker = Looker((0.0, 0.0, 20.0, 20.0), 0.9)
    closerlook.closer_look(looker, np.zeros((240, 320, 3), np.uint8), (-10.0, -10.0, 10.0, 10.0), 40)
    assert looker.shown == [(80, 80)]  # 40 of the 80 px square are in the frame, at 2x


def test_the_summary_counts_the_faces_a_closer_look_makes_sure():
    rows = np.array([[0.6, 20, 0.85, 0.1], [0.5, 30, 0.2, 0.9], [0.7, 10, 0.0, 0.0]], np.float32)
    s = closerlook.summarize(rows, sure=0.8)
    assert s["doubted"] == 3 and s["median_width"] == 20
    assert (s["closer_48px_sure"], s["closer_80px_sure"], s["sure_at_either"]) == (1, 1, 2)
    assert s["first_score"] == pytest.approx(0.6)
    assert closerlook.summarize(np.zeros((0, 4), np.float32), 0.8) == {"doubted": 0}
