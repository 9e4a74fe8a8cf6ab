"""Scoring the meta path (docs/method.md §2): group the solution rollouts by prompt
(:class:`PromptStats`), sample and parse the meta rollouts (:func:`sample_meta`), gather each
prompt's predictions (:func:`predictions_by_prompt`) and reward every meta rollout against its
prompt's statistics (:func:`score_meta`)."""

from __future__ import annotations

from dataclasses import dataclass

from masa_lite.meta.reward import meta_reward
from masa_lite.meta.answer import PARTS, parse_meta
from masa_lite.grpo.sampling import sample_rollouts
from masa_lite.models import meta_adapter
from masa_lite.stats import correct_lengths, zero_variance


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
        return correct_lengths(self.lengths, self.correct)

    @property
    def zero_variance(self) -> bool:
        return zero_variance(self.correct)


def prompt_stats(rollouts, n_prompts: int) -> list[PromptStats | None]:
    """Group scored solution rollouts by prompt (None for a prompt with no rollouts)."""
    groups: list[list] = [[] for _ in range(n_prompts)]
    for r in rollouts:
        groups[r.prompt_index].append(r)
    return [PromptStats([r.text for r in g], [bool(r.correct) for r in g], [r.length for r in g])
            if g else None for g in groups]


def enabled_parts(cfg) -> list[str]:
    """The reward parts of r_meta switched on in ``cfg.meta`` (in the order of PARTS)."""
    flags = (cfg.meta.reward_pass, cfg.meta.reward_length, cfg.meta.reward_notion)
    return [name for name, on in zip(PARTS, flags) if on]


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
        mr = meta_reward(pred, records[ro.prompt_index]["problem"], st.texts, st.correct,
                                  st.lengths, k=cfg.meta.k, base=cfg.meta.base,
                                  inclusive=cfg.meta.length_inclusive, parts=parts)
        rewards.append(mr.total)
        per_rollout.append((mr.r_pass, mr.r_len, mr.r_notion))
        for key, value in (("r_pass", mr.r_pass), ("r_len", mr.r_len), ("r_notion", mr.r_notion),
                           ("meta_reward", mr.total)):
            acc[key].append(value)
    return rewards, {k: (sum(v) / len(v) if v else float("nan")) for k, v in acc.items()}, per_rollout


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


def sample_meta(model, tokenizer, records, fmt, cfg, n, seeds=None):
    """``n`` meta rollouts per record (the meta prompt of ``fmt``, ``cfg.meta.max_new_tokens``)
    and their lenient parses: (rollouts, predictions), prompt-major. ``seeds``: row-seeded.
    A model with a meta adapter (``meta.adapter=separate``) samples them with that adapter."""
    with meta_adapter(model):  # the meta path's own adapter, if the run has one
        ros = sample_rollouts(model, tokenizer, [fmt.meta(r) for r in records], cfg, n=n,
                              max_new_tokens=cfg.meta.max_new_tokens, seeds=seeds)
    return ros, [parse_meta(r.text, k=cfg.meta.k) for r in ros]
