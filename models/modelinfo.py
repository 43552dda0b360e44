"""What a classifier folder holds, read from its metadata.json: the files, the input size, the crop
margin, the decision rule and the calibration (no runtime: the runners are in classifier and
onnxclassifier)."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from maskwatch.errors import MaskwatchError
from maskwatch.models.calibration import Calibration

METADATA = "metadata.json"
SCHEMA = 2
CLASSES = ["mask", "no_mask", "mask_incorrect"]  # schema 2: softmax over three verdicts
CLASSES_BY_SCHEMA = {1: ["mask", "no_mask"], 2: CLASSES}  # schema 1: one sigmoid p(no_mask)
# models and out-of-fold files made before the detector setting was recorded chose their rule at
# 2x, the only default until then
RULE_UPSCALE_BEFORE_RECORDED = (2.0,)


class ModelError(MaskwatchError, ValueError):
    """A model file or its metadata is missing or wrong; the message names the file."""


@dataclass(frozen=True)
class ModelInfo:
    dir: Path
    version: str
    input_size: int
    crop_margin: float
    threshold: float
    min_face_score: float
    keras_file: str
    tflite_file: str
    raw: dict
    embedding_dim: int = 0  # 0: the model has no appearance output
    onnx_file: str = ""  # "": no ONNX export in this folder
    classes: tuple[str, ...] = ("mask", "no_mask")
    calibration: Calibration = Calibration()  # maskwatch.models.calibration: raw p(violation) -> the served one
    # detector.upscale of the faces the rule (threshold, minimum face score) was chosen on
    rule_upscale: tuple[float, ...] = RULE_UPSCALE_BEFORE_RECORDED

    @classmethod
    def load(cls, model_dir: Path) -> ModelInfo:
        path = Path(model_dir) / METADATA
        if not path.is_file():
            raise ModelError(f"classifier metadata not found: {path}")
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError(f"classifier metadata unreadable: {path}: {e}") from e
        if not isinstance(meta, dict):
            raise ModelError(f"classifier metadata {path}: expected a JSON object")
        schema = meta.get("schema")
        if schema not in CLASSES_BY_SCHEMA:
            raise ModelError(f"classifier metadata {path}: schema {schema!r}, expected one of "
                             f"{', '.join(map(str, CLASSES_BY_SCHEMA))}")
        if meta.get("classes") != CLASSES_BY_SCHEMA[schema]:
            raise ModelError(f"classifier metadata {path}: classes {meta.get('classes')!r}, expected "
                             f"{CLASSES_BY_SCHEMA[schema]} (schema {schema})")
        try:
            info = cls(Path(model_dir), str(meta["version"]), int(meta["input_size"]),
                       float(meta["crop_margin"]), float(meta["threshold"]), float(meta.get("min_face_score", 0.0)),
                       str(meta["files"]["keras"]), str(meta["files"]["tflite"]), meta,
                       int((meta.get("embedding") or {}).get("dim", 0)), str(meta["files"].get("onnx") or ""),
                       tuple(meta["classes"]), Calibration.from_meta(meta.get("calibration")),
                       tuple(sorted({float(u) for u in (meta.get("rule_detector") or {}).get("upscale")
                                         or RULE_UPSCALE_BEFORE_RECORDED})))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"classifier metadata {path}: missing or bad field {e}") from e
        if not 16 <= info.input_size <= 512:
            raise ModelError(f"classifier metadata {path}: input_size {info.input_size} out of 16..512")
        if not 0.0 < info.threshold < 1.0:
            raise ModelError(f"classifier metadata {path}: threshold {info.threshold} not in (0, 1)")
        if not all(0 < u <= 8 for u in info.rule_upscale):
            raise ModelError(f"classifier metadata {path}: rule_detector upscale {list(info.rule_upscale)} "
                             "not in (0, 8]")
        if not 0 <= info.embedding_dim <= 4096:
            raise ModelError(f"classifier metadata {path}: embedding dim {info.embedding_dim} out of 0..4096")
        return info

    def raw_p(self) -> ModelInfo:
        """The same model serving its raw p(violation) and deciding nothing itself (threshold 0.5, no
        face-score minimum): for the studies that choose a rule of their own on raw p."""
        return replace(self, calibration=Calibration(), threshold=0.5, min_face_score=0.0)

    @property
    def embedding_layers(self) -> tuple[str, ...]:
        return tuple((self.raw.get("embedding") or {}).get("layers", ()))


# padded batch sizes: a runtime sees a few shapes only (TFLite: one interpreter each; TensorRT: one
# engine profile; cuDNN: one algorithm search each), however many faces a frame brings
BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def padded_size(n: int) -> int:
    """The batch size `n` items are padded to: the next of BUCKETS (n itself beyond the largest)."""
    return next((b for b in BUCKETS if b >= n), n)


def pad_batch(x: np.ndarray) -> np.ndarray:
    """`x` with zero rows appended up to padded_size(len(x))."""
    n = len(x)
    bucket = padded_size(n)
    if bucket == n:
        return x
    return np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), x.dtype)])
