"""Expert SFT (docs/method.md §4.1): rewrite the best meta answer of each prompt with the true
statistics and train on it with cross-entropy when a batch of targets is ready."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from masa_lite.meta.answer import check_k, format_meta_answer, parse_meta
from masa_lite.meta.reward import notion_reward
from masa_lite.stats import mean_or_none


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)  # round() is banker's: round(2.5) == 2


def expert_target(pred_text: str, actual_pass_rate: float, correct_lengths: Sequence[int],
                  k: int = 8, keep_length_if_unsolved: bool = False) -> str | None:
    """Rewrite a meta answer with the true statistics, as integers (half-up rounding):
    pass_rate = round(p·K), solution_length = round(mean L⁺); reasoning and notions are kept.
    None if the text is unparseable, or if no rollout is correct (mean L⁺ undefined) unless
    `keep_length_if_unsolved`: then the model's own length is kept (if it gave one), so that
    all-wrong prompts can still teach pass_rate = 0."""
    check_k(k)
    if not 0 <= actual_pass_rate <= 1:
        raise ValueError("actual_pass_rate must be in [0, 1]")
    pred = parse_meta(pred_text, k)
    if pred.status == "unparseable":
        return None
    if correct_lengths:
        length = _half_up(mean_or_none(correct_lengths))                      # mean L⁺
    elif keep_length_if_unsolved and pred.solution_length is not None:
        length = _half_up(pred.solution_length)
    else:
        return None
    end = pred_text.rfind("</meta>")
    start = pred_text.rfind("<meta>", 0, end) if end >= 0 else -1
    reasoning = pred_text[start + len("<meta>"):end] if start >= 0 else ""
    return format_meta_answer(reasoning.replace("</meta>", ""),  # drop stray earlier close tags
                              list(pred.notions or ()), _half_up(actual_pass_rate * k), length)


def expert_sft_examples(meta_rollouts, preds, records, stats, cfg, prompt_fn) -> list[tuple[str, str]]:
    """Per prompt, the meta rollout with the best notion score (≥ ``sft_min_notion``), rewritten
    with the true pass rate round(p·K) and mean correct length: (meta prompt, target) pairs.

    A prompt none of whose solution rollouts is correct has no mean correct length and a notion
    score of 0 for every prediction (no notion can be used more by correct rollouts). The paper
    does not say what to do then. With ``efficient.sft_unsolved`` (masa_lite's choice) such a
    prompt still yields a target — its first parseable meta rollout with ``pass_rate = 0`` and
    the rollout's own length — so the hard end of the difficulty scale is taught too; without it
    (the literal reading) unsolved prompts give no target and every target has pass_rate ≥ 1."""
    e = cfg.efficient
    best: dict[int, tuple[float, object]] = {}
    for ro, pred in zip(meta_rollouts, preds):
        st = stats[ro.prompt_index]
        if st is None or pred.status == "unparseable":
            continue
        if e.sft_unsolved and not any(st.correct):
            best.setdefault(ro.prompt_index, (0.0, ro))
            continue
        score = notion_reward(pred.notions, records[ro.prompt_index]["problem"], st.texts,
                                       st.correct)
        if score >= e.sft_min_notion and score > best.get(ro.prompt_index, (-1, None))[0]:
            best[ro.prompt_index] = (score, ro)
    pairs = []
    for i, (_, ro) in sorted(best.items()):
        st = stats[i]
        target = expert_target(ro.text, st.pass_rate, st.correct_lengths, k=cfg.meta.k,
                                        keep_length_if_unsolved=e.sft_unsolved)
        if target is not None:
            pairs.append((prompt_fn(records[i]), target))
    return pairs


def ready_sft_batches(buffer: list, size: int) -> tuple[list[list], list]:
    """Split the Expert SFT buffer into every full batch of ``size`` (oldest first), all trained
    this step, and the rest (< ``size``) kept for the next step. Training one batch per step let
    the buffer grow without bound whenever more pairs arrived per step than ``size``."""
    n = len(buffer) // size * size
    return [buffer[i:i + size] for i in range(0, n, size)], buffer[n:]


def replay_batches(recent: list[list], n_batches: int, size: int, rng) -> list[list]:
    """``efficient.sft_replay`` (masa_lite's switch, not the paper): ``n_batches`` more batches,
    each a fresh sample without replacement of up to ``size`` targets from ``recent`` (the
    targets of the last few steps, one list per step). Each target is a noisy count k of K, and
    one pass over 16 of them a step leaves the meta path near the mean pass rate in a 12-step
    run; 4 more passes learn the per-level slope (study, Finding 18)."""
    pool = [pair for step in recent for pair in step]
    if not pool:
        return []
    return [rng.sample(pool, min(size, len(pool))) for _ in range(n_batches)]


def sft_label_fields(cfg):
    """The meta fields Expert SFT labels (``efficient.sft_labels=values``: the corrected pass_rate
    and solution_length values), or None for the whole answer (the paper)."""
    return ("pass", "length") if cfg.efficient.sft_labels == "values" else None


def sft_optimizer(params, cfg) -> torch.optim.Optimizer:
    """AdamW for Expert SFT with β = ``efficient.sft_lr`` and an explicit weight decay
    (``efficient.sft_weight_decay``, 0.01 = torch's AdamW default, which it used silently before)."""
    return torch.optim.AdamW(params, lr=cfg.efficient.sft_lr, weight_decay=cfg.efficient.sft_weight_decay)
