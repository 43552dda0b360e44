"""Wire formats: round trips, and every malformed entry is a WireError naming what was wrong."""
import dataclasses
import json

import cv2
import numpy as np
import pytest
from support.detections import solid_jpeg

from maskwatch.wire import WireError, frames, live
from maskwatch.wire import detections as det
from maskwatch.wire.pose import Pose

FRAME = frames.FrameMsg("gate", 7, 1_700_000_000.25, 640, 360, solid_jpeg((0, 0, 0), (640, 360)))
DET = det.DetectionMsg("gate", 7, 1_700_000_000.25, 1_700_000_000.5, "w1", "m1", 640, 360, 0.78,
                       [det.Face((1.0, 2.0, 30.0, 40.0), 0.9, 0.95)], min_face_score=0.75,
                       crops=[b"\xff\xd8crop"], frame_jpeg=b"\xff\xd8frame", timings_ms={"total": 12.5})


EMB = np.linspace(-1, 1, 256).astype(np.float32)
EMB /= np.linalg.norm(EMB)


def test_round_trips():
    assert frames.decode(frames.encode(FRAME)) == FRAME
    back = det.decode(det.encode(DET))
    assert dataclasses.replace(back, embeddings=[]) == DET and back.embeddings == [None]
    assert back.has_candidate and back.is_violation(back.faces[0])


def test_embeddings_travel_as_int8_unit_vectors():
    msg = dataclasses.replace(DET, faces=DET.faces * 2, crops=DET.crops * 2, embeddings=[EMB, None])
    fields = det.encode(msg)
    assert len(fields[b"e8:0"]) == 256 and fields[b"emb:0"] == fields[b"e8:1"] == fields[b"emb:1"] == b""
    back = det.decode(fields)
    assert float(back.embeddings[0] @ EMB) > 1 - 1e-3 and back.embeddings[1] is None  # the cosine kept
    assert abs(float(np.linalg.norm(back.embeddings[0])) - 1) < 1e-5


def test_an_entry_from_before_int8_embeddings_is_read_as_ever():
    fields = det.encode(dataclasses.replace(DET, embeddings=[EMB]))
    del fields[b"e8:0"]
    fields[b"emb:0"] = EMB.astype("<f2").tobytes()
    assert np.allclose(det.decode(fields).embeddings[0], EMB, atol=2e-3)


PANNED = Pose(1_700_000_000_123, ((0.999, -0.01, -12.5), (0.01, 0.999, 3.25)))


def test_a_cameras_pose_travels_beside_the_frame_and_its_detections():
    frame = dataclasses.replace(FRAME, pose=PANNED)
    assert frames.decode(frames.encode(frame)) == frame
    fields = det.encode(dataclasses.replace(DET, pose=PANNED))
    assert b"pose" not in fields[b"meta"]  # beside meta: a reader from before poses ignores it
    assert det.decode(fields).pose == PANNED
    assert det.decode(det.encode(DET)).pose is None and frames.decode(frames.encode(FRAME)).pose is None


@pytest.mark.parametrize("earlier, later, moved", [
    (Pose(1), Pose(1, ((1.0, 0.0, 5.0), (0.0, 1.0, 0.0))), (5.0, 0.0)),
    (Pose(1, ((1.0, 0.0, 5.0), (0.0, 1.0, 0.0))), Pose(1, ((1.0, 0.0, 8.0), (0.0, 1.0, -1.0))), (3.0, -1.0)),
    (Pose(1), Pose(2, ((1.0, 0.0, 5.0), (0.0, 1.0, 0.0))), None),  # a new epoch: cannot be related
    (None, Pose(1), None),
    (PANNED, PANNED, None),                                       # did not move
])
def test_how_a_camera_moved_between_two_poses(earlier, later, moved):
    m = later.since(earlier)
    assert (m if m is None else (m[0][2], m[1][2])) == (moved if moved is None else pytest.approx(moved))


def test_an_old_version_is_a_clear_error():
    fields = det.encode(DET)
    fields[b"v"] = b"1"
    with pytest.raises(WireError, match="detections: schema version '1', expected 2"):
        det.decode(fields)


def _frame(**change):
    fields = frames.encode(FRAME)
    for k, v in change.items():
        if v is None:
            fields.pop(k.encode())
        else:
            fields[k.encode()] = v
    return fields


@pytest.mark.parametrize("fields,message", [
    (_frame(v=b"2"), "frame: schema version '2', expected 1"),
    (_frame(v=None), "frame: missing field 'v'"),
    (_frame(jpg=None), "frame: missing field 'jpg'"),
    (_frame(jpg=b""), "frame: empty image"),
    (_frame(seq=b"seven"), "frame: bad field value"),
    (_frame(ts=b"\xff\xfe"), "frame: bad field value"),
    (_frame(jpg=b"GIF89a..."), "frame: not a JPEG image"),
    (_frame(jpg=solid_jpeg((0, 0, 0), (320, 200))), "frame: the JPEG is 320x200, the entry declares 640x360"),
    (_frame(w=b"16000", h=b"16000", jpg=solid_jpeg((0, 0, 0), (16, 16))), "declared size 16000x16000 out of bounds"),
    (_frame(w=b"0"), "declared size 0x360 out of bounds"),
    (_frame(jpg=b"\xff\xd8" + b"\xff" * 5_000_000), "not a JPEG image"),   # fill bytes: refused, not walked
    (_frame(jpg=b"\xff\xd8" + b"\x00" * (33 << 20)), "more than 33554432"),
    (_frame(pz=b"12;1,0,0,0,1"), "frame: pz b'12;1,0,0,0,1' is not EPOCH;a,b,c,d,e,f"),
    (_frame(pz=b"twelve;1,0,0,0,1,0"), "is not EPOCH;a,b,c,d,e,f"),
    (_frame(pz=b"\xff;1,0,0,0,1,0"), "is not EPOCH;a,b,c,d,e,f"),
    (_frame(pz=b"1;1,0,nan,0,1,0"), "frame: pz is not a camera's motion"),
    (_frame(pz=b"1;0,0,0,0,0,0"), "pz is not a camera's motion .shift 0, 0; area scale 0."),
    (_frame(pz=b"1;1,0,1e9,0,1,0"), "pz is not a camera's motion"),
])
def test_bad_frames(fields, message):
    with pytest.raises(WireError, match=message):
        frames.decode(fields)


def _det(meta=None, **change):
    fields = det.encode(DET)
    if meta is not None:
        fields[b"meta"] = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    for k, v in change.items():
        key = k.encode().replace(b"_", b":")
        fields.pop(key) if v is None else fields.__setitem__(key, v)
    return fields


@pytest.mark.parametrize("fields,message", [
    (_det(v=b"0"), "detections: schema version '0', expected 2"),
    (_det(emb_0=None), "detections: missing field 'emb:0'"),
    (_det(emb_0=b"\x00\x3c\x00"), "embedding 0 has 3 bytes"),
    (_det(emb_0=np.zeros(8, "<f2").tobytes()), "embedding 0 is not a unit vector"),
    (_det(emb_0=np.full(8, np.inf, "<f2").tobytes()), "embedding 0 is not a unit vector"),
    (_det(e8_0=np.zeros(8, np.int8).tobytes()), "embedding 0 is not a unit vector"),
    (_det(e8_0=np.ones(5000, np.int8).tobytes()), "embedding 0 has 5000 int8 values"),
    (_det(meta=b"{not json"), "detections: bad meta"),
    (_det(meta=None, crop_0=None), "detections: missing field 'crop:0'"),
    (_det(meta=5), "meta is not an object"),
    (_det(meta={"faces": None}), "meta is not an object"),
    (_det(meta={"faces": [{"box": [1, 2, 3, 4]}]}), "detections: bad meta"),
    (_det(pz=b"1;1,0,0"), "detections: pz b'1;1,0,0' is not EPOCH"),
])
def test_bad_detections(fields, message):
    with pytest.raises(WireError, match=message):
        det.decode(fields)


def test_crops_must_match_faces():
    with pytest.raises(WireError, match="1 faces but 0 crops"):
        det.encode(det.DetectionMsg(**{**DET.__dict__, "crops": []}))


LIVE = live.LiveFrame("gate", 1_700_000_000.25, 1_700_000_000.5, 640, 360,
                      [live.LiveFace((1.0, 2.0, 30.0, 40.0), "violation", "no mask 0.99")],
                      solid_jpeg((0, 0, 0), (640, 360)))


def _live_blob(header: dict | bytes, jpeg: bytes = LIVE.jpeg, version: int = 1) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return live.MAGIC + bytes([version]) + len(raw).to_bytes(4, "big") + raw + jpeg


GOOD_LIVE = {"v": 1, "cam": "gate", "ts": 1.0, "at": 2.0, "w": 640, "h": 360, "faces": []}


@pytest.mark.parametrize("blob,message", [
    (b"\xff\xd8 a bare JPEG", "live: not a live frame"),
    (_live_blob(GOOD_LIVE, version=2), "live: schema version 2, expected 1"),
    (live.MAGIC + b"\x01" + (1 << 20).to_bytes(4, "big"), "live: header of 1048576 bytes out of bounds"),
    (_live_blob(b"{not json"), "live: bad header: JSONDecodeError"),
    (_live_blob({**GOOD_LIVE, "w": "wide"}), "live: bad header: ValueError"),
    (_live_blob({k: v for k, v in GOOD_LIVE.items() if k != "cam"}), "live: bad header: KeyError"),
    (_live_blob({**GOOD_LIVE, "faces": [[1, 2, 3, 4, "alien", "x"]]}),
     r"live: a face is \[x1, y1, x2, y2, kind, label\]"),
    (_live_blob({**GOOD_LIVE, "faces": [[1, 2, "nan", 4, "mask", "x"]]}), "live: a face box is not finite"),
    (_live_blob({**GOOD_LIVE, "faces": [[0, 0, 1, 1, "mask", "m"]] * 201}), "live: faces is not a list of at most 200"),
    (_live_blob({**GOOD_LIVE, "w": 320}), "live: the image is not a 320x360 JPEG"),
])
def test_bad_live_frames(blob, message):
    with pytest.raises(WireError, match=message):
        live.decode(blob)


def test_live_round_trip():
    assert live.decode(live.encode(LIVE)) == LIVE
