"""Training and evaluation figures (PNG), drawn with matplotlib's Agg backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def training_curves(history: dict[str, list[float]], path: Path) -> None:
    plt = _plt()
    keys = [k for k in ("loss", "val_loss", "pr_auc", "val_pr_auc", "accuracy", "val_accuracy") if k in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, group in zip(axes, ("loss", "pr_auc", "accuracy")):
        for k in keys:
            if k.endswith(group):
                ax.plot(np.arange(1, len(history[k]) + 1), history[k], label=k)
        ax.set_title(group)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """Counts of true class (rows) against predicted (columns)."""
    cm = np.zeros((k, k), int)
    np.add.at(cm, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return cm


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, names, path: Path | None, title: str) -> list:
    """Counts of true class (rows) against predicted (columns), returned, and drawn to path if given."""
    k = len(names)
    cm = confusion_counts(labels, predicted, k)
    if path is None:
        return cm.tolist()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * k, 1.4 + 1.1 * k))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return cm.tolist()


def pr_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, (precision, recall) in curves.items():
        ax.plot(recall, precision, label=name)
    ax.set_xlabel("violation recall")
    ax.set_ylabel("violation precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def reliability_diagram(before: dict, after: dict, path, title: str, method: str = "calibrated") -> None:
    """The reliability diagram: observed violation rate against stated p, before and after."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    for rel, name, style in ((before, "raw", "o--"), (after, method, "s-")):
        xs, ys = [b[0] for b in rel["bins"]], [b[1] for b in rel["bins"]]
        ax.plot(xs, ys, style, label=f"{name} (ECE {rel['ece']:.3f})")
    ax.set_xlabel("stated p(violation)")
    ax.set_ylabel("observed share of violations")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
