"""Events' half of a violation's clip: which frames it asks ingest for (ClipPlanner, pure), and
the clip kept beside the snapshots once ingest sends it (real Redis, SQLite and PostgreSQL)."""
from __future__ import annotations

import dataclasses
import io

import av
import cv2
import numpy as np
import pytest
from support.detections import frame_jpeg
from support.events import CAM, Feed, database, events_config, push, rows, running, settled, wait_for

from maskwatch.clip_config import ClipConfig
from maskwatch.clipvideo import encode_clip
from maskwatch.wire import clip_requests, clips
from maskwatch.workers.events.clips import GRACE_S, MAX_WANTED, ClipPlanner
from maskwatch.workers.events.render import FrameInfo
from maskwatch.workers.track import Sighting

T0 = 1_700_000_000.0
VIOLATOR, OTHER = (10.0, 10.0, 50.0, 60.0), (200.0, 10.0, 240.0, 60.0)


def _planner(blur: bool = False, **cfg) -> ClipPlanner:
    p = ClipPlanner(ClipConfig(**{"before_s": 2, "after_s": 2, **cfg}), blur, shard=3)
    for i in range(30):  # 6 s of 5 fps: the violator's track 7 and someone else's track 8
        p.seen("gate", T0 + 0.2 * i, ((VIOLATOR, 7), (OTHER, 8), ((100, 100, 104, 104), None)))
    return p


@pytest.mark.parametrize("clock_to,now,due", [
    (T0 + 3.0, 0.0, False),                 # the camera's clock is 1 s short of at + after_s
    (T0 + 3.2, 0.0, True),                  # it has passed: ask
    (T0 + 3.0, 2 + GRACE_S + 0.01, True),   # a camera gone quiet: ask with what was seen
])
def test_a_clip_is_asked_for_once_its_after_seconds_were_seen(clock_to, now, due):
    p = ClipPlanner(ClipConfig(before_s=2, after_s=2), False, 0)
    t = T0
    while t <= clock_to + 1e-9:
        p.seen("gate", t, ())
        t += 0.2
    p.want("gate", "aa" * 16, 7, T0 + 1.0, now=0.0)
    assert bool(p.due(now)) is due


@pytest.mark.parametrize("blur,blurred", [(False, ()), (True, (OTHER, (100, 100, 104, 104)))])
def test_the_request_names_the_frames_the_violator_and_the_faces_to_blur(blur, blurred):
    p = _planner(blur)
    p.want("gate", "aa" * 16, 7, T0 + 3.0, now=0.0)
    ((wanted, req),) = p.due(0.0)
    assert (req.camera, req.violation_id, req.shard) == ("gate", "aa" * 16, 3)
    times = [f.captured_at for f in req.frames]
    assert times == sorted(times) and times[0] >= T0 + 1.0 - 1e-9 and times[-1] <= T0 + 5.0 + 1e-9
    assert len(times) == 21  # 4 s at 5 fps, both ends
    assert {f.mark for f in req.frames} == {VIOLATOR} and {f.blur for f in req.frames} == {blurred}
    p.done(wanted)
    assert p.due(0.0) == []


def test_what_waits_is_bounded_and_a_disabled_clip_asks_nothing():
    p = _planner()
    for i in range(MAX_WANTED + 5):
        p.want("gate", f"{i:032x}", 7, T0, now=0.0)
    assert len(p.wanted) == MAX_WANTED and p.dropped == 5 and p.wanted[0].violation_id == f"{5:032x}"
    off = _planner(enabled=False)
    off.want("gate", "aa" * 16, 7, T0 + 1.0, now=0.0)
    assert off.due(10 ** 6) == [] and off.logs == {}


def _clip_for(req: clip_requests.ClipRequest) -> bytes:
    frames = [(f, frame_jpeg(320, 240, [f.mark] if f.mark else [])) for f in req.frames]
    mp4, n = encode_clip(frames)
    assert n == len(req.frames)
    return mp4


def test_the_clip_ingest_sends_is_kept_beside_the_snapshots(bus, db_url, tmp_path):
    feed = Feed().episode(frames=30)  # 6 s: the vote passes early, after_s (4 s) is seen
    cfg = events_config(bus, db_url, tmp_path / "snaps")
    with database(db_url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        push(bus, feed.msgs)
        wait_for(settled(bus, 1, sessions), what="the violation")
        (v,) = rows(sessions)
        stream = bus.keys.clip_requests(CAM)
        bus.ensure_group(stream, "t", "0")
        got = wait_for(lambda: bus.read_group("t", "t", [stream], 1, None), what="the clip request")
        req = clip_requests.decode(got[0].fields)
        assert req.violation_id == v.id and req.shard == 0
        assert 15 <= len(req.frames) <= 41 and all(f.mark for f in req.frames[:10])
        assert v.clip_path is None  # until ingest answers

        mp4 = _clip_for(req)
        bus.add(bus.keys.clips(0), clips.encode(clips.ClipMsg(CAM, v.id, mp4, len(req.frames))))
        wait_for(lambda: rows(sessions)[0].clip_path, what="the clip kept")
        (v,) = rows(sessions)
        assert v.clip_path == v.crop_path.replace("_crop.jpg", "_clip.mp4")
        with av.open(str(tmp_path / "snaps" / v.clip_path)) as c:
            assert sum(1 for _ in c.decode(video=0)) == len(req.frames)

        # a replay of the same clip, one for a violation that is not there, and one that is gone
        bus.add(bus.keys.clips(0), clips.encode(clips.ClipMsg(CAM, v.id, mp4[:-10] + b"x" * 10, 3)))
        bus.add(bus.keys.clips(0), clips.encode(clips.ClipMsg(CAM, "ee" * 16, mp4, 3)))
        bus.add(bus.keys.clips(0), clips.encode(clips.ClipMsg(CAM, v.id, b"", 0, "frames no longer in memory")))
        wait_for(lambda: svc.counters()["clips_missing"] == 1, what="the missing clip counted")
        assert svc.counters()["clips"] == 1 and bus.length(bus.keys.clips(0)) == 0
        assert (tmp_path / "snaps" / v.clip_path).read_bytes() == mp4
        assert sorted(p.name for p in (tmp_path / "snaps").rglob("*.mp4")) == [f"{v.id}_clip.mp4"]


def test_a_still_is_asked_for_at_once_with_the_others_blurred_only_when_asked():
    best = Sighting(T0 + 1.0, VIOLATOR, 0.97, 0.5, "1-0", face=1, score=0.9, crop=b"crop",
                    info=FrameInfo(320, 240, "m", (OTHER, VIOLATOR)))
    for blur, blurred in [(False, ()), (True, (OTHER,))]:
        p = ClipPlanner(ClipConfig(enabled=False), blur, shard=2)  # stills need no clips
        p.want_still("gate", "aa" * 16, 7, best, now=0.0)
        ((_, req),) = p.due(0.0)
        assert (req.frames, req.shard) == ((), 2)
        assert req.still == clip_requests.ClipFrame(T0 + 1.0, VIOLATOR, blurred)


def test_the_still_ingest_sends_replaces_the_crop_that_stood_in(bus, db_url, tmp_path):
    feed = Feed().episode(frames=30)
    frameless = [dataclasses.replace(m, frame_jpeg=None) for m in feed.msgs]  # worker.evidence_frames: on_request
    cfg = events_config(bus, db_url, tmp_path / "snaps")
    with database(db_url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        push(bus, frameless)
        wait_for(settled(bus, 1, sessions), what="the violation")
        (v,) = rows(sessions)
        frame_file = tmp_path / "snaps" / v.frame_path
        assert frame_file.read_bytes() == (tmp_path / "snaps" / v.crop_path).read_bytes()  # standing in
        stream = bus.keys.clip_requests(CAM)
        bus.ensure_group(stream, "t", "0")
        got = wait_for(lambda: bus.read_group("t", "t", [stream], 1, None), what="the still request")
        req = clip_requests.decode(got[0].fields)
        assert req.violation_id == v.id and req.frames == () and req.still is not None
        assert req.still.captured_at == pytest.approx(v.evidence_at.timestamp(), abs=1e-3)
        assert req.still.mark == pytest.approx(tuple(v.box), abs=0.1)

        still = frame_jpeg(320, 240, [req.still.mark])
        bus.add(bus.keys.clips(0), clips.encode(clips.ClipMsg(CAM, v.id, b"", 0, still=still)))
        wait_for(lambda: svc.counters()["stills"] == 1, what="the still kept")
        drawn = cv2.imdecode(np.frombuffer(frame_file.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        reddish = (drawn[..., 2].astype(int) - drawn[..., 1]) > 80  # the boxed violator and its label
        ys, xs = np.nonzero(reddish)
        x1, y1, x2, y2 = v.box
        assert drawn.shape[:2] == (240, 320) and len(xs) > 50
        assert xs.min() >= x1 - 3 and xs.max() <= x2 + 100 and ys.max() <= y2 + 3  # nowhere else

        # a replay draws the same frame again; one for no violation, and one gone from ingest's memory
        kept = frame_file.read_bytes()
        for msg in (clips.ClipMsg(CAM, v.id, b"", 0, still=still), clips.ClipMsg(CAM, "ee" * 16, b"", 0, still=still),
                    clips.ClipMsg(CAM, v.id, b"", 0, still_why="frame no longer in ingest's memory")):
            bus.add(bus.keys.clips(0), clips.encode(msg))
        wait_for(lambda: svc.counters()["stills_missing"] == 1, what="the missing still counted")
        assert svc.counters()["stills"] == 2 and frame_file.read_bytes() == kept
        assert len(list((tmp_path / "snaps").rglob("*.jpg"))) == 2 and rows(sessions)[0].clip_path is None
