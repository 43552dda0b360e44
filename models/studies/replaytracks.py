"""`python -m maskwatch.models.studies.replaytracks VIDEOS_DIR... [--labels DIR] [--cache DIR]`: the
events service's tracker and identity registry, replayed offline on annotated real footage, with
its settings and descriptors varied: violations per person, duplicates and false alarms.

The run path (`maskwatch evaluate --videos`) plays each video in real time, so a loaded machine
drops frames and two runs differ by a person or two. Here each frame read at `--fps` goes through
the pipeline once (`studies.replayframes`, cached in `--cache`, as the detections a worker would
send, with the torso's colours and the camera's pose beside them), then through the real `Tracker`
as many times as there are variants: a deterministic comparison, free of the run path's
frame-drop noise, of what only the tracker and identity decide. The settings it compares were all
chosen elsewhere; a setting chosen here would be judged on the videos it was chosen on, except
with `--select`: a grid (`gates`; `identity`: the descriptor and `identity_threshold`;
`confirmed`: the score at which a doubted face on a track seen sure votes; `rules`: the model's
rule for its smaller faces, `-c` naming the model; `face-id`: dlib's face-recognition descriptor,
`--face-id SCENES_DIR`; `vote`: the vote asked otherwise, `studies.trackvote`; `learned`: a
metric learnt for who is who on the other videos' people, `studies.learnedid`; `judge`: vote_k of
vote_n and the small faces' weights; `second-look`: a track somewhat like a recent violator
waits to be told, `studies.secondlook`; `rate`: the vote for `--fps 10`; the grids live in
`studies.replaygrids`), each video
judged by the setting chosen on the other videos alone (leave one out).

The run path's own noise, replayed: `--drop 0.15` drops each frame with that chance, as a worker
that falls behind does, over `--seeds` patterns (every variant meets the same ones), and reports
each count's mean: a comparison of two settings that two run-path runs cannot settle. `--phase K`
reads every video from its frame 1 + K instead of 1: a real-time reader sends the frame its
clock falls on, so two runs see different frames of one file even when none is dropped; `--phases
N` replays each video from N phases (as many as its frame step makes distinct) and reports each
count's mean, a yardstick that no one phase's luck decides.

Camera motion: each frame's pose as ingest estimates it (`maskwatch.ingest.camera_motion`, its
default `auto`, on the video's own clock). A variant with `cmc` moves every place the tracker and
registry remember with the camera before it matches, as the events service does.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from maskwatch.events_config import EventsConfig
from maskwatch.models.appearance import joined
from maskwatch.models.evaluation.clipscore import COUNTS, Reported, score
from maskwatch.models.studies.replayframes import Frame, load_phases
from maskwatch.models.studies.replaygrids import BEFORE, GRID, SELECTIONS, VARIANTS, rule_grid
from maskwatch.models.studies.trackvote import tracker as vote_tracker
from maskwatch.workers.tracker import Sighting


def descriptor(f: Frame, i: int, kind: str) -> np.ndarray | None:
    """The sighting's descriptor of `kind`: face (the registry's embedding), both (face+clothing),
    face-id (dlib's), face-id+clothing, learned (studies.learnedid's, of face+clothing)."""
    face = {"face-id": f.face_id, "learned": f.learned}.get(kind.split("+")[0], f.face)
    if face is None or not face[i].any():
        return None
    return face[i] if kind in ("face", "face-id", "learned") else joined(face[i], f.body[i])


def sized_rule(rule: tuple[float, float], small: tuple[float, float, float] | None = None):
    """The (threshold, min face score) a face of width w is judged by: the model's `rule`, or under
    small = (px, threshold, min score) for a face narrower than px."""
    if small is None:
        return lambda w: rule
    px, t, s = small
    return lambda w: (t, s) if w < px else rule


def replay(frames_: list[Frame], cfg: EventsConfig, rule_of, kind: str, cmc: bool, vote: tuple | None = None
           ) -> list[Reported]:
    """The violations the tracker fires on `frames_`, each face judged by rule_of(its width), the
    vote asked as `vote` says (studies.trackvote; None: the shipped vote)."""
    tracker, pose = vote_tracker(cfg, vote), None
    out = []
    for n, f in enumerate(frames_):
        moved = f.pose.since(pose) if cmc and f.pose is not None else None
        pose = f.pose
        if moved is not None:
            tracker.warp(moved)
        tracker_in = []
        for i in range(len(f.boxes)):
            t, s = rule_of(float(f.boxes[i][2] - f.boxes[i][0]))
            sent = f.scores[i] >= cfg.vote_bar(s)  # what a worker classifies: below it, no p, no descriptor
            tracker_in.append(Sighting(
                f.t, tuple(float(v) for v in f.boxes[i]), float(f.p[i]) if sent else 0.0, t, str(n), i,
                float(f.scores[i]), min_score=s, embedding=descriptor(f, i, kind) if sent else None,
                p_incorrect=0.0 if f.p_incorrect is None or not sent else float(f.p_incorrect[i])))
        out += reported(tracker.update(f.t, tracker_in))
    if frames_:  # the camera goes quiet: the events service ends its tracks, and a held one fires
        out += reported(tracker.expire(frames_[-1].t + cfg.track_max_gap_s + 1.0))
    return out


def reported(step) -> list[Reported]:
    return [Reported(tr.first_seen, tr.last_seen, tr.best.box, tr.best.captured_at) for tr in step.fired]


def errors(row: dict) -> int:
    """What a site would count against a setting: people missed, second rows, rows on no violator."""
    return row["violators"] - row["found"] + row["duplicates"] + row["false"]


def change(name: str, grid: dict = GRID, before: str = BEFORE) -> tuple[int, float]:
    """How far a grid entry is from the setting before: settings changed (the descriptor one of
    them), then by how much (an overlap gate of none is the appearance gate itself; no confirmed
    score is the rule's own, at most 1)."""
    def raw(n):
        overrides, kind, _ = grid[n]
        return {**overrides, "appearance": kind}

    def values(n):
        s = raw(n)
        if "overlap_gate" in s and s["overlap_gate"] is None:
            s["overlap_gate"] = s["appearance_gate"]
        if "confirmed_min_score" in s and s["confirmed_min_score"] is None:
            s["confirmed_min_score"] = 1.0
        return {k: v for k, v in s.items() if isinstance(v, float)}
    ours, theirs = values(name), values(before)
    moved = {k for k in raw(name) | raw(before) if raw(name).get(k) != raw(before).get(k)}
    return len(moved), round(sum(abs(ours[k] - theirs[k]) for k in ours if k in theirs), 6)


def leave_one_out(result: dict, before: str = BEFORE, grid: dict = GRID) -> dict:
    """Each video judged by the setting chosen on the other videos alone (fewest errors there; among
    ties, the smallest change from the setting before): the held-out rows, the choices, and the
    setting before's rows beside them."""
    def choose(on: list[str]) -> str:
        return min(result, key=lambda n: (sum(errors(result[n][v]) for v in on), *change(n, grid, before), n))

    stems = sorted(result[before])
    out = {"chosen": {}, "held_out": {}, "before": {}}
    for stem in stems:
        best = choose([v for v in stems if v != stem])
        out["chosen"][stem] = best
        out["held_out"][stem] = result[best][stem]
        out["before"][stem] = result[before][stem]
    out["on_all"] = choose(stems)
    for part in ("held_out", "before"):
        rows = out[part].values()
        out[f"{part}_total"] = {k: sum(r[k] for r in rows) for k in ("violators", "found", "duplicates", "false")}
    return out


def dropping(frames_: list[Frame], chance: float, seeds: int, stem: str) -> list[list[Frame]]:
    """The frames as `seeds` loaded run paths might see them: each frame dropped with `chance`
    (a worker behind drops frames). Each pattern is seeded by the video and its number alone, so
    every variant meets the same drops: a paired comparison. No drop: the frames once."""
    if chance <= 0:
        return [frames_]
    out = []
    for seed in range(seeds):
        rng = random.Random(f"{stem}/{seed}")
        out.append([f for f in frames_ if rng.random() >= chance])
    return out


def mean_row(rows: list[dict]) -> dict:
    """The counts of several replays of one video, averaged (one replay: its row as it is)."""
    if len(rows) == 1:
        return rows[0]
    return {k: round(sum(r[k] for r in rows) / len(rows), 3) for k in COUNTS}


def measure(pipeline, videos: list[Path], labels: Path, cache: Path, fps: float, variants: dict,
            drop: float = 0.0, seeds: int = 20, face_id=None, phase: int = 0, phases: int = 1) -> dict:
    """Each variant's row per video. face_id: a face-recognition descriptor for the face-id kinds,
    given to each face a worker would classify (cached beside the detections). phase: which frame
    of each `step` the camera reads (0: frames 1, 1 + step, ...), as a real-time reader's clock may
    pick any of them; phases: that many phases on from it (those a video's step makes distinct),
    each count the mean over them. A learned kind: each video described by a metric fitted on the
    others."""
    seen_ = load_phases(pipeline, videos, labels, cache, fps, phase, phases, face_id)
    if any(kind == "learned" for _, kind, _ in variants.values()):
        from maskwatch.models.studies.learnedid import attach
        for k in range(phases):
            attach({stem: (read[k], truth) for stem, (read, truth) in seen_.items() if k < len(read)},
                   pipeline.min_face_score)
    out: dict = {}
    for stem, (read, truth) in seen_.items():
        # phase 0's patterns are seeded by the video alone, as before there were phases
        patterns = [p for k, frames_ in enumerate(read) for p in dropping(frames_, drop, seeds,
                                                                           stem if k == 0 else f"{stem}@{k}")]
        for name, (overrides, kind, cmc) in variants.items():
            cfg = EventsConfig(**{k: v for k, v in overrides.items() if k not in ("small", "vote")})
            rule_of = sized_rule((pipeline.threshold, pipeline.min_face_score), overrides.get("small"))
            rows = [score(truth, replay(seen, cfg, rule_of, kind, cmc, overrides.get("vote"))).row()
                    for seen in patterns]
            out.setdefault(name, {})[stem] = mean_row(rows)
    return out


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline
    from maskwatch.paths import video_labels

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", type=Path, nargs="+", help="folders of STEM.mp4")
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--cache", type=Path, default=Path("out/replaytracks"))
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--select", nargs="?", const="gates", choices=sorted(SELECTIONS),
                    help="a grid (gates; identity: the descriptor and its threshold; confirmed; rules: the model's "
                         "rule for its smaller faces; vote: the vote asked otherwise; learned: a metric learnt on "
                         "the other videos' people; judge: vote_k of vote_n and the small faces' weights; "
                         "second-look: a track like a recent violator waits to be told; rate: the vote for --fps 10), "
                         "each video judged by the setting chosen on the others")
    ap.add_argument("--drop", type=float, default=0.0,
                    help="drop each frame with this chance, as a loaded run path does, over --seeds patterns: "
                         "each count is the mean")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--face-id", type=Path, metavar="SCENES_DIR",
                    help="with --select face-id: dlib's descriptor (needs .[face-id]), centred on this scene set")
    ap.add_argument("--phase", type=int, default=0,
                    help="read each video from its frame 1 + PHASE (then every video fps / --fps frames): the frames "
                         "a real-time reader's clock picks differ by run")
    ap.add_argument("--phases", type=int, default=1,
                    help="replay each video from that many phases on from --phase (as many as its frame step "
                         "makes distinct): each count is the mean over them, as over --drop's patterns")
    ap.add_argument("-c", "--config", type=Path, help="maskwatch.yaml (its detector and classifier; default: embedded)")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    grid, before = SELECTIONS[args.select] if args.select else (VARIANTS, None)
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    grid = grid or rule_grid(pipeline.min_face_score)
    if (args.select == "face-id") != (args.face_id is not None):
        ap.error("--select face-id and --face-id SCENES_DIR go together")
    if args.phase < 0 or args.phases < 1 or ((args.phase or args.phases > 1) and args.face_id):
        ap.error("--phase: 0 or more, --phases: 1 or more, and neither with --face-id (its descriptors are "
                 "cached for phase 0)")
    face_id = None
    if args.face_id:
        from maskwatch.models.studies.dlibface import centred
        face_id = centred(args.face_id)
    result = measure(pipeline, args.videos, args.labels or video_labels(), args.cache, args.fps, grid, args.drop,
                     args.seeds, face_id, args.phase, args.phases)
    print(json.dumps({"grid": result, "leave_one_out": leave_one_out(result, before, grid)} if before else result,
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
