"""Calibrated confidence: p(violation) that means what it says.

The classifier's raw probabilities are over-confident (fine-tuned on balanced epochs, where half
the draws are violations; real scenes have one in six). One temperature T on the violation logit,
fitted on the out-of-fold detections of cross-validation (the pipeline's own faces, detector boxes
and all, each labelled by whether it is a ground-truth violation), rescales them:
p_cal = sigmoid(logit(p) / T). It is monotone, so rankings, AP and every decision made at a
threshold are unchanged; the threshold is stored on the calibrated scale.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-6
T_GRID = np.exp(np.linspace(np.log(0.2), np.log(8.0), 241))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def apply_temperature(p: np.ndarray, t: float) -> np.ndarray:
    if t == 1.0:
        return np.asarray(p, np.float32)
    return (1.0 / (1.0 + np.exp(-_logit(p) / t))).astype(np.float32)


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """The T (on a log grid, 0.2..8) with the lowest negative log-likelihood of labels y in {0, 1}."""
    z, y = _logit(p), np.asarray(y, np.float64)
    if not len(z) or y.min() == y.max():
        return 1.0

    def nll(t: float) -> float:
        q = np.clip(1.0 / (1.0 + np.exp(-z / t)), EPS, 1 - EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))

    return float(min(T_GRID, key=nll))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error over equal-width bins, and the per-bin (mean p, observed rate, count)."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            conf, rate = float(p[m].mean()), float(y[m].mean())
            ece += m.sum() / len(p) * abs(conf - rate)
            rows.append([round(conf, 4), round(rate, 4), int(m.sum())])
    return {"ece": round(float(ece), 4), "bins": rows, "n": int(len(p))}


def plot(before: dict, after: dict, path, title: str) -> None:
    """The reliability diagram: observed violation rate against stated p, before and after."""
    from models.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    for rel, name, style in ((before, "raw", "o--"), (after, "calibrated", "s-")):
        xs, ys = [b[0] for b in rel["bins"]], [b[1] for b in rel["bins"]]
        ax.plot(xs, ys, style, label=f"{name} (ECE {rel['ece']:.3f})")
    ax.set_xlabel("stated p(violation)")
    ax.set_ylabel("observed share of violations")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
