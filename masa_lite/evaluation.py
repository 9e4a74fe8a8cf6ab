"""Evaluation arithmetic: unbiased pass@k and the error bars that say whether an effect is real.

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


# ---------------------------------------------------------------------------------------------
# Evaluating a policy on held-out problems
# ---------------------------------------------------------------------------------------------


def notion_frequency(texts: Sequence[str], correct: Sequence[bool],
                     vocab: Sequence[str]) -> dict[str, dict[str, float]]:
    """{notion: {"correct": share of correct rollouts using it, "wrong": share of wrong ones}}.

    "Using" is the normalised substring test of the notion reward (:func:`meta.notion_details`);
    a share is NaN when there is no rollout of that kind."""
    from masa_lite.meta import notion_details

    out = {}
    n_right = sum(map(bool, correct))
    n_wrong = len(correct) - n_right
    for notion, (f1, f0) in notion_details(vocab, "", texts, correct).items():
        out[notion] = {"correct": f1 / n_right if n_right else float("nan"),
                       "wrong": f0 / n_wrong if n_wrong else float("nan")}
    return out


def evaluate_policy(model, tokenizer, records: list[dict], prompt_fn, n_samples: int = 8,
                    max_new_tokens: int = 400, batch_size: int = 128, temperature: float = 1.0,
                    greedy: bool = False, ks: Sequence[int] = (1,), seed: int = 0,
                    notions: Sequence | None = None, progress: bool = False,
                    notion_vocab: Sequence[str] = (), cfg=None, engine: str | None = None) -> dict:
    """Sample ``n_samples`` answers per problem and report pass@k, per level and per source.

    pass@1 is the mean over problems of c/n (the paper's "mean of n samples"); its standard
    error over problems tells an effect from noise. Sampling is seeded with ``seed`` and the
    global RNG state is restored afterwards, so evaluating does not change a training run.
    ``notions`` (one list per record) feeds notions into the solution prompt. With
    ``notion_vocab`` the result has ``notion_freq``: per notion, the share of correct and of wrong
    rollouts that use it (:func:`notion_frequency`). ``cfg``: the run config whose verifier
    settings (``grpo.answer_fallback``, ``grpo.verify_timeout_s``) score the answers, as in
    training, and whose ``rollout.engine`` samples them; without one the method's defaults apply.
    ``engine`` overrides the rollout engine (:func:`masa_lite.rollout.generate_rollouts`).
    """
    import torch
    from tqdm.auto import tqdm

    from masa_lite.checkpoint import rng_state, set_rng_state
    from masa_lite.rewards import score_rollouts
    from masa_lite.rollout import generate_rollouts

    saved = rng_state()
    torch.manual_seed(seed)
    n = 1 if greedy else n_samples
    prompts = [prompt_fn(r, None if notions is None else notions[i]) for i, r in enumerate(records)]
    bar = tqdm(total=len(prompts) * n, desc="eval", disable=not progress, leave=False)
    rollouts = generate_rollouts(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens,
                                 temperature=temperature, batch_size=batch_size, greedy=greedy,
                                 progress=bar,
                                 engine=engine or (cfg.rollout.engine if cfg is not None else "compact"))
    bar.close()
    set_rng_state(saved)
    _, info = score_rollouts(rollouts, records, cfg)
    per_problem = []
    for i, rec in enumerate(records):
        group = rollouts[i * n:(i + 1) * n]
        per_problem.append({"id": rec.get("id"), "level": rec.get("level"),
                            "source": rec.get("source"), "n": n,
                            "c": sum(bool(r.correct) for r in group),
                            "lengths": [r.length for r in group],
                            "correct": [bool(r.correct) for r in group]})
    rates = [p["c"] / p["n"] for p in per_problem]

    def by(key):
        out = {}
        for value in sorted({p[key] for p in per_problem if p[key] is not None}, key=str):
            sub = [p["c"] / p["n"] for p in per_problem if p[key] == value]
            out[str(value)] = sum(sub) / len(sub)
        return out

    right = [length for p in per_problem for length, c in zip(p["lengths"], p["correct"]) if c]
    wrong = [length for p in per_problem for length, c in zip(p["lengths"], p["correct"]) if not c]
    result = {
        "pass@1": sum(rates) / max(len(rates), 1),
        "pass@1_se": standard_error(rates) if len(rates) > 1 else float("nan"),
        "n_problems": len(records), "n_samples": n, "greedy": greedy,
        "per_level": by("level"), "per_source": by("source"),
        "zero_variance_frac": sum(p["c"] in (0, p["n"]) for p in per_problem) / max(len(per_problem), 1),
        "len_correct_mean": sum(right) / len(right) if right else float("nan"),
        "len_wrong_mean": sum(wrong) / len(wrong) if wrong else float("nan"),
        "truncated_frac": sum(r.stop_reason != "eos" for r in rollouts) / max(len(rollouts), 1),
        "verify_timeouts": info["verify_timeouts"],
        "verify_errors": info["verify_errors"],
        "verify_timeout_s": info["verify_timeout_s"],
        "per_problem": per_problem,
    }
    if notion_vocab:
        result["notion_freq"] = notion_frequency([r.text for r in rollouts],
                                                 [bool(r.correct) for r in rollouts], notion_vocab)
    for k in ks:
        if k <= n:
            result[f"pass@{k}"] = mean_pass_at_k([(p["n"], p["c"]) for p in per_problem], k)
    return result
