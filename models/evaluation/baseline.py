"""The seed's pipeline, for side-by-side numbers: OpenCV res10 SSD faces (300x300 blob, confidence
0.5) and the classic MobileNetV2-224 classifier called once per face, as the seed script did.

MODELS_DIR holds res10/deploy.prototxt, res10/res10_300x300_ssd_iter_140000.caffemodel and
seed_classifier/face_mask_detector.model (Keras 2 HDF5). Needs OpenCV 4.x (Caffe) and TensorFlow.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from maskwatch.detections import Detections
from maskwatch.models.pipeline import StageTimes


def _seed_classifier(path: Path):
    import h5py
    import keras
    from keras import layers

    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))
    h = layers.AveragePooling2D((7, 7))(base.output)
    h = layers.Flatten()(h)
    h = layers.Dense(128, activation="relu", name="dense")(h)
    h = layers.Dropout(0.5)(h)
    model = keras.Model(base.input, layers.Dense(2, activation="softmax", name="dense_1")(h))
    with h5py.File(path, "r") as f:
        saved = f["model_weights"]
        for layer in model.layers:
            if not layer.get_weights():
                continue
            group = saved[layer.name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            layer.set_weights([np.array(group[n]) for n in names])
    return model


class SeedPipeline:
    threshold = 0.5

    def __init__(self, models_dir: Path):
        models_dir = Path(models_dir)
        proto = models_dir / "res10" / "deploy.prototxt"
        weights = models_dir / "res10" / "res10_300x300_ssd_iter_140000.caffemodel"
        clf = models_dir / "seed_classifier" / "face_mask_detector.model"
        for f in (proto, weights, clf):
            if not f.is_file():
                raise FileNotFoundError(f"seed baseline: missing {f}")
        if not hasattr(cv2.dnn, "readNetFromCaffe"):
            raise RuntimeError("seed baseline needs OpenCV 4.x (its Caffe loader)")
        self.net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
        self.clf = _seed_classifier(clf)
        self.times = StageTimes()

    def run(self, images: list[np.ndarray]) -> list[Detections]:
        return [self._one(img) for img in images]

    def _one(self, img: np.ndarray) -> Detections:
        t0 = time.perf_counter()
        h, w = img.shape[:2]
        self.net.setInput(cv2.dnn.blobFromImage(img, 1.0, (300, 300), (104.0, 177.0, 123.0)))
        raw = self.net.forward()[0, 0]
        raw = raw[raw[:, 2] >= 0.5]
        t1 = time.perf_counter()
        boxes, scores, p = [], [], []
        for d in raw:
            x1, y1, x2, y2 = (d[3:7] * [w, h, w, h]).astype(int)
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w - 1, x2), min(h - 1, y2)
            if x2 <= x1 or y2 <= y1:
                continue
            crop = cv2.resize(cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2RGB), (224, 224))
            probs = np.asarray(self.clf(crop.astype(np.float32)[None] / 127.5 - 1.0, training=False))[0]
            boxes.append([x1, y1, x2, y2])
            scores.append(float(d[2]))
            p.append(float(probs[1]))
        t2 = time.perf_counter()
        self.times.images += 1
        self.times.faces += len(boxes)
        self.times.detect_s += t1 - t0
        self.times.classify_s += t2 - t1
        return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(p, np.float32))
