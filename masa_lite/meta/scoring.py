"""MASA's meta path and MASA-efficient's controls, as small functions the trainer composes.

Meta path (docs/method.md §1–2): M meta rollouts per prompt predict (notions, pass rate, length);
each is rewarded by how well it matches the prompt's real solution rollouts (:func:`score_meta`).

MASA-efficient (§4):

* :func:`gate_prompts` – skip a prompt's solution rollouts when its predicted pass rates agree
  (std < 0.1) and say all-correct or all-wrong; audited against the real zero-variance label;
* :func:`cutoff_budget` – a per-prompt token budget of 2 × the mean predicted length; a rollout
  cut there scores 0; audited by continuing a sample of cut rollouts;
* :func:`plan_solutions` – both decisions for one step: which prompts are gated, which gated ones
  are audited (rolled out anyway, *without* a cutoff budget, so that the audit label "was the
  group zero-variance?" comes from uncut outcomes: a cut rollout scores 0 and would make an
  all-correct group look mixed), and each rolled-out prompt's budget;
* :func:`expert_sft_examples` + :func:`sft_step` – behaviour cloning of the best-notion meta
  rollout with its numbers overwritten by the true statistics; :func:`ready_sft_batches` trains
  every full batch that is ready, so the buffer never grows without bound.

A gated prompt that is not audited has no solution rollouts, hence no solution statistics: the
meta rewards r_pass, r_len and r_notion are all defined against those statistics, so its meta
rollouts get no reward and no training that step (:func:`score_meta` returns None for them).
Audited gated prompts do have statistics: their meta rollouts are trained, their solution
rollouts only measure the gate.

The authors' public code has neither gating nor cutoff; these follow the paper's description.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from masa_lite import meta as meta_lib


@dataclass
class PromptStats:
    """What a prompt's solution rollouts really did: the targets of the meta rewards."""

    texts: list[str]
    correct: list[bool]
    lengths: list[int]

    @property
    def pass_rate(self) -> float:  # p = mean(c_i)
        return sum(self.correct) / len(self.correct)

    @property
    def correct_lengths(self) -> list[int]:  # L⁺ = {ℓ_i : c_i = 1}
        return [n for n, c in zip(self.lengths, self.correct) if c]

    @property
    def zero_variance(self) -> bool:
        return all(self.correct) or not any(self.correct)


def prompt_stats(rollouts, n_prompts: int) -> list[PromptStats | None]:
    """Group scored solution rollouts by prompt (None for a prompt with no rollouts)."""
    groups: list[list] = [[] for _ in range(n_prompts)]
    for r in rollouts:
        groups[r.prompt_index].append(r)
    return [PromptStats([r.text for r in g], [bool(r.correct) for r in g], [r.length for r in g])
            if g else None for g in groups]


def enabled_parts(cfg) -> list[str]:
    """The reward parts of r_meta switched on in ``cfg.meta`` (in the order of META_PARTS)."""
    flags = (cfg.meta.reward_pass, cfg.meta.reward_length, cfg.meta.reward_notion)
    return [name for name, on in zip(META_PARTS, flags) if on]


def score_meta(meta_rollouts, preds, records, stats, cfg
               ) -> tuple[list[float | None], dict, list[tuple | None]]:
    """r_meta for every meta rollout whose prompt has solution statistics (None otherwise), the
    mean of each reward part, and each rollout's (r_pass, r_len, r_notion) (for field credit).

    None — no reward, so no meta training — is what the method implies for a gated prompt that
    was not audited: it has no solution rollouts to align the prediction with."""
    parts = enabled_parts(cfg)
    rewards, per_rollout, acc = [], [], {"r_pass": [], "r_len": [], "r_notion": [], "meta_reward": []}
    for ro, pred in zip(meta_rollouts, preds):
        st = stats[ro.prompt_index]
        if st is None:
            rewards.append(None)
            per_rollout.append(None)
            continue
        mr = meta_lib.meta_reward(pred, records[ro.prompt_index]["problem"], st.texts, st.correct,
                                  st.lengths, k=cfg.meta.k, base=cfg.meta.base,
                                  inclusive=cfg.meta.length_inclusive, parts=parts)
        rewards.append(mr.total)
        per_rollout.append((mr.r_pass, mr.r_len, mr.r_notion))
        for key, value in (("r_pass", mr.r_pass), ("r_len", mr.r_len), ("r_notion", mr.r_notion),
                           ("meta_reward", mr.total)):
            acc[key].append(value)
    return rewards, {k: (sum(v) / len(v) if v else float("nan")) for k, v in acc.items()}, per_rollout


# ---- field-level credit (meta.credit=field; masa_lite's ablation, not the paper's) -------------

FIELD_KEYS = ("pass_rate", "solution_length", "math_notion")  # in the order of META_PARTS
META_PARTS = ("pass", "length", "notion")
_VALUE = r'\s*:\s*(\[[^\]]*\]|"[^"]*"|[^,}\s]+)'


def field_spans(text: str) -> dict[str, tuple[int, int]]:
    """Character span of each JSON field's value in a meta answer (its last occurrence), e.g.
    ``"pass_rate": 6`` → the span of ``6``; fields that are not found are left out."""
    import re

    spans = {}
    for key in FIELD_KEYS:
        found = list(re.finditer(f'"{key}"' + _VALUE, text))
        if found:
            spans[key] = found[-1].span(1)
    return spans


def token_char_ends(tokenizer, token_ids: list[int]) -> list[int]:
    """End offset in the decoded text of every token (decoding growing prefixes: exact for any
    tokenizer, O(L²) in the completion length, cheap for meta answers)."""
    return [len(tokenizer.decode(token_ids[: i + 1], skip_special_tokens=True))
            for i in range(len(token_ids))]


def field_token_parts(text: str, ends: list[int], enabled=META_PARTS) -> list[int]:
    """Per token, the index in META_PARTS of the field value it overlaps (−1: none, or a part
    that is not rewarded). Token i covers characters [ends[i−1], ends[i])."""
    spans = {META_PARTS[FIELD_KEYS.index(k)]: v for k, v in field_spans(text).items()}
    out, start = [], 0
    for end in ends:
        part = next((p for p, (a, b) in spans.items() if p in enabled and start < b and end > a), None)
        out.append(META_PARTS.index(part) if part is not None else -1)
        start = end
    return out


def predictions_by_prompt(meta_rollouts, preds, n_prompts: int, k: int):
    """Per prompt: predicted pass rates p̂ = pass_rate/K, lengths ℓ̂ and notions of its meta rollouts."""
    out = [{"pass": [], "length": [], "notions": []} for _ in range(n_prompts)]
    for ro, pred in zip(meta_rollouts, preds):
        slot = out[ro.prompt_index]
        if pred.pass_rate is not None:
            slot["pass"].append(pred.pass_rate / k)
        if pred.solution_length is not None:
            slot["length"].append(pred.solution_length)
        if pred.notions:
            slot["notions"].append(list(pred.notions))
    return out


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


def cutoff_budget(pred_lengths: list[float], factor: float = 2.0, max_new_tokens: int | None = None,
                  floor: int = 8) -> int | None:
    """Token budget max(floor, ⌈factor × mean ℓ̂⌉), capped at ``max_new_tokens`` (None without a
    prediction: the global limit applies). ``floor`` (``efficient.cutoff_floor``, 8 tokens) is
    masa_lite's addition: a prediction of 1 or 2 tokens would otherwise cut every rollout at once."""
    if not pred_lengths:
        return None
    budget = max(floor, math.ceil(factor * float(np.mean(pred_lengths))))
    return min(budget, max_new_tokens) if max_new_tokens else budget


@dataclass
class SolutionPlan:
    """Sequential-mode decisions for one step's prompts (index = prompt in the batch)."""

    gated: list[bool]
    audited: list[bool]                 # gated, but rolled out anyway to measure the gate
    budgets: list[int | None] | None    # per prompt; None: the global limit
    notions: list[list[str]] | None     # feed-in hints

    @property
    def rolled_out(self) -> list[int]:
        return [i for i, (g, a) in enumerate(zip(self.gated, self.audited)) if not g or a]


def plan_solutions(by_prompt: list[dict], cfg, audit_rng, sequential: bool = True) -> SolutionPlan:
    """Gate, audit, budget and feed-in decisions from the meta path's predictions
    (:func:`predictions_by_prompt`). Audited gated prompts get no cutoff budget: their rollouts
    label the gate's audit (zero variance or not) and must not be cut. ``audit_rng`` draws one
    number per gated prompt, in prompt order."""
    n, e = len(by_prompt), cfg.efficient
    gated, audited, budgets, notions = [False] * n, [False] * n, None, None
    if sequential and e.gating:
        gated = gate_prompts([p["pass"] for p in by_prompt], e.gate_std, e.gate_margin,
                             min_votes=e.gate_min_votes)
        audited = [g and audit_rng.random() < e.gate_audit for g in gated]
    if sequential and e.cutoff:
        budgets = [None if gated[i] else
                   cutoff_budget(p["length"], e.cutoff_factor, cfg.rollout.max_new_tokens,
                                 floor=e.cutoff_floor)
                   for i, p in enumerate(by_prompt)]
    if sequential and cfg.meta.feed_in:
        notions = [feed_in_notions(p["notions"]) for p in by_prompt]
    return SolutionPlan(gated, audited, budgets, notions)


def feed_in_notions(notion_lists: list[list[str]], top: int = 3) -> list[str]:
    """The notions most often predicted across a prompt's meta rollouts (for the hint)."""
    counts = Counter(meta_lib.normalise_notion(n) for ns in notion_lists for n in ns)
    return [n for n, _ in counts.most_common(top) if n]


def prf(predicted: list[bool], actual: list[bool], weights: list[float] | None = None) -> dict:
    """Precision, recall and F1 of ``predicted`` against ``actual`` (weighted counts: an audited
    sample stands for the gated prompts it was drawn from). NaN where undefined."""
    w = weights or [1.0] * len(predicted)
    tp = sum(wi for p, a, wi in zip(predicted, actual, w) if p and a)
    fp = sum(wi for p, a, wi in zip(predicted, actual, w) if p and not a)
    fn = sum(wi for p, a, wi in zip(predicted, actual, w) if not p and a)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = (2 * precision * recall / (precision + recall)
          if tp and not (math.isnan(precision) or math.isnan(recall)) else
          (0.0 if tp + fp + fn else float("nan")))
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def calibration(pred: list[float], actual: list[float]) -> dict:
    """Pearson correlation and mean absolute error of predictions against outcomes."""
    if len(pred) < 2:
        return {"corr": float("nan"), "mae": float("nan"), "n": len(pred)}
    x, y = np.asarray(pred, float), np.asarray(actual, float)
    corr = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
    return {"corr": corr, "mae": float(np.abs(x - y).mean()), "n": len(pred)}


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
        score = meta_lib.notion_reward(pred.notions, records[ro.prompt_index]["problem"], st.texts,
                                       st.correct)
        if score >= e.sft_min_notion and score > best.get(ro.prompt_index, (-1, None))[0]:
            best[ro.prompt_index] = (score, ro)
    pairs = []
    for i, (_, ro) in sorted(best.items()):
        st = stats[i]
        target = meta_lib.expert_target(ro.text, st.pass_rate, st.correct_lengths, k=cfg.meta.k,
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


def sft_optimizer(params, cfg) -> torch.optim.Optimizer:
    """AdamW for Expert SFT with β = ``efficient.sft_lr`` and an explicit weight decay
    (``efficient.sft_weight_decay``, 0.01 = torch's AdamW default, which it used silently before)."""
    return torch.optim.AdamW(params, lr=cfg.efficient.sft_lr, weight_decay=cfg.efficient.sft_weight_decay)


def supervised_batch(tokenizer, pairs: list[tuple[str, str]], device) -> dict:
    """Right-padded (prompt + response + EOS) ids; labels −100 on prompt and padding, so the
    cross-entropy covers the response only. The mask comes from lengths, not from the pad id
    (many real tokenizers pad with EOS)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, labels = [], []
    for prompt, response in pairs:
        p = tokenizer.encode(prompt, add_special_tokens=False)
        r = tokenizer.encode(response, add_special_tokens=False) + [tokenizer.eos_token_id]
        ids.append(p + r)
        labels.append([-100] * len(p) + r)
    width = max(map(len, ids))
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids],
                                       device=device),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels], device=device),
    }


def sft_step(model, tokenizer, optimizer, pairs: list[tuple[str, str]], device,
             grad_clip: float = 1.0, dp=None) -> float:
    """One supervised step: cross-entropy on the response tokens (+ EOS), prompt masked.

    Data parallel (``dp`` of several ranks; every rank holds the same ``pairs``): each rank takes
    its share of the pairs and weights its mean loss by its share of the response tokens (× the
    world size, as DDP averages), so the all-reduced gradient is the one-process gradient. A rank
    without pairs joins the all-reduce with a zero-weight copy of the first pair."""
    from masa_lite.distributed import SINGLE

    dp = dp or SINGLE
    model.train()
    optimizer.zero_grad(set_to_none=True)
    mine = [pairs[i] for i in dp.shard(len(pairs))]
    batch = supervised_batch(tokenizer, mine or pairs[:1], device)
    loss = dp.train_model(model)(**batch).loss  # mean over this rank's response tokens
    if dp.enabled:
        n_here = float((batch["labels"][:, 1:] != -100).sum()) if mine else 0.0  # predicted tokens
        n_all = dp.sum([n_here])[0]
        (loss * (n_here / n_all * dp.world_size)).backward()
        value = dp.sum([loss.item() * n_here])[0] / n_all
    else:
        loss.backward()
        value = loss.item()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip)
    optimizer.step()
    return value
