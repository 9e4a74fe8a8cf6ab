"""Checkers for the course exercises (``notebooks/exercises/``).

Each ``check_*`` runs a student's function on a set of small cases, compares it with the library's
own implementation, and prints either a pass or the first case that differs, with the expected and
received values and a hint for the usual mistake (population instead of sample std, clipping
without clip-higher, a strict length interval, …). It returns True only when every case matches,
so a solution notebook can ``assert`` it. A function that still raises ``NotImplementedError`` is
reported as "not done yet" rather than as a failure.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from masa_lite import advantages, losses, masa, meta

TOL = 1e-4


def _report(name: str, failures: list[str], n_cases: int) -> bool:
    if not failures:
        print(f"✓ {name}: all {n_cases} cases match the library.")
        return True
    print(f"✗ {name}: {failures[0]}")
    return False


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, "not done yet: replace the `raise NotImplementedError` with your code."
    except Exception as exc:  # the student's bug, shown as a message instead of a traceback
        return None, f"your function raised {type(exc).__name__}: {exc}"


def _close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=TOL, equal_nan=True))


# ---- 1. group advantage -----------------------------------------------------------------------

ADVANTAGE_CASES = {
    "one mixed group": ([1.0, 0.0, 0.0, 1.0], 4),
    "two groups": ([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0], 4),
    "an all-correct group": ([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0], 4),
    "float rewards": ([0.9, 0.9, 0.9, 0.2, 0.5, 0.7], 3),
}


def check_group_advantage(fn: Callable) -> bool:
    """``fn(rewards [N] tensor, group_size) -> advantages [N]``: Â_i = (r_i − mean_g)/(std_g + 1e-6)."""
    failures = []
    for name, (r, g) in ADVANTAGE_CASES.items():
        rewards = torch.tensor(r)
        want = advantages.group_advantages(rewards, group_size=g)
        got, err = _call(fn, rewards.clone(), g)
        if err:
            return _report("group advantage", [err], len(ADVANTAGE_CASES))
        got = torch.as_tensor(got, dtype=torch.float32).detach()
        if _close(got, want):
            continue
        hint = ""
        pop = want * (g / (g - 1)) ** 0.5  # c/σ = c/(s·√((n−1)/n))
        if _close(got, pop):
            hint = " Hint: you divided by the population std (n); GRPO uses the sample std (n − 1)."
        elif not torch.isfinite(got).all() or (name == "an all-correct group" and got[:g].abs().max() > TOL):
            hint = " Hint: a group whose rewards are all equal must get advantage 0 (no NaN, no ε blow-up)."
        elif _close(got, rewards - rewards.view(-1, g).mean(1).repeat_interleave(g)):
            hint = " Hint: that is Dr. GRPO's r − mean; the z-score also divides by the group's std + ε."
        failures.append(f"case '{name}' rewards {r}: expected {want.numpy().round(4).tolist()}, "
                        f"got {got.numpy().round(4).tolist()}.{hint}")
    return _report("group advantage", failures, len(ADVANTAGE_CASES))


# ---- 2. clipped policy loss -------------------------------------------------------------------

def _loss_cases():
    lp = torch.log(torch.tensor([[1.0, 1.1, 1.5], [0.5, 0.9, 20.0]]))   # ρ per token (old = 0)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    return {
        "ρ = 1 everywhere": (torch.zeros(2, 3), torch.tensor([1.0, -1.0]), torch.ones(2, 3)),
        "clip-higher binds for Â > 0": (lp, torch.tensor([1.0, 1.0]), mask),
        "clip-low binds for Â < 0": (lp, torch.tensor([-1.0, -1.0]), mask),
        "dual clip for Â < 0 and huge ρ": (torch.log(torch.tensor([[30.0, 1.0]])), torch.tensor([-2.0]),
                                           torch.ones(1, 2)),
        "padding ignored": (lp, torch.tensor([0.5, -0.5]), mask),
    }


def check_clipped_loss(fn: Callable) -> bool:
    """``fn(logp, old_logp, adv [B], mask, eps_low=0.2, eps_high=0.28, dual_clip=10.0) -> scalar``:
    token-mean of max(−Âρ, −Â clip(ρ, 1−ε_low, 1+ε_high)), capped at −Â·c for Â < 0."""
    cases = _loss_cases()
    failures = []
    for name, (logp, adv, mask) in cases.items():
        old = torch.zeros_like(logp)
        want, _ = losses.clipped_policy_loss(logp, old, adv, mask)
        got, err = _call(fn, logp.clone(), old.clone(), adv.clone(), mask.clone(),
                         eps_low=0.2, eps_high=0.28, dual_clip=10.0)
        if err:
            return _report("clipped loss", [err], len(cases))
        got = float(torch.as_tensor(got))
        if abs(got - want.item()) <= TOL:
            continue
        variants = {
            "you did not clip at all (−Â·ρ)": losses.aggregate_token_loss(-adv[:, None] * torch.exp(logp), mask),
            "a symmetric clip [0.8, 1.2]: clip-higher uses 1 + 0.28 above":
                losses.clipped_policy_loss(logp, old, adv, mask, eps_high=0.2)[0],
            "no dual clip: for Â < 0 cap the loss at −Â·c": losses.clipped_policy_loss(logp, old, adv, mask, dual_clip=None)[0],
            "seq-mean: the paper averages over all tokens (token-mean)":
                losses.clipped_policy_loss(logp, old, adv, mask, aggregation="seq-mean")[0],
            "padding counted: average over mask == 1 tokens only":
                losses.clipped_policy_loss(logp, old, adv, torch.ones_like(mask))[0],
        }
        hint = next((f" Hint: {h}." for h, v in variants.items() if abs(got - float(v)) <= TOL), "")
        failures.append(f"case '{name}': expected {want.item():.5f}, got {got:.5f}.{hint}")
    return _report("clipped loss", failures, len(cases))


# ---- 3. meta reward ---------------------------------------------------------------------------

META_CASES = {
    "exact hit": (6, 40, ["split"], "17-8", ["split add", "split", "direct", "split x"],
                  [True, True, False, True], [38, 40, 90, 45]),
    "length on the interval's edge": (3, 38, ["carry"], "2*5+41", ["carry", "x", "carry", "y"],
                                      [True, True, False, False], [38, 50, 70, 80]),
    "notion named in the problem": (4, 60, ["mul", "split"], "mul 3*4", ["mul split", "mul", "x", "split"],
                                    [True, True, False, False], [30, 31, 60, 70]),
    "nothing correct": (0, 50, ["recheck"], "9*9", ["recheck", "recheck x"], [False, False], [80, 90]),
    "missing fields": (None, None, [], "1+1", ["a", "b"], [True, False], [10, 12]),
}


def check_meta_reward(fn: Callable) -> bool:
    """``fn(pass_rate, solution_length, notions, problem, texts, correct, lengths, k=8) -> r_meta``,
    r_meta = (r_pass + r_len + r_notion) / 3 as in masa-method.md §2 (inclusive length interval)."""
    failures = []
    for name, (pr, ln, notions, problem, texts, correct, lengths) in META_CASES.items():
        pred = meta.MetaPrediction(tuple(notions) or None, pr, ln, "ok" if pr is not None else "partial")
        want = meta.meta_reward(pred, problem, texts, correct, lengths, k=8)
        got, err = _call(fn, pr, ln, list(notions), problem, list(texts), list(correct), list(lengths), k=8)
        if err:
            return _report("meta reward", [err], len(META_CASES))
        got = float(got)
        if abs(got - want.total) <= TOL:
            continue
        strict = meta.meta_reward(pred, problem, texts, correct, lengths, k=8, inclusive=False).total
        hint = {True: " Hint: the length interval includes its edges: min L⁺ ≤ ℓ̂ ≤ max L⁺."}.get(
            abs(got - strict) <= TOL and strict != want.total, "")
        failures.append(f"case '{name}': expected {want.total:.4f} (r_pass {want.r_pass:.3f}, r_len "
                        f"{want.r_len:.0f}, r_notion {want.r_notion:.3f}), got {got:.4f}.{hint}")
    return _report("meta reward", failures, len(META_CASES))


# ---- 4. predictive gate -----------------------------------------------------------------------

GATE_CASES = {
    "agree on all-correct": [[1.0, 1.0, 0.875, 1.0]],
    "agree on all-wrong": [[0.0, 0.0, 0.125, 0.0]],
    "agree in the middle": [[0.5, 0.5, 0.5, 0.5]],
    "disagree": [[0.0, 1.0, 0.0, 1.0]],
    "a batch of four": [[1.0, 1.0], [0.0, 0.25], [0.95, 0.95], [0.5, 1.0]],
    "one vote is not enough": [[1.0]],
}


def check_gate(fn: Callable) -> bool:
    """``fn(pred_pass: list of per-prompt p̂ lists, std_max=0.1, margin=0.1) -> list[bool]``:
    gate when std(p̂) < std_max (population std) and mean p̂ ≥ 1 − margin or ≤ margin, with at
    least two predictions."""
    failures = []
    for name, preds in GATE_CASES.items():
        want = masa.gate_prompts(preds, 0.1, 0.1)
        got, err = _call(fn, [list(p) for p in preds], std_max=0.1, margin=0.1)
        if err:
            return _report("gate", [err], len(GATE_CASES))
        if [bool(x) for x in got] == want:
            continue
        hint = ""
        if name == "agree in the middle":
            hint = " Hint: agreement alone is not enough: the mean must be near 0 or near 1."
        elif name == "one vote is not enough":
            hint = " Hint: a single prediction has no spread to judge agreement by: do not gate."
        failures.append(f"case '{name}' p̂ {preds}: expected {want}, got {list(got)}.{hint}")
    return _report("gate", failures, len(GATE_CASES))
