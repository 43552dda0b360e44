"""dlib's face-recognition ResNet (a 128-d descriptor trained for identity on LFW-like faces), as the
real-video issue names it: a face-recognition model from a package registry, measured on the small
faces cameras see (maskwatch.models.studies.realidentity --face-id). A study's, never served:
`pip install -e '.[face-id]'` (dlib-bin, face_recognition_models).

dlib aligns a face by its five landmarks before the network sees it (a 150 x 150 chip); the
landmarks come from dlib's own 5-point predictor on the detector's box.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np


def model_dir() -> Path:
    """The folder of face_recognition_models' files, found without importing the package (its
    __init__ needs pkg_resources, which recent setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("face_recognition_models is not installed: pip install -e '.[face-id]'")
    return Path(spec.submodule_search_locations[0]) / "models"


class DlibFaceDescriptor:
    """descriptor(image BGR, face box x1 y1 x2 y2) -> unit 128-d vector (None: no face there)."""

    def __init__(self, models: Path | None = None):
        import dlib

        models = models or model_dir()
        self._landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._rect = dlib.rectangle

    def __call__(self, image: np.ndarray, box) -> np.ndarray | None:
        h, w = image.shape[:2]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        if x2 - x1 < 2 or y2 - y1 < 2 or x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            return None
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        shape = self._landmarks(rgb, self._rect(x1, y1, x2, y2))
        v = np.asarray(self._net.compute_face_descriptor(rgb, shape), np.float32)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else None
