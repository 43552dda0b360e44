"""`maskwatch evaluate --clips DIR`: person-level precision, recall and duplicates on annotated clips.

Each clip (maskwatch.models.evaluation.clips) plays as a file camera through the real pipeline: the `run` path on the
in-process bus, the same ingest, worker, events and SQL code as the services, in real time. Clips
run side by side as separate cameras, a few at a time so that the machine keeps up (a dropped
frame would measure the machine, not the tracker). Violations are read back from the database and
scored against the clip's ground truth (maskwatch.models.evaluation.clipscore).
"""
from __future__ import annotations

import json
import logging
import shutil
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from maskwatch.config import Config, ConfigError
from maskwatch.paths import demo_scenes

log = logging.getLogger("maskwatch")
FPS_BUDGET = 8.0  # camera-frames per second at once: 2 cores keep up at the default settings


def load_clips(root: Path) -> list[tuple[Path, dict]]:
    out = []
    for truth in sorted(Path(root).glob("*/truth.json")):
        try:
            out.append((truth.parent, json.loads(truth.read_text())))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{truth}: unreadable ground truth: {e}") from None
    return out


def _clips_in(root: Path) -> list[tuple[Path, dict]]:
    clips = load_clips(root)
    if not clips:
        raise ConfigError(f"{root}: no clips (folders with clip.avi and truth.json); "
                          "`maskwatch evaluate --clips DIR --build` makes them")
    return clips


def _groups(clips: list[tuple[Path, dict]]) -> list[list[tuple[Path, dict]]]:
    groups, load = [[]], 0.0
    for clip in sorted(clips, key=lambda c: -_camera_fps(c[1])):
        if groups[-1] and load + _camera_fps(clip[1]) > FPS_BUDGET:
            groups.append([])
            load = 0.0
        groups[-1].append(clip)
        load += _camera_fps(clip[1])
    return [g for g in groups if g]


def _camera_fps(truth: dict) -> float:
    return truth.get("camera_fps", truth["fps"])


def _config(cfg: Config, clips: list[tuple[Path, dict]], work: Path) -> Config:
    data = cfg.model_dump(mode="json")
    # a rendered clip plays at its own rate; a real video (truth["video"]) as a camera at camera_fps
    data["cameras"] = [{"id": folder.name, "url": truth.get("video", str(folder / "clip.avi")),
                        "fps": _camera_fps(truth)} for folder, truth in clips]
    data["ingest"]["loop_files"] = False
    data["redis"]["url"] = None
    data["database"]["url"] = f"sqlite:///{work / 'clips.db'}"
    data["snapshots"]["dir"] = str(work / "snapshots")
    return Config.model_validate(data)


@dataclass
class GroupRun:
    """What one group of clips played as cameras gave, per clip (camera id)."""
    reported: dict[str, list]  # its violations, as maskwatch.models.evaluation.clipscore.Reported
    # frames ingest read and sent at the camera's rate, and the workers processed: on a loaded machine
    # a worker that falls behind drops frames, and a run's people found move with them
    frames: dict[str, dict[str, int]]


def run_group(cfg: Config, clips: list[tuple[Path, dict]], work: Path, pipeline=None) -> GroupRun:
    """Play the clips as cameras. `pipeline`: the worker's, built once for cfg by the caller (else here)."""
    from maskwatch.commands.run import start_pipeline
    from maskwatch.membus import MemoryBus
    from maskwatch.storage.db import upgrade

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    c = _config(cfg, clips, work)
    upgrade(c.database.url)
    bus, stop = MemoryBus("clips"), threading.Event()
    threads = start_pipeline(c, bus, stop, pipeline=pipeline)
    starts = _watch(c, bus, stop, max(_duration_s(t) for _, t in clips), {f.name: t["fps"] for f, t in clips})
    stop.set()
    for t in threads:
        t.join(30)
    return GroupRun(_reported(c, starts), frame_counts(bus, [cam.id for cam in c.cameras]))


def frame_counts(bus, cameras: list[str]) -> dict[str, dict[str, int]]:
    """Per camera: frames ingest read and sent, and the workers processed (their final status)."""
    from maskwatch.status import split_per_camera

    processed: dict[str, int] = {}
    for key in bus.scan_keys(bus.keys.worker_status("") + "*"):
        for cam, kinds in split_per_camera(bus.get_hash(key))[1].items():
            processed[cam] = processed.get(cam, 0) + int(float(kinds.get("processed", 0)))
    out = {}
    for cam in cameras:
        h = bus.get_hash(bus.keys.camera_status(cam))
        out[cam] = {"read": int(h.get("frames_read", 0) or 0), "sent": int(h.get("frames_sent", 0) or 0),
                    "processed": processed.get(cam, 0)}
    return out


def hour_counts(work: Path) -> dict[str, dict[str, int]]:
    """Per camera of a group played in `work` (run_group's): what the events service counted in
    its camera hours (people judged, not judged, still faces)."""
    import datetime as dt

    from maskwatch.storage.db import make_engine, session_factory
    from maskwatch.storage.queries import compliance

    engine = make_engine(f"sqlite:///{work / 'clips.db'}")
    try:
        with session_factory(engine)() as s:  # every hour a clip can have: its whole run
            sums = compliance(s, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2200, 1, 1, tzinfo=dt.UTC))
        return {c.camera_id: {"people": c.people, "not_judged": c.not_judged, "still": c.still} for c in sums}
    finally:
        engine.dispose()


def _duration_s(truth: dict) -> float:
    """Up to the last frame anyone is in view: what the wait for a clip's end is sized by."""
    return (max((b[0] for p in truth["persons"] for b in p["boxes"]), default=0) + 1) / truth["fps"]


def _watch(c: Config, bus, stop: threading.Event, longest_s: float, read_fps: dict[str, float]) -> dict[str, float]:
    """Wait for every clip to end (plus the time to settle its tracks); the wall time of each
    clip's first frame, estimated from ingest's status (files are read at their own frame rate)."""
    estimates: dict[str, list[float]] = {cam.id: [] for cam in c.cameras}
    deadline = time.monotonic() + longest_s + 120
    settle = c.events.track_max_gap_s + c.events.reorder_s + 3.0
    ended_at = None
    while not stop.wait(0.5) and time.monotonic() < deadline:
        ended = 0
        for cam in c.cameras:
            h = bus.get_hash(bus.keys.camera_status(cam.id))
            read, last = int(h.get("frames_read", 0) or 0), float(h.get("last_frame_at", 0) or 0)
            if read and last:
                estimates[cam.id].append(last - (read - 1) / read_fps[cam.id])
            ended += h.get("state") == "ended"
        if ended == len(c.cameras):
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at > settle:
                break
    return {cam: statistics.median(v) if v else 0.0 for cam, v in estimates.items()}


def _reported(c: Config, starts: dict[str, float]) -> dict[str, list]:
    from sqlalchemy import select

    from maskwatch.models.evaluation.clipscore import Reported
    from maskwatch.storage.db import make_engine, session_factory
    from maskwatch.storage.tables import Violation

    engine = make_engine(c.database.url)
    out: dict[str, list] = {cam.id: [] for cam in c.cameras}
    try:
        with session_factory(engine)() as s:
            for v in s.scalars(select(Violation)):
                t0 = starts.get(v.camera_id, 0.0)
                ev = getattr(v, "evidence_at", None)  # absent in trees from before migration 0002
                frame = str(c.snapshots.dir / v.frame_path) if v.frame_path else None
                out[v.camera_id].append(Reported(_ts(v.first_seen) - t0, _ts(v.last_seen) - t0,
                                                 tuple(float(x) for x in v.box), _ts(ev) - t0 if ev else None, frame))
    finally:
        engine.dispose()
    return out


def _ts(d) -> float:
    from maskwatch.storage.queries import as_utc
    return as_utc(d).timestamp()


def evaluate_clips(cfg: Config, root: Path, out: Path | None) -> dict:
    from maskwatch.builders import build_worker_pipeline
    from maskwatch.models.evaluation.clipscore import Score, score

    clips = _clips_in(root)
    work = (out or root) / "runs"
    rows, totals = [], {}
    pipeline = build_worker_pipeline(cfg)  # one model load for every group; the groups play in turn
    for gi, group in enumerate(_groups(clips)):
        log.info("clips: playing %s", ", ".join(f.name for f, _ in group))
        reported = run_group(cfg, group, work / f"group-{gi}", pipeline).reported
        for folder, truth in group:
            s = score(truth, reported[folder.name])
            rows.append({"clip": folder.name, "scenario": truth["scenario"], "fps": truth["fps"], **s.row(),
                         "misses": s.misses})
            for key in (f"all at {truth['fps']:g} fps", "all"):
                totals.setdefault(key, Score()).add(s)
    result = {"clips": sorted(rows, key=lambda r: (r["scenario"], r["fps"])),
              "overall": {k: v.row() for k, v in sorted(totals.items())}}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "clips.json").write_text(json.dumps(result, indent=1))
        (out / "clips.md").write_text(table(result))
    return result


def clip_player(cfg: Config, root: Path, out: Path | None):
    """For `evaluate --compare --clips`: (name, model folder) -> the clips' overall person-level
    score, played with that model at its own rule (and the rest of cfg) through the run path."""
    _clips_in(root)  # checked before any model plays

    def play(name: str, model_dir: Path) -> dict:
        return evaluate_clips(with_model(cfg, model_dir), root, (out or root) / f"clips-{name}")["overall"]["all"]
    return play


def table(result: dict) -> str:
    lines = ["| clip | violators | violations | recall | precision | duplicates |", "|---|---|---|---|---|---|"]
    for r in result["clips"]:
        lines.append(f"| {r['scenario']} @ {r['fps']:g} fps | {r['violators']} | {r['violations']} | "
                     f"{r['recall']:.2f} | {r['precision']:.2f} | {r['duplicates']} |")
    for k, r in result["overall"].items():
        lines.append(f"| **{k}** | {r['violators']} | {r['violations']} | **{r['recall']:.3f}** | "
                     f"**{r['precision']:.3f}** | {r['duplicates']} ({r['duplicate_rate']:.1%}) |")
    return "\n".join(lines) + "\n"


def with_model(cfg: Config, model_dir: Path | None) -> Config:
    """cfg with another classifier folder, at that model's own rule."""
    if model_dir is None:
        return cfg
    data = cfg.model_dump(mode="json")
    data["classifier"].update(model_dir=str(model_dir), threshold=None, min_face_score=None)
    return Config.model_validate(data)


def build(args, cfg: Config, model_dirs: tuple[Path | None, ...] = (None,)) -> None:
    """`--build`: the clips into args.clips, cast only with faces every one of these models reads
    right (so that the clips measure tracking and identity, not the frame-level model)."""
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.clips import build_clips, reads_correctly

    fps = tuple(float(v) for v in args.clip_fps.split(","))
    vets = [reads_correctly(build_pipeline(c.detector, c.classifier)) for c in (with_model(cfg, d) for d in model_dirs)]
    build_clips(args.scenes_for_clips or demo_scenes(), args.clips, fps_list=fps, seed=args.seed,
                vet=lambda img, violator: all(v(img, violator) for v in vets))


def cmd_evaluate_clips(args, cfg: Config) -> int:
    if args.build:
        build(args, cfg)
    result = evaluate_clips(cfg, args.clips, args.out)
    print(table(result))
    return 0
