"""Where a violation's clip waits (ingest's FrameRing: bounded by age and bytes) and how ingest's
ClipDesk answers events' requests over the real Redis."""
import io
import threading

import av
import cv2
import numpy as np
import pytest
from support.detections import jpeg, solid_jpeg

from maskwatch.clip_config import ClipConfig
from maskwatch.ingest.clips import HOLD_MARGIN_S, STILL_HOLD_S, ClipDesk, FrameRing
from maskwatch.wire import clip_requests as req
from maskwatch.wire import clips

T0 = 1_700_000_000.0


@pytest.mark.parametrize("frames,hold_s,max_bytes,kept", [
    ([(T0 + 0.2 * i, 1000) for i in range(100)], 5.0, 10 ** 9, 26),   # by age: 5 s at 5 fps, both ends
    ([(T0 + 0.2 * i, 1000) for i in range(100)], 60.0, 10_000, 10),   # by bytes: ten of 1,000
    ([(T0, 20_000)], 60.0, 10_000, 0),                                # one frame larger than the bound
])
def test_the_ring_is_bounded_by_age_and_bytes(frames, hold_s, max_bytes, kept):
    ring = FrameRing(hold_s, max_bytes)
    for t, n in frames:
        ring.add(t, b"x" * n)
    assert len(ring) == kept and ring.bytes == sum(n for _, n in frames[len(frames) - kept:]) <= max_bytes


def test_the_ring_holds_a_clip_and_the_margin_for_events_lag():
    cfg = ClipConfig(before_s=4, after_s=4, buffer_mb=16)
    ring = FrameRing.of(cfg)
    assert ring.hold_s == 8 + HOLD_MARGIN_S and ring.max_bytes == 16 << 20
    for i in range(200):  # 40 s of 5 fps, 60 KB frames (720p)
        ring.add(T0 + 0.2 * i, b"x" * 60_000)
    assert len(ring) == 91 and ring.bytes == 91 * 60_000  # 18 s: 5.5 MB of the 16 MB allowed


def _desk(redis_bus, rings):
    stop = threading.Event()
    desk = ClipDesk(ClipConfig(), redis_bus, rings, stop)
    desk.start()
    assert desk.ready.wait(10)
    return desk, stop


def _answer(redis_bus, shard: int) -> clips.ClipMsg:
    redis_bus.ensure_group(redis_bus.keys.clips(shard), "t", "0")
    got = redis_bus.read_group("t", "t", [redis_bus.keys.clips(shard)], 1, 5_000)
    assert got, "no answer from the desk"
    return clips.decode(got[0].fields)


def test_the_desk_answers_with_the_frames_it_was_asked_for(redis_bus):
    ring = FrameRing(60, 10 ** 9)
    for i in range(30):
        ring.add(T0 + 0.2 * i, solid_jpeg((8 * i, 0, 0), (64, 48)))
    desk, stop = _desk(redis_bus, {"gate": ring, "yard": FrameRing(60, 10 ** 9)})
    try:
        asked = tuple(req.ClipFrame(T0 + 0.2 * i, (1, 1, 20, 20)) for i in range(5, 25))
        asked += (req.ClipFrame(T0 + 99.0),)  # one it never had: left out
        redis_bus.add(redis_bus.keys.clip_requests("gate"), req.encode(req.ClipRequest("gate", "aa" * 16, 2, asked)))
        msg = _answer(redis_bus, 2)
        assert (msg.camera, msg.violation_id, msg.frames, msg.why) == ("gate", "aa" * 16, 20, "")
        with av.open(io.BytesIO(msg.mp4)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 20

        redis_bus.add(redis_bus.keys.clip_requests("yard"), req.encode(req.ClipRequest("yard", "bb" * 16, 0, asked)))
        gone = _answer(redis_bus, 0)  # an ingest that restarted: nothing of that time in memory
        assert gone.mp4 == b"" and "no longer in ingest's memory" in gone.why and desk.gone == 1
        assert redis_bus.length(redis_bus.keys.clip_requests("gate")) == 0  # answered and deleted
    finally:
        stop.set()
        desk.join(5)
    assert not desk.is_alive()


def test_a_bad_request_is_counted_and_skipped(redis_bus):
    desk, stop = _desk(redis_bus, {"gate": FrameRing(60, 10 ** 9)})
    try:
        redis_bus.add(redis_bus.keys.clip_requests("gate"), {b"v": b"1", b"cam": b"gate"})
        good = req.ClipRequest("gate", "cc" * 16, 0, (req.ClipFrame(T0),))
        redis_bus.add(redis_bus.keys.clip_requests("gate"), req.encode(good))
        assert _answer(redis_bus, 0).violation_id == "cc" * 16  # the bad one did not stop the desk
        assert desk.bad == 1
    finally:
        stop.set()
        desk.join(5)


@pytest.mark.parametrize("clip,stills,hold_s", [
    (ClipConfig(before_s=4, after_s=4), False, 8 + HOLD_MARGIN_S),
    (ClipConfig(before_s=4, after_s=4), True, max(8 + HOLD_MARGIN_S, STILL_HOLD_S)),
    (ClipConfig(enabled=False), True, STILL_HOLD_S),  # stills asked for without clips
])
def test_the_ring_holds_what_events_may_still_ask_for(clip, stills, hold_s):
    assert FrameRing.of(clip, stills).hold_s == hold_s


def test_the_desk_sends_a_still_as_it_was_read_or_with_the_others_blurred(redis_bus):
    checks = np.indices((48, 64)).sum(axis=0) % 8 < 4  # a pattern a blur erases
    frame = jpeg(np.dstack([checks * 200] * 3).astype(np.uint8), 95)
    ring = FrameRing(60, 10 ** 9)
    ring.add(T0, frame)
    desk, stop = _desk(redis_bus, {"gate": ring})
    try:
        ask = [req.ClipFrame(T0, (1, 1, 20, 20)), req.ClipFrame(T0, (1, 1, 20, 20), ((30, 10, 60, 40),)),
               req.ClipFrame(T0 + 99.0)]
        for i, still in enumerate(ask):
            redis_bus.add(redis_bus.keys.clip_requests("gate"),
                          req.encode(req.ClipRequest("gate", f"{i:032x}", 1, (), still)))
        plain, blurred, gone = (_answer(redis_bus, 1) for _ in ask)
        assert plain.still == frame and (plain.mp4, plain.why, plain.still_why) == (b"", "", "")
        img = cv2.imdecode(np.frombuffer(blurred.still, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert img[12:38, 32:58].std() < 0.5 * img[12:38, 2:28].std()  # the other face blurred, not the violator
        assert gone.still == b"" and "no longer in ingest's memory" in gone.still_why
        assert (desk.stills, desk.made, desk.gone) == (2, 0, 0)
        # a clip request that names no frame (events saw none) is still answered: with why
        redis_bus.add(redis_bus.keys.clip_requests("gate"), req.encode(req.ClipRequest("gate", "dd" * 16, 1, ())))
        empty = _answer(redis_bus, 1)
        assert (empty.mp4, empty.still) == (b"", b"") and "no longer in ingest's memory" in empty.why
    finally:
        stop.set()
        desk.join(5)
