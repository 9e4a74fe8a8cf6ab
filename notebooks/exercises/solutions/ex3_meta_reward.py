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
# # Exercise 3 · The meta reward — solution
#
# One way to write it; the check must pass (CI runs this notebook and fails on a wrong solution).

# %%
from masa_lite.teach.exercises import check_meta_reward


# %%
def my_meta_reward(pass_rate, solution_length, notions, problem, texts, correct, lengths, k=8):
    p = sum(correct) / len(correct)
    r_pass = 0.01 ** abs(pass_rate / k - p) if pass_rate is not None else 0.0
    good = [n for n, c in zip(lengths, correct) if c]
    r_len = float(solution_length is not None and bool(good) and min(good) <= solution_length <= max(good))
    kept = [n.lower() for n in dict.fromkeys(notions) if n.lower() not in problem.lower()]
    helps = [sum(c and n in t.lower() for t, c in zip(texts, correct))
             - sum((not c) and n in t.lower() for t, c in zip(texts, correct)) > 0 for n in kept]
    r_notion = sum(helps) / len(helps) if helps else 0.0
    return (r_pass + r_len + r_notion) / 3


# %%
assert check_meta_reward(my_meta_reward)
