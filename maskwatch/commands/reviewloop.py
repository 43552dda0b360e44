"""`python -m maskwatch.commands.reviewloop --out DIR`: the review loop run end to end on a
generated site, to show what operators' reviews change.

- OLD is trained (a short recipe) on half of scenes-dev's non-test images (fold 1 of 2) and the
  crop folders; the other half (fold 0) is the "site", which OLD has never seen.
- OLD runs the real pipeline over the site's images, split in two parts, A and B; every face it
  calls a violation becomes a row of a SQLite site database (violation ids by the events
  service's scheme) with its snapshot crop, as the events service writes them.
- An operator who knows the truth (the annotations) reviews every row through the dashboard's
  storage call: a real violation is confirmed as no_mask or mask_incorrect, a masked face is a
  false positive "masked", a detection that is no annotated face a false positive "not a face".
- `export-reviews` writes each part's reviews; NEW is OLD's recipe with `--extra` part A's.
- `evaluate --compare OLD NEW` scores both on the held-out test scenes and on part B's reviewed
  faces (reviews NEW never trained on), and says whether NEW may be promoted.

Minutes on a CPU; the numbers are the "review loop" table of docs/model-commands.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.build import DEFAULT_DETECTOR, build_detector
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import cut_square, square_region
from maskwatch.models.evaluation.compare import compare, table
from maskwatch.models.evaluation.heldout import read_test_split
from maskwatch.models.evaluation.metrics import greedy_match
from maskwatch.models.evaluation.reviewset import load_reviews
from maskwatch.models.evaluation.voc import Scene, fold_of, load_scenes, split_of
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.models.training.train import TrainSettings, train
from maskwatch.models_config import DetectorConfig
from maskwatch.reviews import export_reviews
from maskwatch.storage import queries, repo
from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import ReviewLabel, ReviewStatus, Verdict
from maskwatch.wire.detections import CROP_MARGIN
from maskwatch.workers.events.changes import violation_id
from maskwatch.workers.worker import CROP_PX  # the snapshot crop's side, as the worker cuts it

log = logging.getLogger("maskwatch.reviewloop")

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def operator(scene: Scene, box: np.ndarray, score: float) -> tuple[ReviewStatus, ReviewLabel]:
    """What an operator who knows the annotations says of one flagged face."""
    j = int(greedy_match(box[None], np.array([score], np.float32), scene.boxes)[0])
    if j < 0:
        return ReviewStatus.false_positive, ReviewLabel.not_a_face
    if not scene.violation[j]:
        return ReviewStatus.false_positive, ReviewLabel.mask
    return ReviewStatus.confirmed, ReviewLabel.mask_incorrect if scene.incorrect[j] else ReviewLabel.no_mask


def record_and_review(pipeline: MaskPipeline, scenes: list[Scene], site: Path, camera: str) -> dict:
    """A site database of OLD's violations on `scenes`, each reviewed by the operator; the counts."""
    url = f"sqlite:///{site / 'site.db'}"
    upgrade(url)
    store = SnapshotStore(site / "snapshots")
    engine = make_engine(url)
    sessions = session_factory(engine)
    counts: dict[str, int] = {}
    try:
        with sessions() as session:
            for n, sc in enumerate(scenes):
                img = cv2.imread(str(sc.image))
                det = pipeline.run([img])[0]
                flags = det.violations(pipeline.threshold, pipeline.min_face_score)
                verdicts = det.verdicts(pipeline.threshold, pipeline.min_face_score)
                for i in np.flatnonzero(flags):
                    vid = violation_id(camera, f"{n + 1}-0", int(i))
                    _insert(session, store, vid, camera, n, img, det, int(i), verdicts[i], pipeline)
                    status, label = operator(sc, det.boxes[i], float(det.scores[i]))
                    queries.review(session, [vid], status, None, "operator", now=T0, label=label)
                    counts[label.value] = counts.get(label.value, 0) + 1
            session.commit()
        summary = export_reviews(sessions, store, site / "reviews")
    finally:
        engine.dispose()
    return {"images": len(scenes), "flagged": sum(counts.values()), "reviews": counts,
            "exported": summary["faces"]}


def _insert(session, store, vid, camera, n, img, det, i, verdict, pipeline) -> None:
    first = T0 + dt.timedelta(seconds=10 * n)
    crop_rel, frame_rel = store.relpaths(vid, first)
    box = det.boxes[i]
    crop = cv2.resize(cut_square(img, square_region(box, CROP_MARGIN)), (CROP_PX, CROP_PX))
    store.write(crop_rel, cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    store.write(frame_rel, cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    repo.insert_violation_if_absent(
        session, id=vid, camera_id=camera, track_id=n * 100 + i, first_seen=first, last_seen=first,
        evidence_at=first, p_no_mask=float(det.p_no_mask[i]), face_score=float(det.scores[i]),
        box=[round(float(x), 1) for x in box], frame_width=img.shape[1], frame_height=img.shape[0], sightings=1,
        crop_path=crop_rel, frame_path=frame_rel, model_version=pipeline.classifier.info.version,
        review_status=ReviewStatus.pending, verdict=Verdict(verdict))


def link_scenes(scenes: list[Scene], root: Path) -> Path:
    """A VOC folder of these scenes only (symbolic links), for `train --scenes`."""
    for sub in ("images", "annotations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for sc in scenes:
        for src, dst in ((sc.image, root / "images" / sc.image.name),
                         (sc.image.parent.parent / "annotations" / f"{sc.stem}.xml",
                          root / "annotations" / f"{sc.stem}.xml")):
            if not dst.exists():
                dst.symlink_to(src.resolve())
    return root


def run(args) -> dict:
    out = args.out
    scenes = load_scenes(args.scenes)
    rest = [s for s in scenes if split_of(s.stem) != "test"]
    test = read_test_split(args.scenes, "review-loop demonstration: evaluate --compare OLD NEW", scenes=scenes)
    trained_on = [s for s in rest if fold_of(s.stem, 2) == 1]
    site = [s for s in rest if fold_of(s.stem, 2) == 0]
    settings = TrainSettings(
        out=out / "old", scenes=link_scenes(trained_on, out / "scenes-old"), crops=args.crops,
        imagenet_weights=args.imagenet_weights, detector_weights=DEFAULT_DETECTOR, input_size=args.input_size,
        samples_per_epoch=args.samples_per_epoch, epochs_head=args.epochs_head,
        epochs_finetune=args.epochs_finetune, folds=0, progress=False)
    if not (out / "old" / "metadata.json").is_file():
        train(settings)
    detector = build_detector(DetectorConfig())
    pipeline = MaskPipeline(detector, MaskClassifier.load(out / "old", backend="tflite"), threshold=args.threshold)
    parts = {"A": site[0::2], "B": site[1::2]}
    sites = {name: record_and_review(pipeline, part, out / f"site-{name}", f"site-{name.lower()}")
             for name, part in parts.items()}
    if not (out / "new" / "metadata.json").is_file():
        train(dataclasses.replace(settings, out=out / "new", extra=out / "site-A" / "reviews"))
    result = compare(out / "old", out / "new", detector, test, load_reviews(out / "site-B" / "reviews"))
    report = {"trained_on_images": len(trained_on), "site": sites, "compare": result,
              "recipe": {k: getattr(settings, k)
                         for k in ("input_size", "samples_per_epoch", "epochs_head", "epochs_finetune")}}
    (out / "reviewloop.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    from maskwatch.cli import _shared

    ap = argparse.ArgumentParser(prog="python -m maskwatch.commands.reviewloop",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scenes", type=Path, default=_shared("data/scenes-dev"))
    ap.add_argument("--crops", type=Path, default=_shared("data/facecrops"))
    ap.add_argument("--imagenet-weights", type=Path,
                    default=_shared("models/mobilenet_v2/mobilenet_v2_1.0_224_no_top.weights.h5"))
    ap.add_argument("--threshold", type=float, help="the p(violation) OLD flags at on the site (default: its own)")
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--samples-per-epoch", type=int, default=1000)
    ap.add_argument("--epochs-head", type=int, default=1)
    ap.add_argument("--epochs-finetune", type=int, default=3)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run(args)
    print(json.dumps({name: s for name, s in report["site"].items()}))
    print(table(report["compare"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
