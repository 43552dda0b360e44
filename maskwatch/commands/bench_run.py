"""`maskwatch bench`: N file cameras through ingest -> Redis -> K worker processes, measured.

Reports frames/s processed, per-stage ms, capture-to-decision latency p50/p95, frames dropped and
RSS, then runs the seed-style loop (one frame at a time, one classifier call per face) on the
same frames for the speed ratio. Everything runs on this machine against the configured Redis,
under a key prefix of its own that is deleted afterwards.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import yaml

from maskwatch.bus import RedisBus
from maskwatch.config import Config
from maskwatch.host import machine
from maskwatch.paths import demo_scenes
from maskwatch.wire import detections as wire_det

PHOTOS = ("maksssksksss114.jpg", "maksssksksss327.jpg", "maksssksksss148.jpg", "maksssksksss459.jpg",
          "maksssksksss253.jpg", "maksssksksss29.jpg")


def bench_clip(out: Path, size: tuple[int, int], fps: int) -> Path:
    from maskwatch.models.evaluation.democlip import build_clip

    clip = out / f"bench_{size[0]}x{size[1]}_{fps}fps.avi"
    if not clip.is_file():
        build_clip([demo_scenes() / "images" / p for p in PHOTOS], clip, fps=fps,
                   seconds_per_scene=2.0, size=size)
    return clip


def _rss_mb(pid: int) -> float:
    return _proc_kb(pid, "status", "VmRSS:") / 1024


def _proc_kb(pid: int, name: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_pss_mb(pid: int) -> float:
    """Proportional memory of a process and all its descendants: ingest with its forkserver and
    capture processes (RSS would count the pages they share once per process)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(_proc_kb(p, "smaps_rollup", "Pss:") for p in tree) / 1024


def _bench_config(cfg: Config, clip: Path, cameras: int, fps: float, prefix: str, redis_url: str,
                  workers: int, gating: bool | None = None, frames_redis: str | None = None) -> dict:
    data = cfg.model_dump(mode="json")
    if gating is not None:
        data["ingest"]["motion"]["enabled"] = gating
    if not data["worker"]["threads"]:  # one process per core beats every process on every core
        data["worker"]["threads"] = max(1, (os.cpu_count() or 1) // workers)
    data["cameras"] = [{"id": f"bench{i}", "url": str(clip), "fps": fps} for i in range(cameras)]
    data["redis"].update(url=redis_url, prefix=prefix, frames_url=frames_redis)
    data["events"]["shards"] = 1  # the bench reads the one detections stream itself
    return data


def run_bench(cfg: Config, *, cameras: int, fps: float, workers: int, duration: float, warmup: float,
              size: tuple[int, int], out: Path, redis_url: str, seed_frames: int, clip: Path | None = None,
              gating: bool | None = None, frames_redis: str | None = None) -> dict:
    """clip None: the busy synthetic clip built from the CC0 photos (profile "synthetic"); a path:
    that real clip on every camera (profile "clip"). gating: ingest.motion on or off (None: as
    configured). frames_redis: the frame streams on that Redis (redis.frames_url: an edge host's),
    so that the site Redis's traffic is what a site's central one would carry."""
    out.mkdir(parents=True, exist_ok=True)
    profile = "clip" if clip is not None else "synthetic"
    clip = clip if clip is not None else bench_clip(out, size, fps=int(round(fps)))
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    data = _bench_config(cfg, clip, cameras, fps, prefix, redis_url, workers, gating, frames_redis)
    bus = RedisBus(redis_url, prefix)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(data, f)
        cfg_path = f.name
    procs: list[subprocess.Popen] = []
    try:
        cmd = [sys.executable, "-m", "maskwatch.cli", "--log-level", "WARNING"]
        procs = [subprocess.Popen([*cmd, "worker", "-c", cfg_path, "--name", f"bench-w{i}"]) for i in range(workers)]
        bus.ensure_group(bus.keys.detections(), "bench", "$")
        time.sleep(8)  # workers load their models and create their groups before frames flow
        procs.append(subprocess.Popen([*cmd, "ingest", "-c", cfg_path]))
        result = _measure(bus, procs, duration, warmup)
    finally:
        clean_up(procs, bus, prefix, cfg_path)
    host = machine()
    # what reached the site (central) Redis: every command's bytes in, per camera and second
    result["site_redis_kb_in_per_camera_s"] = round(result.pop("site_bytes_in_per_s") / 1024 / cameras, 1)
    result["frames_on"] = "an edge Redis (redis.frames_url)" if frames_redis else "the site Redis"
    result.update(cameras=cameras, fps_per_camera=fps, workers=workers, offered_fps=cameras * fps,
                  resolution=f"{size[0]}x{size[1]}" if profile == "synthetic" else "the clip's own",
                  profile=profile, clip=clip.name, machine=host, motion_gating=data["ingest"]["motion"]["enabled"],
                  # the headline: how many cameras at 5 frames/s each core of this machine keeps up with
                  cameras_at_5fps_per_core=round(result["frames_per_s"] / 5.0 / host["cores"], 2))
    if seed_frames:
        result["seed_style"] = seed_style_loop(cfg, clip, seed_frames)
        result["speedup_vs_seed_style"] = round(result["frames_per_s"] / result["seed_style"]["frames_per_s"], 1)
    text = json.dumps(result, indent=2)
    (out / "bench.json").write_text(text)  # the latest run, and one file per run beside it
    (out / f"bench-{profile}-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text)
    return result


def clean_up(procs, bus: RedisBus, prefix: str, cfg_path: str, wait_s: float = 20.0) -> None:
    """Stop the bench's processes (SIGTERM, then SIGKILL), delete its keys and its config file."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(wait_s)
        except subprocess.TimeoutExpired:
            p.kill()
    for key in bus.r.scan_iter(f"{prefix}:*", count=500):
        bus.r.delete(key)
    bus.close()
    os.unlink(cfg_path)


def _measure(bus: RedisBus, procs, duration: float, warmup: float) -> dict:
    start = time.time() + warmup
    end = start + duration
    latencies, stages, rss = [], {"queue": [], "total": []}, {}
    frames, bytes_in = 0, {}
    while time.time() < end + 2:
        if "start" not in bytes_in and time.time() >= start:
            bytes_in["start"] = (time.time(), _bytes_in(bus))
        if "end" not in bytes_in and time.time() >= end:
            bytes_in["end"] = (time.time(), _bytes_in(bus))
        for e in bus.read_group("bench", "bench", [bus.keys.detections()], 500, block_ms=500):
            m = wire_det.decode(e.fields)
            if start <= m.detected_at <= end:
                frames += 1
                latencies.append((m.detected_at - m.captured_at) * 1000)
                for k in stages:
                    stages[k].append(m.timings_ms.get(k, 0.0))
            bus.ack(e.stream, "bench", [e.id])
        for p in procs[:-1]:  # the workers, then ingest with its capture processes
            rss[p.pid] = max(rss.get(p.pid, 0.0), _rss_mb(p.pid))
        rss[procs[-1].pid] = max(rss.get(procs[-1].pid, 0.0), _tree_pss_mb(procs[-1].pid))
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a bench process exited early; run it alone to see its error")
    workers = [bus.get_hash(k.decode()) for k in bus.r.scan_iter(f"{bus.keys.prefix}:status:worker:*")]
    cams = [bus.get_hash(k.decode()) for k in bus.r.scan_iter(f"{bus.keys.prefix}:status:camera:*")]
    sent = sum(int(c.get("frames_sent", 0)) for c in cams)
    processed = sum(int(w.get("processed", 0)) for w in workers)
    looked = {k: sum(int(w.get(f"{k}_frames", 0)) for w in workers) for k in ("full", "regions", "still")}
    stale = sum(int(w.get("dropped_stale", 0)) + int(w.get("dropped_trimmed", 0)) for w in workers)
    lat = np.asarray(latencies or [np.nan])

    def avg(key):
        vals = [float(w.get(key, 0)) for w in workers if key in w]
        return round(float(np.mean(vals)), 1) if vals else None

    (t0, b0), (t1, b1) = bytes_in["start"], bytes_in["end"]
    return {
        "frames_per_s": round(frames / duration, 1),
        "site_bytes_in_per_s": (b1 - b0) / max(1e-3, t1 - t0),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "stage_ms_per_frame": {"decode_jpeg": avg("decode_ms"), "detect": avg("detect_ms"),
                               "classify": avg("classify_ms"),
                               "transport_queue": round(float(np.mean(stages["queue"] or [0])), 1)},
        "frames_sent": sent, "frames_processed": processed,
        "frames_dropped": max(0, sent - processed), "dropped_stale_or_trimmed": stale,
        # motion gating: frames looked at whole, only where they changed, or not at all
        "frames_full_regions_still": [looked["full"], looked["regions"], looked["still"]],
        "rss_mb": {"workers": [round(v) for v in list(rss.values())[:-1]], "ingest": round(list(rss.values())[-1])},
    }


def _bytes_in(bus: RedisBus) -> int:
    return int(bus.r.info("stats")["total_net_input_bytes"])


def seed_style_loop(cfg: Config, clip: Path, n: int) -> dict:
    """The seed's loop shape on our models: one frame at a time, one Keras call per face."""
    import cv2

    from maskwatch.models.build import build_classifier, build_detector
    from maskwatch.models.crops import crop_face

    detector = build_detector(cfg.detector)
    clf = build_classifier(cfg.classifier.model_copy(update={"backend": "keras"}))
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    t0 = time.perf_counter()
    faces = 0
    for f in frames:
        for box in detector.detect(f).boxes:
            clf.predict_batch(crop_face(f, box, clf.input_size, clf.info.crop_margin)[None])
            faces += 1
    dt = time.perf_counter() - t0
    return {"frames": len(frames), "faces": faces, "frames_per_s": round(len(frames) / dt, 2),
            "ms_per_frame": round(dt / max(len(frames), 1) * 1000, 1)}


