"""`maskwatch check-config / detect / train / evaluate`: the config and model-side commands."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from maskwatch.config import Config, ConfigError, load_config
from maskwatch.redact import origin, redact_db_url, redact_url

log = logging.getLogger("maskwatch")


def cmd_check_config(args, _cfg: Config | None) -> int:
    cfg = load_config(args.file)
    n = len(cfg.cameras)
    print(f"{args.file}: OK ({n} camera{'' if n == 1 else 's'}, time zone {cfg.timezone}, "
          f"{'redis' if cfg.redis.url else 'in-process bus'}, database {cfg.database.url.split(':', 1)[0]})")
    if args.verbose:
        print(json.dumps(redacted(cfg), indent=2))
    return 0


SECRETS = ("secret_key", "metrics_token", "hmac_secret", "password")


def redacted(cfg: Config) -> dict:
    """The config as check-config -v shows it: no password, key, token or secret path anywhere."""
    dump = cfg.model_dump(mode="json")
    for cam in dump["cameras"]:
        cam["url"] = redact_url(cam["url"])
    for section, key in (("redis", "url"), ("redis", "frames_url"), ("events", "webhook_url")):
        if dump[section][key]:
            dump[section][key] = redact_url(dump[section][key])
    dump["database"]["url"] = redact_db_url(dump["database"]["url"])
    for sink in dump["alerts"]["sinks"]:
        if sink.get("url"):
            sink["url"] = origin(sink["url"])  # a chat tool's webhook path is its credential
    smtp = [dump["reports"]["smtp"]] if dump["reports"]["smtp"] else []
    for part in (dump["dashboard"], *dump["alerts"]["sinks"], *smtp):
        part.update({k: "***" for k in SECRETS if part.get(k)})
    return dump


def cmd_detect(args, cfg: Config) -> int:
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.detect import run_detect

    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    failed = run_detect(pipeline, args.paths, as_json=args.json, annotate=args.annotate,
                        batch=args.batch, video_fps=args.video_fps)
    t = pipeline.times.per_image_ms()
    log.info("detect: %d images, %.1f ms detect + %.1f ms classify per image, %d unreadable",
             pipeline.times.images, t["detect_ms"], t["classify_ms"], failed)
    return 2 if failed else 0


# `train` options whose defaults are TrainSettings' own (the CLI leaves them None when not given)
RECIPE_OPTIONS = ("input_size", "seed", "epochs_head", "epochs_finetune", "samples_per_epoch", "finetune_from",
                  "folds", "hard_share", "nonface_share", "view_px", "degrade")


def cmd_train(args, cfg: Config) -> int:
    from maskwatch.models.build import DEFAULT_DETECTOR
    from maskwatch.models.training.train import TrainSettings, train

    weights = args.detector_weights or cfg.detector.model or DEFAULT_DETECTOR
    detector = cfg.detector.model_copy(update={"model": weights})
    given = {k: getattr(args, k) for k in RECIPE_OPTIONS if getattr(args, k) is not None}
    settings = TrainSettings(
        out=args.out, scenes=args.scenes, more_scenes=tuple(args.more_scenes or ()), crops=args.crops,
        imagenet_weights=args.imagenet_weights,
        detector_weights=None if args.no_detector else detector.model, detector=detector,
        limit_crops=args.limit_crops, extra=args.extra, keep_folds=args.keep_folds,
        balance_sets=args.balance_sets, more_scenes_faces=args.more_scenes_faces, **given)
    for label, path in (("--scenes", settings.scenes), *(("--more-scenes", p) for p in settings.more_scenes),
                        ("--crops", settings.crops), ("--extra", settings.extra),
                        ("--imagenet-weights", settings.imagenet_weights)):
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"{label}: {path} does not exist")
    meta = train(settings)
    print(json.dumps({"out": str(args.out), "threshold": meta["threshold"], "metrics": meta["metrics"]}))
    return 0


def cmd_evaluate(args, cfg: Config) -> int:
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.evaluate import evaluate, report, select_scenes

    if args.compare:
        return _compare(args, cfg)
    if args.clips:
        from maskwatch.commands.clips import cmd_evaluate_clips
        return cmd_evaluate_clips(args, cfg)
    if args.videos:
        from maskwatch.commands.videos import cmd_evaluate_videos
        return cmd_evaluate_videos(args, cfg)
    if not args.scenes:
        raise ConfigError("evaluate: give --scenes DIR (frame-level), --clips DIR or --videos DIR (per person)")
    scenes = select_scenes(args.scenes, args.split)
    if not scenes:
        raise ConfigError(f"{args.scenes}: no annotated images in split {args.split!r}")
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    results = {"maskwatch": evaluate(pipeline, scenes)}
    if args.baseline:
        from maskwatch.models.evaluation.baseline import SeedPipeline

        seed = SeedPipeline(args.baseline)
        results["seed (res10 + MobileNetV2-224)"] = evaluate(seed, scenes)
    print(report(results, args.out))
    return 0


def _compare(args, cfg: Config) -> int:
    """0: NEW is promotable (and promoted with --promote); 1: it is worse somewhere."""
    from maskwatch.models.build import build_detector
    from maskwatch.models.evaluation.compare import compare, promote, table
    from maskwatch.models.evaluation.evaluate import select_scenes
    from maskwatch.models.evaluation.reviewset import load_reviews

    if not (args.scenes or args.reviews or args.clips or args.videos):
        raise ConfigError("evaluate --compare: give --scenes DIR (held-out scenes), --reviews DIR, --clips DIR "
                          "(person clips) and/or --videos DIR (annotated real footage)")
    why = f"evaluate --compare {args.compare[0]} {args.compare[1]}"
    scenes = select_scenes(args.scenes, args.split, why) if args.scenes else []
    if args.scenes and not scenes:
        raise ConfigError(f"{args.scenes}: no annotated images in split {args.split!r}")
    more = {Path(d).name: select_scenes(d, args.split, why) for d in args.more_scenes or ()}
    for name, part in more.items():
        if not part:
            raise ConfigError(f"--more-scenes {name}: no annotated images in split {args.split!r}")
    reviews = load_reviews(args.reviews) if args.reviews else None
    play = None
    if args.clips:
        from maskwatch.commands.clips import build, clip_player
        if args.build:
            build(args, cfg, tuple(args.compare))
        play = clip_player(cfg, args.clips, args.out)
    videos = None
    if args.videos:
        from maskwatch.commands.videos import video_player
        videos = video_player(cfg, args.videos, args.labels, args.video_fps, args.out)
    result = compare(args.compare[0], args.compare[1], build_detector(cfg.detector), scenes, reviews, play,
                     more, videos)
    print(table(result))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    if not result["promotable"]:
        return 1
    if args.promote:
        print(f"promoted: {promote(args.compare[1], args.promote)} (workers load it on restart)")
    return 0


def cmd_export_reviews(args, cfg: Config) -> int:
    from maskwatch.reviews import export_reviews
    from maskwatch.storage.db import make_engine, session_factory
    from maskwatch.storage.snapshots import SnapshotStore

    engine = make_engine(cfg.database.url)
    try:
        summary = export_reviews(session_factory(engine), SnapshotStore(cfg.snapshots.dir), args.out)
    finally:
        engine.dispose()
    print(json.dumps(summary))
    return 0
