"""PASCAL VOC scene annotations (the scenes-dev layout: images/ and annotations/ side by side).

`mask_weared_incorrect` counts as a violation: a mask under the nose or on the chin is no mask.
"""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.geometry import widths
from maskwatch.models.crops import crop_faces

VIOLATION_NAMES = frozenset({"without_mask", "mask_weared_incorrect"})
MASK_NAMES = frozenset({"with_mask"})
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class Scene:
    stem: str
    image: Path
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    violation: np.ndarray  # (N,) bool
    incorrect: np.ndarray  # (N,) bool: mask_weared_incorrect, the hardest violations

    @property
    def widths(self) -> np.ndarray:
        return widths(self.boxes)


def load_annotation(path: Path) -> tuple[np.ndarray, np.ndarray]:
    boxes, names = load_labelled(path)
    return boxes, np.isin(names, list(VIOLATION_NAMES))


def load_labelled(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and their label names."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ValueError(f"annotation unreadable: {path}: {e}") from e
    boxes, viol = [], []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VIOLATION_NAMES | MASK_NAMES:
            raise ValueError(f"annotation {path}: unknown label {name!r}")
        bb = obj.find("bndbox")
        try:
            boxes.append([float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        except (TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"annotation {path}: bad bndbox for {name!r}") from e
        viol.append(name)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(viol, dtype="<U24")


def load_scenes(root: Path) -> list[Scene]:
    """Every annotated image under root/images with its root/annotations/<stem>.xml."""
    root = Path(root)
    images, annotations = root / "images", root / "annotations"
    if not images.is_dir() or not annotations.is_dir():
        raise FileNotFoundError(f"{root}: expected images/ and annotations/ folders (VOC layout)")
    scenes = []
    for img in sorted(images.iterdir()):
        if img.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        xml = annotations / f"{img.stem}.xml"
        if not xml.is_file():
            raise FileNotFoundError(f"{img}: no annotation {xml}")
        boxes, names = load_labelled(xml)
        scenes.append(Scene(img.stem, img, boxes, np.isin(names, list(VIOLATION_NAMES)),
                            names == "mask_weared_incorrect"))
    return scenes


def split_of(stem: str) -> str:
    """Fixed split by image name, stable across runs and machines: 70% train, 10% val, 20% test."""
    bucket = int(hashlib.sha1(stem.encode()).hexdigest(), 16) % 10
    return "test" if bucket < 2 else "val" if bucket == 2 else "train"


def fold_of(stem: str, folds: int) -> int:
    """Cross-validation fold of a non-test image, independent of split_of's digit."""
    return int(hashlib.sha1(stem.encode()).hexdigest(), 16) // 10 % folds


def scene_crops(scenes_dir: Path, split: str | None, size: int, margin: float,
                limit: int | None = None) -> np.ndarray:
    """Classifier crops of the annotated faces of a VOC scenes folder (one split of it, or all:
    None). The test split is refused here: it is read through heldout.read_test_split, which counts it."""
    if split == "test":
        raise ValueError(f"{scenes_dir}: read the test split through maskwatch.models.evaluation.heldout."
                         "read_test_split (each read is said and counted), then crops_of")
    return crops_of([s for s in load_scenes(scenes_dir) if split is None or split_of(s.stem) == split],
                    size, margin, limit)


def crops_of(scenes: list[Scene], size: int, margin: float, limit: int | None = None) -> np.ndarray:
    """Classifier crops of these scenes' annotated faces, in order."""
    out = []
    for scene in scenes:
        img = cv2.imread(str(scene.image))
        if img is not None and len(scene.boxes):
            out.append(crop_faces(img, scene.boxes, size, margin))
    crops = np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)
    return crops[:limit] if limit else crops
