"""Scored rollouts: one path's rollouts (solution or meta) with their rewards and groups, and the
per-token advantages of field-level credit (docs/method.md §2–3)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from masa_lite.grpo import advantages as adv_lib
from masa_lite.grpo.rollout import Rollout


@dataclass
class Scored:
    """Rollouts of one kind (solution or meta) with rewards and the group each belongs to."""

    rollouts: list[Rollout]
    rewards: torch.Tensor  # [N]
    group_ids: torch.Tensor  # [N]: rollouts of the same prompt and path share an id
    # optional field-level credit (meta.credit=field): rewards of each part [N, P] and, per
    # rollout, each completion token's part index (−1: the token gets the rollout's advantage)
    part_rewards: torch.Tensor | None = None
    token_parts: list[list[int]] | None = None
    weight: float = 1.0  # multiplies this path's advantages in the joint loss (meta.loss_weight)
    kl_beta: float | None = None  # this path's KL weight to the base (None: grpo.kl_beta)


def token_advantages(scored: Scored, adv: torch.Tensor, scale: str = "group") -> list[torch.Tensor | None]:
    """Per rollout, a per-token advantage vector when ``scored`` has field-level credit (the part's
    group advantage on its tokens, the rollout's advantage elsewhere), else None."""
    if scored.part_rewards is None or scored.token_parts is None:
        return [None] * len(scored.rollouts)
    parts = torch.stack([adv_lib.group_advantages(scored.part_rewards[:, p], group_ids=scored.group_ids,
                                                  scale=scale)
                         for p in range(scored.part_rewards.shape[1])], dim=1)      # [N, P]
    out = []
    for i, tp in enumerate(scored.token_parts):
        idx = torch.tensor(tp, dtype=torch.long)
        per_part = parts[i][idx.clamp(min=0)] if len(tp) else torch.zeros(0)
        out.append(torch.where(idx >= 0, per_part, adv[i].expand(len(tp))))
    return out


def only_prompts(scored: Scored, prompts: set[int]) -> Scored:
    """The rollouts of ``scored`` that belong to ``prompts`` (a rank's own groups)."""
    rows = [j for j, r in enumerate(scored.rollouts) if r.prompt_index in prompts]
    return Scored([scored.rollouts[j] for j in rows], scored.rewards[rows], scored.group_ids[rows],
                  None if scored.part_rewards is None else scored.part_rewards[rows],
                  None if scored.token_parts is None else [scored.token_parts[j] for j in rows],
                  scored.weight, scored.kl_beta)
