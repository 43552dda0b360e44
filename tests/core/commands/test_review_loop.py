"""The review loop end to end on a tiny database: operators' reviews exported as labelled crops,
a model trained with them (`train --extra`), and two models compared side by side, the new one
promoted only when it is worse on none of the held-out scenes, the reviewed faces (and the person clips)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

from maskwatch.models.build import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR
from maskwatch.models.crops import crop_faces
from maskwatch.models.evaluation.reviewset import ReviewSetError, load_reviews
from maskwatch.models.evaluation.voc import load_scenes
from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import ReviewLabel, ReviewStatus, Verdict, Violation
from maskwatch.wire.detections import CROP_MARGIN

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
# (review status, operator's label, the model's verdict) -> the label the export gives
REVIEWS = [
    (ReviewStatus.confirmed, None, Verdict.no_mask, "no_mask"),
    (ReviewStatus.confirmed, None, Verdict.mask_incorrect, "mask_incorrect"),
    (ReviewStatus.confirmed, ReviewLabel.mask_incorrect, Verdict.no_mask, "mask_incorrect"),
    (ReviewStatus.false_positive, ReviewLabel.not_a_face, Verdict.no_mask, "not_a_face"),
    (ReviewStatus.false_positive, ReviewLabel.mask, Verdict.no_mask, "mask"),
    (ReviewStatus.false_positive, None, Verdict.no_mask, "mask"),  # before the form asked: a masked face
    (ReviewStatus.pending, None, Verdict.no_mask, None),  # not reviewed: not exported
]


def _maskwatch(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "maskwatch.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def site(tmp_path_factory, scenes_dir):
    """A SQLite site whose violations are real faces of the bundled scenes, reviewed as REVIEWS
    says (cycled), the first reviewed one with its snapshot gone."""
    root = tmp_path_factory.mktemp("review-site")
    url = f"sqlite:///{root / 'site.db'}"
    upgrade(url)
    store = SnapshotStore(root / "snaps")
    faces = []
    for sc in load_scenes(scenes_dir):
        img = cv2.imread(str(sc.image))
        faces += [(crop_faces(img, sc.boxes[i:i + 1], 112, CROP_MARGIN)[0], bool(sc.violation[i]))
                  for i in range(len(sc.boxes))]
    engine = make_engine(url)
    sessions = session_factory(engine)
    expected, missing = {}, None
    with sessions() as s:
        for n, (crop, is_violation) in enumerate(faces[:40]):
            # the operator tells the truth: a real violation is confirmed, a masked face is a false positive
            choices = [r for r in REVIEWS if (r[0] is ReviewStatus.confirmed) == is_violation
                       or r[0] is ReviewStatus.pending]
            status, label, verdict, exported = choices[n % len(choices)]
            vid = f"{n:032x}"
            crop_rel, frame_rel = store.relpaths(vid, T0)
            if exported and missing is None:
                missing = vid  # the first reviewed one's snapshot was pruned
            else:
                store.write(crop_rel, cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))[1].tobytes())
            s.add(Violation(id=vid, camera_id="gate", track_id=n, first_seen=T0 + dt.timedelta(minutes=n),
                            last_seen=T0 + dt.timedelta(minutes=n, seconds=5), p_no_mask=0.97, face_score=0.9,
                            box=[0, 0, 30, 30], frame_width=640, frame_height=360, sightings=4, crop_path=crop_rel,
                            frame_path=frame_rel, model_version="m1", verdict=verdict, review_status=status,
                            review_label=label, reviewed_by="olga" if exported else None,
                            reviewed_at=T0 if exported else None))
            if exported and vid != missing:
                expected[vid] = exported
        s.commit()
    engine.dispose()
    config = root / "maskwatch.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": url}, "snapshots": {"dir": str(root / "snaps")}}))
    return root, config, expected


@pytest.fixture(scope="module")
def exported(site):
    root, config, _ = site
    r = _maskwatch("export-reviews", "-c", config, "--out", root / "reviews", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return root / "reviews", json.loads(r.stdout)


def test_export_reviews_writes_each_reviewed_face_under_its_label(site, exported):
    _, _, expected = site
    out, summary = exported
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert {x["id"]: x["label"] for x in lines} == expected
    assert summary["faces"] == len(expected) and summary["missing_snapshots"] == 1
    assert summary["by_label"] == {k: list(expected.values()).count(k)
                                   for k in ("no_mask", "mask_incorrect", "mask", "not_a_face")}
    assert {"no_mask", "mask", "not_a_face"} <= set(expected.values())
    for x in lines:
        assert (out / x["file"]).read_bytes()[:2] == b"\xff\xd8" and x["file"].startswith(x["label"] + "/")
        assert x["reviewed_by"] == "olga" and x["model_version"] == "m1"
    faces = load_reviews(out)
    assert {f.id: f.label for f in faces} == expected
    assert all(0 < f.box[0] < f.box[2] < f.image.shape[1] for f in faces)  # the face is the crop's centre


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda d: (d / "manifest.json").unlink(), "not a review export"),
    (lambda d: (d / "manifest.jsonl").write_text('{"label": "hat", "file": "x.jpg"}\n'), "label 'hat'"),
    (lambda d: (d / "manifest.jsonl").write_text("{not json\n"), r"manifest.jsonl:1: bad line"),
    (lambda d: (d / "manifest.jsonl").write_text('{"label": "mask", "file": "../../etc/passwd"}\n'),
     "outside the export folder"),
])
def test_a_broken_export_is_a_clear_error(exported, tmp_path, break_it, message):
    import shutil

    copy = tmp_path / "reviews"
    shutil.copytree(exported[0], copy)
    break_it(copy)
    with pytest.raises(ReviewSetError, match=message):
        load_reviews(copy)


@pytest.fixture(scope="module")
def tiny_model(exported, scenes_dir, tmp_path_factory):
    """A model trained for one short epoch with the reviews added: far worse than the shipped one."""
    from maskwatch.models.training.train import TrainSettings, train

    out = tmp_path_factory.mktemp("tiny") / "model"
    meta = train(TrainSettings(out=out, scenes=scenes_dir, extra=exported[0], detector_weights=DEFAULT_DETECTOR,
                               input_size=32, batch_size=16, samples_per_epoch=64, epochs_head=1,
                               epochs_finetune=0, folds=0, seed=5, progress=False))
    return out, meta


@pytest.mark.slow
def test_train_extra_adds_the_reviewed_faces(tiny_model, site):
    _, meta = tiny_model
    counts = meta["data"]["train_samples"]
    expected = site[2].values()
    assert counts["review/no_mask"] == sum(1 for x in expected if x in ("no_mask", "mask_incorrect"))
    assert counts["review/mask"] == sum(1 for x in expected if x in ("mask", "not_a_face"))
    assert meta["training"]["settings"]["extra"].endswith("reviews")


@pytest.mark.slow
def test_compare_promotes_only_a_model_worse_on_neither(tiny_model, exported, scenes_dir, tmp_path):
    tiny, _ = tiny_model
    target = tmp_path / "site-model"
    args = ["--scenes", scenes_dir, "--reviews", exported[0], "--promote", target]
    (tmp_path / "extra").symlink_to(scenes_dir)  # a second held-out set (scenes-extra's test part)
    worse = _maskwatch("evaluate", "--compare", DEFAULT_CLASSIFIER, tiny, *args, "--more-scenes", tmp_path / "extra",
                       "--out", tmp_path / "cmp")
    assert worse.returncode == 1, worse.stderr[-2000:]
    assert "not promotable: NEW is worse on held-out scenes" in worse.stdout and not target.exists()
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    # the second set is scored apart, counts against promotion, and each set's read is said
    assert report["old"]["more_scenes"]["extra"]["all"] == report["old"]["scenes"]["all"]
    assert any(w.startswith("held-out extra: violation F1") for w in report["worse_on"])
    assert "| held-out extra, all faces: violation F1 new - old" in worse.stdout
    assert "scenes extra: test split read" in worse.stderr and "scenes scenes: test split read" in worse.stderr
    assert report["old"]["reviews"]["faces"] == len(load_reviews(exported[0]))
    assert report["old"]["scenes"]["all"]["violation_f1"] > report["new"]["scenes"]["all"]["violation_f1"]
    gain = report["scenes_gain"]["all"]  # the paired interval over the same images holds the difference
    assert gain["violation_f1"] == pytest.approx(report["new"]["scenes"]["all"]["violation_f1"]
                                                 - report["old"]["scenes"]["all"]["violation_f1"], abs=1e-3)
    assert gain["interval"][0] <= gain["violation_f1"] <= gain["interval"][1]
    assert "violation F1 new - old, 95% interval over images" in worse.stdout
    better = _maskwatch("evaluate", "--compare", tiny, DEFAULT_CLASSIFIER, *args)
    assert better.returncode == 0, better.stderr[-2000:]
    assert "promotable: NEW is worse on none" in better.stdout
    assert json.loads((target / "metadata.json").read_text()) == json.loads(
        (DEFAULT_CLASSIFIER / "metadata.json").read_text())
    again = _maskwatch("evaluate", "--compare", tiny, DEFAULT_CLASSIFIER, *args)
    assert again.returncode == 0 and (target.with_name("site-model.previous") / "metadata.json").is_file()
    # the shipped model, on its own reviewed faces: it gets most of them right
    assert report["old"]["reviews"]["accuracy"] >= 0.7


@pytest.mark.parametrize("args, error", [
    ((), "give --scenes DIR"),
    (("--clips", "{tmp}"), "no clips (folders with clip.avi and truth.json)"),
    (("--videos", "{tmp}"), "no video with labels"),
])
def test_compare_needs_something_to_compare_on(tmp_path, args, error):
    r = _maskwatch("evaluate", "--compare", DEFAULT_CLASSIFIER, DEFAULT_CLASSIFIER,
                   *(a.format(tmp=tmp_path) for a in args))
    assert r.returncode == 2 and error in r.stderr, r.stderr[-2000:]


@pytest.mark.slow
def test_the_review_loop_demo_runs_end_to_end(scenes_dir, tmp_path):
    """`python -m maskwatch.commands.reviewloop` on the bundled scenes with a tiny recipe: the site
    databases hold OLD's violations, every one reviewed by the annotations; NEW trains on part A's
    export; the comparison scores both on the test scenes and on part B's reviews."""
    import argparse

    from maskwatch.commands.reviewloop import run

    args = argparse.Namespace(out=tmp_path / "loop", scenes=scenes_dir, crops=None, imagenet_weights=None,
                              input_size=32, samples_per_epoch=64, epochs_head=1, epochs_finetune=0,
                              threshold=0.0)  # a tiny model's p says little: flag every face
    report = run(args)
    for name, part in report["site"].items():
        assert part["flagged"] == sum(part["reviews"].values()) == part["exported"] > 0, name
        engine = make_engine(f"sqlite:///{tmp_path / 'loop' / f'site-{name}' / 'site.db'}")
        with session_factory(engine)() as s:
            rows = s.query(Violation).all()
            assert len(rows) == part["flagged"] and all(r.review_status is not ReviewStatus.pending for r in rows)
            assert {r.review_label.value for r in rows} == set(part["reviews"])
        engine.dispose()
    new = json.loads((tmp_path / "loop" / "new" / "metadata.json").read_text())
    counts = new["data"]["train_samples"]
    assert counts["review/no_mask"] + counts["review/mask"] == report["site"]["A"]["exported"]
    assert new["training"]["settings"]["extra"].endswith("reviews")
    cmp = report["compare"]
    assert cmp["old"]["reviews"]["faces"] == report["site"]["B"]["exported"]
    assert {"all", ">=24px", "<16px", "16-24px", "24-48px", ">=48px"} <= set(cmp["new"]["scenes"])
    assert isinstance(cmp["promotable"], bool)
    assert json.loads((tmp_path / "loop" / "reviewloop.json").read_text())["site"] == report["site"]
