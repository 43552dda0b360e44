"""The clip wire formats (clip requests, clips): round trips, and every malformed entry a WireError."""
import json

import pytest

from maskwatch.wire import WireError, clips
from maskwatch.wire import clip_requests as req

REQ = req.ClipRequest("gate", "ab" * 16, 1,
                      (req.ClipFrame(1_700_000_000.25, (1.0, 2.0, 30.0, 40.0), ((50, 5, 80, 40),)),
                       req.ClipFrame(1_700_000_000.45)))
MP4 = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 40
CLIP = clips.ClipMsg("gate", "ab" * 16, MP4, 40)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40 + b"\xff\xd9"


def test_round_trips():
    back = req.decode(req.encode(REQ))
    assert back.frames[0].blur == ((50.0, 5.0, 80.0, 40.0),) and back.frames[1].mark is None
    assert back.frames[0].captured_at == REQ.frames[0].captured_at  # exact: ingest finds its frame by it
    assert clips.decode(clips.encode(CLIP)) == CLIP
    gone = clips.ClipMsg("gate", "ab" * 16, b"", 0, "frames no longer in ingest's memory")
    assert clips.decode(clips.encode(gone)) == gone


@pytest.mark.parametrize("msg", [
    clips.ClipMsg("gate", "ab" * 16, b"", 0, still=JPEG),
    clips.ClipMsg("gate", "ab" * 16, b"", 0, still_why="frame no longer in ingest's memory"),
    clips.ClipMsg("gate", "ab" * 16, MP4, 40, still=JPEG),
])
def test_stills_round_trip_and_a_request_without_one_is_as_before(msg):
    assert clips.decode(clips.encode(msg)) == msg
    alone = req.ClipRequest("gate", "ab" * 16, 0, (), req.ClipFrame(1_700_000_000.25, (1.0, 2.0, 30.0, 40.0)))
    assert req.decode(req.encode(alone)) == alone
    assert b"still" not in req.encode(REQ) and b"still" not in clips.encode(CLIP)  # older readers see no change


def _changed(fields: dict, **change) -> dict:
    """An encoded entry with some fields replaced (the tables of bad entries)."""
    return {**fields, **{k.encode(): v for k, v in change.items()}}


def _req(**change):
    return _changed(req.encode(REQ), **change)


@pytest.mark.parametrize("fields,message", [
    (_req(v=b"2"), "schema version '2', expected 1"),
    (_req(frames=b"{}"), "frames is not a list"),
    (_req(frames=json.dumps([[1.0, None, []]] * (req.MAX_FRAMES + 1)).encode()), "at most 1800"),
    (_req(frames=b"[[1.0, null]]"), "a frame is [captured_at"),
    (_req(frames=b"[[1.0, [1, 2, 3], []]]"), "a box is [x1, y1, x2, y2]"),
    (_req(frames=b'[["NaN", null, []]]'), "captured_at is not finite"),
    (_req(frames=b"[[1.0, [1, 2, 3, Infinity], []]]"), "a box is not finite"),
    (_req(frames=json.dumps([[1.0, None, [[0, 0, 1, 1]] * 201]]).encode()), "more than 200 faces"),
    (_req(shard=b"-1"), "shard -1 is negative"),
    (_req(shard=b"one"), "bad field value"),
    (_req(still=b"[1.0, null]"), "a frame is [captured_at"),
    (_req(still=b"not json"), "bad field value"),
    ({b"v": b"1", b"cam": b"gate"}, "missing field"),
])
def test_bad_requests(fields, message):
    with pytest.raises(WireError, match="clip request") as e:
        req.decode({k: v for k, v in fields.items()})
    assert message in str(e.value)


def _clip(**change):
    return _changed(clips.encode(CLIP), **change)


@pytest.mark.parametrize("fields,message", [
    (_clip(v=b"0"), "schema version '0', expected 1"),
    (_clip(mp4=b"\xff\xd8 a JPEG, not a clip"), "not an MP4 file"),
    (_clip(mp4=b""), "neither a clip, a still, nor why"),
    (_clip(still=MP4), "the still is not a JPEG"),
    (_clip(frames=b"many"), "bad field value"),
    ({b"v": b"1", b"cam": b"gate", b"vid": b"x"}, "missing field 'mp4'"),
])
def test_bad_clips(fields, message):
    with pytest.raises(WireError, match="clip") as e:
        clips.decode(fields)
    assert message in str(e.value)
