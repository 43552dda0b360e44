"""How well appearance tells real people apart (maskwatch.models.studies.realidentity): the
descriptors measured per violating face, their joins, and the AUC; and dlib's face-recognition
descriptor (maskwatch.models.studies.dlibface), measured beside the registry's."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.settings import DEMO_SCENES

from maskwatch.models.studies import dlibface, realidentity


def unit(*v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("face_id,expected", [
    (None, ["face", "clothing", "both"]),
    (unit(0, 1), ["face", "clothing", "both", "face-id", "face-id+clothing"]),
])
def test_each_violating_face_is_described_by_every_descriptor_measured(face_id, expected):
    got = realidentity.described(unit(1, 0), unit(0, 0, 1), face_id)
    assert [k for k, _ in got] == expected == list(realidentity.kinds(face_id is not None))
    assert all(np.linalg.norm(v) == pytest.approx(1.0) for _, v in got)


# same-person similarities, different-person ones -> AUC
@pytest.mark.parametrize("same,other,expected", [
    ([0.9, 0.8], [0.1, 0.2], 1.0),
    ([0.1], [0.5, 0.9], 0.0),
    ([0.5], [0.5], 0.5),  # a tie counts half
    ([], [0.5], None),
])
def test_auc_is_the_chance_a_same_person_pair_is_more_alike(same, other, expected):
    assert realidentity.auc(same, other) == expected


def test_a_missing_face_id_package_is_named_with_its_extra(monkeypatch):
    monkeypatch.setattr(dlibface.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"\.\[face-id\]"):
        dlibface.model_dir()


@pytest.fixture(scope="module")
def dlib_descriptor():
    pytest.importorskip("dlib", reason="the face-id study needs dlib: pip install -e '.[face-id]'")
    try:
        return dlibface.DlibFaceDescriptor()
    except ModuleNotFoundError as e:
        pytest.skip(str(e))


def two_faces():
    """A bundled scene and its two largest faces."""
    from maskwatch.models.build import DEFAULT_DETECTOR
    from maskwatch.models.detector import FaceDetector

    image = cv2.imread(str(DEMO_SCENES / "images" / "maksssksksss148.jpg"))
    faces = FaceDetector(DEFAULT_DETECTOR).detect(image)
    big = np.argsort(-(faces.boxes[:, 2] - faces.boxes[:, 0]))[:2]
    return image, faces.boxes[big[0]], faces.boxes[big[1]]


def test_dlibs_descriptor_knows_a_face_from_another(dlib_descriptor):
    image, a, b = two_faces()
    va, vb, va2 = (dlib_descriptor(image, box) for box in (a, b, a + np.float32(1)))
    assert va @ va2 > va @ vb  # the same face, boxed a pixel off, is more alike than the face beside
    assert dlib_descriptor(image, [-50, -50, -10, -10]) is None  # a box outside the image describes nothing


def test_centred_descriptors_spread_apart(dlib_descriptor):
    image, a, b = two_faces()
    raw = dlib_descriptor(image, a) @ dlib_descriptor(image, b)
    centre = dlibface.centre_of(dlib_descriptor, DEMO_SCENES, limit=4)
    centred = dlibface.DlibFaceDescriptor(centre=centre)
    assert centre.shape == (128,)
    assert centred(image, a) @ centred(image, b) < raw - 0.1  # out of dlib's narrow cone
    assert centred.key() != dlib_descriptor.key()  # caches keep centred and raw apart
