# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 4 · The predictive gate
#
# MASA-efficient skips a prompt's solution rollouts when its M predicted pass rates p̂ (each in
# [0, 1]) **agree** — std(p̂) < `std_max`, population std — and say the prompt is trivial or
# unsolvable — mean p̂ ≥ 1 − `margin` or ≤ `margin`. With fewer than two predictions, do not gate.
#
# Write `my_gate(pred_pass, std_max, margin)` returning one bool per prompt. Then think: what does a
# wrong gate cost (a mixed group never trained on) and what does a missed one cost (a zero-variance
# group generated for nothing)? Reference: `05_masa_efficient`, §1.

# %%
import numpy as np

from masa_lite.teach.exercises import check_gate

# %% [markdown]
# Fill in the function, then run the check cell: it compares your answer with `masa_lite` on a
# few cases and tells you where it is off. Solutions: `solutions/ex4_gate.py` (try first!).


# %%
def my_gate(pred_pass, std_max=0.1, margin=0.1):
    raise NotImplementedError


# %%
check = check_gate(my_gate)
