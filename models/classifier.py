"""MaskClassifier: p(no_mask) and an appearance embedding for batches of face crops, over TFLite
(CPU), Keras (GPU, with TensorFlow) or ONNX Runtime (CPU, CUDA, TensorRT: a GPU host without
TensorFlow).

The Keras model is the source of truth; the TFLite export, run by LiteRT with XNNPACK, serves on
CPU about 4x faster than TensorFlow and needs no TensorFlow at all. A model directory holds
`metadata.json` naming the files (the ONNX one is optional: `python -m maskwatch.models.training.export_onnx` makes
it), the input size, the crop margin and the decision threshold,
and, for models that have one, the embedding (maskwatch.models.embedding): its layers and dimension. A model
without an embedding still classifies; the tracker then matches faces by motion alone.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from maskwatch.models.modelinfo import METADATA, ModelError, ModelInfo, pad_batch

log = logging.getLogger(__name__)



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
                                 f"`python -m maskwatch.models.training.export_onnx {self.info.dir}`")
            from maskwatch.models.onnxclassifier import OrtRunner
            return OrtRunner(self.info.dir / self.info.onnx_file, device, threads, self.info.input_size,
                             self.max_batch)
        if device != "cpu":
            from maskwatch.models.providers import DeviceError
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
        x = pad_batch(x)
        it, i_in, i_p, i_emb = self._get(len(x))
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
            from maskwatch.models.embedding import with_embedding
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
