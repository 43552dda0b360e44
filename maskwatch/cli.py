"""The `maskwatch` command: the one composition root.

It parses arguments, loads and validates the config once, and hands it to the command, which
builds its services and passes the config down. Command modules are imported only when chosen,
so `maskwatch check-config`, `ingest` or the dashboard never pull in TensorFlow.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from maskwatch import __version__
from maskwatch.config import load_config
from maskwatch.errors import MaskwatchError
from maskwatch.models_config import DEGRADES, SCENE_SHARE
from maskwatch.paths import shared as _shared


def _view_px(text: str) -> tuple[float, float]:
    """LO,HI: the face widths, in px, training views are shrunk to (a face-size specialist)."""
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not two widths LO,HI in px, such as 6,24") from None
    if not 4 <= lo < hi <= 256:
        raise argparse.ArgumentTypeError(f"{text!r}: needs 4 <= LO < HI <= 256 px")
    return lo, hi


def _scene_part(text: str) -> float:
    """0..SCENE_SHARE: a share of an epoch's half that is drawn from its real-scene part."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= SCENE_SHARE:
        raise argparse.ArgumentTypeError(f"{v:g} is outside 0..{SCENE_SHARE:g} (the scenes' share of the half)")
    return v


def _cmd(sub, name: str, target: str, help: str, config: bool = True) -> argparse.ArgumentParser:
    """A subcommand whose body is `module:function`, called as function(args, config)."""
    s = sub.add_parser(name, help=help, description=help)
    if config:
        s.add_argument("-c", "--config", type=Path, default=os.environ.get("MASKWATCH_CONFIG"),
                       help="maskwatch.yaml (default: $MASKWATCH_CONFIG, else embedded defaults)")
    s.set_defaults(target=target, wants_config=config)
    return s


def _model_commands(sub) -> None:
    s = _cmd(sub, "check-config", "maskwatch.commands.modeling:cmd_check_config", "validate a config file", False)
    s.add_argument("file", type=Path)
    s.add_argument("-v", "--verbose", action="store_true", help="print the resolved config, secrets masked")

    s = _cmd(sub, "detect", "maskwatch.commands.modeling:cmd_detect",
             "find faces and masks in images, folders and video files")
    s.add_argument("paths", nargs="+")
    s.add_argument("--json", action="store_true", help="one JSON line per image (the scoring contract)")
    s.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies here")
    s.add_argument("--batch", type=int, default=8, help="images per classification batch")
    s.add_argument("--video-fps", type=float, default=5.0, help="frames sampled per second of video")

    s = _cmd(sub, "train", "maskwatch.commands.modeling:cmd_train",
             "fine-tune the MobileNetV2 mask classifier (the rule is chosen on the faces the config's detector finds)")
    s.add_argument("--out", type=Path, required=True, help="model folder to write")
    s.add_argument("--scenes", type=Path, default=_shared("data/scenes-dev"), help="VOC scenes folder")
    s.add_argument("--more-scenes", type=Path, action="append", metavar="DIR",
                   help="another VOC scenes folder (e.g. ../shared/data/scenes-extra), repeatable: trained on "
                        "and cross-validated outside its test part (as --scenes), reported per folder")
    s.add_argument("--crops", type=Path, default=_shared("data/facecrops"),
                   help="folder with with_mask/ and without_mask/ face crops")
    s.add_argument("--imagenet-weights", type=Path,
                   default=_shared("models/mobilenet_v2/mobilenet_v2_1.0_224_no_top.weights.h5"))
    s.add_argument("--detector-weights", type=Path, help="YuNet ONNX for detector-box crops (default: shipped)")
    s.add_argument("--no-detector", action="store_true", help="skip detector crops and threshold tuning")
    # the recipe's defaults live once, in maskwatch.models.training.train.TrainSettings: an option not
    # given is not passed
    s.add_argument("--input-size", type=int)
    s.add_argument("--epochs-head", type=int)
    s.add_argument("--epochs-finetune", type=int)
    s.add_argument("--samples-per-epoch", type=int)
    s.add_argument("--hard-share", type=_scene_part,
                   help="share of each epoch's violation half given to masks worn under the nose")
    s.add_argument("--nonface-share", type=_scene_part,
                   help="share of each epoch's mask half given to the detector's boxes on no annotated face")
    s.add_argument("--view-px", type=_view_px, metavar="LO,HI",
                   help="train a face-size specialist: views shrunk to LO-HI px wide (default: the recipe's 9-96)")
    s.add_argument("--degrade", choices=DEGRADES,
                   help="training views' degradations: the recipe's, or those and video's (motion blur, defocus, "
                        "block coding) on half the views")
    s.add_argument("--more-scenes-faces", choices=("all", "incorrect"), default="all",
                   help="the --more-scenes folders' faces trained on: all, or the masks worn incorrectly alone "
                        "(their images are cross-validated whole either way)")
    s.add_argument("--balance-sets", action="store_true",
                   help="give each scene folder (--scenes, every --more-scenes) an equal share of the scene draws, "
                        "instead of one in proportion to its faces")
    s.add_argument("--finetune-from",
                   help="first MobileNetV2 layer trained in the fine-tuning phase")
    s.add_argument("--folds", type=int,
                   help="cross-validation folds over the non-test scenes that choose the decision rule")
    s.add_argument("--keep-folds", action="store_true",
                   help="also write each fold's model to OUT/folds/ (to measure ensembles and other levers)")
    s.add_argument("--extra", type=Path, metavar="DIR",
                   help="also train on operators' reviews exported by `maskwatch export-reviews`")
    s.add_argument("--limit-crops", type=int, help="at most N crops per class (smoke runs)")
    s.add_argument("--seed", type=int)

    s = _cmd(sub, "evaluate", "maskwatch.commands.modeling:cmd_evaluate",
             "score the pipeline on VOC-annotated scenes, or per person on clips (--clips) or real footage (--videos)")
    s.add_argument("--scenes", type=Path, help="VOC scenes folder (frame-level scores)")
    s.add_argument("--clips", type=Path, metavar="DIR",
                   help="person-annotated clips (models/evaluation/clips.py): play each through the run path, score "
                        "per person")
    s.add_argument("--videos", type=Path, metavar="DIR",
                   help="annotated real footage (STEM.mp4): play each through the run path, score per person")
    s.add_argument("--labels", type=Path, metavar="DIR",
                   help="with --videos: STEM.attributes.csv (and STEM.gt.txt, else beside the video); default: "
                        "the repository's labels (models/evaluation/labels)")
    s.add_argument("--video-fps", type=float, default=5.0, help="with --videos: the camera's frame rate")
    s.add_argument("--build", action="store_true", help="with --clips: first build the clips into DIR")
    s.add_argument("--clip-fps", default="2,5", help="with --build: frame rates, comma-separated")
    s.add_argument("--seed", type=int, default=1, help="with --build: which people, paths and timings")
    s.add_argument("--scenes-for-clips", type=Path, default=None,
                   help="with --build: the CC0 scenes the people come from (default: the bundled ones)")
    s.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                   help="test = each set's images held out from training (read, said and counted: "
                        "models/evaluation/test-reads.jsonl)")
    s.add_argument("--baseline", type=Path, metavar="MODELS_DIR",
                   help="also run the seed pipeline (res10/ and seed_classifier/ under this folder)")
    s.add_argument("--out", type=Path, help="write report.json, report.md and pr_curve.png here")
    s.add_argument("--compare", type=Path, nargs=2, metavar=("OLD", "NEW"),
                   help="two model folders side by side on --scenes, --reviews, --clips and --videos; NEW is "
                        "promotable only when it is worse on none of them")
    s.add_argument("--more-scenes", type=Path, action="append", metavar="DIR",
                   help="with --compare: another VOC scenes folder (e.g. ../shared/data/scenes-extra), repeatable: "
                        "its --split scored apart, and NEW may be worse on none")
    s.add_argument("--reviews", type=Path, metavar="DIR", help="with --compare: an export of reviewed faces")
    s.add_argument("--promote", type=Path, metavar="DIR",
                   help="with --compare: copy NEW here if promotable (the workers' classifier.model_dir)")
    s = _cmd(sub, "export-reviews", "maskwatch.commands.modeling:cmd_export_reviews",
             "write the operators' reviewed faces as labelled crops with a manifest (for train --extra)")
    s.add_argument("--out", type=Path, required=True, help="folder to write")


def _service_commands(sub) -> None:
    s = _cmd(sub, "ingest", "maskwatch.commands.services:cmd_ingest", "read cameras, publish frames to Redis")
    s.add_argument("--camera", action="append", metavar="ID", help="only these cameras (repeatable)")
    s = _cmd(sub, "worker", "maskwatch.commands.services:cmd_worker", "detect faces and masks in published frames")
    s.add_argument("--name", help="consumer name (default: worker-HOST-PID)")
    s = _cmd(sub, "events", "maskwatch.commands.services:cmd_events",
             "track faces, vote, write violations and snapshots")
    s.add_argument("--shard", metavar="K/N", help="own shard K of N (events.shards) of the cameras, or K alone (N "
                                                  "from the config: a StatefulSet's pod ordinal); default 0/1")
    s = _cmd(sub, "run", "maskwatch.commands.run:cmd_run",
             "ingest + workers + events + dashboard in one process (in-process bus without redis.url)")
    s.add_argument("--demo", action="store_true", help="add a camera playing a clip of the bundled CC0 scenes")
    s.add_argument("--out", type=Path, default=Path("out/demo"), help="demo clip, database and snapshots")
    s.add_argument("--workers", type=int, default=1, help="worker threads")
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("--no-dashboard", action="store_true", help="pipeline only")
    s.add_argument("--host", help="dashboard address to bind (default: dashboard.host, 127.0.0.1)")
    s.add_argument("--port", type=int, help="dashboard port (default: dashboard.port, 8000; 0: any free one)")
    s = _cmd(sub, "bench", "maskwatch.commands.bench:cmd_bench",
             "N file cameras through ingest -> Redis -> K worker processes; speed vs the seed-style loop")
    s.add_argument("--cameras", type=int, default=8)
    s.add_argument("--fps", type=float, default=5.0, help="per camera")
    s.add_argument("--workers", type=int, default=2, help="worker processes")
    s.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    s.add_argument("--warmup", type=float, default=5.0)
    s.add_argument("--resolution", default="1280x720")
    s.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="when the config has no redis.url")
    s.add_argument("--seed-frames", type=int, default=40, help="frames for the seed-style loop (0: skip)")
    s.add_argument("--frames-redis", metavar="URL",
                   help="keep the frame streams on this Redis (redis.frames_url, an edge host's): the site "
                        "Redis's bytes in per camera-second are reported either way")
    s.add_argument("--out", default="out/bench", help="every number goes to OUT/bench-PROFILE-TIME.json")
    s.add_argument("--profile", choices=("synthetic", "clip", "events"), default="synthetic",
                   help="synthetic: the busy clip built from the CC0 photos; clip: a real clip (--clip); events: "
                        "recorded detections replayed through events shards as fast as they go")
    s.add_argument("--shards", default="1,2", help="--profile events: events shard counts to run, e.g. 1,2")
    s.add_argument("--database", action="append", metavar="URL",
                   help="--profile events: a database to write to (repeatable; default a SQLite file in --out); "
                        "its tables are created, and written to")
    s.add_argument("--clip", help="the video every camera plays with --profile clip (e.g. a fixed street camera)")
    s.add_argument("--gating", choices=("config", "on", "off", "both"), default="config",
                   help="motion gating (ingest.motion): as configured, on, off, or both in one run (off, then on)")
    s = _cmd(sub, "k8s-scaler", "maskwatch.commands.scaler:cmd_k8s_scaler",
             "print the KEDA ScaledObject that scales the workers on their cameras' frame backlog")
    s.add_argument("--deployment", default="worker", help="the Deployment to scale (worker, or a GPU one)")
    s.add_argument("--min", type=int, default=1, help="fewest workers")
    s.add_argument("--max", type=int, default=8, help="most workers")
    s.add_argument("--lag", type=int, default=5, help="frames waiting on any camera that ask for another worker")
    _cmd(sub, "dashboard", "maskwatch.commands.services:cmd_dashboard", "serve the dashboard with gunicorn")
    s = _cmd(sub, "users", "maskwatch.commands.services:cmd_users", "manage dashboard users")
    s.add_argument("action", choices=("add",))
    s.add_argument("name")
    s.add_argument("--role", choices=("viewer", "operator", "admin"), required=True)
    s.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
    s.add_argument("--demo", action="store_true", help="the database of `maskwatch run --demo` (out/demo/maskwatch.db)")
    s = _cmd(sub, "tokens", "maskwatch.commands.tokens:cmd_tokens", "API tokens for machines (/api/* only)")
    s.add_argument("action", choices=("add", "list", "revoke"))
    s.add_argument("name", nargs="?")
    s.add_argument("--scope", choices=("read", "review"), help="add: read (GET /api/*) or review (and reviews)")
    s.add_argument("--demo", action="store_true", help="the database of `maskwatch run --demo` (out/demo/maskwatch.db)")
    s = _cmd(sub, "prune", "maskwatch.commands.services:cmd_prune",
             "delete violations and their snapshots older than retention.days")
    s.add_argument("--days", type=float, help="override retention.days")
    s = _cmd(sub, "db", "maskwatch.commands.services:cmd_db", "database schema (Alembic migrations)")
    s.add_argument("action", choices=("upgrade", "wait"),
                   help="upgrade: migrate to this version's schema; wait: until the database is reachable and "
                        "at that schema (an init container's check)")
    s.add_argument("--timeout", type=float, default=300.0, metavar="S", help="wait: give up after S seconds")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maskwatch",
                                description="maskwatch: find people without a face mask across CCTV cameras")
    p.add_argument("--version", action="version", version=f"maskwatch {__version__}")
    p.add_argument("--log-level", default=os.environ.get("MASKWATCH_LOG_LEVEL", "INFO"))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _model_commands(sub)
    _service_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # alembic's INFO lines (a dozen per start) say nothing `db upgrade` does not print itself
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    module, func = args.target.split(":")
    try:
        cfg = load_config(args.config) if args.wants_config else None
        return getattr(importlib.import_module(module), func)(args, cfg) or 0
    except (MaskwatchError, OSError, ValueError) as e:  # what the user can fix: one line; the rest is a bug
        print(f"maskwatch {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
