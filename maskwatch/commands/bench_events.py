"""`maskwatch bench --profile events`: how many camera-frames an events shard settles a second.

Detections are recorded once, for real: ingest and a worker (threads, an in-process bus) play the
busy synthetic clip of the bundled CC0 photos, and every detections entry the worker writes (faces,
crops, embeddings, evidence frames) is kept. They are then replayed as `--cameras` cameras, at
`--fps` of capture time each, into the detections streams of a private key prefix in Redis, routed
to shards as workers route them, all at once. Then `events.shards` `maskwatch events --shard K/N`
processes start on a fresh database (SQLite beside the results, or the PostgreSQL of `--database`)
and go as fast as they can: the tracker, identity, vote, snapshots and SQL writes of the real
service. Measured per shard: wall seconds until it has processed its entries (its status hash),
its CPU seconds (/proc), and the rows it wrote.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

from maskwatch.bus import RedisBus
from maskwatch.commands.bench_run import clean_up
from maskwatch.config import Config
from maskwatch.shards import shard_of
from maskwatch.wire import detections as wire_det

CLK_TCK = os.sysconf("SC_CLK_TCK")


def record(cfg: Config, clip: Path, fps: float) -> list[wire_det.DetectionMsg]:
    """The worker's detections of every frame of `clip`, played as one camera at `fps`."""
    from maskwatch.builders import build_ingest, build_worker
    from maskwatch.membus import MemoryBus

    data = cfg.model_dump(mode="json")
    data["cameras"] = [{"id": "rec", "url": str(clip), "fps": fps}]
    data["ingest"].update(loop_files=False)
    data["ingest"]["motion"]["enabled"] = False
    data["worker"]["max_frame_age_s"] = 600  # a slow machine records every frame all the same
    c = Config.model_validate(data)
    bus, stop = MemoryBus("rec"), threading.Event()
    worker, ingest = build_worker(c, bus, stop, "rec-worker"), build_ingest(c, bus, stop)
    threads = [threading.Thread(target=s.run, daemon=True) for s in (worker, ingest)]
    for t in threads:
        t.start()
        time.sleep(0.2)  # the worker's group before the first frame
    bus.ensure_group(bus.keys.detections(), "rec", "0")
    out, quiet = [], 0
    while quiet < 20:  # the clip has ended and nothing came for 4 s
        got = bus.read_group("rec", "rec", [bus.keys.detections()], 500, 200)
        out += [wire_det.decode(e.fields) for e in got]
        ended = bus.get_hash(bus.keys.camera_status("rec")).get("state") == "ended"
        quiet = 0 if got or not ended else quiet + 1
    stop.set()
    for t in threads:
        t.join(30)
    return sorted(out, key=lambda m: m.seq)


def replay(bus: RedisBus, recorded: list[wire_det.DetectionMsg], cameras: int, fps: float, shards: int) -> dict:
    """Every camera's copy of the recording, in the past, into its shard's stream; entries per shard."""
    t0 = time.time() - len(recorded) / fps - 120
    per_shard = {k: 0 for k in range(shards)}
    for c in range(cameras):
        cam = f"bench{c}"
        k = shard_of(cam, shards)
        for i, m in enumerate(recorded):
            msg = dataclasses.replace(m, camera=cam, captured_at=t0 + i / fps + c * 0.013)
            bus.add(bus.keys.detections(k), wire_det.encode(msg), maxlen=10_000_000)
            per_shard[k] += 1
    return per_shard


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_events_bench(cfg: Config, recorded: list, *, cameras: int, fps: float, shards: int, redis_url: str,
                     database: str, out: Path, timeout_s: float = 600.0) -> dict:
    from sqlalchemy import func, select

    from maskwatch.storage.db import make_engine, session_factory, upgrade
    from maskwatch.storage.tables import CameraHour, Violation

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    data = cfg.model_dump(mode="json")
    data["cameras"] = [{"id": f"bench{c}", "url": "rtsp://127.0.0.1:1/none"} for c in range(cameras)]
    data["redis"].update(url=redis_url, prefix=prefix, frames_url=None)
    data["events"]["shards"] = shards
    data["database"]["url"] = database
    data["snapshots"]["dir"] = str(out / f"snapshots-{prefix}")
    data["alerts"]["sinks"] = []
    upgrade(database)
    bus = RedisBus(redis_url, prefix)
    per_shard = replay(bus, recorded, cameras, fps, shards)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(data, f)
        path = f.name
    cmd = [sys.executable, "-m", "maskwatch.cli", "--log-level", "WARNING", "events", "-c", path]
    start = time.monotonic()
    procs = {k: subprocess.Popen([*cmd, "--shard", f"{k}/{shards}"]) for k in range(shards)}
    done: dict[int, float] = {}
    cpu: dict[int, float] = {}
    try:
        while len(done) < shards and time.monotonic() - start < timeout_s:
            for k, p in procs.items():
                status = bus.get_hash(bus.keys.events_status(k))
                if k not in done and int(status.get("processed", 0) or 0) >= per_shard[k]:
                    done[k], cpu[k] = time.monotonic() - start, _cpu_s(p.pid)
                if p.poll() is not None and k not in done:
                    raise RuntimeError(f"events shard {k} exited early; run it alone to see its error")
            time.sleep(0.2)
    finally:
        clean_up(list(procs.values()), bus, prefix, path, wait_s=60.0)
    engine = make_engine(database)
    with session_factory(engine)() as s:
        rows = int(s.scalar(select(func.count()).select_from(Violation)) or 0)
        hours = int(s.scalar(select(func.count()).select_from(CameraHour)) or 0)
    engine.dispose()
    wall = max(done.values()) if len(done) == shards else float("nan")
    return {"shards": shards, "cameras": cameras, "entries": sum(per_shard.values()),
            "database": database.split(":", 1)[0],
            "camera_frames_per_s": round(sum(per_shard.values()) / wall, 1),
            "camera_frames_per_s_per_shard": [round(per_shard[k] / done[k], 1) for k in sorted(done)],
            "cpu_s_per_shard": [round(cpu[k], 1) for k in sorted(cpu)],
            "cpu_share_per_shard": [round(cpu[k] / done[k], 2) for k in sorted(done)],
            "violations_written": rows, "camera_hour_rows": hours,
            "seconds": round(wall, 1)}
