"""Container health probe for the maskwatch services (compose healthchecks, Kubernetes exec probes).

    python /opt/maskwatch/healthcheck.py {ingest|worker|events|dashboard} [--max-age S] [-v]

Exit 0 when the service in this container is doing its work, 1 when not (the reason on stderr):
- worker:    its status hash in Redis (mw:status:worker:<name>) was written in the last S seconds
             and says "running" (the worker writes it every second, also when idle); with --alive
             "loading" counts too: a worker building its TensorRT engines (minutes, the first
             time on a GPU) says so every few seconds, and must not be killed for it;
- events:    the events status hash was written in the last S seconds (it is written every second);
- ingest:    every camera this process reads (the site's list as published at runtime, else the
             config's) has a status hash written in the last S seconds,
             and at least one of them is online: with every camera offline the service is
             "degraded" (unhealthy in `docker ps`, not ready on Kubernetes). With --alive only
             the first part counts (the liveness probe: an offline camera's reader is alive and
             retrying, and a restart would not bring the camera back);
- dashboard: GET /healthz on the configured port answers 200 (database and Redis reachable),
             over HTTPS when dashboard.tls is on.
The service's own process is found in /proc (PID 1 in a container), so the worker's consumer name
and ingest's --camera list are the ones it really uses. Config and Redis come from the same
maskwatch.yaml ($MASKWATCH_CONFIG) as the service.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import sys
import time
import urllib.request
from pathlib import Path


def service_process(command: str, proc: Path = Path("/proc")) -> tuple[int, list[str]] | None:
    """(pid, argv after the subcommand) of the `maskwatch COMMAND` process in this container
    (the lowest such pid: PID 1 when the service is the container's main process)."""
    for entry in sorted(proc.iterdir(), key=lambda p: (not p.name.isdigit(), len(p.name), p.name)):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not any(Path(a).name == "maskwatch" or a == "maskwatch.cli" for a in argv[:3]):
            continue
        if command in argv:
            return int(entry.name), argv[argv.index(command) + 1:]
    return None


def option(args: list[str], name: str) -> list[str]:
    """Values of a repeatable `--name VALUE` / `--name=VALUE` option."""
    out = []
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            out.append(args[i + 1])
        elif a.startswith(name + "="):
            out.append(a.split("=", 1)[1])
    return out


def fresh(status: dict[str, str], max_age: float) -> float | None:
    """Age in seconds of a status hash's updated_at, or None when it has none."""
    try:
        return time.time() - float(status["updated_at"])
    except (KeyError, ValueError):
        return None


def check(service: str, max_age: float, verbose: bool, alive_only: bool = False) -> str | None:
    """None when healthy, else why not."""
    from maskwatch.config import load_config

    cfg = load_config(os.environ.get("MASKWATCH_CONFIG"))
    if service == "dashboard":
        scheme = "https" if cfg.dashboard.tls else "http"
        url = f"{scheme}://127.0.0.1:{cfg.dashboard.port}/healthz"
        # its own (maybe self-signed) certificate, on loopback: reachability is the question here
        context = ssl._create_unverified_context() if cfg.dashboard.tls else None
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as r:
                body = r.read().decode()
        except OSError as e:  # HTTPError (503) is an OSError too
            return f"{url}: {e}"
        if verbose:
            print(body.strip())
        return None

    from maskwatch import camera_set
    from maskwatch.bus import RedisBus
    from maskwatch.status import CameraStatusRecord

    proc = service_process(service)
    if proc is None:
        return f"no `maskwatch {service}` process in this container"
    pid, args = proc
    bus = RedisBus(cfg.redis.url, cfg.redis.prefix, socket_timeout=5)
    try:
        if service == "worker":
            name = (option(args, "--name") or [f"worker-{socket.gethostname()}-{pid}"])[-1]
            keys = {name: bus.keys.worker_status(name)}
        elif service == "events":
            shard = (option(args, "--shard") or ["0/1"])[-1].split("/")[0]
            keys = {f"events shard {shard}": bus.keys.events_status(int(shard) if shard.isdigit() else 0)}
        else:
            # the site's list as published at runtime (cameras added or removed on the dashboard)
            published = camera_set.read(bus)
            site = camera_set.parse_cameras(published[1], cfg, camera_set.Unfilled()) if published else cfg.cameras
            cams = option(args, "--camera") or [c.id for c in site if c.enabled]
            keys = {cam: bus.keys.camera_status(cam) for cam in cams}
        problems, states = [], {}
        for what, key in keys.items():
            status = bus.get_hash(key)
            # a camera's record is read through the class ingest writes it with
            states[what] = CameraStatusRecord.from_hash(status).state if service == "ingest" else status.get("state")
            age = fresh(status, max_age)
            if verbose:
                print(json.dumps({"key": key, **status}))
            if age is None or age > max_age:
                problems.append(f"{what}: status not updated for {'ever' if age is None else f'{age:.0f} s'}")
            elif service == "worker" and status.get("state") not in (("running", "loading") if alive_only
                                                                      else ("running",)):
                problems.append(f"{what}: state {status.get('state')!r}")
        if service == "ingest" and not problems and not alive_only:
            offline = [cam for cam, state in states.items() if state != "online"]
            if offline and len(offline) == len(keys):
                problems.append(f"degraded: every camera is offline ({', '.join(offline)})")
            elif offline and verbose:
                print(f"degraded: {len(offline)} of {len(keys)} cameras offline ({', '.join(offline)})")
        return "; ".join(problems) or None
    finally:
        bus.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("service", choices=("ingest", "worker", "events", "dashboard"))
    p.add_argument("--max-age", type=float, default=30.0, help="seconds a status may be old")
    p.add_argument("-v", "--verbose", action="store_true", help="print what was read")
    p.add_argument("--alive", action="store_true", help="alive, not necessarily ready: ingest's readers, cameras "
                                                         "online or not; a worker still loading its models")
    args = p.parse_args(argv)
    try:
        problem = check(args.service, args.max_age, args.verbose, args.alive)
    except Exception as e:  # any failure to check is unhealthy, said in one line
        problem = f"{type(e).__name__}: {e}"
    if problem:
        print(f"{args.service}: unhealthy: {problem}", file=sys.stderr)
        return 1
    if args.verbose:
        print(f"{args.service}: healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
