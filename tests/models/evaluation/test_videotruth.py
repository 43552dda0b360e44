"""Ground truth of real footage (MOTChallenge rows and our attributes) and its person-level score,
on tiny hand-made cases: a find, a duplicate, a miss, a false alarm on a masked person and on no
one, an optional person, a face outside anyone's head."""
from __future__ import annotations

from pathlib import Path

import pytest

from maskwatch.models.evaluation.clipscore import Reported, score
from maskwatch.models.evaluation.facerecall import people_in, visible_in
from maskwatch.models.evaluation.videotruth import TruthError, interpolate, load_truth, read_attributes, read_gt

FPS = 10.0
# three people side by side, 100 px wide, 300 px tall, in view for frames 1-50 (5 s)
GT = "".join(f"{f},{pid},{x},100,100,300,1,1,1\n" for f in (1, 50) for pid, x in (("1", 0), ("2", 200), ("3", 400)))
ATTRIBUTES = """first_frame,last_frame,id,face,mask
1,50,1,visible,none
1,50,2,visible,worn
1,5,3,visible,none
6,50,3,hidden,none
"""


@pytest.fixture
def truth(tmp_path) -> dict:
    (tmp_path / "seq.gt.txt").write_text(GT)
    (tmp_path / "seq.attributes.csv").write_text(ATTRIBUTES)
    (tmp_path / "seq.seqinfo.ini").write_text(f"[Sequence]\nframeRate={FPS:g}\n")
    return load_truth("seq", tmp_path, tmp_path)


def face(x: float, at_s: float) -> Reported:
    """A violation whose evidence is a 30 px face with its left edge at x, 20 px below the top of the
    people's boxes (their heads), seen at_s into the clip."""
    return Reported(at_s, at_s + 1, (x, 120, x + 30, 150), at_s)


def test_who_is_a_violator_masked_or_optional(truth):
    kinds = {p["id"]: (p["violator"], p["masked"], p["optional"]) for p in truth["persons"]}
    # 3 shows a bare face for 5 frames (0.5 s): too briefly to be a must-find, but not masked
    assert kinds == {"1": (True, False, False), "2": (False, True, False), "3": (False, False, True)}
    assert len(truth["persons"][0]["boxes"]) == 50  # keyframes 1 and 50, interpolated between


@pytest.mark.parametrize("reported, found, duplicates, false, on_masked, optional", [
    ([face(30, 1.0)], 1, 0, 0, 0, 0),                          # the violator, once
    ([face(30, 1.0), face(35, 3.0)], 1, 1, 0, 0, 0),           # the violator twice: a duplicate
    ([], 0, 0, 0, 0, 0),                                       # a miss
    ([face(230, 1.0)], 0, 0, 1, 1, 0),                         # on the masked person: a false alarm
    ([face(430, 1.0)], 0, 0, 0, 0, 1),                         # on the one seen too briefly: neither
    ([face(330, 1.0)], 0, 0, 1, 0, 0),                         # between people: on no one
    ([Reported(1.0, 2.0, (30, 320, 60, 350), 1.0)], 0, 0, 1, 0, 0),  # at someone's knees: not a face of theirs
    ([face(30, 9.0)], 0, 0, 1, 0, 0),                          # after everyone left
])
def test_the_person_level_score(truth, reported, found, duplicates, false, on_masked, optional):
    s = score(truth, reported)
    assert (s.violators, s.found, s.duplicates, s.false, s.on_masked, s.optional) == \
        (1, found, duplicates, false, on_masked, optional)
    assert s.misses == ([] if found else ["1"])


def test_mot15_and_mot16_rows(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,20,30,40,1,-1,-1,-1\n"          # MOT15: a person
                  "1,2,10,20,30,40,1,1,0.8\n"              # MOT16: a person
                  "1,3,10,20,30,40,0,1,1\n"                # MOT16: not to be considered
                  "1,4,10,20,30,40,1,7,1\n")               # MOT16: a static person or distractor class
    assert {pid: rows[1] for pid, rows in read_gt(gt).items()} == {"1": (10, 20, 40, 60), "2": (10, 20, 40, 60)}


def test_interpolation_stops_at_long_gaps():
    rows = {1: (0, 0, 10, 10), 3: (2, 0, 12, 10), 400: (0, 0, 10, 10)}
    assert [r[0] for r in interpolate(rows)] == [1, 2, 3, 400]
    assert interpolate(rows)[1][1:] == [1.0, 0.0, 11.0, 10.0]


@pytest.mark.parametrize("line, error", [
    ("1,5,1,visible", "expected first_frame,last_frame,id,face,mask"),
    ("a,5,1,visible,none", "expected first_frame,last_frame,id,face,mask"),
    ("1,5,1,seen,none", "face one of"),
    ("1,5,1,visible,maybe", "mask one of"),
    ("9,5,1,visible,none", "first <= last"),
])
def test_a_bad_attribute_row_names_the_file_and_line(tmp_path, line, error):
    path = tmp_path / "x.attributes.csv"
    path.write_text(f"first_frame,last_frame,id,face,mask\n{line}\n")
    with pytest.raises(TruthError, match=rf"x\.attributes\.csv:2: .*{error}"):
        read_attributes(path)


def test_labels_for_an_id_the_boxes_lack_are_refused(tmp_path):
    (tmp_path / "seq.gt.txt").write_text(GT)
    (tmp_path / "seq.attributes.csv").write_text(ATTRIBUTES + "1,5,9,visible,none\n")
    (tmp_path / "seq.seqinfo.ini").write_text("[Sequence]\nframeRate=10\n")
    with pytest.raises(TruthError, match=r"ids \['9'\] have no rows"):
        load_truth("seq", tmp_path, tmp_path)


def test_a_missing_gt_file_says_where_it_looked(tmp_path):
    with pytest.raises(TruthError, match="no seq.gt.txt in"):
        load_truth("seq", tmp_path, Path("/nonexistent"))


@pytest.mark.parametrize("frame, visible", [
    (1, {"1", "2", "3"}),
    (5, {"1", "2", "3"}),
    (6, {"1", "2"}),     # 3 turned away: their face is not asked of the detector
    (50, {"1", "2"}),
    (51, set()),         # everyone left
])
def test_face_recall_asks_only_for_faces_labelled_visible(truth, frame, visible):
    assert set(visible_in(truth).get(frame, {})) == visible


@pytest.mark.parametrize("stem, people, violators, masked, optional", [
    ("group_masks_on_off_diazoniclabs", 4, 4, 0, 0),         # bare for over a second before the masks go on
    ("fixed_indoor_one_by_one_intel_ccby4", 6, 1, 0, 5),     # backs of heads; one profile long enough
    ("cctv_style_street_HBvision_MiamiRestaurants2Short", 12, 5, 0, 7),  # blurred: the uncertain are optional
    ("street_crossing_masked_crowd_Andrewendlesss", 4, 3, 0, 1),  # only the unmasked have rows
])
def test_the_repositorys_own_labels_hold_what_the_docs_say(stem, people, violators, masked, optional, tmp_path):
    from maskwatch.paths import video_labels

    truth = load_truth(stem, video_labels(), tmp_path)  # no video needed: boxes, spans and rate are ours
    persons = truth["persons"]
    assert (len(persons), sum(p["violator"] for p in persons), sum(p["masked"] for p in persons),
            sum(p["optional"] for p in persons)) == (people, violators, masked, optional)


# a moving camera: person 1 (90 px wide) sweeps across the picture at 100 px/s, person 2 (masked) stays at x 200
GT_SWEEP = "1,1,0,100,90,300,1,1,1\n50,1,490,100,90,300,1,1,1\n1,2,200,100,100,300,1,1,1\n50,2,200,100,100,300,1,1,1\n"
ATTRIBUTES_SWEEP = "first_frame,last_frame,id,face,mask\n1,50,1,visible,none\n1,50,2,visible,worn\n"


@pytest.mark.parametrize("reported, found, on_masked", [
    ([face(130, 1.0)], 1, 0),   # on person 1 where person 1 was at that moment
    ([face(230, 1.0)], 0, 1),   # on person 2: that person 1 stood there a second later does not make it theirs
])
def test_a_face_belongs_to_who_was_there_at_its_moment(tmp_path, reported, found, on_masked):
    (tmp_path / "sweep.gt.txt").write_text(GT_SWEEP)
    (tmp_path / "sweep.attributes.csv").write_text(ATTRIBUTES_SWEEP)
    (tmp_path / "sweep.seqinfo.ini").write_text(f"[Sequence]\nframeRate={FPS:g}\n")
    s = score(load_truth("sweep", tmp_path, tmp_path), reported)
    assert (s.found, s.on_masked) == (found, on_masked)


# a crowd: person 1 (unmasked) walks just behind and beside person 2 (masked), their boxes overlapping
GT_CROWD = "".join(f"{f},1,60,100,120,340,1,1,1\n{f},2,0,122,106,323,1,1,1\n" for f in (1, 50))
ATTRIBUTES_CROWD = "first_frame,last_frame,id,face,mask\n1,50,1,visible,none\n1,50,2,visible,worn\n"


@pytest.mark.parametrize("box, found, on_masked", [
    ((93, 111, 119, 145), 1, 0),  # at person 2's edge, on person 1's head: theirs (the smaller box is not)
    ((40, 130, 66, 164), 0, 1),   # on person 2's head, inside person 1's box too: person 2's
])
def test_a_face_in_a_crowd_is_the_head_it_is_on(tmp_path, box, found, on_masked):
    (tmp_path / "crowd.gt.txt").write_text(GT_CROWD)
    (tmp_path / "crowd.attributes.csv").write_text(ATTRIBUTES_CROWD)
    (tmp_path / "crowd.seqinfo.ini").write_text(f"[Sequence]\nframeRate={FPS:g}\n")
    s = score(load_truth("crowd", tmp_path, tmp_path), [Reported(1.0, 2.0, box, 1.0)])
    assert (s.found, s.on_masked) == (found, on_masked)


def test_every_person_in_a_frame_is_there_whether_or_not_their_face_shows():
    truth = {"persons": [{"id": "a", "boxes": [[1, 0, 0, 10, 20], [2, 1, 0, 11, 20]], "visible": [[2, 2]]},
                         {"id": "b", "boxes": [[2, 50, 0, 60, 20]]}]}
    assert people_in(truth) == {1: {"a": [[0, 0, 10, 20]]},
                                2: {"a": [[1, 0, 11, 20]], "b": [[50, 0, 60, 20]]}}


@pytest.mark.parametrize("every,phase,wanted,first", [
    (5, 0, None, [1, 6, 11]),  # a camera at a fifth of the file's rate, from the first frame
    (5, 2, None, [3, 8, 13]),  # the same camera whose clock falls two frames later
    (5, 4, {9, 10, 11}, [10]),  # only the frames the labels say something of
    (1, 0, None, [1, 2, 3]),
])
def test_a_lower_rate_reads_every_nth_frame_from_its_phase(panning_video, every, phase, wanted, first):
    from maskwatch.models.evaluation.facerecall import frames

    path, made = panning_video
    got = [n for n, img in frames(path, every, wanted, phase=phase)]
    assert got[:3] == first
    assert all((n - 1) % every == phase for n in got) and got[-1] <= len(made)
