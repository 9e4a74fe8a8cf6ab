"""The early cutoff (docs/method.md §4): a token budget of factor × the predicted length, and the
audit that continues a sample of cut rollouts to the global limit to label the decision."""

from __future__ import annotations

import math

import numpy as np

from masa_lite.distributed import SINGLE
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.sampling import generate_rollouts


def cutoff_budget(pred_lengths: list[float], factor: float = 2.0, max_new_tokens: int | None = None,
                  floor: int = 8) -> int | None:
    """Token budget max(floor, ⌈factor × mean ℓ̂⌉), capped at ``max_new_tokens`` (None without a
    prediction: the global limit applies). ``floor`` (``efficient.cutoff_floor``, 8 tokens) is
    masa_lite's addition: a prediction of 1 or 2 tokens would otherwise cut every rollout at once."""
    if not pred_lengths:
        return None
    budget = max(floor, math.ceil(factor * float(np.mean(pred_lengths))))
    return min(budget, max_new_tokens) if max_new_tokens else budget


def audit_cutoff(model, tokenizer, rollouts, records, cfg, rng, mine=None, seeds=None,
                  dp=SINGLE) -> tuple[list, dict]:
    """Continue a sample of cut rollouts to the global limit: would they have been right?

    ``rollouts`` is the whole step's list (gathered across ranks), so the sample drawn from ``rng``
    is the same on every rank; a rank continues the sampled rollouts of its own prompts (``mine``,
    None: all) and the continuations are gathered. ``seeds``: one per rollout (row-seeded)."""
    cut = [j for j, r in enumerate(rollouts) if r.stop_reason == "budget"]
    sample = [j for j in cut if rng.random() < cfg.efficient.cutoff_audit]
    if not sample:
        return [], {}
    here = [j for j in sample if mine is None or rollouts[j].prompt_index in mine]
    full = []
    if here:
        todo = [rollouts[j] for j in here]
        longest = max(1, cfg.rollout.max_new_tokens - min(r.length for r in todo))
        conts = generate_rollouts(model, tokenizer, [r.prompt + r.text for r in todo], n=1,
                                  max_new_tokens=longest,
                                  temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                                  top_k=cfg.rollout.top_k, batch_size=cfg.rollout.batch_size,
                                  budgets=[cfg.rollout.max_new_tokens - r.length for r in todo],
                                  seeds=None if seeds is None else [seeds[j] for j in here],
                                  engine=cfg.rollout.engine)
        for r, c in zip(todo, conts):
            c.prompt_index, c.text, c.length = r.prompt_index, r.text + c.text, r.length + c.length
            full.append(c)
        score_rollouts(full, records, cfg)
    full = dp.gather(full)  # in the order of ``sample``: shards are contiguous
    saved = sum(c.length - rollouts[j].length for j, c in zip(sample, full))
    return full, {"saved_tokens_per_audit": saved / len(full)}


def cutoff_records(audited: list, rollouts: list, gated: list[bool], audit_share: float) -> list[tuple]:
    """(cut?, would have been wrong?, weight) for one step's cutoff decisions: each audited cut
    rollout, labelled by its continuation (weight 1/audit share: it stands for the cut rollouts it
    was drawn from), and every uncut rollout, labelled as scored. Gated prompts' audit rollouts
    had no budget and are no cutoff decision."""
    records = [(True, not c.correct, 1 / audit_share) for c in audited]
    records += [(False, not r.correct, 1.0) for r in rollouts
                if r.stop_reason != "budget" and not gated[r.prompt_index]]
    return records
