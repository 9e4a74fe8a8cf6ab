# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 1 · The group advantage — solution
#
# One way to write it; the check must pass (CI runs this notebook and fails on a wrong solution).

# %%
import torch

from masa_lite.teach.exercises import check_group_advantage


# %%
def my_group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    groups = rewards.float().view(-1, group_size)              # [num_groups, G]
    mean = groups.mean(dim=1, keepdim=True)                    # mean_g r
    std = groups.std(dim=1, keepdim=True)                      # sample std (n − 1)
    adv = (groups - mean) / (std + 1e-6)                       # Â = (r − mean) / (std + ε)
    equal = (groups.max(1, keepdim=True).values == groups.min(1, keepdim=True).values)
    return torch.where(equal, torch.zeros_like(adv), adv).view(-1)


# %%
assert check_group_advantage(my_group_advantages)
