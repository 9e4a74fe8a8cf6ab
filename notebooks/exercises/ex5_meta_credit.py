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
# # Exercise 5 · Who gets the credit in a meta rollout? (an experiment)
#
# **Your task.** Change one switch — `meta.credit` from `"rollout"` to `"field"` — train, and read
# the comparison. The reference run uses the default; everything else is the same (seed, prompts,
# budget: `masa_lite.teach.exercises.EXPERIMENT_BASE`, 6 steps of 8 prompts on levels 1–4, about a
# minute per run on 2 CPU cores). The check cell verifies that you changed the switch and that
# both runs finished, prints the measured difference, and says what it can and cannot mean.
# Solution: `solutions/ex5_meta_credit.py` (try first!).

# %%
from masa_lite.teach import exercises
from masa_lite.teach import plots

SWITCH = "meta.credit"

# %% [markdown]
# **What the switch changes.** A meta rollout ends in one JSON answer, e.g.
# `{"math_notion": ["split"], "pass_rate": 5, "solution_length": 60}`, scored by three rewards
# (`03_meta_awareness`). In the paper every token of the meta rollout j of prompt q gets the same
# advantage, from the meta group of its prompt:
#
# $$\hat A_{j,t} = \frac{r^\text{meta}_j - \operatorname{mean}_{j'} r^\text{meta}_{j'}}
#                       {\operatorname{std}_{j'} r^\text{meta}_{j'} + \varepsilon}
#   \qquad\text{for every token } t \qquad (\texttt{meta.credit=rollout})$$
#
# so the single pass-rate digit is pushed up or down by whatever the notion part did. masa_lite's
# ablation `meta.credit=field` gives the tokens of each JSON value the advantage of **its own**
# reward part, computed in the same group (every other token keeps the r_meta advantage):
#
# $$\hat A_{j,t} = \frac{r^{(f)}_j - \operatorname{mean}_{j'} r^{(f)}_{j'}}
#                       {\operatorname{std}_{j'} r^{(f)}_{j'} + \varepsilon}
#   \quad\text{for a token } t \text{ inside field } f \in \{\text{pass\_rate}, \text{solution\_length},
#   \text{math\_notion}\}$$

# %%
reference = exercises.train_experiment({SWITCH: "rollout"}, "runs/exercises/ex5_reference")

# %% [markdown]
# Your change: set `MY_VALUE` to the other credit (`"field"`) and run the cell. As long as it is
# the default, nothing is trained.

# %%
MY_VALUE = "rollout"  # ← change me

experiment = None
if MY_VALUE != "rollout":
    experiment = exercises.train_experiment({SWITCH: MY_VALUE}, f"runs/exercises/ex5_{MY_VALUE}",
                                            reference=reference)  # reuses the base model's evaluation

# %%
done = exercises.check_experiment(reference, experiment, SWITCH)

# %% [markdown]
# The meta rewards step by step, both runs (one point per training step; a short run is noisy).

# %%
if done:
    plots.compare_runs({"rollout credit (reference)": reference["history"],
                        f"{MY_VALUE} credit (yours)": experiment["history"]},
                       [("r_pass", "r_pass (0–1)"), ("r_len", "r_len (0–1)"),
                        ("r_notion", "r_notion (0–1)")])

# %% [markdown]
# **Against the reference.** One run per setting cannot tell an effect of the switch from
# seed-to-seed noise. `python scripts/exercise_reference.py` trains the same two runs in three
# seeds and writes their spread to [`reference/`](reference/) (`ex5_meta_credit.md`); the
# next cell prints your difference beside it.

# %%
if done:
    exercises.compare_to_reference(reference, experiment, "reference/ex5_meta_credit.json")

# %% [markdown]
# **To think about.** Which metric would you expect field credit to move first, and why? What
# would it take (how many steps, how many seeds) before a difference in calibration r means
# something? `docs/results.md` ("Longer, and with field-level credit") has 40- and 100-step runs
# of both credits, made on an earlier build of `masa-tiny`: a longer measurement of the same switch.
