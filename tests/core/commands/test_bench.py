"""`maskwatch bench` end to end at a toy size: it runs and reports every number it promises
(no speed is asserted here: targets live in docs/measurements.md, measured by the real benchmark)."""
import json
import subprocess
import sys

import pytest
import yaml
from support.settings import REDIS_URL, ROOT


def _bench(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": REDIS_URL}}))
    return subprocess.run([sys.executable, "-m", "maskwatch.cli", "--log-level", "WARNING", "bench", "-c", str(cfg),
                           "--cameras", "2", "--fps", "2", "--workers", "1", "--duration", "4", "--warmup", "1",
                           "--resolution", "320x180", "--seed-frames", "3", "--out", str(tmp_path / "bench"),
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_bench_reports_every_number(tmp_path):
    r = _bench(tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads((tmp_path / "bench" / "bench.json").read_text())
    # where it ran, and the headline: cameras at 5 frames/s per core
    assert out["machine"]["cores"] >= 1 and out["machine"]["cpu"] and out["machine"]["vector"] in (
        "AVX-512", "AVX2", "neither AVX2 nor AVX-512")
    assert out["profile"] == "synthetic" and out["cameras_at_5fps_per_core"] == pytest.approx(
        out["frames_per_s"] / 5 / out["machine"]["cores"], abs=0.01)
    assert "cameras at 5 frames/s per core" in r.stderr and out["machine"]["vector"] in r.stderr
    (kept,) = (tmp_path / "bench").glob("bench-synthetic-*.json")
    assert json.loads(kept.read_text()) == out
    assert out["frames_per_s"] > 0 and out["frames_processed"] > 0
    assert out["latency_ms_p95"] >= out["latency_ms_p50"] > 0
    assert set(out["stage_ms_per_frame"]) == {"decode_jpeg", "detect", "classify", "transport_queue"}
    assert out["rss_mb"]["workers"] and out["rss_mb"]["ingest"] > 0
    # the frames went through the site Redis here: their bytes show
    assert out["frames_on"] == "the site Redis" and out["site_redis_kb_in_per_camera_s"] > 0
    assert out["seed_style"]["frames"] == 3 and out["speedup_vs_seed_style"] > 0
    assert json.loads(r.stdout) == out


@pytest.mark.slow
def test_bench_plays_a_given_clip(tmp_path):
    from maskwatch.models.evaluation.democlip import build_clip

    clip = build_clip(sorted((ROOT / "demo" / "scenes" / "images").iterdir())[:2], tmp_path / "street.avi", fps=5,
                      seconds_per_scene=1.0, size=(320, 180))
    r = _bench(tmp_path, "--profile", "clip", "--clip", str(clip), "--seed-frames", "0", "--gating", "both")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert (out["profile"], out["clip"]) == ("clip", "street.avi") and out["frames_processed"] > 0
    # gating off, then on, in one run: both results and what gating bought
    assert out["motion_gating"] is True and out["gating_off"]["frames_per_s"] > 0
    assert out["gating_fps_ratio"] > 0 and sum(out["frames_full_regions_still"]) == out["frames_processed"]


@pytest.mark.parametrize(("args", "message"), [
    (["--profile", "clip"], "--profile clip needs --clip PATH"),
    (["--profile", "clip", "--clip", "/nonexistent/street.mp4"], "--clip: no such file: /nonexistent/street.mp4"),
    (["--clip", "x.mp4"], "--clip is for --profile clip"),
])
def test_bench_refuses_a_profile_without_its_clip(tmp_path, args, message):
    r = _bench(tmp_path, *args)
    assert r.returncode == 2 and message in r.stderr
