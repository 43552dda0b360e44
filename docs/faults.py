"""Regenerates docs/faults.md: faults injected into a real pipeline, and what they cost.

    .venv/bin/python docs/faults.py [--only NAME ...] [--out docs/faults.md]

One site, as deployments run it: `maskwatch ingest`, `worker` and `events` as separate processes
against a private redis-server (AOF), a PostgreSQL database of its own reached through a TCP
proxy (so an outage can be made), and a GStreamer RTSP server playing a loop with one unmasked
and one masked person, next to ten cameras that accept a connection and never answer. The
faults run one after another on that site; the same person stays in view throughout, so any
second violation row is a duplicate and a missing first one is a loss. Needs GStreamer's RTSP
server (.ci/system-deps.sh), redis-server and the PostgreSQL of the tests; takes about 6 minutes.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "deploy" / "smoke"))

import psycopg  # noqa: E402
import yaml  # noqa: E402
from support.databases import PG_ADMIN, PG_HOST, PG_PORT  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402
from support.rtsp import RtspServer, SilentServer  # noqa: E402
from support.tcp_proxy import TcpProxy  # noqa: E402

from maskwatch.bus import RedisBus  # noqa: E402
from maskwatch.errors import BusError  # noqa: E402
from maskwatch.storage.db import upgrade  # noqa: E402

SILENT = 10
BEFORE = """Before the hardening issue (#10), on the same kinds of fault: a worker exited when Redis
restarted (no violation after it); behind 3 silent cameras a good file camera came online after
10.4 s and an RTSP one after 15.7 s, and took 32 s to come back after its server returned; ingest
closed and reopened every camera once a second during a Redis outage; a full snapshot disk left
the status at `db_ok=1` with a frozen lag. Each of those is now a test (tests/core/test_bus_outage.py,
tests/ingest/test_ingest_isolation.py, tests/workers/events/test_events_stalls.py) besides this table."""


def until(pred, timeout: float, step: float = 0.2) -> float | None:
    """Seconds until pred() held, None when it never did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if pred():
                return round(time.monotonic() - start, 1)
        except (BusError, OSError, psycopg.Error):
            pass
        time.sleep(step)
    return None


class Site:
    def __init__(self, work: Path):
        import smoke_helper

        self.work = work
        self.db = f"mw_faults_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        self.proxy = TcpProxy(PG_HOST, PG_PORT).start()
        self.db_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.proxy.port}/{self.db}"
        upgrade(self.db_url)
        self.redis = RedisServer(work / "redis", appendonly=True).start()
        clip = work / "entrance.h264"
        smoke_helper.clip(str(clip))
        self.rtsp = RtspServer({"entrance": clip}).start()
        self.silent = SilentServer()
        self.bus = RedisBus(self.redis.url, "f", socket_timeout=2)
        self.procs: dict[str, subprocess.Popen] = {}
        self.config = work / "maskwatch.yaml"
        cams = [{"id": f"silent-{i}", "url": f"rtsp://127.0.0.1:{self.silent.port}/s{i}"} for i in range(SILENT)]
        cams.append({"id": "entrance", "url": self.rtsp.url("entrance"), "fps": 5})
        self.config.write_text(yaml.safe_dump({
            "cameras": cams, "redis": {"url": self.redis.url, "prefix": "f"}, "database": {"url": self.db_url},
            "snapshots": {"dir": str(work / "snapshots")}, "worker": {"max_frame_age_s": 5},
            "ingest": {"open_timeout_s": 5, "status_interval_s": 0.5}}))  # the default backoff (30 s)

    def start(self, service: str, *args: str) -> None:
        log = open(self.work / f"{service}.log", "ab")
        cmd = [sys.executable, "-m", "maskwatch.cli", service, "-c", str(self.config), *args]
        self.procs[service] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
        log.close()

    def kill(self, service: str) -> None:
        proc = self.procs.pop(service)
        proc.kill()
        proc.wait(20)

    def camera(self, cam: str = "entrance") -> dict[str, str]:
        return self.bus.get_hash(self.bus.keys.camera_status(cam))

    def events(self) -> dict[str, str]:
        return self.bus.get_hash(self.bus.keys.events_status(0))

    def flowing_since(self, t: float, timeout: float) -> float | None:
        """Seconds from wall time `t` until events settles detections again with little lag: the
        first status it writes after `t` sets the base, a higher count than that is the answer."""
        base: list[int] = []

        def moved() -> bool:
            h = self.events()
            if float(h.get("updated_at", 0)) <= t:
                return False
            if not base:
                base.append(int(h.get("processed", 0)))
                return False
            return int(h.get("processed", 0)) > base[0] and float(h.get("lag_s", 99)) < 5

        waited = until(moved, timeout)
        return None if waited is None else round(time.time() - t, 1)

    def worker_processed(self, name: str) -> int:
        return int(self.bus.get_hash(self.bus.keys.worker_status(name)).get("processed", 0))

    def rows(self) -> int:
        with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname={self.db}") as conn:
            return conn.execute("SELECT count(*) FROM violations").fetchone()[0]

    def close(self) -> None:
        for service in list(self.procs):
            proc = self.procs.pop(service)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.bus.close()
        for server in (self.rtsp, self.redis):
            server.stop()
        self.silent.close()
        self.proxy.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


def start_with_silent_cameras(site: Site) -> dict:
    """Fault: ten cameras that never answer, listed first. Expected: the good one online at once."""
    t0 = time.monotonic()
    site.start("ingest")
    online = until(lambda: site.camera().get("state") == "online", 60)
    site.start("worker", "--name", "worker-1")
    site.start("events")
    first = until(lambda: site.rows() >= 1, 240)
    return {"recovery_s": online, "note": f"good camera online {online} s after ingest started; first violation "
                                          f"{round(time.monotonic() - t0, 1) if first is not None else 'never'} s "
                                          "after start (worker model load included)"}


def redis_restart(site: Site) -> dict:
    """Fault: Redis killed (SIGKILL) for 10 s, started again on its AOF. Expected: every service goes on."""
    site.redis.kill()
    time.sleep(10)
    site.redis.start()
    restarted = time.time()
    back = site.flowing_since(restarted, 120)
    alive = [s for s, p in site.procs.items() if p.poll() is None]
    time.sleep(2)  # ingest's status, written again since
    return {"recovery_s": back, "note": f"services alive after it: {', '.join(sorted(alive))}; frames dropped "
                                        f"by ingest meanwhile: {site.camera().get('frames_dropped_bus', '?')}"}


def worker_killed(site: Site) -> dict:
    """Fault: the only worker SIGKILLed, a new one started. Expected: pending frames claimed, nothing lost."""
    site.kill("worker")
    started = time.time()
    site.start("worker", "--name", "worker-2")
    first = until(lambda: site.worker_processed("worker-2") > 0, 180)
    return {"recovery_s": site.flowing_since(started, 180),
            "note": f"the new worker's first frame {round(time.time() - started, 1) if first is not None else 'never'} "
                    "s after its start, models loaded"}


def events_killed(site: Site) -> dict:
    """Fault: events SIGKILLed mid-vote, started again. Expected: unacked detections replayed, no duplicate."""
    site.kill("events")
    time.sleep(2)
    started = time.time()
    site.start("events")
    return {"recovery_s": site.flowing_since(started, 120),
            "note": "the unsettled detections replayed; the violator's identity reloaded from Redis"}


def ingest_killed(site: Site) -> dict:
    """Fault: ingest SIGKILLed (its capture processes orphaned), started again. Expected: no orphan left."""
    pids = [int(site.camera(c).get("pid", 0)) for c in ["entrance", *(f"silent-{i}" for i in range(SILENT))]]
    site.kill("ingest")
    gone = until(lambda: not any(p and Path(f"/proc/{p}").exists() and "Z" not in Path(
        f"/proc/{p}/stat").read_text().split(")")[-1].split()[0] for p in pids), 30)
    sent = int(site.camera().get("frames_sent", 0))
    site.start("ingest")
    back = until(lambda: site.camera().get("state") == "online" and int(site.camera().get("frames_sent", 0)) != sent,
                 60)
    return {"recovery_s": back, "note": f"orphaned capture processes exited after {gone} s"}


def camera_server_killed(site: Site) -> dict:
    """Fault: the RTSP server SIGKILLed for 70 s (a camera rebooting). Expected: offline, then back within 5 s
    of its server, though the backoff has grown to 30 s."""
    site.rtsp.kill()
    until(lambda: site.camera().get("state") == "offline", 20)
    time.sleep(70)
    retry = float(site.camera().get("next_retry_at", 0)) - time.time()
    site.rtsp.start()
    return {"recovery_s": until(lambda: site.camera().get("state") == "online", 60),
            "note": f"its next open was {retry:.0f} s away when the server returned (the probe cut it short); "
                    "the ten silent cameras still hanging in their opens"}


def database_outage(site: Site) -> dict:
    """Fault: PostgreSQL unreachable for 30 s (connections cut). Expected: the stall shows, nothing lost."""
    site.proxy.cut()
    seen = until(lambda: site.events().get("db_ok") == "0", 40)
    time.sleep(30)
    lag = float(site.events().get("lag_s", 0))
    problem = site.events().get("problem", "")
    site.proxy.restore()
    back = site.flowing_since(time.time(), 180)
    return {"recovery_s": back, "note": f"status said {problem!r} {seen} s after the cut, lag {lag:.0f} s at "
                                        "the end of the outage"}


def redis_lost(site: Site) -> dict:
    """Fault: Redis killed and started empty (its AOF lost). Expected: groups recreated, no duplicate."""
    site.redis.kill()
    for f in (site.work / "redis").rglob("*"):
        if f.is_file():
            f.unlink()
    site.redis.start()
    return {"recovery_s": site.flowing_since(time.time(), 120),
            "note": "streams, groups and identities gone; events still holds the open track"}


SCENARIOS = [start_with_silent_cameras, redis_restart, worker_killed, events_killed, ingest_killed,
             camera_server_killed, database_outage, redis_lost]


def cpu() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    flags = Path("/proc/cpuinfo").read_text()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {simd}"


def table(results: list[tuple]) -> str:
    lines = ["| fault | expected | rows before / after | duplicates | recovery (s) | measured |",
             "|---|---|---|---|---|---|"]
    for fn, before, after, out in results:
        fault, expected = (part.strip() for part in fn.__doc__.split("Expected:"))
        fault = fault.removeprefix("Fault:").strip().rstrip(".")
        lost = " (**lost**)" if after < max(before, 1) else ""
        recovery = "**never**" if out["recovery_s"] is None else out["recovery_s"]
        lines.append(f"| `{fn.__name__}`: {fault} | {expected} | {before} / {after}{lost} "
                     f"| {max(0, after - max(before, 1))} | {recovery} | {out['note']} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", help="run these scenarios (after the start, which always runs)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "faults.md")
    args = p.parse_args()
    chosen = [s for s in SCENARIOS if s is SCENARIOS[0] or not args.only or s.__name__ in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="mw-faults-") as tmp:
        site = Site(Path(tmp))
        try:
            for scenario in chosen:
                before = site.rows()
                print(f"{scenario.__name__} ...", flush=True)
                out = scenario(site)
                time.sleep(15)  # the person stays in view: a duplicate would be made by now
                results.append((scenario, before, site.rows(), out))
                print(f"  {results[-1][1:]}", flush=True)
        finally:
            site.close()
    about = " ".join(__doc__.split("\n\n", 2)[2].split())
    header = (f"# Faults and what they cost\n\nGenerated by `docs/faults.py` on {time.strftime('%Y-%m-%d')} "
              f"({cpu()}). {about}\n\n")
    args.out.write_text(header + table(results) + "\n\n" + " ".join(BEFORE.split()) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
