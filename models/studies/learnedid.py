"""Who is who by a metric learnt on the footage's own people: Fisher's linear discriminant (LDA)
over the shipped descriptor ([face, clothing] joined), fitted on the labelled people of the other
videos alone, so that no video is described by a metric that saw it (leave one video out).

A linear metric learnt from identity-labelled tracks is the classic form of metric learning for
person re-identification (LDA, KISSME, XQDA): it keeps the directions along which people differ
and shrinks those along which one person varies (turning, nearing the camera, the torso leaving
the frame), and needs no network and no images beyond the tracks. Here the tracks are the seven
labelled videos, the only identity-labelled footage there is; `replaytracks --select learned`
replays it through the tracker, and `python -m maskwatch.models.studies.learnedid VIDEOS_DIR...`
reports how each video's people separate under it against the shipped descriptor (run
prototypes of every labelled person's classified faces, realidentity's summary). Nothing in the
product imports this.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskwatch.events_config import EventsConfig
from maskwatch.models.appearance import joined
from maskwatch.models.evaluation.clipscore import holding
from maskwatch.models.evaluation.facerecall import people_in
from maskwatch.models.studies.identitystats import separation
from maskwatch.models.studies.realidentity import summary

DIM = 32       # directions kept: fewer than the people of any six videos, ample for a cosine
SHRINK = 0.1   # within-person scatter shrunk this far toward its mean variance (few faces per person)


@dataclass(frozen=True)
class Metric:
    mean: np.ndarray        # the training descriptors' mean
    w: np.ndarray           # (input, DIM) projection

    def __call__(self, x: np.ndarray) -> np.ndarray:
        v = (np.asarray(x, np.float64) - self.mean) @ self.w
        return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)


def labelled(frames_: list, truth: dict, bar: float, prefix: str = "") -> tuple[list[np.ndarray], list[str]]:
    """The shipped descriptors of the faces a worker classifies (face score >= bar), each with the
    labelled person whose head holds it (named prefix + id); faces on nobody labelled are left out."""
    by_frame = people_in(truth)
    xs, who = [], []
    for f in frames_:
        near = by_frame.get(round(f.t * truth["fps"]))
        if not near or f.face is None:
            continue
        for i in np.flatnonzero((f.scores >= bar) & f.face.any(axis=1)):
            pid = holding(f.boxes[i], near)
            if pid is not None:
                xs.append(joined(f.face[i], f.body[i]))
                who.append(prefix + str(pid))
    return xs, who


def fit(xs: list[np.ndarray], who: list[str], dim: int = DIM, shrink: float = SHRINK) -> Metric:
    """LDA: the directions that most separate the people's means against the (shrunk) scatter of
    each person about their own mean, as a projection whose cosine compares two descriptors."""
    x = np.asarray(xs, np.float64)
    ids = {p: k for k, p in enumerate(sorted(set(who)))}
    if len(ids) < 2:
        raise ValueError(f"a metric needs two people or more, got {len(ids)}")
    idx = np.array([ids[p] for p in who])
    counts = np.bincount(idx).astype(np.float64)
    means = np.stack([x[idx == k].mean(axis=0) for k in range(len(ids))])
    mu = x.mean(axis=0)
    within = x - means[idx]
    sw = within.T @ within / len(x)
    sw = (1 - shrink) * sw + shrink * np.trace(sw) / x.shape[1] * np.eye(x.shape[1])
    between = means - mu
    sb = (between * counts[:, None]).T @ between / len(x)
    val, vec = np.linalg.eigh(sw)
    whiten = vec / np.sqrt(np.maximum(val, 1e-12))
    _, dirs = np.linalg.eigh(whiten.T @ sb @ whiten)
    keep = min(dim, len(ids) - 1)
    return Metric(mu, whiten @ dirs[:, ::-1][:, :keep])


def held_out(faces: dict[str, tuple[list, list]], stem: str) -> Metric:
    """The metric for one video, fitted on the other videos' labelled faces alone."""
    return fit([x for s, (v, _) in faces.items() if s != stem for x in v],
               [p for s, (_, w) in faces.items() if s != stem for p in w])


def labelled_all(videos: dict[str, tuple[list, dict]], min_face_score: float) -> dict[str, tuple[list, list]]:
    """Each video's labelled faces (stem -> (frames, truth)), at the face score a worker classifies
    from, named by video and person."""
    bar = EventsConfig().vote_bar(min_face_score)
    return {stem: labelled(frames_, truth, bar, prefix=f"{stem}/") for stem, (frames_, truth) in videos.items()}


def attach(videos: dict[str, tuple[list, dict]], min_face_score: float) -> dict[str, int]:
    """Set each cached frame's `learned` descriptors (stem -> (frames, truth)), every video by a
    metric fitted on the others alone; the count of labelled faces each metric learnt from."""
    faces = labelled_all(videos, min_face_score)
    learnt = {}
    for stem, (frames_, _) in videos.items():
        metric = held_out(faces, stem)
        learnt[stem] = sum(len(v) for s, (v, _) in faces.items() if s != stem)
        for f in frames_:
            f.learned = np.zeros((len(f.boxes), metric.w.shape[1]), np.float32)
            for i in np.flatnonzero(f.face.any(axis=1)) if f.face is not None else ():
                f.learned[i] = metric(joined(f.face[i], f.body[i]))
    return learnt


def separations(faces: dict[str, tuple[list, list]]) -> dict:
    """Per video and pooled: how the same person's run prototypes and different people's compare,
    by the shipped descriptor and by the metric held out from that video."""
    out: dict = {"videos": {}, "all": {}}
    pooled: dict[str, tuple[list, list]] = {"face+clothing": ([], []), "learned": ([], [])}
    for stem, (xs, who) in faces.items():
        metric, out["videos"][stem] = held_out(faces, stem), {"faces": len(xs)}
        for kind, describe in (("face+clothing", np.asarray), ("learned", metric)):
            by_person: dict[str, list] = {}
            for x, p in zip(xs, who):
                by_person.setdefault(p, []).append(describe(x))
            same, other = separation(by_person)
            pooled[kind][0].extend(same)
            pooled[kind][1].extend(other)
            out["videos"][stem][kind] = summary(same, other)
    out["all"] = {kind: summary(*pairs) for kind, pairs in pooled.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.studies.replayframes import load_all
    from maskwatch.paths import video_labels

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", type=Path, nargs="+", help="folders of STEM.mp4")
    ap.add_argument("--labels", type=Path, help="default: the repository's labels")
    ap.add_argument("--cache", type=Path, default=Path("out/replaytracks"), help="replaytracks' cache")
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args(argv)
    cfg = load_config(None)
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    videos = load_all(pipeline, args.videos, args.labels or video_labels(), args.cache, args.fps)
    print(json.dumps(separations(labelled_all(videos, pipeline.min_face_score)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
