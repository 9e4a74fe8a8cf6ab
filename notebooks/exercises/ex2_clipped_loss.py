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
# # Exercise 2 · The clipped surrogate loss
#
# With ρ = exp(log π_θ − log π_old) per token and the rollout's advantage Â:
#
# $$L = \max\big(-\hat A\rho,\; -\hat A \operatorname{clip}(\rho, 1-\varepsilon_\text{low}, 1+\varepsilon_\text{high})\big),
# \qquad \text{for } \hat A < 0:\; L = \min(L, -\hat A c)$$
#
# Write `my_clipped_loss(logp, old_logp, adv, mask, eps_low, eps_high, dual_clip)`: `logp`,
# `old_logp`, `mask` are [B, T] (mask 1 on real completion tokens), `adv` is [B]. Return the
# **token-mean** over real tokens: Σ L·mask / Σ mask. Reference: `02_grpo_step_by_step`, §3–4.
#
# Fill in the function, then run the check cell: it compares your answer with `masa_lite` on a
# few cases and tells you where it is off. Solutions: `solutions/ex2_clipped_loss.py` (try first!).

# %%
import torch

from masa_lite.teach.exercises import check_clipped_loss


# %%
def my_clipped_loss(logp, old_logp, adv, mask, eps_low=0.2, eps_high=0.28, dual_clip=10.0):
    raise NotImplementedError


# %%
check = check_clipped_loss(my_clipped_loss)
