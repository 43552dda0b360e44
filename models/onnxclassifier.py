"""The classifier on ONNX Runtime: its runner, and the export that makes the ONNX file.

The ONNX file is converted from the folder's TFLite file (tf2onnx), so it carries the same two
outputs, p(no_mask) and the embedding, and serves on CPU, CUDA or TensorRT without TensorFlow:
what a GPU host with ONNX Runtime alone needs. The export checks it against TFLite and records
the check in metadata.json.

    python -m models.export_onnx models/weights/classifier
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from models.classifier import METADATA, ModelError, ModelInfo, _TFLiteRunner
from models.providers import DeviceError, providers_for, session

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


def export_onnx(model_dir: Path, check_crops: np.ndarray | None = None) -> dict:
    """Write the folder's ONNX file from its TFLite file, check both agree, record it in metadata."""
    try:
        import tf2onnx
    except ImportError as e:
        raise ModelError("the ONNX export needs tf2onnx: pip install 'maskwatch[ml]'") from e
    info = ModelInfo.load(model_dir)
    path = info.dir / ONNX_FILE
    tf2onnx.convert.from_tflite(str(info.dir / info.tflite_file), opset=OPSET, output_path=str(path))
    x = check_crops if check_crops is not None else \
        np.random.default_rng(0).integers(0, 256, (64, info.input_size, info.input_size, 3))
    x = np.asarray(x, np.float32)
    ref = _TFLiteRunner(info.dir / info.tflite_file, info.input_size, None)
    got = OrtRunner(path)
    diffs = [np.abs(ref(x[i:i + 32])[0] - got(x[i:i + 32])[0]).max() for i in range(0, len(x), 32)]  # raw outputs
    check = {"crops": int(len(x)), "max_abs_diff_vs_tflite": float(max(diffs)), "opset": OPSET}
    if check["max_abs_diff_vs_tflite"] > 1e-3:
        path.unlink()
        raise ModelError(f"ONNX export of {info.dir} differs from its TFLite file by {check['max_abs_diff_vs_tflite']}")
    meta = dict(info.raw, files=dict(info.raw["files"], onnx=ONNX_FILE), onnx_check=check)
    (info.dir / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
    log.info("classifier %s: ONNX export %s agrees with TFLite (max diff %.2g)", info.dir, path.name,
             check["max_abs_diff_vs_tflite"])
    return check
