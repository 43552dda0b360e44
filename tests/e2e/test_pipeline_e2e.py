"""The whole pipeline against real servers: a clip served by GStreamer's RTSP server, read by
OpenCV in ingest, Redis streams, a worker, the events service and PostgreSQL, all started by the
real `maskwatch run` command; the violation's own clip made by ingest and kept by events."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml
from sqlalchemy import select
from support.databases import pg_database, pg_url
from support.make_clip import SIZE, two_people_clip
from support.rtsp import RtspServer, gst_available
from support.settings import REDIS_URL, ROOT

from maskwatch.geometry import iou_matrix
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.tables import Violation

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not gst_available() and not os.environ.get("CI"),
                                                     reason="GStreamer RTSP server not installed")]


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
                    if s.scalars(select(Violation).where(Violation.clip_path.is_not(None))).first():
                        break  # the violation, and its clip 4 s later
                time.sleep(0.5)
            time.sleep(4)  # the video keeps looping: the same people must not be reported again
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
    with av.open(str(snaps / v.clip_path)) as c:  # 4 s + 4 s at the 5 fps the workers saw
        frames = list(c.decode(video=0))
    times = [f.time for f in frames]
    assert (frames[0].width, frames[0].height) == SIZE and len(frames) <= 41, times
    assert 4.0 <= times[-1] - times[0] <= 8.0 and max(b - a for a, b in zip(times, times[1:])) < 1.0, times
