"""Does accuracy follow meta-awareness? Per-problem deltas (Fig. 1c/d) and a Shapley R² split (Fig. 6).

From the calibration pairs of one run before and after training (``calibration.jsonl``: per held-out
problem its actual and predicted pass rate and length), :func:`meta_deltas` computes per problem

* Δaccuracy        = p_after − p_before                       (actual pass rate),
* Δdifficulty-awareness = |p̂ − p|_before − |p̂ − p|_after      (> 0: the pass-rate prediction improved),
* Δlength-awareness    = e_before − e_after, with e = |ℓ̂ − ℓ| / ℓ (relative length error),
* Δmeta = the mean of the awareness deltas available for that problem.

The paper bins problems by Δmeta and shows Δaccuracy rising with it (Fig. 1c/d), and splits the
explained variance of accuracy among notion, difficulty, length and step awareness with Shapley
values (Fig. 6). :func:`shapley_r2` does that split for any set of per-problem features: each
feature gets its average marginal contribution to the R² of a least-squares fit over all orders in
which features can be added (Lipovetsky & Conklin 2001); the shares sum to the full model's R².
Caveat: Δaccuracy and Δdifficulty-awareness both contain the actual pass rate p, so part of their
shared variance is mechanical (a constant prediction grows "more aware" when p moves towards it).
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

from masa_lite.stats import calibration


def _abs_err(pred, actual, relative=False):
    if pred is None or actual is None:
        return None
    err = abs(pred - actual)
    return err / actual if relative else err


def meta_deltas(before: Sequence[dict], after: Sequence[dict]) -> list[dict]:
    """Per problem present in both (matched by ``id``): d_acc, d_pass, d_len, d_meta, level."""
    b = {p.get("id"): p for p in before}
    out = []
    for a in after:
        p = b.get(a.get("id")) if a.get("id") is not None else None
        if p is None:
            continue
        d = {"id": a["id"], "level": a.get("level"),
             "d_acc": a["actual_pass_rate"] - p["actual_pass_rate"]}                # Δaccuracy
        eb, ea = (_abs_err(p.get("pred_pass_rate"), p["actual_pass_rate"]),
                  _abs_err(a.get("pred_pass_rate"), a["actual_pass_rate"]))
        d["d_pass"] = eb - ea if eb is not None and ea is not None else None       # |p̂−p| shrank
        lb = _abs_err(p.get("pred_length"), p.get("actual_length"), relative=True)
        la = _abs_err(a.get("pred_length"), a.get("actual_length"), relative=True)
        d["d_len"] = lb - la if lb is not None and la is not None else None        # |ℓ̂−ℓ|/ℓ shrank
        parts = [v for v in (d["d_pass"], d["d_len"]) if v is not None]
        d["d_meta"] = sum(parts) / len(parts) if parts else None
        out.append(d)
    return out


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """R² of the least-squares fit y ≈ b₀ + x·b (x: [n, k], k may be 0)."""
    y = np.asarray(y, float)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if ss_tot == 0:
        return float("nan")
    design = np.column_stack([np.ones(len(y)), np.asarray(x, float).reshape(len(y), -1)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return 1.0 - float((resid ** 2).sum()) / ss_tot


def shapley_r2(features: dict[str, Sequence[float]], y: Sequence[float]) -> dict[str, float]:
    """Shapley decomposition of R²: {feature: share}, summing to the R² of all features together.

    share_j = Σ_{S ⊆ F∖{j}} |S|! (k−|S|−1)! / k! · (R²(S ∪ {j}) − R²(S))."""
    names = list(features)
    k = len(names)
    if k == 0:
        raise ValueError("shapley_r2 needs at least one feature")
    y = np.asarray(y, float)
    cols = {n: np.asarray(features[n], float) for n in names}
    if any(c.shape != y.shape for c in cols.values()):
        raise ValueError("every feature needs one value per observation")
    cache: dict[frozenset, float] = {frozenset(): 0.0}

    def r2(subset: frozenset) -> float:
        if subset not in cache:
            cache[subset] = r_squared(np.column_stack([cols[n] for n in sorted(subset)]), y)
        return cache[subset]

    shares = {}
    for j in names:
        rest = [n for n in names if n != j]
        total = 0.0
        for size in range(k):
            w = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for s in itertools.combinations(rest, size):
                s = frozenset(s)
                total += w * (r2(s | {j}) - r2(s))                 # marginal gain of j after S
        shares[j] = total
    return shares


def acc_meta_corr(deltas: Sequence[dict]) -> float | None:
    """Pearson r of Δaccuracy with Δmeta over problems that have both (the trend of Fig. 1c/d in one
    number: > 0 when problems whose meta-awareness improved more also gained more accuracy). None
    below 5 problems or without spread."""
    rows = [(d["d_acc"], d["d_meta"]) for d in deltas if d.get("d_meta") is not None]
    if len(rows) < 5:
        return None
    r = calibration(*zip(*rows))["corr"]  # NaN without spread on either side
    return None if math.isnan(r) else r


def awareness_r2(deltas: Sequence[dict]) -> dict:
    """Shapley R² of Δaccuracy on the awareness deltas and the problem's level (difficulty itself),
    over problems with every value present; with n, the full R² and the shares."""
    rows = [d for d in deltas if all(d.get(key) is not None for key in ("d_acc", "d_pass", "d_len", "level"))]
    if len(rows) < 5:
        return {"n": len(rows), "r2": float("nan"), "shares": {}}
    feats = {"pass-rate awareness": [d["d_pass"] for d in rows],
             "length awareness": [d["d_len"] for d in rows],
             "level": [float(d["level"]) for d in rows]}
    y = [d["d_acc"] for d in rows]
    shares = shapley_r2(feats, y)
    return {"n": len(rows), "r2": sum(shares.values()), "shares": shares}
