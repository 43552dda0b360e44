"""Frame labels say the verdict with its own probability, and the colours follow the decision rule."""
import numpy as np
import pytest

from maskwatch.annotate import GREEN, GREY, RED, draw, label
from maskwatch.detections import Detections


@pytest.mark.parametrize("p,threshold,text", [
    (0.03, 0.5, "mask 0.97"), (0.99, 0.5, "no mask 0.99"), (0.5, 0.5, "no mask 0.50"),
    (0.49, 0.5, "mask 0.51"), (0.7, 0.8, "mask 0.30"), (float("nan"), 0.5, "face")])
def test_label(p, threshold, text):
    assert label(p, threshold) == text


@pytest.mark.parametrize("p,score,color", [(0.95, 0.9, RED), (0.05, 0.9, GREEN), (0.95, 0.2, GREY)])
def test_box_colour_follows_the_decision_rule(p, score, color):
    img = np.zeros((200, 200, 3), np.uint8)
    det = Detections(boxes=np.array([[40, 60, 140, 160]], np.float32), scores=np.array([score], np.float32),
                     p_no_mask=np.array([p], np.float32))
    out = draw(img, det, threshold=0.5, min_score=0.5, thickness=2)
    assert tuple(int(v) for v in out[110, 40]) == color  # the box's left edge


@pytest.mark.parametrize(("p", "share", "text"), [
    (0.97, 0.8, "mask worn wrong 0.97"),
    (0.97, 0.2, "no mask 0.97"),
    (0.30, 0.9, "mask 0.70"),  # not a violation: the share does not matter
])
def test_a_three_verdict_face_is_labelled_by_its_verdict(p, share, text):
    from maskwatch.annotate import incorrect_flags, label

    det = Detections(np.array([[10, 10, 60, 60]]), np.array([0.9]), np.array([p]), p_incorrect=np.array([share]))
    (wrong,) = incorrect_flags(det)
    assert label(p, 0.5, wrong) == text
