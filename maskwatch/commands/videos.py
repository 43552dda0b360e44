"""`maskwatch evaluate --videos DIR`: person-level results on annotated real footage.

Each video with labels (maskwatch.models.evaluation.videotruth: MOTChallenge boxes and our face and
mask attributes) plays as a file camera at `--video-fps` through the real run path, as the person
clips do (maskwatch.commands.clips), one at a time; its violations are read back from the database
and scored per person (maskwatch.models.evaluation.clipscore): unmasked people found, duplicates,
false alarms (on masked people, or on no one), and what the events service counted: people not
judged (never seen well enough to tell) and still faces (pictures) not reported, and the frames the
workers processed of those sent (a worker that falls behind drops frames: the run's noise). Then each video
is read again at the same rate for the detector's frame-level face recall on the frames whose
labels call a face visible (maskwatch.models.evaluation.facerecall).

Each violation's moment in the video is its evidence frame's, found by its picture
(maskwatch.models.evaluation.evidenceframe): the wall clock of a file read in real time drifts
from the video's own time, and on a moving camera a few tenths of a second give a face to someone
else.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from maskwatch.config import Config, ConfigError
from maskwatch.paths import video_labels

log = logging.getLogger("maskwatch")


def sequences(videos: Path, labels: Path) -> list[str]:
    """The stems of the videos in `videos` that `labels` annotates."""
    from maskwatch.models.evaluation.videotruth import labelled_stems

    stems = labelled_stems(labels)
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
    from maskwatch.commands.clips import hour_counts, run_group
    from maskwatch.models.evaluation.clipscore import Score, score
    from maskwatch.models.evaluation.facerecall import face_recall
    from maskwatch.models.evaluation.videotruth import load_truth

    pipeline = build_worker_pipeline(cfg)
    work = (out or Path("out/videos")) / "runs"
    rows, total, counted, faces = [], Score(), {"not_judged": 0, "still": 0}, {"faces": 0, "found": 0}
    frames = {"read": 0, "sent": 0, "processed": 0}
    for stem in sequences(videos, labels):
        truth = load_truth(stem, labels, videos)
        truth.update(video=str(videos / f"{stem}.mp4"), camera_fps=min(fps, truth["fps"]))
        cam = camera_id(stem)
        log.info("videos: playing %s at %g fps", stem, truth["camera_fps"])
        run = run_group(cfg, [(Path(cam), truth)], work / cam, pipeline)
        reported = pinned(run.reported[cam], videos / f"{stem}.mp4", truth["fps"])
        s = score(truth, reported)
        hours = hour_counts(work / cam).get(cam, {})
        recall = face_recall(pipeline, videos / f"{stem}.mp4", truth, truth["camera_fps"])
        rows.append({"video": stem, "fps": truth["camera_fps"], **s.row(), "misses": s.misses,
                     "masked_people": sum(p["masked"] for p in truth["persons"]),
                     "not_judged": hours.get("not_judged", 0), "still": hours.get("still", 0), "face_recall": recall,
                     "frames": run.frames[cam]})
        total.add(s)
        for k in counted:
            counted[k] += hours.get(k, 0)
        for k in faces:
            faces[k] += recall[k]
        for k in frames:
            frames[k] += run.frames[cam][k]
    recall = round(faces["found"] / faces["faces"], 3) if faces["faces"] else None
    result = {"videos": rows, "overall": {**total.row(), **counted, "face_recall": {**faces, "recall": recall},
                                          "frames": frames}}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "videos.json").write_text(json.dumps(result, indent=1))
        (out / "videos.md").write_text(table(result))
    return result


def video_player(cfg: Config, videos: Path, labels: Path | None, fps: float, out: Path | None):
    """For `evaluate --compare --videos`: (name, model folder) -> the footage's overall person-level
    score, played with that model at its own rule (and the rest of cfg) through the run path."""
    from maskwatch.commands.clips import with_model

    labels = labels or video_labels()
    sequences(videos, labels)  # checked before any model plays

    def play(name: str, model_dir: Path) -> dict:
        overall = evaluate_videos(with_model(cfg, model_dir), videos, labels, fps,
                                  (out or Path("out/videos")) / f"videos-{name}")["overall"]
        return {k: v for k, v in overall.items() if k != "face_recall"}
    return play


def pinned(reported: list, video: Path, fps: float) -> list:
    """Each violation's evidence moment moved to its evidence frame's (found by its picture)."""
    import cv2

    from maskwatch.models.evaluation.evidenceframe import frame_of, thumbs

    frames, out = None, []
    for v in reported:
        image = cv2.imread(v.evidence_frame) if v.evidence_frame and v.evidence_s is not None else None
        if image is None:
            out.append(v)
            continue
        frames = thumbs(video) if frames is None else frames
        n = frame_of(image, frames, v.evidence_s, fps)
        log.debug("videos: %s evidence at %.2f s by the clock, frame %d (%.2f s) by its picture",
                  video.name, v.evidence_s, n, n / fps)
        out.append(dataclasses.replace(v, evidence_s=n / fps))
    return out


def table(result: dict) -> str:
    lines = ["| video | unmasked people | found | violations | duplicates | false alarms (on masked) | "
             "not judged | still faces | face recall (faces) | frames processed (of sent) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in [*result["videos"], {"video": "**all**", **result["overall"]}]:
        fr = r["face_recall"]
        lines.append(f"| {r['video']} | {r['violators']} | {r['found']} ({r['recall']:.0%}) | {r['violations']} | "
                     f"{r['duplicates']} | {r['false']} ({r['on_masked']}) | {r['not_judged']} | {r['still']} | "
                     f"{'-' if fr['recall'] is None else format(fr['recall'], '.0%')} ({fr['faces']}) | "
                     f"{processed(r.get('frames'))} |")
    return "\n".join(lines) + "\n"


def processed(frames: dict | None) -> str:
    """"93% (140)": the share of the frames sent at the camera's rate that a worker processed (the rest
    it dropped, falling behind), and how many were sent."""
    if not frames or not frames.get("sent"):
        return "-"
    return f"{frames['processed'] / frames['sent']:.0%} ({frames['sent']})"


def cmd_evaluate_videos(args, cfg: Config) -> int:
    labels = args.labels or video_labels()
    result = evaluate_videos(cfg, args.videos, labels, args.video_fps, args.out)
    print(table(result))
    return 0
