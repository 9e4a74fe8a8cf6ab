"""The numbers masa_lite reports, one home each: unbiased pass@k and the error bars that say
whether an effect is real.

The paper reports pass@k averaged over problems with n samples each (docs/method.md §5).
For one problem with n samples of which c are correct, the unbiased estimator of pass@k
(Chen et al. 2021, "Evaluating Large Language Models Trained on Code") is

    pass@k = 1 − C(n−c, k) / C(n, k)

— the chance that a random k-subset of the n samples contains at least one correct one.
C(n, k) overflows floats for n in the hundreds, so we use the product form

    C(n−c, k) / C(n, k) = Π_{i=n−c+1}^{n} (1 − k / i).

A difference between two checkpoints is only meaningful next to its noise. Problems are the unit
of sampling, so the standard error is taken *over problems* of the per-problem pass rates; it
includes both the spread of difficulty and the binomial noise of having only n samples each.
When two checkpoints are evaluated on the same problems, `paired_difference` removes the shared
difficulty term and is much tighter than comparing two independent error bars.

Also here: precision/recall/F1 of the gate and the cutoff (:func:`prf`), calibration of the meta
path's predictions (:func:`calibration`), time to reach an accuracy (:func:`time_to_reach`) and the
lengths of the correct rollouts L⁺ (:func:`correct_lengths`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: n samples, c of them correct."""
    for name, v in (("n", n), ("c", c), ("k", k)):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > n:
        raise ValueError(f"k = {k} exceeds the number of samples n = {n}")
    if c > n:
        raise ValueError(f"c = {c} correct exceeds the number of samples n = {n}")
    if n - c < k:
        return 1.0  # every k-subset must contain a correct sample
    # 1 − C(n−c, k)/C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i)
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean of pass@k over problems, from (n, c) per problem."""
    if len(counts) == 0:
        raise ValueError("no problems to average over")
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)  # (1/P) Σ_p pass@k(n_p, c_p)


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of per-problem scores: s / √P with the sample std s (ddof 1)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError("a standard error needs at least two per-problem values")
    return float(x.std(ddof=1) / math.sqrt(len(x)))  # SE = s / √P


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval for the mean of per-problem scores.

    Resamples problems with replacement `n_boot` times; returns the (α/2, 1 − α/2) quantiles of
    the resampled means. Makes no normality assumption (useful when most problems score 0 or 1).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError("a bootstrap interval needs at least two per-problem values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def paired_difference(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of after − before over the same problems.

    d_p = after_p − before_p;  mean d̄ = (1/P) Σ_p d_p;  SE = s_d / √P.
    An effect |d̄| below about 2·SE is indistinguishable from evaluation noise.
    """
    a, b = np.asarray(after, dtype=float), np.asarray(before, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"before has {len(b)} problems, after has {len(a)}: pair them first")
    d = a - b  # d_p = after_p − before_p
    return float(d.mean()), standard_error(d)


def prf(predicted: list[bool], actual: list[bool], weights: list[float] | None = None) -> dict:
    """Precision, recall and F1 of ``predicted`` against ``actual`` (weighted counts: an audited
    sample stands for the gated prompts it was drawn from). NaN where undefined."""
    w = weights or [1.0] * len(predicted)
    tp = sum(wi for p, a, wi in zip(predicted, actual, w) if p and a)
    fp = sum(wi for p, a, wi in zip(predicted, actual, w) if p and not a)
    fn = sum(wi for p, a, wi in zip(predicted, actual, w) if not p and a)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = (2 * precision * recall / (precision + recall)
          if tp and not (math.isnan(precision) or math.isnan(recall)) else
          (0.0 if tp + fp + fn else float("nan")))
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def prf_of_records(records: Sequence[tuple]) -> dict:
    """:func:`prf` of (decision, label, weight) records, as the gate and the cutoff log them
    (:func:`masa_lite.efficient.gate.gate_records`, :func:`masa_lite.efficient.cutoff.cutoff_records`)."""
    return prf(*zip(*[(a, b) for a, b, _ in records]), weights=[w for *_, w in records])


def calibration(pred: list[float], actual: list[float]) -> dict:
    """Pearson correlation and mean absolute error of predictions against outcomes."""
    if len(pred) < 2:
        return {"corr": float("nan"), "mae": float("nan"), "n": len(pred)}
    x, y = np.asarray(pred, float), np.asarray(actual, float)
    # ptp, not std: the std of a repeated 0.1 rounds to ~1e-17, and r of that rounding noise is arbitrary
    corr = float(np.corrcoef(x, y)[0, 1]) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
    return {"corr": corr, "mae": float(np.abs(x - y).mean()), "n": len(pred)}


# ---- small statistics used across the library ------------------------------------------------

def finite_number(v) -> bool:
    """Whether ``v`` is a real, finite number (not a bool, None, NaN or ±inf)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def mean_or_none(values: Sequence[float]) -> float | None:
    """The mean of ``values``, or None when there are none."""
    return sum(values) / len(values) if values else None


def correct_lengths(lengths: Sequence[int], correct: Sequence[bool], right: bool = True) -> list[int]:
    """L⁺, the lengths of the correct rollouts (``right=False``: of the wrong ones)."""
    return [n for n, c in zip(lengths, correct) if bool(c) == right]


def zero_variance(correct: Sequence[bool]) -> bool:
    """A group whose rollouts are all right or all wrong: its advantages are all zero (the label
    that audits the gate, docs/method.md §4)."""
    return all(correct) or not any(correct)


# ---- time to reach an accuracy (Fig. 4) ------------------------------------------------------

X_KEYS = {"step": "step", "wall": "wall_seconds"}


def time_to_reach(history, target: float, x: str = "wall") -> float | None:
    """First eval x (``wall_seconds`` for x="wall", ``step`` for x="step") with pass@1 >= target,
    in the order of x; None if the run never reaches it. No interpolation between evals."""
    if x not in X_KEYS:
        raise ValueError(f"x must be 'step' or 'wall', got {x!r}")
    key = X_KEYS[x]
    points = [(float(r[key]), float(r["pass@1"])) for r in history
              if r.get("kind") == "eval" and finite_number(r.get(key)) and finite_number(r.get("pass@1"))]
    for xv, yv in sorted(points):
        if yv >= target:
            return xv
    return None
