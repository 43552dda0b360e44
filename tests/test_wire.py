"""Wire formats: round trips, and every malformed entry is a WireError naming what was wrong."""
import json

import pytest

from maskwatch.wire import WireError, frames
from maskwatch.wire import detections as det

FRAME = frames.FrameMsg("gate", 7, 1_700_000_000.25, 640, 360, b"\xff\xd8jpeg")
DET = det.DetectionMsg("gate", 7, 1_700_000_000.25, 1_700_000_000.5, "w1", "m1", 640, 360, 0.78,
                       [det.Face((1.0, 2.0, 30.0, 40.0), 0.9, 0.95)], min_face_score=0.75,
                       crops=[b"\xff\xd8crop"], frame_jpeg=b"\xff\xd8frame", timings_ms={"total": 12.5})


def test_round_trips():
    assert frames.decode(frames.encode(FRAME)) == FRAME
    back = det.decode(det.encode(DET))
    assert back == DET and back.has_candidate and back.is_violation(back.faces[0])


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
])
def test_bad_frames(fields, message):
    with pytest.raises(WireError, match=message):
        frames.decode(fields)


def _det(meta=None, **change):
    fields = det.encode(DET)
    if meta is not None:
        fields[b"meta"] = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    for k, v in change.items():
        fields.pop(k.encode().replace(b"_", b":")) if v is None else fields.__setitem__(k.encode(), v)
    return fields


@pytest.mark.parametrize("fields,message", [
    (_det(v=b"0"), "detections: schema version '0', expected 1"),
    (_det(meta=b"{not json"), "detections: bad meta"),
    (_det(meta=None, crop_0=None), "detections: missing field 'crop:0'"),
    (_det(meta=5), "meta is not an object"),
    (_det(meta={"faces": None}), "meta is not an object"),
    (_det(meta={"faces": [{"box": [1, 2, 3, 4]}]}), "detections: bad meta"),
])
def test_bad_detections(fields, message):
    with pytest.raises(WireError, match=message):
        det.decode(fields)


def test_crops_must_match_faces():
    with pytest.raises(WireError, match="1 faces but 0 crops"):
        det.encode(det.DetectionMsg(**{**DET.__dict__, "crops": []}))
