"""`maskwatch bench`: throughput and latency of the real Redis path, beside the seed-style loop."""
from __future__ import annotations

import json
from pathlib import Path

from maskwatch.config import Config, ConfigError


def cmd_bench(args, cfg: Config) -> int:
    from workers.bench import run_bench

    try:
        w, h = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--resolution: expected WIDTHxHEIGHT, got {args.resolution!r}") from None
    result = run_bench(cfg, cameras=args.cameras, fps=args.fps, workers=args.workers, duration=args.duration,
                       warmup=args.warmup, size=(w, h), out=Path(args.out),
                       redis_url=cfg.redis.url or args.redis, seed_frames=args.seed_frames)
    print(json.dumps(result, indent=2))
    return 0
