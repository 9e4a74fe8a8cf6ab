"""The gate (docs/method.md §4): skip a prompt whose meta predictions agree that it is trivial or
unsolvable, and the label that audits that decision (the prompt's group had zero variance)."""

from __future__ import annotations

import numpy as np


def gate_prompts(pred_pass: list[list[float]], std_max: float = 0.1, margin: float = 0.1,
                 min_votes: int = 2) -> list[bool]:
    """Gate (skip) a prompt when its predicted pass rates agree and are near 0 or near 1:
    std(p̂) < std_max and (mean p̂ ≥ 1 − margin or mean p̂ ≤ margin).

    Needs ``min_votes`` parseable predictions (``efficient.gate_min_votes``, default 2: two of M
    meta rollouts already decide; raise it to demand a majority). The spread is the *population*
    std (ddof 0) of the votes, while the advantages use the *sample* std (ddof 1): the paper gives
    "std < 0.1" without saying which; with M = 8 votes the two differ by a factor √(8/7) ≈ 1.07."""
    gated = []
    for ps in pred_pass:
        if len(ps) < min_votes:
            gated.append(False)
            continue
        mean, std = float(np.mean(ps)), float(np.std(ps))  # np.std: population std (ddof 0)
        gated.append(std < std_max and (mean >= 1 - margin or mean <= margin))
    return gated


def gate_records(gated: list[bool], stats: list, audit_share: float,
                 sampled_by: list[bool] | None = None) -> list[tuple]:
    """(gated?, zero variance?, weight) for each prompt with solution rollouts
    (:class:`~masa_lite.meta.scoring.PromptStats`); an audited gated prompt has weight
    1/audit share: it stands for the gated prompts it was drawn from. ``sampled_by``: the gate
    whose audit chose which prompts were rolled out, when ``gated`` is another gate judged on the
    same prompts (default: ``gated`` itself)."""
    sampled_by = gated if sampled_by is None else sampled_by
    return [(gated[i], stats[i].zero_variance, 1 / audit_share if sampled_by[i] else 1.0)
            for i in range(len(stats)) if stats[i] is not None]


# ---- a free predictor to compare with: the level's running pass rate ---------------------------

def level_pass_rates(window: list[dict]) -> dict:
    """Each level's running pass rate: the mean pass rate of its rolled-out prompts over
    ``window``, a list of per-step ``{level: [pass rates]}`` (the last steps)."""
    sums: dict = {}
    for step in window:
        for level, rates in step.items():
            total, n = sums.get(level, (0.0, 0))
            sums[level] = (total + sum(rates), n + len(rates))
    return {level: total / n for level, (total, n) in sums.items() if n}


def level_gate(levels: list, rates: dict, margin: float = 0.1) -> list[bool]:
    """What a difficulty-aware prompt filter with no meta path would gate: every prompt whose
    level's running pass rate is ≥ 1 − margin or ≤ margin (a level without data is never gated).
    It knows the level, not the problem — the baseline that self-prediction must beat."""
    return [lv in rates and (rates[lv] >= 1 - margin or rates[lv] <= margin) for lv in levels]


def level_window_step(levels: list, stats: list) -> dict:
    """One step's ``{level: [pass rates]}`` of the prompts that were rolled out (``stats``:
    :class:`~masa_lite.meta.scoring.PromptStats` or None per prompt; prompts without a level are
    left out)."""
    out: dict = {}
    for lv, st in zip(levels, stats):
        if st is not None and lv is not None:
            out.setdefault(lv, []).append(st.pass_rate)
    return out
