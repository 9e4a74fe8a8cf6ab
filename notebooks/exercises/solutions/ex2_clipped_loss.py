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
# # Exercise 2 · The clipped surrogate loss — solution
#
# One way to write it; the check must pass (CI runs this notebook and fails on a wrong solution).

# %%
import torch

from masa_lite.teach.exercises import check_clipped_loss


# %%
def my_clipped_loss(logp, old_logp, adv, mask, eps_low=0.2, eps_high=0.28, dual_clip=10.0):
    a = adv[:, None].expand_as(logp)
    ratio = torch.exp(logp - old_logp)                                     # ρ
    loss = torch.maximum(-a * ratio, -a * ratio.clamp(1 - eps_low, 1 + eps_high))
    loss = torch.where(a < 0, torch.minimum(loss, -a * dual_clip), loss)   # dual clip
    return (loss * mask).sum() / mask.sum()


# %%
assert check_clipped_loss(my_clipped_loss)
