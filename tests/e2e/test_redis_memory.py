"""Redis memory over a long run stays under the bound docs/running-a-site.md states per camera.

The real `maskwatch run` (ingest's capture processes, a worker, events) against a private
redis-server, two cameras playing the demo clip of CC0 scenes with violators in it, sampled
every second. Frames streams are capped, settled detections are deleted, identities expire:
what stays is a few frames, the entries still in a vote window and the live views.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis
import yaml
from support.settings import DEMO_SCENES

from maskwatch.bus import Keys
from maskwatch.commands.run import DEMO_PHOTOS
from maskwatch.models.evaluation.democlip import build_clip

CAMERAS = 2
PER_CAMERA_MB = 4.0   # docs/running-a-site.md, "Bounded Redis memory"
RUN_S = 40


@pytest.mark.slow
def test_a_long_run_keeps_redis_under_the_per_camera_bound(private_redis, tmp_path):
    clip = build_clip([DEMO_SCENES / "images" / p for p in DEMO_PHOTOS], tmp_path / "demo.avi")
    cfg = {"cameras": [{"id": f"cam-{i}", "url": str(clip), "fps": 5} for i in range(CAMERAS)],
           "redis": {"url": private_redis.url, "prefix": "mem"},
           "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"}, "snapshots": {"dir": str(tmp_path / "snaps")},
           "worker": {"max_frame_age_s": 5}}
    path = tmp_path / "maskwatch.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = redis.Redis.from_url(private_redis.url)
    baseline = r.info("memory")["used_memory"]
    log = open(tmp_path / "run.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "run", "-c", str(path), "--no-dashboard",
                             "--duration", str(RUN_S)], stdout=log, stderr=subprocess.STDOUT)
    peak, violations = 0, 0
    try:
        while proc.poll() is None:
            peak = max(peak, r.info("memory")["used_memory"] - baseline)
            violations = int(r.hget(Keys("mem").events_status(0), "violations") or violations)
            time.sleep(1.0)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        log.close()
        r.close()
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()[-2000:]
    assert violations >= 1  # detections with frames went through the stream
    assert peak / 2**20 < CAMERAS * PER_CAMERA_MB, f"peak {peak / 2**20:.1f} MB over {RUN_S} s"
    print(f"redis peak {peak / 2**20:.2f} MB for {CAMERAS} cameras")
