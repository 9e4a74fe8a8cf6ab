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
# # Exercise 4 · The predictive gate — solution
#
# One way to write it; the check must pass (CI runs this notebook and fails on a wrong solution).

# %%
import numpy as np

from masa_lite.teach.exercises import check_gate


# %%
def my_gate(pred_pass, std_max=0.1, margin=0.1):
    out = []
    for ps in pred_pass:
        mean, std = np.mean(ps), np.std(ps)
        out.append(len(ps) >= 2 and std < std_max and (mean >= 1 - margin or mean <= margin))
    return out


# %%
assert check_gate(my_gate)
