"""dlib's face-recognition ResNet (a 128-d descriptor trained for identity on LFW-like faces), as the
real-video issue names it: a face-recognition model from a package registry, measured on the small
faces cameras see (maskwatch.models.studies.realidentity --face-id). A study's, never served:
`pip install -e '.[face-id]'` (dlib-bin, face_recognition_models).

dlib aligns a face by its five landmarks before the network sees it (a 150 x 150 chip); the
landmarks come from dlib's own 5-point predictor on the detector's box. Its descriptors all lie in
one narrow cone (any two faces' cosine is about 0.9), so they are centred on the mean descriptor of
a scene set's faces (`centre_of`, never the footage measured) before their cosine is taken: the
registry's thresholds and gates, made for cosines that spread from 0 to 1, then mean what they say.
"""
from __future__ import annotations

import hashlib
import importlib.util
import pickle
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

    dim = 128

    def __init__(self, models: Path | None = None, centre: np.ndarray | None = None):
        import dlib

        self.centre = centre  # the mean raw descriptor to centre on (centre_of); None: dlib's own cone
        models = models or model_dir()
        self._landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._rect = dlib.rectangle

    def key(self) -> str:
        """Short, for caches: which centre the descriptors were taken about."""
        c = b"" if self.centre is None else self.centre.tobytes()
        return hashlib.sha1(c).hexdigest()[:8]

    def raw(self, image: np.ndarray, box) -> np.ndarray | None:
        """dlib's own 128 numbers for the face at box (None: the box is not in the image)."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        if x2 - x1 < 2 or y2 - y1 < 2 or x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            return None
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        shape = self._landmarks(rgb, self._rect(x1, y1, x2, y2))
        return np.asarray(self._net.compute_face_descriptor(rgb, shape), np.float32)

    def __call__(self, image: np.ndarray, box) -> np.ndarray | None:
        v = self.raw(image, box)
        if v is None:
            return None
        if self.centre is not None:
            v = v - self.centre
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else None


def centre_of(descriptor: DlibFaceDescriptor, scenes: Path, limit: int = 400) -> np.ndarray:
    """The mean raw descriptor of the annotated faces of up to `limit` images of a VOC scene set
    (its test split left out), to centre the descriptors on."""
    from maskwatch.models.evaluation.voc import load_scenes, split_of

    vs = []
    for sc in [s for s in load_scenes(scenes) if split_of(s.stem) != "test"][:limit]:
        image = cv2.imread(str(sc.image))
        vs += [v for v in (descriptor.raw(image, b) for b in sc.boxes) if v is not None]
    if not vs:
        raise ValueError(f"{scenes}: no annotated face to centre the face-id descriptors on")
    return np.mean(vs, axis=0).astype(np.float32)


def centred(scenes: Path) -> DlibFaceDescriptor:
    """dlib's descriptor, centred on the scene set's mean face."""
    d = DlibFaceDescriptor()
    d.centre = centre_of(d, scenes)
    return d


def with_face_id(frames_: list, face_id: DlibFaceDescriptor, video: Path, step: int, min_score: float,
                 path: Path) -> None:
    """Set the face_id of each of replaytracks' frames (every step-th of video): the descriptor of
    each face at min_score or more (the faces a worker classifies), the frames read again; cached
    at path."""
    from maskwatch.models.evaluation.facerecall import frames

    if path.is_file():
        described = pickle.loads(path.read_bytes())
    else:
        described = []
        for f, (_, img) in zip(frames_, frames(video, step)):
            rows = np.zeros((len(f.boxes), face_id.dim), np.float32)
            for i in np.flatnonzero(f.scores >= min_score):
                v = face_id(img, f.boxes[i])
                if v is not None:
                    rows[i] = v
            described.append(rows)
        path.write_bytes(pickle.dumps(described))
    for f, rows in zip(frames_, described):
        f.face_id = rows
