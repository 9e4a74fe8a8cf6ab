"""Solution rewards: correctness through the verifier, an optional format reward, and user-added
reward functions.

r_sol ∈ {0, 1} from answer verification (docs/method.md §2). A reward function is any callable
``fn(completion: str, record: dict) -> float``; pass extra ones to :func:`score_rollouts` as
``(weight, fn)`` pairs. A rollout cut by a budget (MASA's early cutoff) scores 0 whatever it says.

The verifier's settings come from the run config: ``grpo.answer_fallback`` (off: the answer is
the last ``\\boxed{}`` only, as in the method) and ``grpo.verify_timeout_s`` (math-verify's time
limit; rewards near it depend on machine load, so the limit is reported in the metrics).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import torch

from masa_lite.task.verify import DEFAULT_TIMEOUT_S, last_boxed, verify_answer

RewardFn = Callable[[str, dict], float]


def verifier_settings(cfg=None, timeout_s: float | None = None,
                      fallback: bool | None = None) -> tuple[float, bool]:
    """(time limit in seconds, answer fallback) from ``cfg.grpo``; explicit arguments win, and
    without a config the method's defaults apply (2 s, last ``\\boxed{}`` only)."""
    g = getattr(cfg, "grpo", None)
    if timeout_s is None:
        timeout_s = getattr(g, "verify_timeout_s", DEFAULT_TIMEOUT_S)
    if fallback is None:
        fallback = bool(getattr(g, "answer_fallback", False))
    return float(timeout_s), fallback


def correctness_reward(completion: str, record: dict, timeout_s: float = DEFAULT_TIMEOUT_S,
                       fallback: bool = False):
    """1.0 if the final answer matches ``record["answer"]``, else 0.0; with the verifier's verdict."""
    verdict = verify_answer(completion, str(record["answer"]), timeout_s=timeout_s, fallback=fallback)
    return (1.0 if verdict.correct else 0.0), verdict


def format_reward(completion: str, record: dict | None = None) -> float:
    """1.0 when the completion states a final answer in ``\\boxed{}``."""
    return 1.0 if last_boxed(completion) is not None else 0.0


def score_rollouts(rollouts, records: list[dict], cfg=None,
                   extra: list[tuple[float, RewardFn]] | None = None, timeout_s: float | None = None,
                   fallback: bool | None = None):
    """Reward every rollout; sets ``rollout.correct``/``rollout.reward`` and returns
    (rewards [N], metrics) with accuracy, verifier statuses, answer-extraction fallbacks and the
    verifier's time limit. ``timeout_s``/``fallback`` default to ``cfg.grpo.verify_timeout_s`` /
    ``cfg.grpo.answer_fallback`` (:func:`verifier_settings`)."""
    timeout_s, fallback = verifier_settings(cfg, timeout_s, fallback)
    fmt_w = getattr(getattr(cfg, "grpo", None), "format_reward", 0.0) or 0.0
    rewards, statuses, methods = [], Counter(), Counter()
    for r in rollouts:
        rec = records[r.prompt_index]
        if r.stop_reason == "budget":  # cut by MASA's early cutoff: counts as wrong
            value, correct = 0.0, False
            statuses["cut"] += 1
        else:
            value, verdict = correctness_reward(r.text, rec, timeout_s, fallback)
            correct = verdict.correct
            statuses[verdict.status] += 1
            methods[verdict.method] += 1
        if fmt_w:
            value += fmt_w * format_reward(r.text, rec)
        for weight, fn in extra or []:
            value += weight * float(fn(r.text, rec))
        r.correct, r.reward = correct, value
        rewards.append(value)
    n = max(len(rollouts), 1)
    metrics = {
        "accuracy": sum(bool(r.correct) for r in rollouts) / n,
        "verify_timeouts": statuses.get("timeout", 0),
        "verify_errors": statuses.get("error", 0),
        "no_answer_frac": statuses.get("no_answer", 0) / n,
        "answer_fallback_frac": sum(v for k, v in methods.items() if k not in ("boxed", "none")) / n,
        "verify_timeout_s": timeout_s,
    }
    return torch.tensor(rewards, dtype=torch.float32), metrics
