"""`maskwatch bench` end to end at a toy size: it runs and reports every number it promises
(no speed is asserted here: targets live in the README, measured by the real benchmark)."""
import json
import subprocess
import sys

import pytest
import yaml
from support.settings import REDIS_URL, ROOT


@pytest.mark.slow
def test_bench_reports_every_number(tmp_path):
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": REDIS_URL}}))
    r = subprocess.run([sys.executable, "-m", "maskwatch.cli", "--log-level", "WARNING", "bench", "-c", str(cfg),
                        "--cameras", "2", "--fps", "2", "--workers", "1", "--duration", "4", "--warmup", "1",
                        "--resolution", "320x180", "--seed-frames", "3", "--out", str(tmp_path / "bench")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert out["frames_per_s"] > 0 and out["frames_processed"] > 0
    assert out["latency_ms_p95"] >= out["latency_ms_p50"] > 0
    assert set(out["stage_ms_per_frame"]) == {"decode_jpeg", "detect", "classify", "transport_queue"}
    assert out["rss_mb"]["workers"] and out["rss_mb"]["ingest"] > 0
    assert out["seed_style"]["frames"] == 3 and out["speedup_vs_seed_style"] > 0
    assert json.loads(r.stdout) == out
