"""How far a face is turned, from YuNet's landmarks (maskwatch.models.studies.turned), and the tally of
faces called violations by turn."""
import cv2
import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_DETECTOR
from maskwatch.models.evaluation.voc import load_scenes
from maskwatch.models.studies import turned


# right eye, left eye, nose (x, y) -> turn in eye distances
@pytest.mark.parametrize("eyes,nose,want", [
    (((40, 50), (60, 50)), (50, 60), 0.0),  # facing the camera: the nose between the eyes
    (((40, 50), (60, 50)), (55, 60), 0.25),  # a quarter of the eyes' spread off
    (((40, 50), (50, 50)), (60, 60), 1.5),  # in profile: the eyes close together, the nose beyond them
    (((40, 50), (60, 50)), (35, 60), 0.75),  # turned the other way: the same measure
    (((40, 50), (40, 50)), (45, 60), 5e6),  # the eyes on one point: no division by zero
])
def test_a_turn_is_the_noses_distance_from_between_the_eyes(eyes, nose, want):
    landmarks = np.array([*eyes[0], *eyes[1], *nose, 45, 70, 55, 70], np.float32)
    assert turned.turn(landmarks) == pytest.approx(want, rel=1e-3)


def test_the_tally_gives_each_bucket_its_faces_and_share():
    rows = turned.tally([0.1, 0.2, 0.5, 0.7, 1.4, None], [True, False, True, False, False, True])
    assert [(r["turn"], r["faces"], r["called_violation"]) for r in rows] == [
        ("0-0.3", 2, 0.5), ("0.3-0.6", 1, 1.0), ("0.6-1", 1, 0.0), ("1-inf", 1, 0.0), ("no landmarks", 1, 1.0)]
    assert turned.tally([], [])[0] == {"turn": "0-0.3", "faces": 0, "called_violation": None}


def test_a_bundled_scenes_faces_are_found_again_with_their_turn(scenes_dir):
    net = cv2.FaceDetectorYN.create(str(DEFAULT_DETECTOR), "", (turned.LOOK, turned.LOOK), 0.2)
    scene = max(load_scenes(scenes_dir), key=lambda s: s.widths.max(initial=0))
    img = cv2.imread(str(scene.image))
    box = scene.boxes[np.argmax(scene.widths)]
    t = turned.turn_of(net, img, box)
    assert t is not None and 0 <= t < 1.5  # a labelled face, seen well enough to be labelled
    assert turned.turn_of(net, np.zeros_like(img), box) is None  # no face there: no landmarks
    mirrored = turned.turn_of(net, img[:, ::-1].copy(), [img.shape[1] - box[2], box[1], img.shape[1] - box[0], box[3]])
    assert mirrored == pytest.approx(t, abs=0.15)  # turned left or right: the same measure
