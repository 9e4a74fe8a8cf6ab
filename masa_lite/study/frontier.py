"""How well could the gate and the cutoff do on this task at all? (docs/meta-awareness-study.md,
Finding 11)

The training-time audits (:func:`~masa_lite.efficient.gate.gate_records`,
:func:`~masa_lite.efficient.cutoff.cutoff_records`) score the decisions a run made with its one
threshold. These functions sweep the threshold instead, on held-out problems, and can be fed any
predictor: the meta path's own predictions, or a reference that knows more (another policy's
measured pass rates, a problem's measured mean correct length). The labels are the audits' own:

* gate: a prompt is *zero-variance* when all of its rollouts agree (pass rate 0 or 1);
* cutoff: a rollout *would have been wrong* when it is not correct after running to the limit.

A threshold at which even a well-informed predictor stays below a target says the target is a
property of the task (how often a group of 8 agrees, how much longer wrong solutions are), not of
the meta path. :func:`other_runs_pass_rates` builds the best-informed pass-rate reference the study
has: the other policies' measured pass rates on the same problems.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from masa_lite.efficient.cutoff import cutoff_budget
from masa_lite.efficient.gate import gate_prompts
from masa_lite.stats import correct_lengths, mean_or_none, prf


def gate_frontier(pred_pass: Sequence[float | None], actual_pass: Sequence[float],
                  margins: Sequence[float] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)) -> list[dict]:
    """Per margin m: gate a problem when its predicted pass rate p̂ ≥ 1 − m or p̂ ≤ m (no
    prediction: not gated), against the label "measured pass rate is 0 or 1" (zero variance).

    Returns one dict per margin: ``margin``, ``gated`` (share of problems gated), ``precision``,
    ``recall``, ``f1`` and ``base_rate`` (share of zero-variance problems: the precision of a gate
    that knows nothing). The rule is :func:`~masa_lite.efficient.gate.gate_prompts` with the
    prediction as a single vote, so its spread rule (std < 0.1 across votes) never binds: it needs
    every vote, and only tightens the gate."""
    if len(pred_pass) != len(actual_pass) or not actual_pass:
        raise ValueError(f"need one prediction per problem: {len(pred_pass)} predictions, "
                         f"{len(actual_pass)} measured pass rates")
    label = [a in (0.0, 1.0) for a in actual_pass]
    votes = [[] if p is None else [p] for p in pred_pass]  # no prediction: no vote, never gated
    rows = []
    for m in margins:
        gated = gate_prompts(votes, margin=m, min_votes=1)  # one vote: its spread is 0
        r = prf(gated, label)
        rows.append({"margin": m, "gated": sum(gated) / len(gated), "precision": r["precision"],
                     "recall": r["recall"], "f1": r["f1"], "base_rate": sum(label) / len(label)})
    return rows


def reference_split(lengths: Sequence[int], correct: Sequence[bool],
                    n: int) -> tuple[list[int], list[bool], float | None]:
    """One problem's 2n rollouts split the way the cutoff frontier reads them: the first n give the
    reference length (mean L⁺ of the right ones — what Expert SFT would teach; None when none is
    right), the second n are the rollouts the cutoff decides on.

    Returns (the decided lengths, their outcomes, the reference)."""
    if len(lengths) != 2 * n or len(correct) != 2 * n:
        raise ValueError(f"need 2n = {2 * n} rollouts of one problem: got {len(lengths)} lengths "
                         f"and {len(correct)} outcomes")
    ref = mean_or_none(correct_lengths(lengths[:n], correct[:n]))
    return list(lengths[n:]), [bool(c) for c in correct[n:]], ref


def cutoff_frontier(lengths: Sequence[int], correct: Sequence[bool],
                    ref_lengths: Sequence[float | None],
                    factors: Sequence[float] = (1.0, 1.25, 1.5, 2.0, 3.0), floor: int = 8) -> list[dict]:
    """Per factor f: cut a rollout whose length exceeds the budget max(floor, ⌈f × ℓ_ref⌉)
    (:func:`~masa_lite.efficient.cutoff.cutoff_budget`; ℓ_ref None: never cut), against the label
    "not correct when run to the limit". One entry per rollout in each sequence; ``ref_lengths``
    is the predicted length of the rollout's prompt.

    Returns one dict per factor: ``factor``, ``cut`` (share of rollouts cut), ``precision``,
    ``recall``, ``f1`` and ``base_rate`` (share of wrong rollouts)."""
    if not len(lengths) == len(correct) == len(ref_lengths) or not lengths:
        raise ValueError(f"need one length, outcome and reference per rollout: {len(lengths)}, "
                         f"{len(correct)}, {len(ref_lengths)}")
    wrong = [not c for c in correct]
    rows = []
    for f in factors:
        cut = [ref is not None and n > cutoff_budget([ref], factor=f, floor=floor)
               for n, ref in zip(lengths, ref_lengths)]
        r = prf(cut, wrong)
        rows.append({"factor": f, "cut": sum(cut) / len(cut), "precision": r["precision"],
                     "recall": r["recall"], "f1": r["f1"], "base_rate": sum(wrong) / len(wrong)})
    return rows


def other_runs_pass_rates(finals: dict, run) -> dict:
    """The *other runs* reference predictor (docs/meta-awareness-study.md, Findings 8 and 11): per
    problem, the mean measured pass rate of every run in ``finals`` ({run: {problem id: final pass
    rate}}) except ``run``, on the problems all of them share with ``run``. Empty without others."""
    others = [f for r, f in finals.items() if r != run]
    if not others:
        return {}
    return {i: float(np.mean([f[i] for f in others])) for i in finals[run] if all(i in f for f in others)}
