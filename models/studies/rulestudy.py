"""`python -m maskwatch.models.studies.rulestudy OOF_NPZ`: decision-rule families compared without choosing and
scoring on the same faces.

Training chooses its rule (raw p >= t and face score >= s) on all the out-of-fold detections and
reports F1 on the same ones: optimistic, more so for a family with more numbers to fit. Here each
family is also cross-fitted: for each fold its rule is chosen on the other folds' detections and
scored on that fold's, and the counts are pooled. Families:
- `global`: training's rule, one (t, s);
- `per size`: a (t, s) per detection width band (< 16, 16-24, >= 24 px: what serving knows of a
  face's size), chosen band by band from the global rule until none improves;
- `face-aware, a`: p * face^a >= t and face >= s, for a in A_GRID: a doubtful face needs a surer p.

Where training pooled several scene sets (`train --more-scenes`; files kept since 2026-12-07 say
which detection came from which), the one rule and the per-size rule are also chosen for every set
alike and scored per set: the pooled choice weighs the largest set most.

Reads an `out_of_fold.npz` kept since widths and folds were (training's, or maskwatch.models.studies.levers --save-oof).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskwatch.models.evaluation.metrics import P_GRID, SCORE_GRID, Tally
from maskwatch.models.modelinfo import ModelError
from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal

BANDS = (0.0, 16.0, 24.0, float("inf"))
A_GRID = (0.5, 1.0, 2.0, 4.0)
MAX_ROUNDS = 6
RULES = np.asarray([(t, s) for t in P_GRID for s in SCORE_GRID])  # best_rule's grid and order


class StudyError(ModelError):
    """An out-of-fold file this study cannot use."""


@dataclass(frozen=True)
class Outcomes:
    """One bucket's out-of-fold detections as arrays."""
    score: np.ndarray   # what the p threshold cuts: p, or p * face^a
    conf: np.ndarray
    hit: np.ndarray
    band: np.ndarray
    fold: np.ndarray
    fold_violations: np.ndarray

    @classmethod
    def of(cls, t: Tally, folds: int, a: float = 0.0) -> Outcomes:
        p, conf = np.asarray(t.p_no_mask, np.float64), np.asarray(t.conf, np.float64)
        band = np.searchsorted(BANDS, np.asarray(t.width, np.float64), side="right") - 1
        return cls(p * conf ** a, conf, np.asarray(t.on_violation, bool), band, np.asarray(t.fold),
                   np.asarray([t.fold_violations[k] for k in range(folds)]))

    def counts(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TP and FP of every grid rule, (rules, bands), over the detections in `keep`."""
        flags = (self.score[keep] >= RULES[:, :1]) & (self.conf[keep] >= RULES[:, 1:])
        hit, band = self.hit[keep], self.band[keep]
        tp = np.stack([(flags & (hit & (band == b))).sum(1) for b in range(len(BANDS) - 1)], 1)
        fp = np.stack([(flags & (~hit & (band == b))).sum(1) for b in range(len(BANDS) - 1)], 1)
        return tp, fp


def f1(tp, fp, violations):
    prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    rec = tp / max(violations, 1)
    return np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)


def choose(buckets: list[Outcomes], keep: list[np.ndarray], violations: list[int], per_band: bool) -> np.ndarray:
    """Rule index per band, best mean F1 over the buckets (ties: best_rule's order of preference)."""
    counts = [o.counts(k) for o, k in zip(buckets, keep, strict=True)]

    def mean_f1(choice: np.ndarray, band: int) -> np.ndarray:
        """Mean F1 over the buckets for every grid rule in `band`, the other bands as `choice`."""
        out = []
        for (tp, fp), v in zip(counts, violations, strict=True):
            others = [b for b in range(tp.shape[1]) if b != band]
            out.append(f1(tp[:, band] + tp[choice[others], others].sum(),
                          fp[:, band] + fp[choice[others], others].sum(), v))
        return np.mean(out, axis=0)

    whole = np.mean([f1(tp.sum(1), fp.sum(1), v) for (tp, fp), v in zip(counts, violations, strict=True)], axis=0)
    # best_rule's preference: F1 to 4 places, then p nearest 0.5, the lower face score, the earlier rule
    best = int(np.lexsort((-np.arange(len(RULES)), -RULES[:, 1], -np.abs(RULES[:, 0] - 0.5), np.round(whole, 4)))[-1])
    choice = np.full(len(BANDS) - 1, best)
    for _ in range(MAX_ROUNDS if per_band else 0):
        before = choice.copy()
        for b in range(len(choice)):
            gain = mean_f1(choice, b)
            if np.round(gain.max(), 4) > np.round(gain[choice[b]], 4):
                choice[b] = int(np.argmax(np.round(gain, 4)))
        if (choice == before).all():
            break
    return choice


def score(buckets: list[Outcomes], choice_of, folds: int, shown: list[Outcomes] | None = None) -> dict:
    """In sample (chosen and scored on all folds) and cross-fitted (chosen without the fold scored);
    chosen on `buckets` and scored on `shown` (default: the same buckets)."""
    shown = buckets if shown is None else shown
    out = {}
    choice = choice_of([np.ones(len(o.hit), bool) for o in buckets], [int(o.fold_violations.sum()) for o in buckets])
    totals = [int(o.fold_violations.sum()) for o in shown]
    tp_fp = [o.counts(np.ones(len(o.hit), bool)) for o in shown]
    out["in_sample"] = [_summary(tp[choice, range(len(choice))].sum(), fp[choice, range(len(choice))].sum(), v)
                        for (tp, fp), v in zip(tp_fp, totals, strict=True)]
    out["rule"] = [[round(float(x), 4) for x in RULES[c]] for c in choice]
    tp_all, fp_all = np.zeros(len(shown), int), np.zeros(len(shown), int)
    for k in range(folds):
        train = [o.fold != k for o in buckets]
        chosen = choice_of(train, [int(o.fold_violations.sum() - o.fold_violations[k]) for o in buckets])
        for i, o in enumerate(shown):
            tp, fp = o.counts(o.fold == k)
            tp_all[i] += tp[chosen, range(len(chosen))].sum()
            fp_all[i] += fp[chosen, range(len(chosen))].sum()
    out["cross_fitted"] = [_summary(tp, fp, v) for tp, fp, v in zip(tp_all, fp_all, totals, strict=True)]
    return out


def study_by_set(cv: CrossVal) -> dict:
    """Where training pooled several scene sets (train --more-scenes): the one rule and a rule per
    size, each chosen on the pooled faces (training's way, where the largest set weighs most) or
    for every set alike (the mean F1 over each set's all and >= 24 px faces), scored per set."""
    if len(cv.by_source) < 2:
        raise StudyError("these out-of-fold numbers hold one scene set (or were kept before sets were): "
                         "nothing to weigh per set")
    sets = sorted(cv.by_source)
    shown = [Outcomes.of(cv.by_source[src][name], cv.folds) for src in sets for name in RULE_BUCKETS]
    objectives = {"pooled": [Outcomes.of(cv.tallies[name], cv.folds) for name in RULE_BUCKETS], "sets alike": shown}
    results = {}
    for objective, buckets in objectives.items():
        for family, per_band in (("one rule", False), ("per size", True)):
            r = score(buckets, lambda keep, v, b=buckets, pb=per_band: choose(b, keep, v, pb), cv.folds, shown)
            n = len(RULE_BUCKETS)
            results[f"{family}, chosen {objective}"] = {
                "rule": r["rule"],
                **{part: {src: r[part][i * n:(i + 1) * n] for i, src in enumerate(sets)}
                   for part in ("in_sample", "cross_fitted")}}
    return results


def set_table(results: dict) -> str:
    """study_by_set's results: cross-fitted F1 all / >= 24 px per set, and the rule chosen on all folds."""
    sets = sorted(next(iter(results.values()))["cross_fitted"])
    lines = ["| rule, chosen | " + " | ".join(f"{s}: cross-fitted P / R / **F1** all, F1 >= 24 px" for s in sets)
             + " | rule on all folds (t, s) per band < 16 / 16-24 / >= 24 |",
             "|---|" + "---|" * len(sets) + "---|"]
    for name, r in results.items():
        cols = []
        for src in sets:
            a, b = r["cross_fitted"][src]
            cols.append(f"{a['precision']:.3f} / {a['recall']:.3f} / **{a['f1']:.3f}**, {b['f1']:.3f}")
        rules = " / ".join(f"{p:g}, {s:g}" for p, s in r["rule"])
        lines.append(f"| {name} | " + " | ".join(cols) + f" | {rules} |")
    return "\n".join(lines)


def _summary(tp, fp, violations) -> dict:
    tp, fp = int(tp), int(fp)
    return {"tp": tp, "fp": fp, "precision": round(tp / max(tp + fp, 1), 3),
            "recall": round(tp / max(violations, 1), 3),
            "f1": round(float(f1(np.asarray(tp), np.asarray(fp), violations)), 3)}


def study(cv: CrossVal) -> dict:
    if not cv.has_folds():
        raise StudyError("these out-of-fold numbers keep no detection widths or folds (kept before "
                         "2026-12-03): run maskwatch.models.studies.levers --save-oof with the fold models again")
    tallies = [cv.tallies[name] for name in RULE_BUCKETS]
    families = {"global": (0.0, False), "per size": (0.0, True)} | {f"face-aware, a={a:g}": (a, False) for a in A_GRID}
    results = {}
    for name, (a, per_band) in families.items():
        buckets = [Outcomes.of(t, cv.folds, a) for t in tallies]
        results[name] = score(buckets, lambda keep, v, b=buckets, pb=per_band: choose(b, keep, v, pb), cv.folds)
    return results


def table(results: dict) -> str:
    lines = ["| rule | in sample F1 all / >= 24 px | cross-fitted P / R / **F1** all | cross-fitted F1 >= 24 px |"
             " rule on all folds (t, s) per band < 16 / 16-24 / >= 24 (t cuts p, or p x face^a) |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        rules = " / ".join(f"{p:g}, {s:g}" for p, s in r["rule"])
        lines.append(f"| {name} | {cells(r)} | {rules} |")
    return "\n".join(lines)


def cells(result: dict) -> str:
    """score()'s result as table cells: in sample F1 all / >= 24 px | cross-fitted P / R / F1 | its F1 >= 24 px."""
    (ia, ib), (ca, cb) = result["in_sample"], result["cross_fitted"]
    return (f"{ia['f1']:.3f} / {ib['f1']:.3f} | {ca['precision']:.3f} / {ca['recall']:.3f} / **{ca['f1']:.3f}** | "
            f"{cb['f1']:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("oof", type=Path, help="out_of_fold.npz")
    ap.add_argument("--folds", type=int, help="how many folds it was cut in (files since 2026-12-03 say)")
    ap.add_argument("--out", type=Path, help="write rulestudy.json here")
    args = ap.parse_args(argv)
    cv = CrossVal.load(args.oof, args.folds)
    results = study(cv)
    print(table(results))
    if len(cv.by_source) > 1:
        results["by_set"] = study_by_set(cv)
        print("\n" + set_table(results["by_set"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
