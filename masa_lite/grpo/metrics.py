"""Training metrics of one path's rollouts, and the process's peak memory."""

from __future__ import annotations

import resource

import torch

from masa_lite.grpo import advantages as adv_lib
from masa_lite.grpo.scored import Scored


def rollout_metrics(scored: Scored, prefix: str = "") -> dict:
    """Reward, accuracy, group and length statistics of one path's rollouts."""
    rs = scored.rollouts
    if not rs:
        return {}
    lengths = [r.length for r in rs]
    gs = adv_lib.group_stats(scored.rewards, group_ids=scored.group_ids)
    return {
        f"{prefix}reward": scored.rewards.mean().item(),
        f"{prefix}zero_variance_frac": gs["frac_zero_variance"],
        f"{prefix}all_correct_groups": gs["num_all_correct"],
        f"{prefix}all_wrong_groups": gs["num_all_wrong"],
        f"{prefix}truncated_frac": sum(r.stop_reason == "max_new_tokens" for r in rs) / len(rs),
        f"{prefix}len_mean": sum(lengths) / len(lengths),
        f"{prefix}len_min": min(lengths),
        f"{prefix}len_max": max(lengths),
    }


def peak_memory_mb(device) -> float:
    """Peak memory of this process in MiB: CUDA allocations on a GPU, the resident set size otherwise."""
    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB → MiB
