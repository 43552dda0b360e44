"""MaskClassifier: p(no_mask) and an appearance embedding for batches of face crops, over TFLite
(CPU), Keras (GPU, with TensorFlow) or ONNX Runtime (CPU, CUDA, TensorRT: a GPU host without
TensorFlow).

The Keras model is the source of truth; the TFLite export, run by LiteRT with XNNPACK, serves on
CPU about 4x faster than TensorFlow and needs no TensorFlow at all. A model directory holds
`metadata.json` naming the files (the ONNX one is optional: `python -m models.export_onnx` makes
it), the input size, the crop margin and the decision threshold,
and, for models that have one, the embedding (models.embedding): its layers and dimension. A model
without an embedding still classifies; the tracker then matches faces by motion alone.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from maskwatch.errors import MaskwatchError
from models.calibration import Calibration

log = logging.getLogger(__name__)

METADATA = "metadata.json"
SCHEMA = 2
CLASSES = ["mask", "no_mask", "mask_incorrect"]  # schema 2: softmax over three verdicts
CLASSES_BY_SCHEMA = {1: ["mask", "no_mask"], 2: CLASSES}  # schema 1: one sigmoid p(no_mask)
# models and out-of-fold files made before the detector setting was recorded chose their rule at
# 2x, the only default until then
RULE_UPSCALE_BEFORE_RECORDED = (2.0,)
BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # padded batch sizes: one interpreter each, at most


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
    calibration: Calibration = Calibration()  # models.calibration: raw p(violation) -> the served one
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


class MaskClassifier:
    """`predict(crops)` -> (p_no_mask (N,), embeddings (N, D) or None), crops (N, S, S, 3) uint8
    RGB from `crops.crop_faces`; `predict_batch(crops)` -> p_no_mask alone."""

    def __init__(self, info: ModelInfo, backend: str = "auto", threads: int | None = None,
                 max_batch: int = 32, keras_model=None, device: str = "cpu"):
        self.info = info
        self.max_batch = max_batch
        if keras_model is not None:  # a model still in memory: training scores its folds with it
            backend = "keras"
        elif backend == "auto":
            backend = "keras" if _tf_sees_gpu() else "tflite"
        self._runner = self._make_runner(backend, threads, keras_model, device)
        self.backend = backend if device == "cpu" else f"{backend}/{device}"

    def _make_runner(self, backend: str, threads: int | None, keras_model, device: str):
        if backend == "onnxruntime":
            if not self.info.onnx_file:
                raise ModelError(f"classifier in {self.info.dir} has no ONNX file in {METADATA}: make one with "
                                 f"`python -m models.export_onnx {self.info.dir}`")
            from models.onnxclassifier import OrtRunner
            return OrtRunner(self.info.dir / self.info.onnx_file, device, threads)
        if device != "cpu":
            from models.providers import DeviceError
            raise DeviceError(f"classifier.device {device} needs classifier.backend onnxruntime")
        if backend == "tflite":
            return _TFLiteRunner(self.info.dir / self.info.tflite_file, self.info.input_size, threads)
        if backend == "keras":
            return _KerasRunner(self.info.dir / self.info.keras_file, keras_model, self.info.embedding_layers)
        raise ModelError(f"classifier backend {backend!r}: expected auto, tflite, keras or onnxruntime")

    @classmethod
    def load(cls, model_dir: Path, backend: str = "auto", threads: int | None = None,
             max_batch: int = 32, device: str = "cpu") -> MaskClassifier:
        return cls(ModelInfo.load(model_dir), backend, threads, max_batch, device=device)

    @property
    def input_size(self) -> int:
        return self.info.input_size

    @property
    def embedding_dim(self) -> int:
        return self.info.embedding_dim

    def predict_batch(self, crops: np.ndarray) -> np.ndarray:
        return self.predict(crops)[0]

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        p, _, emb = self.predict_verdicts(crops)
        return p, emb

    def predict_verdicts(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(p_no_mask, p_incorrect, embeddings) for crops. p_no_mask is the calibrated probability of
        a violation (no mask, or worn incorrectly); p_incorrect, for a three-verdict model, the share
        of it that is a mask worn incorrectly (None for a two-class model)."""
        crops = np.asarray(crops)
        s, dim = self.info.input_size, self.info.embedding_dim
        if crops.ndim != 4 or crops.shape[1:] != (s, s, 3):
            raise ValueError(f"classifier expects crops of shape (N, {s}, {s}, 3), got {crops.shape}")
        three = len(self.info.classes) == 3
        if not len(crops):
            return (np.zeros((0,), np.float32), np.zeros((0,), np.float32) if three else None,
                    np.zeros((0, dim), np.float32) if dim else None)
        out = [self._runner(crops[i:i + self.max_batch].astype(np.float32))
               for i in range(0, len(crops), self.max_batch)]
        probs = np.concatenate([np.asarray(o[0]).reshape(len(o[0]), -1) for o in out]).astype(np.float32)
        p, incorrect = violation_scores(probs, self.info.classes, self.info.dir)
        p = self.info.calibration.apply(p)
        if not dim or any(o[1] is None for o in out):
            return p, incorrect, None
        emb = np.concatenate([o[1] for o in out]).astype(np.float32)
        if emb.shape[1] != dim:
            raise ModelError(f"classifier in {self.info.dir}: embedding has {emb.shape[1]} values, "
                             f"metadata says {dim}")
        return p, incorrect, emb


def violation_scores(probs: np.ndarray, classes, where="") -> tuple[np.ndarray, np.ndarray | None]:
    """A model's raw outputs (N, 1) sigmoid or (N, 3) softmax as (p(violation), share incorrect)."""
    if probs.shape[1] != len(classes) - (len(classes) == 2):
        raise ModelError(f"classifier in {where}: {probs.shape[1]} outputs for classes {list(classes)}")
    if len(classes) == 2:
        return probs[:, 0], None
    viol = np.clip(probs[:, 1] + probs[:, 2], 0.0, 1.0)
    return viol, (probs[:, 2] / np.maximum(viol, 1e-6)).astype(np.float32)


def _tf_sees_gpu() -> bool:
    # importing TensorFlow costs seconds and ~500 MB: only ask it when an NVIDIA device exists
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        return False
    try:
        import tensorflow as tf  # heavy: only when a GPU might be used
    except ImportError:
        return False
    return bool(tf.config.list_physical_devices("GPU"))


class _TFLiteRunner:
    """One interpreter per padded batch size, so a batch never re-allocates tensors."""

    def __init__(self, path: Path, size: int, threads: int | None):
        if not path.is_file():
            raise ModelError(f"classifier TFLite file not found: {path}")
        self.path, self.size, self.threads = path, size, threads
        self._content = path.read_bytes()
        self._by_batch: dict[int, tuple] = {}
        self._get(1)  # fail now, naming the file, if it does not load

    def _get(self, n: int):
        if n not in self._by_batch:
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError:  # older stacks: the interpreter inside TensorFlow
                from tensorflow.lite.python.interpreter import Interpreter
            try:
                it = Interpreter(model_content=self._content, num_threads=self.threads)
                inp = it.get_input_details()[0]
                it.resize_tensor_input(inp["index"], (n, self.size, self.size, 3))
                it.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                raise ModelError(f"classifier TFLite file unusable: {self.path}: {e}") from e
            # the converter does not keep Keras's output order: the verdict output is the narrow one (1 or 3)
            outs = sorted(it.get_output_details(), key=lambda d: int(d["shape"][-1]))
            self._by_batch[n] = (it, inp["index"], outs[0]["index"], outs[1]["index"] if len(outs) > 1 else None)
        return self._by_batch[n]

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        n = len(x)
        bucket = next((b for b in BUCKETS if b >= n), n)
        if bucket != n:
            x = np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), x.dtype)])
        it, i_in, i_p, i_emb = self._get(bucket)
        it.set_tensor(i_in, x)
        it.invoke()
        emb = it.get_tensor(i_emb)[:n].copy() if i_emb is not None else None
        return it.get_tensor(i_p)[:n].reshape(n, -1), emb


class _KerasRunner:
    def __init__(self, path: Path, model=None, embedding_layers: tuple[str, ...] = ()):
        if model is None:
            model = self._load(path)
        self.model = model
        if embedding_layers:
            from models.embedding import with_embedding
            self.model = with_embedding(model, embedding_layers)
        self.two_outputs = bool(embedding_layers)

    @staticmethod
    def _load(path: Path):
        if not path.is_file():
            raise ModelError(f"classifier Keras file not found: {path}")
        import keras
        try:
            return keras.models.load_model(path, compile=False)
        except (ValueError, OSError) as e:
            raise ModelError(f"classifier Keras file unusable: {path}: {e}") from e

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        out = self.model(x, training=False)
        if self.two_outputs:
            return np.asarray(out[0]).reshape(len(x), -1), np.asarray(out[1])
        return np.asarray(out).reshape(len(x), -1), None
