"""Checkers for the course exercises (``notebooks/exercises/``).

Each ``check_*`` runs a student's function on a set of small cases, compares it with the library's
own implementation, and prints either a pass or the first case that differs, with the expected and
received values and a hint for the usual mistake (population instead of sample std, clipping
without clip-higher, a strict length interval, …). It returns True only when every case matches,
so a solution notebook can ``assert`` it. A function that still raises ``NotImplementedError`` is
reported as "not done yet" rather than as a failure.

The *experiment* exercises (ex5, ex6) are different: the student changes one switch of the
method, trains on the tiny profile next to a reference run with the default switch
(:func:`train_experiment`), and :func:`check_experiment` verifies that the switch really changed
and both runs finished, then prints the measured difference and what one short run per setting
can and cannot say about it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from masa_lite.efficient import gate
from masa_lite.files import read_jsonl
from masa_lite.grpo import advantages
from masa_lite.grpo import losses
from masa_lite.meta import answer as meta_answer
from masa_lite.meta import reward as meta_rewards

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
    r_meta = (r_pass + r_len + r_notion) / 3 as in the paper (arXiv 2510.03259; inclusive length interval)."""
    failures = []
    for name, (pr, ln, notions, problem, texts, correct, lengths) in META_CASES.items():
        pred = meta_answer.MetaPrediction(tuple(notions) or None, pr, ln, "ok" if pr is not None else "partial")
        want = meta_rewards.meta_reward(pred, problem, texts, correct, lengths, k=8)
        got, err = _call(fn, pr, ln, list(notions), problem, list(texts), list(correct), list(lengths), k=8)
        if err:
            return _report("meta reward", [err], len(META_CASES))
        got = float(got)
        if abs(got - want.total) <= TOL:
            continue
        strict = meta_rewards.meta_reward(pred, problem, texts, correct, lengths, k=8, inclusive=False).total
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
        want = gate.gate_prompts(preds, 0.1, 0.1)
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


# ---- 5. experiments: change one switch, train, compare -----------------------------------------

# small enough for about a minute per run on 2 unshared CPU cores (tiny profile): 6 steps of
# 8 prompts × (4 solution + 4 meta rollouts) on levels 1–4, a 32-problem evaluation at the
# start and at the end
EXPERIMENT_BASE = ["meta.enabled=true", "grpo.steps=6", "grpo.prompts_per_step=8",
                   "rollout.group_size=4", "meta.group_size=4", "data.levels=[1,2,3,4]",
                   "data.eval_per_level=8", "data.eval_samples=4", "meta.eval_group_size=2",
                   "rollout.max_new_tokens=200", "eval_every=0", "save_every=6"]

# what each switch does, in plain words, and what a short run can show about it
EXPLANATIONS = {
    "meta.credit": (
        "With credit=rollout (the paper) every token of a meta rollout gets that rollout's r_meta "
        "advantage; with credit=field the tokens of each JSON value (pass_rate, solution_length, "
        "math_notion) get the advantage of their own reward part. Field credit stops the notion "
        "part's variance from pushing the pass-rate digit around, so r_pass and the pass-rate error "
        "are where to look."),
    "meta.group_size": (
        "M meta rollouts per prompt form the meta group whose mean and std normalise r_meta. A larger "
        "M gives a less noisy baseline and more meta tokens per step (slower steps); a smaller M "
        "the opposite. Look at seconds per step, tokens generated and r_pass."),
    "efficient.gate_std": (
        "A prompt is gated (its solution rollouts skipped) when std(p̂) < gate_std and mean p̂ ≥ "
        "1 − margin or ≤ margin. The base model's predictions for a prompt disagree, so at the "
        "default 0.1 it rarely fires in a short run of the paper's setting; a looser threshold gates "
        "more prompts, saves solution rollouts, and risks skipping prompts that still had something "
        "to teach. The gate's precision says how often a gated prompt really was all-right or "
        "all-wrong; it is measured only on the audited share of gated prompts "
        "(efficient.gate_audit), so it is missing when none was audited."),
    "efficient.gate_margin": (
        "The margin sets how close to 0 or 1 the mean predicted pass rate must be for a prompt to "
        "be gated; a wider margin gates more prompts (see efficient.gate_std)."),
}

EXPERIMENT_METRICS = [  # (label, where, key): where = "eval" (the final evaluation), "train" (mean over
    # the training steps) or "last" (the last training step that recorded it: cumulative metrics)
    ("held-out pass@1", "eval", "pass@1"),
    ("calibration r (pass rate)", "eval", "calib_pass_corr"),
    ("pass-rate MAE |p̂ − p|", "eval", "calib_pass_mae"),
    ("r_pass (train, mean)", "train", "r_pass"),
    ("meta reward (train, mean)", "train", "meta_reward"),
    ("prompts gated (train, mean)", "train", "gated_frac"),
    ("gate precision (cumulative)", "last", "gate_precision"),
    ("rollouts cut (train, mean)", "train", "cut_frac"),
    ("seconds per step (mean)", "train", "seconds_step"),
    ("tokens generated per step", "train", "tokens_generated"),
]


def _dotted(cfg, key: str):
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def train_experiment(switches: dict, out_dir, base: list[str] | None = None, profile: str | None = None,
                     resume: bool = True, reference: dict | None = None) -> dict:
    """Train one experiment run: :data:`EXPERIMENT_BASE` (or ``base``) plus ``switches``
    ({"meta.credit": "field"}), on ``profile`` (default: ``MASA_LITE_PROFILE``, i.e. tiny).
    Announces what it trains. A finished run with the same configuration in ``out_dir`` is reused.
    With ``reference`` (an earlier result of this function from the same base model, evaluation
    set and seed) its step-0 evaluation is reused instead of measuring the base model again, as
    ``masa-lite reproduce`` does. Returns {"switches", "config", "history", "seconds"} for
    :func:`check_experiment`."""
    import time
    from pathlib import Path

    from masa_lite.config import load_config, profile_name
    from masa_lite.trainer import train

    overrides = list(EXPERIMENT_BASE if base is None else base)
    overrides += [f"{k}={v}" for k, v in switches.items()] + [f"out_dir={out_dir}"]
    cfg = load_config(profile or profile_name(), overrides=overrides)
    print(f"training {cfg.grpo.steps} steps on the {cfg.profile} profile with "
          f"{switches or 'the default switches'} → {out_dir}")
    base_eval = None
    if reference is not None:
        first = next((h for h in reference["history"] if h.get("kind") == "eval" and h.get("step") == 0), None)
        calib = Path(reference["config"].out_dir) / "calibration.jsonl"
        if first is not None and calib.exists():
            pairs = read_jsonl(calib)
            base_eval = (dict(first), [p for p in pairs if p.get("step") == 0])
    t0 = time.time()
    out = train(cfg, resume=resume, progress=False, base_eval=base_eval)
    return {"switches": dict(switches), "config": cfg, "history": out["history"],
            "seconds": time.time() - t0}


def _measure(history, where: str, key: str):
    if where == "eval":
        evals = [h for h in history if h.get("kind") == "eval" and h.get(key) is not None]
        return evals[-1][key] if evals else None
    vals = [h[key] for h in history if h.get("kind", "train") == "train"
            and isinstance(h.get(key), (int, float)) and not isinstance(h.get(key), bool)
            and math.isfinite(h[key])]
    if where == "last":
        return vals[-1] if vals else None
    return sum(vals) / len(vals) if vals else None


def experiment_table(reference: dict, experiment: dict) -> list[tuple[str, float | None, float | None]]:
    """(label, reference value, experiment value) for every metric of
    :data:`EXPERIMENT_METRICS` that either run recorded."""
    rows = []
    for label, where, key in EXPERIMENT_METRICS:
        a, b = _measure(reference["history"], where, key), _measure(experiment["history"], where, key)
        if a is not None or b is not None:
            rows.append((label, a, b))
    return rows


def compare_to_reference(reference: dict, experiment: dict, path) -> None:
    """Print the student's difference (experiment − reference) beside the committed multi-seed
    reference at ``path`` (``notebooks/exercises/reference/<exercise>.json``, written by
    ``scripts/exercise_reference.py``): its mean ± sd over seeds and in how many it was higher."""
    path = Path(path)
    if not path.exists():
        print(f"no committed reference at {path}: `python scripts/exercise_reference.py` makes it")
        return
    ref = json.loads(path.read_text())
    print(f"{'metric':30s} {'yours':>8s}   seeds {ref['seeds']}: difference mean ± sd (higher in)")
    for label, a, b in experiment_table(reference, experiment):
        d = ref["summary"].get(label, {}).get("difference") or {}
        spread = ("–" if d.get("mean") is None else
                  f"{d['mean']:+.3f} ± {d['sd'] or 0:.3f} ({ref['summary'][label]['higher']}/{d['n']})")
        yours = "–" if a is None or b is None else f"{b - a:+.3f}"
        print(f"{label:30s} {yours:>8s}   {spread}")


def _finished(run) -> bool:
    steps = run["config"].grpo.steps
    hist = run["history"]
    return (any(h.get("kind") == "train" and h.get("step") == steps for h in hist)
            and any(h.get("kind") == "eval" and h.get("step") == steps for h in hist))


def check_experiment(reference: dict | None, experiment: dict | None, switch: str) -> bool:
    """Check an experiment exercise: ``experiment`` (from :func:`train_experiment`) must differ from
    ``reference`` in ``switch`` and both runs must have finished (a last training step and a final
    evaluation). Then print the measured metrics side by side, the difference, the standard error
    of pass@1, and what the switch does. Returns True when the experiment was done; it does *not*
    judge the direction of the difference: one short run per setting cannot show an effect."""
    name = f"experiment '{switch}'"
    if experiment is None:
        print(f"✗ {name}: not done yet: set the switch to a value other than the default, then run "
              "the training cell.")
        return False
    if reference is None:
        print(f"✗ {name}: the reference run is missing: run the reference cell first.")
        return False
    ref_v, exp_v = _dotted(reference["config"], switch), _dotted(experiment["config"], switch)
    if ref_v == exp_v:
        print(f"✗ {name}: not done yet: both runs have {switch} = {ref_v!r}; change it and train again.")
        return False
    others = [k for k in ("meta.enabled", "grpo.steps", "grpo.prompts_per_step", "seed", "data.levels",
                          "efficient.gating", "efficient.cutoff", "efficient.expert_sft")
              if k != switch and _dotted(reference["config"], k) != _dotted(experiment["config"], k)]
    if others:
        print(f"✗ {name}: the runs also differ in {', '.join(others)}: change only {switch}, so that "
              "the comparison says something about it.")
        return False
    unfinished = [lab for lab, run in (("reference", reference), ("experiment", experiment))
                  if not _finished(run)]
    if unfinished:
        print(f"✗ {name}: the {' and '.join(unfinished)} run did not finish (no last step or final "
              "evaluation): run its cell again.")
        return False
    print(f"✓ {name}: {switch} = {ref_v!r} (reference) vs {exp_v!r} (yours); both runs finished "
          f"({reference['config'].grpo.steps} steps).\n")
    print(f"{'metric':30s} {'reference':>10s} {'yours':>10s} {'difference':>11s}")
    for label, a, b in experiment_table(reference, experiment):
        fa = "–" if a is None else f"{a:10.3f}"
        fb = "–" if b is None else f"{b:10.3f}"
        d = "–" if a is None or b is None else f"{b - a:+11.3f}"
        print(f"{label:30s} {fa:>10s} {fb:>10s} {d:>11s}")
    se = [_measure(r["history"], "eval", "pass@1_se") for r in (reference, experiment)]
    n = [_measure(r["history"], "eval", "n_problems") for r in (reference, experiment)]
    print()
    print(EXPLANATIONS.get(switch, f"{switch} is the only setting that differs between the runs."))
    if all(v is not None for v in se):
        noise = 2 * math.hypot(*se)
        r_se = 1 / math.sqrt(max(n[1] - 1, 1))
        print(f"\nHow to read it: pass@1 has a standard error of about {max(se):.3f} per run "
              f"({n[1]:.0f} problems), so a pass@1 difference under about {noise:.3f} is noise; a "
              f"correlation near 0 over {n[1]:.0f} problems has a standard error of about "
              f"1/√(n − 1) ≈ {r_se:.2f}. One short run per setting shows what happened in these "
              "runs, not an effect of the switch: to claim one, repeat both runs with several seeds "
              "(seed=1, 2, …) and compare the spread. The gated share and the tokens per step count "
              "what each run did; seconds per step also depend on how busy the machine was.")
    return True
