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

from maskwatch.models.modelinfo import ModelError, pad_batch
from maskwatch.models.providers import Bound, DeviceError, bind_to, providers_for, session

log = logging.getLogger(__name__)

ONNX_FILE = "mask_classifier.onnx"
OPSET = 17


class OrtRunner:
    """(N, S, S, 3) float crops -> (p_no_mask (N,), embeddings (N, D) or None).

    On a GPU the batch is padded to a few sizes (modelinfo.BUCKETS, up to `max_batch`), so cuDNN and
    TensorRT see a few shapes, each tuned once; TensorRT gets them as its profile."""

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None, size: int = 224,
                 max_batch: int = 32):
        import onnxruntime as ort

        providers_for(device, ort.get_available_providers(), "classifier")  # before the file: the clearer error
        if not path.is_file():
            raise ModelError(f"classifier ONNX file not found: {path}")
        self._pad = device != "cpu"
        try:
            model, self._input = plain_input(path.read_bytes())
            profile = {self._input: ((1, size, size, 3), (8, size, size, 3), (max(1, max_batch), size, size, 3))}
            self._sess = session(model, device, threads, "classifier", profile if device == "tensorrt" else None)
        except DeviceError:
            raise
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"classifier ONNX file unusable: {path}: {e}") from e
        # as with TFLite, the converted outputs' order is not Keras's: the verdict output is the narrow one
        outs = sorted(self._sess.get_outputs(), key=lambda o: o.shape[-1] if isinstance(o.shape[-1], int) else 0)
        self._run = Bound(self._sess, [o.name for o in outs], bind_to(device))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        n = len(x)
        x = np.ascontiguousarray(x, np.float32)
        got = self._run({self._input: pad_batch(x) if self._pad else x})
        return got[0][:n].reshape(n, -1), (got[1][:n] if len(got) > 1 else None)


def plain_input(model: bytes) -> tuple[bytes, str]:
    """The model with its input renamed where the name has a ':' or ',' (tf2onnx's
    `serving_default_crop_rgb:0`), which TensorRT's profile options cannot name; and that name."""
    import onnx

    m = onnx.load_from_string(model)
    old = m.graph.input[0].name
    new = old.split(":")[0].replace(",", "_")
    if new == old:
        return model, old
    m.graph.input[0].name = new
    for node in m.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
    return m.SerializeToString(), new
