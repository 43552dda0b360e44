"""The classifier on ONNX Runtime: its runner (the export that makes the file is training's).

The ONNX file is converted from the folder's TFLite file (tf2onnx), so it carries the same two
outputs, p(no_mask) and the embedding, and serves on CPU, CUDA or TensorRT without TensorFlow:
what a GPU host with ONNX Runtime alone needs. The export checks it against TFLite and records
the check in metadata.json.

    python -m maskwatch.models.training.export_onnx models/weights/classifier
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from maskwatch.models.modelinfo import ModelError
from maskwatch.models.providers import DeviceError, providers_for, session

log = logging.getLogger(__name__)

ONNX_FILE = "mask_classifier.onnx"
OPSET = 17


class OrtRunner:
    """(N, S, S, 3) float crops -> (p_no_mask (N,), embeddings (N, D) or None)."""

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None):
        import onnxruntime as ort

        providers_for(device, ort.get_available_providers(), "classifier")  # before the file: the clearer error
        if not path.is_file():
            raise ModelError(f"classifier ONNX file not found: {path}")
        try:
            self._sess = session(path.read_bytes(), device, threads, "classifier")
        except DeviceError:
            raise
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"classifier ONNX file unusable: {path}: {e}") from e
        self._input = self._sess.get_inputs()[0].name
        # as with TFLite, the converted outputs' order is not Keras's: the verdict output is the narrow one
        outs = sorted(self._sess.get_outputs(), key=lambda o: o.shape[-1] if isinstance(o.shape[-1], int) else 0)
        self._outputs = [o.name for o in outs]

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        got = self._sess.run(self._outputs, {self._input: np.ascontiguousarray(x, np.float32)})
        return got[0].reshape(len(x), -1), (got[1] if len(got) > 1 else None)
