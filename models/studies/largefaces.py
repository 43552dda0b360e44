"""A second network for large faces, measured out of fold and on the footage's replay:
`python -m maskwatch.models.studies.largefaces SHIPPED CANDIDATE [--scenes DEV --more-scenes EXTRA]
[--videos DIR...]`.

Every model trained with scenes-extra reads its large web faces better than the shipped model and
loses people on real cameras, whose faces are small and blurred (docs/model-card.md). Routed by
the detection's width, the shipped model keeps every face narrower than `cut` px (and every face's
embedding, so who is who is unchanged) and the candidate judges the wider ones:

- out of fold on the scenes: each face is judged by models that never saw its image. The
  candidate's out-of-fold file (training's, per scene set) holds every face; on scenes-dev the
  shipped model's own out-of-fold file gives its p, on scenes-extra, which it never saw, its final
  model does (the two joined by the detector's score, which one detector gives one face on one
  kind of CPU). Each model's raw p is moved piecewise-linearly so that its own rule's threshold
  lands at 0.5 (one scale for both), and each route's rule is chosen on the pooled faces as
  training chooses it. The masks worn incorrectly are counted at the annotators' boxes of
  scenes-extra (the candidate's fold models: `maskwatch train --keep-folds`), routed by width;
- on the footage (`--videos`): each video's replay (`studies.replaytracks`, the shipped defaults,
  the mean over `--phases` phases) as the product's `classifier.large_faces` serves it: the
  candidate's p for the faces at least `cut` px wide, moved onto the shipped model's scale, and
  the shipped model's rule for every face.

The test split is never read here. Nothing in the product imports this.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from maskwatch.geometry import widths
from maskwatch.models.calibration import onto
from maskwatch.models.crops import crop_faces
from maskwatch.models.evaluation.metrics import Tally, best_rule
from maskwatch.models.modelinfo import ModelError, ModelInfo
from maskwatch.models.studies import bysize
from maskwatch.models.studies.replayframes import Frame

CUTS = (24.0, 32.0, 48.0, 64.0)  # px: faces at least this wide go to the candidate
ALIGN = 0.5                      # where each model's own threshold lands on the common scale


def route_cuts(cuts=CUTS) -> dict[str, float]:
    """Each route by the width from which the candidate judges: never, always, or from a cut."""
    return {"shipped alone": float("inf"), "candidate alone": 0.0,
            **{f"faces >= {c:g} px: the candidate": c for c in cuts}}


def raw_threshold(info: ModelInfo) -> float:
    """The raw p at which a model's served (calibrated) threshold is reached."""
    grid = np.linspace(0.0, 1.0, 10001)
    return float(grid[np.argmax(info.calibration.apply(grid) >= info.threshold)])


def routes(shipped: dict[str, Tally], candidate: dict[str, Tally], cuts=CUTS) -> dict[str, dict[str, Tally]]:
    """Each route of route_cuts, bucket by bucket, on the common scale (tallies aligned already):
    bysize routes the faces narrower than the cut to its second model, here the shipped one."""
    return {name: {b: bysize.routed(candidate[b], shipped[b], cut, 1.0) for b in shipped}
            for name, cut in route_cuts(cuts).items()}


def merged(small: list[Frame], large: list[Frame], cut: float, own: float, target: float) -> list[Frame]:
    """One video's replay frames as the product's classifier.large_faces serves them: the
    candidate's p (its threshold `own`) moved onto the shipped model's scale (`target`) for faces at
    least `cut` px wide. Both caches hold the same detector's faces, frame by frame; the embeddings
    stay the shipped model's."""
    out = []
    for a, b in zip(small, large, strict=True):
        if a.t != b.t or not np.array_equal(a.boxes, b.boxes):
            raise ValueError(f"frame at {a.t:.2f} s: the two models' replays hold other faces")
        wide = widths(a.boxes) >= cut
        share = None if a.p_incorrect is None or b.p_incorrect is None else np.where(wide, b.p_incorrect,
                                                                                      a.p_incorrect)
        out.append(dataclasses.replace(a, p=np.where(wide, onto(b.p, own, target), a.p), p_incorrect=share))
    return out


def summary(tallies: dict[str, dict[str, Tally]], sets: list[str], served: tuple[float, float]) -> dict:
    """Each route's F1 and AP per set: at the rule chosen on every set's faces pooled (training's
    way), and at `served` (on the common scale: each model's own threshold, the shipped model's
    minimum face score, as classifier.large_faces serves them)."""
    out = {}
    for name, by_set in tallies.items():
        pooled = {b: Tally(t.min_width, t.max_width) for b, t in by_set[sets[0]].items()}
        for s in sets:
            for b, t in by_set[s].items():
                pooled[b].extend(t)
        rule = best_rule(list(pooled.values()))
        out[name] = {"rule": [round(rule[0], 4), round(rule[1], 3)],
                     **{s: {b: scores(t, rule, served) for b, t in by_set[s].items()} for s in sets}}
    return out


def scores(t: Tally, rule: tuple[float, float], served: tuple[float, float]) -> dict:
    at_rule = t.summary(*rule)
    return {"f1": at_rule["violation_f1"], "ap": at_rule["violation_ap"],
            "f1_served": t.summary(*served)["violation_f1"]}


def by_score(t: Tally) -> dict[float, float]:
    """p of each detection by the detector's score: one detector on one kind of CPU gives the same
    faces the same scores (float for float), so two models' tallies of one set can be joined."""
    return dict(zip(t.conf, t.p_no_mask))


def joined(t: Tally, p_of: dict[float, float], whose: str) -> Tally:
    """t's detections with the p that `p_of` (another model's, by_score) gives them."""
    missing = sum(c not in p_of for c in t.conf)
    if missing:
        raise ModelError(f"{missing} of {len(t.conf)} detections have no p of {whose}: its faces were found by "
                         f"another detector setting or kind of CPU")
    return bysize.with_p(t, [p_of[c] for c in t.conf])


def incorrect_faces(models: dict, scenes: list, folds: int) -> list[tuple[float, dict]]:
    """Each mask worn incorrectly at its annotated box: (its width, {model: (p on the common scale,
    the share of p that says "worn incorrectly")}), each judged by a model that never saw its image.
    models: name -> (its threshold, fold -> classifier)."""
    from maskwatch.models.evaluation.voc import fold_of

    rows = []
    for sc in (s for s in scenes if np.any(s.incorrect)):
        img, k, boxes = cv2.imread(str(sc.image)), fold_of(sc.stem, folds), sc.boxes[sc.incorrect]
        got = {}
        for name, (threshold, by_fold) in models.items():
            clf = by_fold[k]
            p, share, _ = clf.predict_verdicts(crop_faces(img, boxes, clf.input_size, clf.info.crop_margin))
            got[name] = (onto(p, threshold, ALIGN), np.zeros_like(p) if share is None else np.asarray(share))
        rows += [(float(b[2] - b[0]), {n: (float(v[0][i]), float(v[1][i])) for n, v in got.items()})
                 for i, b in enumerate(boxes)]
    return rows


def worn_incorrectly(rows: list[tuple[float, dict]], rules: dict[str, float], cuts=CUTS) -> dict:
    """Per route (its rule's threshold on the common scale): the share of the masks worn
    incorrectly counted as violations, and the share given that verdict."""
    out = {}
    for name, cut in route_cuts(cuts).items():
        judged = [r["candidate" if w >= cut else "shipped"] for w, r in rows]
        counted = [p >= rules[name] for p, _ in judged]
        verdict = [c and share >= 0.5 for c, (_, share) in zip(counted, judged)]
        out[name] = {"faces": len(judged), "counted": round(float(np.mean(counted)), 3) if judged else None,
                     "verdict": round(float(np.mean(verdict)), 3) if judged else None}
    return out


def scenes_part(args, detector) -> dict:
    """Out of fold on both sets: the candidate's own file (`--keep-folds`: its fold models too), the
    shipped model's file for scenes-dev and its final model for scenes-extra, which it never saw."""
    from maskwatch.models.evaluation.evaluate import tally_scenes
    from maskwatch.models.evaluation.voc import load_scenes, split_of
    from maskwatch.models.pipeline import MaskPipeline
    from maskwatch.models.studies.levers import fold_models
    from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal

    info_s, info_c = ModelInfo.load(args.shipped), ModelInfo.load(args.candidate)
    oof_c = CrossVal.load(args.candidate / "out_of_fold.npz")
    extra = [s for s in load_scenes(args.more_scenes) if split_of(s.stem) != "test"]
    final_s = bysize.raw(args.shipped)
    p_of = {args.scenes.name: by_score(CrossVal.load(args.shipped / "out_of_fold.npz", 2).tallies["all"]),
            args.more_scenes.name: by_score(tally_scenes(MaskPipeline(detector, final_s, 0.5, min_face_score=0.0),
                                                         extra, RULE_BUCKETS)["all"])}
    thresholds = {"shipped": raw_threshold(info_s), "candidate": raw_threshold(info_c)}
    tallies: dict = {}
    for set_name in p_of:
        mine = oof_c.by_source[set_name]
        t = {"candidate": mine, "shipped": {b: joined(x, p_of[set_name], "the shipped model") for b, x in mine.items()}}
        t = {m: {b: bysize.with_p(x, onto(x.p_no_mask, thresholds[m], ALIGN)) for b, x in by.items()}
             for m, by in t.items()}
        for route, buckets in routes(t["shipped"], t["candidate"]).items():
            tallies.setdefault(route, {})[set_name] = buckets
    result = summary(tallies, list(p_of), (ALIGN, info_s.min_face_score))
    folds = fold_models(args.candidate / "folds", oof_c.folds, info_c)
    models = {"shipped": (thresholds["shipped"], dict.fromkeys(folds, final_s)),
              "candidate": (thresholds["candidate"], folds)}
    rows = incorrect_faces(models, extra, oof_c.folds)
    worn = worn_incorrectly(rows, {name: r["rule"][0] for name, r in result.items()})
    served = worn_incorrectly(rows, dict.fromkeys(result, ALIGN))
    return {"thresholds": {m: round(v, 4) for m, v in thresholds.items()},
            "routes": {name: {**r, "worn_incorrectly (scenes-extra)": worn[name],
                              "worn_incorrectly served (scenes-extra)": served[name]} for name, r in result.items()}}


def footage_part(args) -> dict:
    """The replay of every labelled video at the shipped defaults from `args.phases` phases (each
    count their mean), each route as classifier.large_faces serves it (merged)."""
    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.clipscore import score
    from maskwatch.models.studies.replayframes import load_phases
    from maskwatch.models.studies.replaytracks import mean_row, replay, sized_rule
    from maskwatch.models_config import ClassifierConfig, DetectorConfig
    from maskwatch.paths import video_labels

    pipes = {m: build_pipeline(DetectorConfig(), ClassifierConfig(model_dir=d))
             for m, d in (("shipped", args.shipped), ("candidate", args.candidate))}
    seen = {m: load_phases(p, args.videos, video_labels(), args.cache, 5.0, 0, args.phases) for m, p in pipes.items()}
    own, target = pipes["candidate"].threshold, pipes["shipped"].threshold
    rule_of = sized_rule((target, pipes["shipped"].min_face_score))  # the product's one rule, as served
    cfg, out = load_config(None).events, {}  # the defaults as a site gets them (the descriptor's threshold)
    for name, cut in route_cuts().items():
        rows = {}
        for stem, (read, truth) in seen["shipped"].items():
            rows[stem] = mean_row([score(truth, replay(merged(a, b, cut, own, target), cfg, rule_of, "both",
                                                       True)).row()
                                   for a, b in zip(read, seen["candidate"][stem][0], strict=True)])
        out[name] = {"total": {k: round(sum(r[k] for r in rows.values()), 3)
                               for k in ("violators", "found", "duplicates", "false")}, "videos": rows}
    return out


def run(args) -> dict:
    from maskwatch.models.build import build_detector
    from maskwatch.models.studies.wrappers import CachedDetector
    from maskwatch.models_config import DetectorConfig

    report = {}
    if args.scenes:
        report["scenes"] = scenes_part(args, CachedDetector(build_detector(DetectorConfig())))
    if args.videos:
        report["footage"] = footage_part(args)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("shipped", type=Path, help="the shipped model folder")
    ap.add_argument("candidate", type=Path, help="a candidate trained with --keep-folds")
    ap.add_argument("--scenes", type=Path, help="scenes-dev, both models' out-of-fold set (with --more-scenes)")
    ap.add_argument("--more-scenes", type=Path, help="scenes-extra (the shipped model never saw it)")
    ap.add_argument("--videos", type=Path, nargs="*", default=[], help="annotated footage folders to replay")
    ap.add_argument("--phases", type=int, default=6, help="replay each video from this many phases (their mean)")
    ap.add_argument("--cache", type=Path, default=Path("out/replaytracks"))
    ap.add_argument("--out", type=Path, help="write largefaces.json here")
    args = ap.parse_args(argv)
    if (args.scenes is None) != (args.more_scenes is None) or not (args.scenes or args.videos):
        ap.error("the scenes need --scenes and --more-scenes together; or give --videos")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run(args)
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "largefaces.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
