"""Export the Keras classifier to TFLite and check that both agree on real crops."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np


def export_tflite(model, path: Path) -> Path:
    """Float32 TFLite file with two outputs, p(no_mask) and the appearance embedding
    (maskwatch.models.embedding), via TFLiteConverter.from_keras_model (the concrete-function route
    silently drops Keras 3 weights)."""
    import tensorflow as tf

    from maskwatch.models.embedding import with_embedding

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every captured tensor
        content = tf.lite.TFLiteConverter.from_keras_model(with_embedding(model)).convert()
    path = Path(path)
    path.write_bytes(content)
    return path


def tflite_p_no_mask(path: Path, x: np.ndarray) -> np.ndarray:
    """The raw outputs (N, 1 or 3) of a TFLite file on float crops (N, S, S, 3), in batches of 32."""
    from maskwatch.models.classifier import _TFLiteRunner

    runner = _TFLiteRunner(path, x.shape[1], threads=None)
    return np.concatenate([runner(x[i:i + 32])[0] for i in range(0, len(x), 32)])


def agreement(keras_model, tflite_path: Path, crops: np.ndarray, threshold: float = 0.5) -> dict:
    """How closely the TFLite export reproduces Keras on the same crops."""
    x = np.asarray(crops, np.float32)
    ref = np.asarray(keras_model(x, training=False)).reshape(len(x), -1)
    got = tflite_p_no_mask(Path(tflite_path), x)
    # the violation probability: the sigmoid itself, or 1 - p(mask) of a softmax
    vr, vg = (ref[:, 0], got[:, 0]) if ref.shape[1] == 1 else (1 - ref[:, 0], 1 - got[:, 0])
    return {"crops": int(len(x)), "max_abs_diff": float(np.max(np.abs(ref - got))) if len(x) else 0.0,
            "label_agreement": float(np.mean((vr >= threshold) == (vg >= threshold))) if len(x) else 1.0}


def add_embedding(model_dir: Path, check_crops: np.ndarray) -> dict:
    """Re-export a model folder's TFLite file with the embedding output and record it in its
    metadata; p(no_mask) must stay what it was (checked on `check_crops`)."""
    import json

    import keras

    from maskwatch.models.embedding import EMBEDDING_DIM, embedding_dim, embedding_meta
    from maskwatch.models.modelinfo import METADATA, ModelInfo

    info = ModelInfo.load(model_dir)
    model = keras.models.load_model(info.dir / info.keras_file, compile=False)
    if embedding_dim(model) != EMBEDDING_DIM:
        raise ValueError(f"{model_dir}: embedding layers give {embedding_dim(model)} values, not {EMBEDDING_DIM}")
    x = np.asarray(check_crops, np.float32)
    before = tflite_p_no_mask(info.dir / info.tflite_file, x)
    export_tflite(model, info.dir / info.tflite_file)
    after = tflite_p_no_mask(info.dir / info.tflite_file, x)
    check = dict(agreement(model, info.dir / info.tflite_file, x),
                 p_no_mask_change_on_reexport=float(np.max(np.abs(before - after))))
    meta = dict(info.raw, embedding=dict(embedding_meta(), export_check=check))
    (info.dir / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
    return check
