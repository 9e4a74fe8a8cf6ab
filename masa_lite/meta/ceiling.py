"""How high can calibration r go? Two reference values for one evaluation's pass-rate pairs.

The yardstick (docs/method.md §2) is Pearson r between the mean predicted and the measured pass
rate over held-out problems. The measured rate is itself an estimate from ``n`` samples, and on
the synthetic task most of its spread comes from the level. Two numbers put a measured r in
context; neither changes it:

* **level oracle** — r of a predictor that reports, for every problem, the mean measured pass
  rate of its level *on these very problems* (in-sample, so slightly optimistic). A meta path
  that has learned the difficulty curve exactly, and nothing about single problems, scores this.
  Beating it needs per-problem knowledge within a level.
* **noise ceiling** — r of a predictor that knows every problem's true pass rate, attenuated by
  the binomial noise of an ``n``-sample estimate (Spearman's correction for attenuation):
  ``sqrt(1 − mean_i p_i(1 − p_i)/(n − 1) / var(p))``, where ``p_i(1 − p_i)/(n − 1)`` is the
  unbiased estimate of the variance of the ``n``-sample mean.

GRPO flattens the difficulty curve (docs/meta-awareness-study.md), which lowers both.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from masa_lite.meta.diagnostics import mean_by_level
from masa_lite.stats import calibration


def level_oracle_corr(levels: Sequence, actual: Sequence[float]) -> float:
    """Pearson r between each problem's measured pass rate and its level's mean (NaN when either
    side is constant, e.g. a single level)."""
    means = mean_by_level(levels, actual)
    return calibration([means[lv] for lv in levels], list(actual))["corr"]


def noise_ceiling_corr(actual: Sequence[float], n: int) -> float:
    """The largest expected r of any predictor against ``n``-sample pass-rate estimates:
    √(reliability), reliability = 1 − (mean binomial noise variance) / (observed variance)."""
    if n < 2:
        raise ValueError(f"noise_ceiling_corr needs n ≥ 2 samples per problem (got n={n})")
    y = np.asarray(actual, float)
    if len(y) < 2 or y.var() == 0:
        return float("nan")
    noise = float(np.mean(y * (1 - y) / (n - 1)))  # unbiased estimate of Var(p̂) per problem
    return math.sqrt(max(0.0, 1.0 - noise / float(y.var())))


def pass_rate_ceilings(pairs: Sequence[dict], n_samples: int) -> dict:
    """``calib_pass_level_oracle`` and ``calib_pass_noise_ceiling`` of one evaluation's calibration
    pairs (:func:`masa_lite.evaluation.calibration_pairs`), for the history."""
    levels = [p["level"] for p in pairs]
    actual = [p["actual_pass_rate"] for p in pairs]
    if n_samples < 2 or len(actual) < 2:
        return {}
    return {"calib_pass_level_oracle": level_oracle_corr(levels, actual),
            "calib_pass_noise_ceiling": noise_ceiling_corr(actual, n_samples)}
