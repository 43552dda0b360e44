"""How sure a detector file is of real labelled faces (maskwatch.models.studies.videofaces): each
visible face keeps its best detection, and sure detections on no labelled person are counted."""
import numpy as np
import pytest

from maskwatch.models.studies import videofaces

PEOPLE = {"a": [[100, 100, 140, 220]], "b": [[300, 100, 340, 220]]}  # two people; a face in each box's top
FACE_A, FACE_B, NOBODY = [110, 105, 130, 125], [310, 105, 330, 125], [500, 20, 520, 40]


# detections (box, score), the people whose face is visible -> their best scores, sure ones on nobody
@pytest.mark.parametrize("found,visible,best,nobody", [
    ([], ["a", "b"], [0.0, 0.0], 0),  # nothing found: both missed
    ([(FACE_A, 0.6), (FACE_A, 0.9)], ["a"], [0.9], 0),  # a face's best box counts
    ([(FACE_B, 0.95)], ["a"], [0.0], 0),  # b's face is found, but b's is not labelled visible: no credit, no false face
    ([(NOBODY, 0.85), (NOBODY, 0.5)], ["a", "b"], [0.0, 0.0], 1),  # sure on no one counts; doubtful does not
])
def test_each_visible_face_keeps_its_best_score_and_faces_on_nobody_are_counted(found, visible, best, nobody):
    boxes = np.asarray([b for b, _ in found], np.float32).reshape(-1, 4)
    scores = np.asarray([s for _, s in found], np.float32)
    got = videofaces.frame_rows(boxes, scores, {p: PEOPLE[p] for p in visible}, PEOPLE, sure=0.8)
    assert got == (pytest.approx(best), nobody)


def test_the_summary_counts_found_and_sure_faces():
    s = videofaces.summarize([0.0, 0.5, 0.85, 0.95], nobody=2, sure=0.8)
    assert (s["faces"], s["found"], s["sure"], s["sure_on_nobody"]) == (4, 3, 2, 2)
    assert s["sure_share"] == 0.5 and s["mean_score"] == pytest.approx(0.575)
    assert videofaces.summarize([], 1, 0.8) == {"faces": 0, "sure_on_nobody": 1}

