"""`maskwatch evaluate --videos DIR`: person-level results on annotated real footage.

Each video with labels (maskwatch.models.evaluation.videotruth: MOTChallenge boxes and our face and
mask attributes) plays as a file camera at `--video-fps` through the real run path, as the person
clips do (maskwatch.commands.clips), one at a time; its violations are read back from the database
and scored per person (maskwatch.models.evaluation.clipscore): unmasked people found, duplicates,
false alarms (on masked people, or on no one).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from maskwatch.config import Config, ConfigError
from maskwatch.paths import video_labels

log = logging.getLogger("maskwatch")


def sequences(videos: Path, labels: Path) -> list[str]:
    """The stems of the videos in `videos` that `labels` annotates."""
    stems = sorted(p.name.removesuffix(".attributes.csv") for p in labels.glob("*.attributes.csv"))
    found = [s for s in stems if (videos / f"{s}.mp4").is_file()]
    if not found:
        raise ConfigError(f"--videos {videos}: no video with labels in {labels} "
                          f"(STEM.mp4 beside STEM.attributes.csv; labels for: {', '.join(stems) or 'none'})")
    return found


def camera_id(stem: str) -> str:
    """A camera id (lowercase letters, digits, - and _) for a video's stem."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem.lower())[:63]


def evaluate_videos(cfg: Config, videos: Path, labels: Path, fps: float, out: Path | None) -> dict:
    from maskwatch.builders import build_worker_pipeline
    from maskwatch.commands.clips import run_group
    from maskwatch.models.evaluation.clipscore import Score, score
    from maskwatch.models.evaluation.videotruth import load_truth

    pipeline = build_worker_pipeline(cfg)
    work = (out or Path("out/videos")) / "runs"
    rows, total = [], Score()
    for stem in sequences(videos, labels):
        truth = load_truth(stem, labels, videos)
        truth.update(video=str(videos / f"{stem}.mp4"), camera_fps=min(fps, truth["fps"]))
        cam = camera_id(stem)
        log.info("videos: playing %s at %g fps", stem, truth["camera_fps"])
        reported = run_group(cfg, [(Path(cam), truth)], work / cam, pipeline)[cam]
        s = score(truth, reported)
        rows.append({"video": stem, "fps": truth["camera_fps"], **s.row(), "misses": s.misses,
                     "masked_people": sum(p["masked"] for p in truth["persons"])})
        total.add(s)
    result = {"videos": rows, "overall": total.row()}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "videos.json").write_text(json.dumps(result, indent=1))
        (out / "videos.md").write_text(table(result))
    return result


def table(result: dict) -> str:
    lines = ["| video | unmasked people | found | violations | duplicates | false alarms (on masked) |",
             "|---|---|---|---|---|---|"]
    for r in [*result["videos"], {"video": "**all**", **result["overall"]}]:
        lines.append(f"| {r['video']} | {r['violators']} | {r['found']} ({r['recall']:.0%}) | {r['violations']} | "
                     f"{r['duplicates']} | {r['false']} ({r['on_masked']}) |")
    return "\n".join(lines) + "\n"


def cmd_evaluate_videos(args, cfg: Config) -> int:
    labels = args.labels or video_labels()
    result = evaluate_videos(cfg, args.videos, labels, args.video_fps, args.out)
    print(table(result))
    return 0
