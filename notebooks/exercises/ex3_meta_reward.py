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
# # Exercise 3 · The meta reward
#
# Write r_meta: the reward of one meta prediction (pass rate on 0..K, solution length, notions),
# scored against the same problem's solution rollouts (texts, correctness c_i, lengths ℓ_i).
# The rules follow the import cell. Reference: `03_meta_awareness`, §3.
#
# Fill in the function, then run the check cell: it compares your answer with `masa_lite` on a
# few cases and tells you where it is off. Solutions: `solutions/ex3_meta_reward.py` (try first!).

# %%
from masa_lite.teach.exercises import check_meta_reward

# %% [markdown]
# With p = mean(c_i) and L⁺ the lengths of the correct rollouts:
#
# * r_pass = 0.01^|pass_rate/K − p| (0 if the pass rate is missing);
# * r_len = 1 if min L⁺ ≤ length ≤ max L⁺ else 0 (0 if missing or no rollout is correct);
# * r_notion: drop notions that appear in the problem text (lower-case), then the share of the rest
#   with f(n, correct) − f(n, wrong) > 0, where f counts rollouts of that kind whose text contains n
#   (0 if none remain);
# * r_meta = (r_pass + r_len + r_notion) / 3.
#
# (The library also singularises words before matching; the check cases do not need it.)

# %%
def my_meta_reward(pass_rate, solution_length, notions, problem, texts, correct, lengths, k=8):
    raise NotImplementedError


# %%
check = check_meta_reward(my_meta_reward)
