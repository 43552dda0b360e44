"""Export the Keras classifier to TFLite and check that both agree on real crops."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np


def export_tflite(model, path: Path) -> Path:
    """Float32 TFLite file via TFLiteConverter.from_keras_model (the concrete-function route
    silently drops Keras 3 weights)."""
    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every captured tensor
        content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = Path(path)
    path.write_bytes(content)
    return path


def agreement(keras_model, tflite_path: Path, crops: np.ndarray, threshold: float = 0.5) -> dict:
    """How closely the TFLite export reproduces Keras on the same crops."""
    from models.classifier import _TFLiteRunner

    x = np.asarray(crops, np.float32)
    ref = np.asarray(keras_model(x, training=False)).reshape(-1)
    runner = _TFLiteRunner(Path(tflite_path), x.shape[1], threads=None)
    got = np.concatenate([runner(x[i:i + 32]) for i in range(0, len(x), 32)])
    return {"crops": int(len(x)), "max_abs_diff": float(np.max(np.abs(ref - got))) if len(x) else 0.0,
            "label_agreement": float(np.mean((ref >= threshold) == (got >= threshold))) if len(x) else 1.0}
