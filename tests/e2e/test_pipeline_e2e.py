"""The whole pipeline against real servers: a clip served by GStreamer's RTSP server, read by
OpenCV in ingest, Redis streams, a worker, the events service and PostgreSQL, all started by the
real `maskwatch run` command."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from sqlalchemy import select
from support.databases import pg_database, pg_url
from support.rtsp import RtspServer, gst_available
from support.settings import DEMO_SCENES, REDIS_URL, ROOT

from maskwatch.geometry import iou_matrix
from maskwatch.models.evaluation.democlip import scene_frames
from maskwatch.models.evaluation.voc import load_annotation
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.tables import Violation

SIZE = (640, 360)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not gst_available() and not os.environ.get("CI"),
                                                     reason="GStreamer RTSP server not installed")]


def two_people_clip(tmp_path):
    """One unmasked and one masked person (a CC0 photo), drifting slowly; their boxes in clip pixels."""
    from support.make_clip import make_h264_clip

    stem = "maksssksksss114"
    img = cv2.imread(str(DEMO_SCENES / "images" / f"{stem}.jpg"))
    boxes, violation = load_annotation(DEMO_SCENES / "annotations" / f"{stem}.xml")
    assert violation.tolist().count(True) == 1 and violation.tolist().count(False) == 1
    frames = list(scene_frames(img, seconds=4, fps=10, size=SIZE, drift_px=6))
    s = min(SIZE[0] / img.shape[1], SIZE[1] / img.shape[0]) * 0.92
    x0, y0 = (SIZE[0] - round(img.shape[1] * s)) // 2, (SIZE[1] - round(img.shape[0] * s)) // 2
    boxes = boxes * s + np.array([x0, y0, x0, y0], np.float32)
    return make_h264_clip(frames, 10, tmp_path / "two_people.h264"), boxes, violation


def test_one_unmasked_and_one_masked_person_give_exactly_one_violation(tmp_path, redis_prefix):
    clip, boxes, violation = two_people_clip(tmp_path)
    server = RtspServer({"entrance": clip}).start()
    snaps = tmp_path / "snapshots"
    with pg_database() as db:
        cfg = {"cameras": [{"id": "entrance", "url": server.url("entrance"), "fps": 5}],
               "redis": {"url": REDIS_URL, "prefix": redis_prefix},
               "database": {"url": pg_url(db)}, "snapshots": {"dir": str(snaps)},
               "events": {"reorder_s": 0.3}, "worker": {"max_frame_age_s": 5}}
        path = tmp_path / "mw.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "run", "-c", str(path), "--no-dashboard"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        engine = make_engine(pg_url(db))
        sessions = session_factory(engine)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with sessions() as s:
                    if s.scalars(select(Violation)).first():
                        break
                time.sleep(0.5)
            time.sleep(8)  # the clip keeps looping: the same people must not be reported again
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
            server.stop()
        with sessions() as s:
            rows = s.scalars(select(Violation)).all()
        engine.dispose()
    assert proc.returncode == 0, out[-3000:]
    assert len(rows) == 1, out[-3000:]
    v = rows[0]
    overlap = iou_matrix(np.array([v.box], np.float32), boxes)[0]
    assert overlap[violation][0] > 0.3 and overlap[~violation][0] < 0.1
    assert v.camera_id == "entrance" and v.p_no_mask >= 0.5 and v.review_status.value == "pending"
    for rel in (v.crop_path, v.frame_path):
        img = cv2.imread(str(snaps / rel))
        assert img is not None and img.size > 0, rel
    assert cv2.imread(str(snaps / v.frame_path)).shape[:2] == (SIZE[1], SIZE[0])
