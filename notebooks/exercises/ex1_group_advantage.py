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
# # Exercise 1 · The group advantage
#
# GRPO's baseline is the group itself. For the rewards r of one prompt's G rollouts:
#
# $$\hat A_i = \frac{r_i - \operatorname{mean}_g r}{\operatorname{std}_g r + \varepsilon}, \qquad \varepsilon = 10^{-6}$$
#
# Write `my_group_advantages(rewards, group_size)`: `rewards` is a 1-D float tensor whose
# consecutive blocks of `group_size` are groups. Use the **sample** standard deviation (divide by
# n − 1, `torch.std`'s default), and give exactly 0 to every rollout of a group whose rewards are all
# equal. Reference: notebook `02_grpo_step_by_step`, §2.
#
# Fill in the function, then run the check cell: it compares your answer with `masa_lite` on a
# few cases and tells you where it is off. Solutions: `solutions/ex1_group_advantage.py` (try first!).

# %%
import torch

from masa_lite.teach.exercises import check_group_advantage


# %%
def my_group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    raise NotImplementedError


# %%
check = check_group_advantage(my_group_advantages)
