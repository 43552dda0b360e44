"""The `maskwatch` command: the one composition root.

It parses arguments, loads and validates the config once, builds what the chosen command needs
and passes the config down. Command bodies import their heavy modules lazily, so
`maskwatch check-config` or the dashboard never pull in TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from maskwatch import __version__
from maskwatch.config import Config, ConfigError, load_config

log = logging.getLogger("maskwatch")
SHARED = Path(os.environ.get("MASKWATCH_SHARED", "../shared"))


def _config(args) -> Config:
    return load_config(getattr(args, "config", None))


def cmd_check_config(args) -> int:
    cfg = load_config(args.file)
    print(f"{args.file}: OK")
    if args.verbose:
        print(json.dumps(cfg.model_dump(mode="json"), indent=2))
    return 0


def cmd_detect(args) -> int:
    from models.build import build_pipeline
    from models.detect import run_detect

    cfg = _config(args)
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    failed = run_detect(pipeline, args.paths, as_json=args.json, annotate=args.annotate,
                        batch=args.batch, video_fps=args.video_fps)
    t = pipeline.times.per_image_ms()
    log.info("detect: %d images, %.1f ms detect + %.1f ms classify per image, %d unreadable",
             pipeline.times.images, t["detect_ms"], t["classify_ms"], failed)
    return 2 if failed else 0


def cmd_train(args) -> int:
    from models.train import TrainSettings, train

    settings = TrainSettings(
        out=args.out, scenes=args.scenes, crops=args.crops, imagenet_weights=args.imagenet_weights,
        detector_weights=args.detector_weights, input_size=args.input_size, seed=args.seed,
        epochs_head=args.epochs_head, epochs_finetune=args.epochs_finetune,
        samples_per_epoch=args.samples_per_epoch, limit_crops=args.limit_crops)
    for label, path in (("--scenes", settings.scenes), ("--crops", settings.crops),
                        ("--imagenet-weights", settings.imagenet_weights)):
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"{label}: {path} does not exist")
    meta = train(settings)
    print(json.dumps({"out": str(args.out), "threshold": meta["threshold"], "metrics": meta["metrics"]}))
    return 0


def cmd_evaluate(args) -> int:
    from models.build import build_pipeline
    from models.evaluate import evaluate, report, select_scenes

    cfg = _config(args)
    scenes = select_scenes(args.scenes, args.split)
    if not scenes:
        raise ConfigError(f"{args.scenes}: no annotated images in split {args.split!r}")
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    results = {"maskwatch": evaluate(pipeline, scenes, pipeline.threshold)}
    if args.baseline:
        from models.baseline import SeedPipeline

        seed = SeedPipeline(args.baseline)
        results["seed (res10 + MobileNetV2-224)"] = evaluate(seed, scenes, seed.threshold)
    print(report(results, args.out))
    return 0


def _shared(rel: str) -> Path | None:
    p = SHARED / rel
    return p if p.exists() else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maskwatch", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"maskwatch {__version__}")
    p.add_argument("--log-level", default=os.environ.get("MASKWATCH_LOG_LEVEL", "INFO"))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("check-config", help="validate a config file and exit")
    s.add_argument("file", type=Path)
    s.add_argument("-v", "--verbose", action="store_true", help="print the resolved config (secrets filled)")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("detect", help="find faces and masks in images, folders and video files")
    s.add_argument("paths", nargs="+")
    s.add_argument("-c", "--config", type=Path, help="maskwatch.yaml (detector/classifier settings)")
    s.add_argument("--json", action="store_true", help="one JSON line per image (the scoring contract)")
    s.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies here")
    s.add_argument("--batch", type=int, default=8, help="images per classification batch")
    s.add_argument("--video-fps", type=float, default=5.0, help="frames sampled per second of video")
    s.set_defaults(func=cmd_detect)

    s = sub.add_parser("train", help="fine-tune the MobileNetV2 mask classifier")
    s.add_argument("--out", type=Path, required=True, help="model folder to write")
    s.add_argument("--scenes", type=Path, default=_shared("data/scenes-dev"), help="VOC scenes folder")
    s.add_argument("--crops", type=Path, default=_shared("data/facecrops"),
                   help="folder with with_mask/ and without_mask/ face crops")
    s.add_argument("--imagenet-weights", type=Path,
                   default=_shared("models/mobilenet_v2/mobilenet_v2_1.0_224_no_top.weights.h5"))
    s.add_argument("--detector-weights", type=Path, default=None,
                   help="YuNet ONNX for detector-box crops and the threshold (default: shipped)")
    s.add_argument("--no-detector", action="store_true", help="skip detector crops and threshold tuning")
    s.add_argument("--input-size", type=int, default=128)
    s.add_argument("--epochs-head", type=int, default=3)
    s.add_argument("--epochs-finetune", type=int, default=8)
    s.add_argument("--samples-per-epoch", type=int, default=4000)
    s.add_argument("--limit-crops", type=int, default=None, help="at most N crops per class (smoke runs)")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="score the pipeline on VOC-annotated scenes")
    s.add_argument("--scenes", type=Path, required=True)
    s.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                   help="test = the images held out from training (scenes-dev)")
    s.add_argument("-c", "--config", type=Path)
    s.add_argument("--baseline", type=Path, metavar="MODELS_DIR",
                   help="also run the seed pipeline (res10/ and seed_classifier/ under this folder)")
    s.add_argument("--out", type=Path, help="write report.json, report.md and pr_curve.png here")
    s.set_defaults(func=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "train" and args.detector_weights is None and not args.no_detector:
        from models.build import DEFAULT_DETECTOR
        args.detector_weights = DEFAULT_DETECTOR
    try:
        return args.func(args) or 0
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"maskwatch {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
