"""Reading an export of operators' reviews (maskwatch.reviews): each face's image, where the face
is in it, and what the operator said it is."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.errors import MaskwatchError

log = logging.getLogger(__name__)

VIOLATION_LABELS = ("no_mask", "mask_incorrect")
LABELS = ("no_mask", "mask_incorrect", "mask", "not_a_face")


class ReviewSetError(MaskwatchError, ValueError):
    """An export folder that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Reviewed:
    image: np.ndarray            # BGR crop as the events service stored it
    box: tuple[float, float, float, float]  # the face inside it
    label: str
    id: str

    @property
    def violation(self) -> bool:
        return self.label in VIOLATION_LABELS


def load_reviews(root: Path) -> list[Reviewed]:
    root = Path(root)
    summary, manifest = root / "manifest.json", root / "manifest.jsonl"
    try:
        margin = float(json.loads(summary.read_text())["crop_margin"])
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReviewSetError(f"{root}: not a review export (manifest.json, manifest.jsonl): {e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
            label, rel = rec["label"], rec["file"]
        except (ValueError, KeyError, TypeError) as e:
            raise ReviewSetError(f"{manifest}:{n}: bad line: {e}") from None
        if label not in LABELS:
            raise ReviewSetError(f"{manifest}:{n}: label {label!r}, expected one of {', '.join(LABELS)}")
        if Path(rel).is_absolute() or ".." in Path(rel).parts:  # only files inside the export
            raise ReviewSetError(f"{manifest}:{n}: file {rel!r} is outside the export folder")
        img = cv2.imread(str(root / rel))
        if img is None:
            log.warning("%s:%d: %s unreadable, skipped", manifest, n, rel)
            continue
        h, w = img.shape[:2]
        # the crop is a square of the face's longest side x (1 + margin): the face is its centre
        fw, fh = w / (1 + margin), h / (1 + margin)
        box = ((w - fw) / 2, (h - fh) / 2, (w + fw) / 2, (h + fh) / 2)
        out.append(Reviewed(img, box, label, str(rec.get("id", ""))))
    return out
