"""Operators' reviews as training labels: `maskwatch export-reviews --out DIR`.

Every reviewed violation becomes a face crop in DIR/<label>/<id>.jpg and a line of
DIR/manifest.jsonl; DIR/manifest.json sums it up. The label is what the operator said the face
is (review_label), else what the review implies: a confirmed violation keeps the model's verdict;
a false positive without a label counts as `mask` (what "false positive" meant before the form
asked). `maskwatch train --extra DIR` reads it back (maskwatch.models.training.dataset.samples_from_reviews).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from maskwatch.storage.queries import ViolationFilter, as_utc, iter_filtered
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import ReviewLabel, ReviewStatus, Violation
from maskwatch.wire.detections import CROP_MARGIN

log = logging.getLogger(__name__)

SCHEMA = "maskwatch.reviews/1"
MANIFEST = "manifest.jsonl"
SUMMARY = "manifest.json"


@dataclass(frozen=True)
class ReviewedFace:
    id: str
    file: str           # relative to the export folder
    label: str          # ReviewLabel's value: no_mask, mask_incorrect, mask or not_a_face
    verdict: str        # what the model said
    p_no_mask: float
    face_width: int
    camera_id: str
    model_version: str
    reviewed_by: str | None
    reviewed_at: str | None


def label_of(v: Violation) -> ReviewLabel:
    if v.review_label is not None:
        return v.review_label
    if v.review_status is ReviewStatus.confirmed:
        return ReviewLabel(v.verdict.value)
    return ReviewLabel.mask


def export_reviews(sessions: sessionmaker[Session], store: SnapshotStore, out: Path) -> dict:
    """Write every reviewed violation's crop and the manifest; the summary (counts per label, and
    what could not be exported)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    faces, missing = [], 0
    for status in (ReviewStatus.confirmed, ReviewStatus.false_positive):
        for v in iter_filtered(sessions, ViolationFilter(status=status)):
            face = _export_one(v, store, out)
            if face is None:
                missing += 1
            else:
                faces.append(face)
    with open(out / MANIFEST, "w", encoding="utf-8") as f:
        for face in faces:
            f.write(json.dumps(asdict(face)) + "\n")
    counts = {lab.value: sum(1 for x in faces if x.label == lab.value) for lab in ReviewLabel}
    summary = {"schema": SCHEMA, "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "faces": len(faces), "by_label": counts, "missing_snapshots": missing,
               # the crops are the events' snapshots: a square of the face's longest side x (1 + margin)
               "crop_margin": CROP_MARGIN}
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _export_one(v: Violation, store: SnapshotStore, out: Path) -> ReviewedFace | None:
    try:
        data = store.resolve(v.crop_path).read_bytes()
    except (OSError, ValueError) as e:  # pruned, or a path that leaves the store
        log.warning("violation %s: crop %s not exported: %s", v.id, v.crop_path, e)
        return None
    label = label_of(v)
    rel = f"{label.value}/{v.id}.jpg"
    (out / label.value).mkdir(exist_ok=True)
    (out / rel).write_bytes(data)
    return ReviewedFace(v.id, rel, label.value, v.verdict.value, round(float(v.p_no_mask), 4), v.face_width,
                        v.camera_id, v.model_version, v.reviewed_by,
                        as_utc(v.reviewed_at).isoformat() if v.reviewed_at else None)
