"""The detection worker against a real Redis: batching, stale and corrupt frames, results."""
import threading
import time

import cv2
import numpy as np
import pytest
from support.detections import frame_fields

from maskwatch.config import parse_config
from maskwatch.models.appearance import CLOTHING_DIM
from maskwatch.wire import detections as wire_det
from maskwatch.wire import frames as wire_frames
from maskwatch.wire import live as wire_live
from maskwatch.wire.pose import Pose
from maskwatch.workers.worker import GROUP, Worker


def config(**worker):
    return parse_config({"cameras": [{"id": "a", "url": "rtsp://127.0.0.1:1/a"},
                                      {"id": "b", "url": "rtsp://127.0.0.1:1/b",
                                       "roi": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
                         "worker": {"batch_size": 4, "max_wait_ms": 20, **worker}}, env={})


def make_groups(bus, cams=("a", "b")):
    for cam in cams:
        bus.ensure_group(bus.keys.frames(cam), GROUP, "0")


def run_worker(cfg, bus, pipeline, until, timeout=60):
    stop = threading.Event()
    w = Worker(cfg, bus, pipeline, stop, "w-test", "test-model")
    t = threading.Thread(target=w.run)
    t.start()
    deadline = time.monotonic() + timeout
    while not until(w) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    return w


def read_detections(bus):
    rows = bus.r.xrange(bus.keys.detections())
    return [wire_det.decode(fields) for _, fields in rows]


def test_frames_become_detections_with_crops_and_candidate_frames(redis_bus, pipeline, scene_images):
    cfg = config()
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))  # faces on both halves
    make_groups(redis_bus)
    redis_bus.put_blob(redis_bus.keys.watched("a"), b"1", ttl_s=60)  # someone looks at a's live view, not b's
    for seq in range(3):  # a backlog of three frames per camera: only the newest is worth processing
        redis_bus.add(redis_bus.keys.frames("a"), frame_fields("a", seq, img))
        redis_bus.add(redis_bus.keys.frames("b"), frame_fields("b", seq, img))
    w = run_worker(cfg, redis_bus, pipeline, lambda w: w.counts["processed"] >= 2)
    out = read_detections(redis_bus)
    assert sorted((m.camera, m.seq) for m in out) == [("a", 2), ("b", 2)]
    assert w.counts["dropped_superseded"] == 4
    a = [m for m in out if m.camera == "a"]
    b = [m for m in out if m.camera == "b"]
    assert len(a[0].faces) >= 2
    for m in out:
        assert len(m.crops) == len(m.faces)
        # a crop is evidence: a face that may become a violation has one, the others none
        for face, c in zip(m.faces, m.crops):
            assert (bool(c) and cv2.imdecode(np.frombuffer(c, np.uint8), cv2.IMREAD_COLOR) is not None) == \
                m.is_violation(face)
        assert m.has_candidate and m.frame_jpeg is not None  # the camera's first candidate frame carries it
        assert m.model_version == "test-model" and m.detected_at >= m.captured_at
    # camera b's region of interest is the left half: no face centre to the right of it
    left = [f for f in a[0].faces if (f.box[0] + f.box[2]) / 2 <= img.shape[1] / 2]
    assert 0 < len(left) < len(a[0].faces)
    assert b[0].faces == left
    for cam in ("a", "b"):
        assert redis_bus.pending_count(redis_bus.keys.frames(cam), GROUP) == 0
    assert redis_bus.get_blob(redis_bus.keys.live("b")) is None  # nobody watches b: no live frames
    live = wire_live.decode(redis_bus.get_blob(redis_bus.keys.live("a")))
    # the live blob is the frame as sent, with each face's verdict for the dashboard to draw
    assert live.camera == "a" and live.jpeg[:2] == b"\xff\xd8" and len(live.faces) == len(a[0].faces)
    assert {f.kind for f in live.faces} <= {"violation", "mask", "unsure"}
    assert all(f.label.startswith(("mask ", "no mask ")) for f in live.faces)
    w._publish_status()
    status = redis_bus.get_hash(redis_bus.keys.worker_status(w.name))
    assert float(status["frame_ts:a"]) == a[0].captured_at
    assert w.counts["batches"] == 1  # frames of both cameras share a batch


def test_no_frame_goes_with_the_detections_when_events_asks_ingest_for_it(redis_bus, pipeline, scene_images):
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    make_groups(redis_bus, ("a",))
    redis_bus.add(redis_bus.keys.frames("a"), frame_fields("a", 1, img))
    run_worker(config(evidence_frames="on_request"), redis_bus, pipeline, lambda w: w.counts["processed"] >= 1)
    (out,) = read_detections(redis_bus)
    assert out.has_candidate and any(out.crops) and out.frame_jpeg is None


def test_the_cameras_pose_is_passed_on_with_its_detections(redis_bus, pipeline, scene_images):
    cfg, img = config(), cv2.imread(str(scene_images[0]))
    make_groups(redis_bus, ("a",))
    pose = Pose(12, ((1.0, 0.0, -3.5), (0.0, 1.0, 2.0)))
    redis_bus.add(redis_bus.keys.frames("a"), {**frame_fields("a", 1, img), b"pz": pose.encode()})
    run_worker(cfg, redis_bus, pipeline, lambda w: w.counts["processed"] >= 1)
    (out,) = read_detections(redis_bus)
    assert out.pose == pose


def test_stale_and_corrupt_frames_are_skipped_counted_and_acked(redis_bus, pipeline, scene_images):
    cfg = config(max_frame_age_s=1.0)
    img = cv2.imread(str(scene_images[1]))
    s = redis_bus.keys.frames("a")
    make_groups(redis_bus)
    # stale: queued 5 s ago by the bus clock (the entry id), whatever the capture clock says
    redis_bus.r.xadd(s, frame_fields("a", 1, img), id=f"{int((time.time() - 5) * 1000)}-0")
    bad = frame_fields("b", 2, img)
    jpg = bytearray(bad[b"jpg"])
    jpg[jpg.index(b"\xff\xc0") + 11] = 0  # a sound header, an impossible sampling factor
    bad[b"jpg"] = bytes(jpg)
    redis_bus.add(redis_bus.keys.frames("b"), bad)                      # corrupt JPEG
    redis_bus.add(s, {b"v": b"9", b"cam": b"a"})                        # foreign schema
    redis_bus.add(s, frame_fields("ghost", 3, img))                     # another camera's name on a's stream
    garbage = frame_fields("a", 5, img)
    garbage[b"jpg"] = b"\xff\xd8\xff\xe0 truncated garbage"
    redis_bus.add(s, garbage)                                           # refused at the door, never decoded
    redis_bus.add(s, frame_fields("a", 4, img))                         # fine
    w = run_worker(cfg, redis_bus, pipeline, lambda w: w.counts["processed"] >= 1)
    assert (w.counts["dropped_stale"], w.counts["bad_frames"], w.counts["bad_entries"]) == (1, 1, 3)
    assert [m.seq for m in read_detections(redis_bus)] == [4]
    assert redis_bus.pending_count(s, GROUP) == 0
    assert redis_bus.pending_count(redis_bus.keys.frames("b"), GROUP) == 0
    status = redis_bus.get_hash(redis_bus.keys.worker_status("w-test"))
    assert status["state"] == "stopped" and status["dropped_stale"] == "1"
    assert status["detector_backend"] == "onnxruntime" and status["backend"] == "tflite"


def test_frames_left_by_a_dead_worker_are_claimed(redis_bus, pipeline, scene_images):
    cfg = config(claim_idle_s=0.5)
    img = cv2.imread(str(scene_images[2]))
    s = redis_bus.keys.frames("a")
    make_groups(redis_bus)
    for seq in range(3):
        redis_bus.add(s, frame_fields("a", seq, img))
    taken = redis_bus.read_group(GROUP, "dead-worker", [s], 10, block_ms=100)  # read, never acked
    assert len(taken) == 3
    time.sleep(0.6)
    w = run_worker(cfg, redis_bus, pipeline, lambda w: w.counts["processed"] >= 1)
    assert w.counts["claimed"] == 3
    assert w.counts["processed"] == 1 and w.counts["dropped_superseded"] == 2  # newest of the three
    assert redis_bus.pending_count(s, GROUP) == 0


@pytest.mark.parametrize("appearance, extra", [("face", 0), ("face+clothing", CLOTHING_DIM)])
def test_the_descriptor_travels_as_the_config_asks(redis_bus, pipeline, scene_images, appearance, extra):
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    make_groups(redis_bus, ("a",))
    redis_bus.add(redis_bus.keys.frames("a"), frame_fields("a", 0, img))
    run_worker(config(appearance=appearance), redis_bus, pipeline, lambda w: w.counts["processed"] >= 1)
    (m,) = read_detections(redis_bus)
    dims = {len(e) for e in m.embeddings if e is not None}
    assert dims == {pipeline.classifier.info.embedding_dim + extra}
    assert all(abs(float(np.linalg.norm(e)) - 1.0) < 1e-2 for e in m.embeddings if e is not None)


@pytest.mark.parametrize("confirmed", [None, 0.3])
def test_doubted_faces_are_classified_down_to_the_confirmed_score(redis_bus, pipeline, scene_images, confirmed):
    """events.confirmed_min_score: the worker classifies faces down to it, and a doubted face that
    looks unmasked carries its crop, for the events service may count it on a track seen sure."""
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    make_groups(redis_bus, ("a",))
    redis_bus.add(redis_bus.keys.frames("a"), frame_fields("a", 0, img))
    cfg = parse_config({"cameras": [{"id": "a", "url": "rtsp://127.0.0.1:1/a"}],
                        "events": {"confirmed_min_score": confirmed}}, env={})
    run_worker(cfg, redis_bus, pipeline, lambda w: w.counts["processed"] >= 1)
    (m,) = read_detections(redis_bus)
    bar = pipeline.min_face_score if confirmed is None else confirmed
    doubted = [i for i, f in enumerate(m.faces) if bar <= f.score < pipeline.min_face_score]
    below = [i for i, f in enumerate(m.faces) if f.score < bar]
    assert (doubted if confirmed else below)
    assert all(m.embeddings[i] is not None for i in doubted) and all(m.embeddings[i] is None for i in below)
    assert all(bool(m.crops[i]) == (m.faces[i].p_no_mask >= m.threshold) for i in doubted + below)


def test_a_camera_s_own_detector_cap_applies_to_its_frames_alone(redis_bus, pipeline, scene_images):
    """Camera c caps its frames at 160 px (cameras[].max_side): its faces shrink out of sight, a's do not."""
    cfg = parse_config({"cameras": [{"id": "a", "url": "rtsp://127.0.0.1:1/a"},
                                    {"id": "c", "url": "rtsp://127.0.0.1:1/c", "max_side": 160}],
                        "worker": {"batch_size": 4, "max_wait_ms": 20}}, env={})
    img = cv2.imread(str(scene_images[0].parent / "maksssksksss327.jpg"))
    make_groups(redis_bus, ("a", "c"))
    for cam in ("a", "c"):
        redis_bus.add(redis_bus.keys.frames(cam), frame_fields(cam, 0, img))
    run_worker(cfg, redis_bus, pipeline, lambda w: w.counts["processed"] >= 2)
    faces = {m.camera: len(m.faces) for m in read_detections(redis_bus)}
    assert faces["a"] >= 2 and faces["c"] < faces["a"], faces
