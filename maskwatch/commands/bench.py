"""`maskwatch bench`: throughput and latency of the real Redis path, beside the seed-style loop."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from maskwatch.config import Config, ConfigError


def cmd_bench(args, cfg: Config) -> int:
    from workers.bench import run_bench
    from workers.benchhost import describe

    try:
        w, h = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--resolution: expected WIDTHxHEIGHT, got {args.resolution!r}") from None
    clip = None
    if args.profile == "clip":
        if not args.clip:
            raise ConfigError("--profile clip needs --clip PATH (a real fixed-camera video)")
        clip = Path(args.clip)
        if not clip.is_file():
            raise ConfigError(f"--clip: no such file: {clip}")
    elif args.clip:
        raise ConfigError("--clip is for --profile clip")
    result = run_bench(cfg, cameras=args.cameras, fps=args.fps, workers=args.workers, duration=args.duration,
                       warmup=args.warmup, size=(w, h), out=Path(args.out),
                       redis_url=cfg.redis.url or args.redis, seed_frames=args.seed_frames, clip=clip)
    print(json.dumps(result, indent=2))
    print(f"{result['cameras_at_5fps_per_core']} cameras at 5 frames/s per core ({describe(result['machine'])}); "
          f"written to {args.out}/", file=sys.stderr)  # stdout stays the JSON alone, for scripts
    return 0
