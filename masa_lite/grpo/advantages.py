"""Group-relative advantages (GRPO, Dr. GRPO, batch-scaled) and zero-variance statistics.

GRPO (Shao et al. 2024) needs no value network: for each prompt it samples a *group* of
rollouts and uses the group itself as the baseline,

    Â_i = (r_i − mean_g r) / (std_g r + ε)            (docs/method.md §3, ε = 1e-6)

and broadcasts Â_i to every completion token of rollout i. In MASA the solution rollouts and the
meta rollouts of the same prompt form *separate* groups.

Choices made here, each tested in `tests/test_advantages.py`:

* **Sample std.** `std_g` is the unbiased sample standard deviation (divide by n − 1), the
  `torch.std` default that GRPO implementations (TRL, verl) use. For rewards [1, 0, 0, 1] it gives
  Â = ±0.866 rather than the ±1 of the population std.
* **Zero-variance groups give exactly 0.** Floating point does not guarantee r_i − mean = 0 when all
  r_i are equal (three rewards of 0.9 in float32 leave 6e-8, which ε = 1e-6 would blow up to 0.06),
  so such groups are zeroed explicitly. A group of one rollout is zero-variance too.
* **Groups** come either as contiguous blocks of `group_size` or as arbitrary `group_ids`, so groups
  of different sizes work (predictive gating and early cutoff drop rollouts).

Scalings (`scale=`):

* `"group"`: the GRPO z-score above.
* `"none"`: Dr. GRPO (Liu et al. 2025): Â_i = r_i − mean_g r, no std division, which removes the
  up-weighting of nearly-solved and nearly-hopeless prompts.
* `"batch"`: group-mean baseline, but divided by the std of *all* rewards in the batch,
  Â_i = (r_i − mean_g r) / (std_batch r + ε) ("group mean, batch std", as in Lite PPO,
  Liu et al. 2025 "Tricks or Traps?", and close to REINFORCE++-baseline).
"""

from __future__ import annotations

import torch

SCALES = ("group", "none", "batch")


def group_index(
    n: int,
    group_ids: torch.Tensor | None = None,
    group_size: int | None = None,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, int]:
    """Map each of `n` rollouts to a dense group index 0..G−1; return (index [n], G).

    Exactly one of `group_ids` (any integer labels, any order, any sizes) or `group_size`
    (contiguous blocks) must be given. Dense indices follow the sorted order of the labels.
    """
    if (group_ids is None) == (group_size is None):
        raise ValueError("give exactly one of group_ids or group_size")
    if group_size is not None:
        if group_size < 1 or n % group_size != 0:
            raise ValueError(f"{n} rollouts cannot be split into groups of {group_size}")
        return torch.arange(n, device=device) // group_size, n // group_size
    group_ids = torch.as_tensor(group_ids, device=device)
    if group_ids.shape != (n,):
        raise ValueError(f"group_ids has shape {tuple(group_ids.shape)}, expected ({n},)")
    labels, index = torch.unique(group_ids, return_inverse=True)  # sorted labels → 0..G−1
    return index, len(labels)


def _group_moments(r: torch.Tensor, index: torch.Tensor, num_groups: int):
    """Per-group count, mean, unbiased std, min and max (each of shape [G])."""
    count = torch.zeros(num_groups, dtype=r.dtype, device=r.device).index_add_(0, index, torch.ones_like(r))
    mean = torch.zeros_like(count).index_add_(0, index, r) / count  # mean_g r
    sq_dev = (r - mean[index]) ** 2
    # std_g r = sqrt( Σ_i (r_i − mean_g)² / (n_g − 1) ); a single rollout has no spread: std = 0
    var = torch.zeros_like(count).index_add_(0, index, sq_dev) / (count - 1).clamp(min=1)
    std = var.sqrt()
    lo = torch.full_like(count, float("inf")).scatter_reduce(0, index, r, reduce="amin")
    hi = torch.full_like(count, float("-inf")).scatter_reduce(0, index, r, reduce="amax")
    return count, mean, std, lo, hi


def group_advantages(
    rewards: torch.Tensor,
    group_ids: torch.Tensor | None = None,
    group_size: int | None = None,
    scale: str = "group",
    eps: float = 1e-6,
) -> torch.Tensor:
    """Advantage per rollout, shape [N], from rewards [N] grouped by prompt (see module doc)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    r = torch.as_tensor(rewards).float()
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(r.shape)}")
    index, num_groups = group_index(len(r), group_ids, group_size, device=r.device)
    _, mean, std, lo, hi = _group_moments(r, index, num_groups)

    centred = r - mean[index]  # r_i − mean_g r   (Dr. GRPO stops here)
    if scale == "group":
        adv = centred / (std[index] + eps)  # Â_i = (r_i − mean_g r) / (std_g r + ε)
    elif scale == "batch":
        batch_std = r.std() if len(r) > 1 else r.new_zeros(())
        adv = centred / (batch_std + eps)  # Â_i = (r_i − mean_g r) / (std_batch r + ε)
    else:
        adv = centred
    zero_var = (hi == lo)[index]  # all rewards of the group equal (or a group of one)
    return torch.where(zero_var, torch.zeros_like(adv), adv)


def zero_variance_mask(
    rewards: torch.Tensor,
    group_ids: torch.Tensor | None = None,
    group_size: int | None = None,
) -> torch.Tensor:
    """Bool [G]: True for groups whose rewards are all equal (no learning signal).

    Groups are ordered by their sorted label (or block order for `group_size`).
    """
    r = torch.as_tensor(rewards).float()
    index, num_groups = group_index(len(r), group_ids, group_size, device=r.device)
    *_, lo, hi = _group_moments(r, index, num_groups)
    return hi == lo


def group_stats(
    rewards: torch.Tensor,
    group_ids: torch.Tensor | None = None,
    group_size: int | None = None,
    correct: float = 1.0,
    wrong: float = 0.0,
) -> dict[str, float]:
    """How many groups carry signal: zero-variance fraction, all-correct and all-wrong counts.

    A group is all-correct when every reward equals `correct`, all-wrong when every reward equals
    `wrong` (defaults fit 0/1 verifier rewards). These are the groups predictive gating wants to
    skip (docs/method.md §4).
    """
    r = torch.as_tensor(rewards).float()
    index, num_groups = group_index(len(r), group_ids, group_size, device=r.device)
    *_, lo, hi = _group_moments(r, index, num_groups)
    zero_var = hi == lo
    return {
        "num_groups": num_groups,
        "frac_zero_variance": zero_var.float().mean().item(),
        "num_all_correct": int((zero_var & (lo == correct)).sum()),
        "num_all_wrong": int((zero_var & (lo == wrong)).sum()),
        "num_mixed": int((~zero_var).sum()),
    }
