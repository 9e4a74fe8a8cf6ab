"""Diagnostics of the meta path: numbers that tell apart the ways it can fail to become calibrated.

The meta path is calibrated when its predicted pass rate p̂ follows the real one *problem by
problem*. It can fail in ways that one correlation number does not tell apart:

* it learns the **marginal** (one average p̂ for every problem) instead of the conditional:
  the mean p̂ per level is flat while the real pass rate falls with the level
  (:func:`mean_by_level`, :func:`level_gap`);
* it **collapses**: every meta rollout of a prompt gives the same value, so the group advantage
  that would teach the conditional is zero (:func:`value_entropy`, :func:`within_group_spread`);
* its advantage is **dominated by another reward part**: r_meta averages r_pass, r_len and
  r_notion, and the part with the largest within-group variance decides the sign of each meta
  rollout's advantage (:func:`advantage_variance_shares`).

All functions are pure and take plain lists; the trainer logs them every step and every evaluation
(:func:`train_diagnostics`, :func:`eval_diagnostics`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Sequence

from masa_lite.meta.answer import PARTS


def mean_by_level(levels: Sequence, values: Sequence[float | None]) -> dict:
    """{level: mean of the values of that level's items}, skipping None."""
    acc: dict = defaultdict(list)
    for lv, v in zip(levels, values):
        if v is not None:
            acc[lv].append(v)
    return {lv: sum(v) / len(v) for lv, v in sorted(acc.items())}


def level_gap(by_level: dict) -> float | None:
    """Mean at the easiest level minus mean at the hardest level present (None with < 2 levels).

    For predicted pass rates this is the *no-collapse* number: a meta path that predicts one
    constant has a gap of 0, whatever the real gap is."""
    if len(by_level) < 2:
        return None
    lo, hi = min(by_level), max(by_level)
    return by_level[lo] - by_level[hi]


def value_entropy(values: Sequence) -> float:
    """Empirical entropy (nats) of a list of discrete predictions, e.g. a prompt's pass_rate
    integers: 0 when they all agree, log(M) at most for M distinct values."""
    if not values:
        return float("nan")
    n = len(values)
    return -sum(c / n * math.log(c / n) for c in Counter(values).values())


def population_std(values: Sequence[float]) -> float:
    """Standard deviation with ddof 0 (NaN without values)."""
    if not values:
        return float("nan")
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def within_group_spread(groups: Sequence[Sequence[float]]) -> float:
    """Mean over prompts (with ≥ 2 predictions) of the std of their predicted pass rates p̂."""
    stds = [population_std(g) for g in groups if len(g) >= 2]
    return sum(stds) / len(stds) if stds else float("nan")


def advantage_variance_shares(part_rewards: Sequence[Sequence[float]], group_ids: Sequence,
                              enabled: Sequence[str] = PARTS) -> dict:
    """Share of the within-group variance of r_meta that each reward part contributes.

    r_meta = (1/P) Σ_p r_p over the P enabled parts, so within a group
    Var(r_meta) = Σ_p Cov(r_p / P, r_meta): part p's share is Cov(r_p / P, r_meta) / Var(r_meta),
    pooled over all groups (sums of within-group covariances). The shares sum to 1; a part
    whose values move against r_meta can have a negative share. NaN shares when r_meta has no
    within-group variance at all (every group agrees: no meta advantage anywhere)."""
    idx = [PARTS.index(p) for p in enabled]
    groups: dict = defaultdict(list)
    for row, g in zip(part_rewards, group_ids):
        groups[g].append([row[i] for i in idx])
    cov = [0.0] * len(idx)
    var = 0.0
    for rows in groups.values():
        n = len(rows)
        totals = [sum(r) / len(idx) for r in rows]
        mean_t = sum(totals) / n
        for j in range(len(idx)):
            mean_p = sum(r[j] for r in rows) / n
            cov[j] += sum((r[j] / len(idx) - mean_p / len(idx)) * (t - mean_t)
                          for r, t in zip(rows, totals))
        var += sum((t - mean_t) ** 2 for t in totals)
    if var <= 0:
        return {p: float("nan") for p in enabled}
    return {p: c / var for p, c in zip(enabled, cov)}


def _level_keys(prefix: str, by_level: dict) -> dict:
    return {f"{prefix}_L{lv}": v for lv, v in by_level.items()}


def train_diagnostics(levels: Sequence, pred_pass: Sequence[Sequence[float]],
                      part_rewards: Sequence[Sequence[float]] | None = None,
                      group_ids: Sequence | None = None,
                      enabled: Sequence[str] = PARTS) -> dict:
    """One training step's meta diagnostics, as flat history keys.

    ``levels``, ``pred_pass``: per prompt, its level and its meta rollouts' p̂ values;
    ``part_rewards`` / ``group_ids``: per scored meta rollout, its (r_pass, r_len, r_notion) and
    its prompt."""
    means = mean_by_level(levels, [sum(p) / len(p) if p else None for p in pred_pass])
    entropies = mean_by_level(levels, [value_entropy([round(v, 6) for v in p]) if p else None
                                       for p in pred_pass])
    out = {**_level_keys("meta_pred_pass", means), **_level_keys("meta_pass_entropy", entropies),
           "meta_pass_spread": within_group_spread(pred_pass),
           "meta_pred_gap": level_gap(means)}
    if part_rewards is not None and group_ids is not None and len(part_rewards):
        shares = advantage_variance_shares(part_rewards, group_ids, enabled)
        out.update({f"meta_adv_share_{p}": v for p, v in shares.items()})
    return out


def eval_diagnostics(pairs: Sequence[dict], pred_pass: Sequence[Sequence[float]] | None = None) -> dict:
    """An evaluation's per-level calibration picture from its calibration pairs (one per held-out
    problem: level, actual and mean predicted pass rate) and, optionally, each problem's p̂ values."""
    levels = [p["level"] for p in pairs]
    pred = mean_by_level(levels, [p["pred_pass_rate"] for p in pairs])
    actual = mean_by_level(levels, [p["actual_pass_rate"] for p in pairs])
    out = {**_level_keys("pred_pass", pred), **_level_keys("actual_pass", actual),
           "pred_pass_gap": level_gap(pred), "actual_pass_gap": level_gap(actual)}
    if pred_pass is not None:
        ent = mean_by_level(levels, [value_entropy([round(v, 6) for v in p]) if p else None
                                     for p in pred_pass])
        out.update(_level_keys("pass_entropy", ent))
        out["pass_spread"] = within_group_spread(pred_pass)
    return out
