"""Calibrated confidence: p(violation) that means what it says.

The classifier's raw probabilities are over-confident (fine-tuned on balanced epochs, where half
the draws are violations; real scenes have one in six). Two maps are fitted on the out-of-fold
detections of cross-validation (the pipeline's own faces, detector boxes and all, each labelled by
whether it is a ground-truth violation):
- one temperature T on the violation logit, p_cal = sigmoid(logit(p) / T);
- Platt scaling, p_cal = sigmoid(a logit(p) + b): a temperature that may also shift, still smooth;
- isotonic regression (pool-adjacent-violators), interpolated between its blocks, which can bend
  where a logistic map cannot (confident detections that are no annotated violation), but is
  nearly flat between its knots.
Each is scored on the half of the detections it was not fitted on (two random halves, both ways),
and the one with the lower held-out ECE is kept. All are strictly increasing, so rankings by p and
every decision made at a threshold are unchanged; the threshold is stored on the calibrated scale.
What a map can change is a ranking by face score x p (violation AP): a flat stretch of the map
hands the order of the faces in it to the face score, which a smooth map does not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-6
T_GRID = np.exp(np.linspace(np.log(0.2), np.log(8.0), 241))
IDENTITY_SHARE = 1e-3  # blended into the isotonic map so that it is strictly increasing
METHODS = ("none", "temperature", "platt", "isotonic")
SLOPES = (0.05, 20.0)  # Platt's slope a: positive (increasing), within what a logit could need


def onto(p, own: float, target: float) -> np.ndarray:
    """A model's served p re-expressed on another's scale, so that the model decides at `target`
    what it decided at its own threshold `own`: piecewise linear, 0 and 1 kept, rankings unchanged
    (the second model for wide faces, classifier.large_faces)."""
    p = np.asarray(p, np.float64)
    return np.where(p < own, p * target / own, target + (p - own) * (1 - target) / (1 - own)).astype(np.float32)


@dataclass(frozen=True)
class Calibration:
    """The map from a model's raw p(violation) to the served one, as stored in metadata.json."""
    method: str = "none"
    temperature: float = 1.0
    knots: tuple[tuple[float, float], ...] = ()  # isotonic: (raw p, calibrated p), both increasing
    slope: float = 1.0      # platt: sigmoid(slope * logit(p) + intercept)
    intercept: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            xs, ys = zip(*self.knots, strict=True)
            q = np.interp(np.asarray(p, np.float64), xs, ys)
            return ((1 - IDENTITY_SHARE) * q + IDENTITY_SHARE * np.asarray(p, np.float64)).astype(np.float32)
        if self.method == "platt":
            return _sigmoid(self.slope * _logit(p) + self.intercept).astype(np.float32)
        return apply_temperature(p, self.temperature)

    @classmethod
    def from_meta(cls, meta: dict | None) -> Calibration:
        """ValueError naming the field when the stored calibration is not one we can serve."""
        meta = meta or {}
        method = meta.get("method", "temperature" if "temperature" in meta else "none")
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r}, expected one of {', '.join(METHODS)}")
        t = float(meta.get("temperature", 1.0))
        if not 0.05 <= t <= 20:
            raise ValueError(f"calibration temperature {t} out of 0.05..20")
        slope, intercept = float(meta.get("slope", 1.0)), float(meta.get("intercept", 0.0))
        if not (SLOPES[0] <= slope <= SLOPES[1] and -20 <= intercept <= 20):
            raise ValueError(f"calibration slope {slope} (expected {SLOPES[0]}..{SLOPES[1]}) or intercept "
                             f"{intercept} (expected -20..20) out of range")
        knots = tuple((float(x), float(y)) for x, y in meta.get("knots", ())) if method == "isotonic" else ()
        if method == "isotonic":
            xs, ys = np.array([k[0] for k in knots]), np.array([k[1] for k in knots])
            if len(knots) < 2 or (np.diff(xs) <= 0).any() or (np.diff(ys) < 0).any() \
                    or xs.min() < 0 or xs.max() > 1 or ys.min() < 0 or ys.max() > 1:
                raise ValueError("calibration knots: need 2 or more (p, q) pairs in 0..1, p strictly and q "
                                 "never decreasing")
        return cls(method, t, knots, slope, intercept)

    def to_meta(self) -> dict:
        out: dict = {"method": self.method, "temperature": round(self.temperature, 4)}
        if self.knots:
            out["knots"] = [[x, y] for x, y in self.knots]  # unrounded: rounding could tie two p
        if self.method == "platt":
            out.update(slope=self.slope, intercept=self.intercept)
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(z, np.float64), -500.0, 500.0)))  # exp overflows past 709


def apply_temperature(p: np.ndarray, t: float) -> np.ndarray:
    if t == 1.0:
        return np.asarray(p, np.float32)
    return _sigmoid(_logit(p) / t).astype(np.float32)


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """The T (on a log grid, 0.2..8) with the lowest negative log-likelihood of labels y in {0, 1}."""
    z, y = _logit(p), np.asarray(y, np.float64)
    if not len(z) or y.min() == y.max():
        return 1.0

    def nll(t: float) -> float:
        q = np.clip(_sigmoid(z / t), EPS, 1 - EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))

    return float(min(T_GRID, key=nll))


def fit_platt(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of sigmoid(a logit(p) + b) by Newton's method on the log-likelihood, with a small
    ridge so that separable labels stop at a finite slope; a kept within SLOPES."""
    z, y = _logit(p), np.asarray(y, np.float64)
    if not len(z) or y.min() == y.max():
        return 1.0, 0.0
    x = np.stack([z, np.ones_like(z)], axis=1)
    w = np.array([1.0, 0.0])
    for _ in range(100):
        q = _sigmoid(x @ w)
        grad = x.T @ (q - y) + 1e-3 * (w - [1.0, 0.0])
        hess = (x * (q * (1 - q))[:, None]).T @ x + 1e-3 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.abs(step).max() < 1e-9:
            break
    return float(np.clip(w[0], *SLOPES)), float(np.clip(w[1], -20, 20))


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Pool-adjacent-violators on (p, y) sorted by p; knots at each block's mean p, from (0, first
    block's rate) to (1, last block's rate), so the map covers 0..1."""
    order = np.argsort(np.asarray(p, np.float64), kind="stable")
    ps, ys = np.asarray(p, np.float64)[order], np.asarray(y, np.float64)[order]
    blocks: list[list[float]] = []  # [sum of y, sum of p, count]
    for pi, yi in zip(ps, ys, strict=True):
        blocks.append([yi, pi, 1.0])
        # merge while the rates do not rise, or the two blocks sit at one p (ties in p)
        while len(blocks) > 1 and (blocks[-2][0] / blocks[-2][2] >= blocks[-1][0] / blocks[-1][2]
                                   or blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]):
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    knots = [(b[1] / b[2], b[0] / b[2]) for b in blocks]
    xs = [0.0] + [x for x, _ in knots if 0.0 < x < 1.0] + [1.0]
    qs = [knots[0][1]] + [q for x, q in knots if 0.0 < x < 1.0] + [knots[-1][1]]
    return tuple(zip(xs, qs, strict=True))


def fit(p: np.ndarray, y: np.ndarray, seed: int = 0, keeps=None) -> tuple[Calibration, dict]:
    """The calibration with the lower ECE on held-out halves, refitted on all of (p, y), among those
    `keeps(calibration)` accepts (None: all; no calibration is always a candidate); and the held-out
    ECE of each candidate."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    if not len(p) or y.min() == y.max():
        return Calibration(), {}
    fitters = {"temperature": lambda pp, yy: Calibration("temperature", fit_temperature(pp, yy)),
               "platt": lambda pp, yy: Calibration("platt", 1.0, (), *fit_platt(pp, yy)),
               "isotonic": lambda pp, yy: Calibration("isotonic", knots=fit_isotonic(pp, yy))}
    half = np.random.default_rng(seed).permutation(len(p)) < len(p) // 2
    held_out = {"none": reliability(p, y)["ece"]}
    for name, fitter in fitters.items():
        eces = [reliability(fitter(p[a], y[a]).apply(p[~a]), y[~a])["ece"] for a in (half, ~half)
                if y[a].min() != y[a].max()]
        held_out[name] = round(float(np.mean(eces)), 4) if eces else float("inf")
    fitted = {name: fitter(p, y) for name, fitter in fitters.items()}
    allowed = [n for n in held_out if n == "none" or keeps is None or keeps(fitted[n])]
    best = min(allowed, key=held_out.get)
    return fitted.get(best, Calibration()), held_out


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
