"""`maskwatch bench`: throughput and latency of the real Redis path, beside the seed-style loop."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from maskwatch.config import Config, ConfigError


def cmd_bench_events(args, cfg: Config) -> int:
    from maskwatch.commands.bench_events import record, run_events_bench
    from maskwatch.commands.bench_run import bench_clip
    from maskwatch.host import machine

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        shard_counts = [int(v) for v in args.shards.split(",")]
    except ValueError:
        raise ConfigError(f"--shards: expected counts such as 1,2, got {args.shards!r}") from None
    databases = args.database or [f"sqlite:///{out.resolve() / 'bench-events.db'}"]
    recorded = record(cfg, bench_clip(out, _resolution(args), fps=int(round(args.fps))), args.fps)
    runs = []
    for db in databases:
        for n in shard_counts:
            if db.startswith("sqlite:///"):
                Path(db.removeprefix("sqlite:///")).unlink(missing_ok=True)  # each run on a fresh file
            runs.append(run_events_bench(cfg, recorded, cameras=args.cameras, fps=args.fps, shards=n,
                                         redis_url=cfg.redis.url or args.redis, database=db, out=out))
    result = {"profile": "events", "machine": machine(), "recorded_entries": len(recorded), "runs": runs}
    text = json.dumps(result, indent=2)
    (out / "bench-events.json").write_text(text)
    print(text)
    return 0


def _resolution(args) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--resolution: expected WIDTHxHEIGHT, got {args.resolution!r}") from None
    return w, h


def cmd_bench(args, cfg: Config) -> int:
    from maskwatch.commands.bench_run import run_bench
    from maskwatch.host import describe

    if args.profile == "events":
        return cmd_bench_events(args, cfg)
    w, h = _resolution(args)
    clip = None
    if args.profile == "clip":
        if not args.clip:
            raise ConfigError("--profile clip needs --clip PATH (a real fixed-camera video)")
        clip = Path(args.clip)
        if not clip.is_file():
            raise ConfigError(f"--clip: no such file: {clip}")
    elif args.clip:
        raise ConfigError("--clip is for --profile clip")
    common = dict(cameras=args.cameras, fps=args.fps, workers=args.workers, duration=args.duration,
                  warmup=args.warmup, size=(w, h), out=Path(args.out), redis_url=cfg.redis.url or args.redis,
                  clip=clip, frames_redis=args.frames_redis)
    if args.gating == "both":  # the same run, gating off then on: the ratio is what gating buys here
        off = run_bench(cfg, **common, seed_frames=0, gating=False)
        result = run_bench(cfg, **common, seed_frames=args.seed_frames, gating=True)
        result["gating_off"] = {k: off[k] for k in ("frames_per_s", "latency_ms_p50", "latency_ms_p95",
                                                    "stage_ms_per_frame", "cameras_at_5fps_per_core")}
        detect_on = result["stage_ms_per_frame"]["detect"] or 0.0
        detect_off = off["stage_ms_per_frame"]["detect"] or 0.0
        result["gating_detect_ms_ratio"] = round(detect_off / detect_on, 2) if detect_on else None
        result["gating_fps_ratio"] = round(result["frames_per_s"] / off["frames_per_s"], 2) if off["frames_per_s"] \
            else None
        (Path(args.out) / "bench.json").write_text(json.dumps(result, indent=2))
    else:
        gating = {"on": True, "off": False}.get(args.gating)
        result = run_bench(cfg, **common, seed_frames=args.seed_frames, gating=gating)
    print(json.dumps(result, indent=2))
    print(f"{result['cameras_at_5fps_per_core']} cameras at 5 frames/s per core ({describe(result['machine'])}); "
          f"written to {args.out}/", file=sys.stderr)  # stdout stays the JSON alone, for scripts
    return 0
