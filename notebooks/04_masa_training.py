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
# # 04 · MASA training: GRPO vs GRPO + the meta path
#
# MASA trains both paths of the same policy in one loss (masa-method.md §1–3): per prompt, G
# solution rollouts rewarded by correctness and M meta rollouts rewarded by r_meta against those
# solutions; advantages in **separate** groups; one clipped token-mean loss.
#
# This notebook trains GRPO and MASA from the same base model, seed and budget
# (`masa_lite.reproduce.reproduce` with two of its methods), then draws:
#
# * calibration before and after (the paper's Fig. 1b),
# * held-out accuracy against step and against wall-clock,
# * the meta reward's parts over training,
# * notion use in correct vs incorrect rollouts over training.
#
# Runs are written to `runs/tutorial/`; `05_masa_efficient` and `07_evaluation_and_feed_in`
# reuse them when they find them (same configuration), instead of training again.

# %%
from pathlib import Path

from masa_lite import plots
from masa_lite.config import profile_name
from masa_lite.reproduce import METHODS, load_runs, pairs_at, reproduce, summary_markdown

PROFILE = profile_name()
OUT = Path("runs/tutorial")
print("profile:", PROFILE, "| methods:", {m: METHODS[m] for m in ("GRPO", "MASA")})

# %%
summary = reproduce(PROFILE, out_dir=str(OUT), methods=["GRPO", "MASA"], resume=True)
print(summary_markdown(summary))

# %% [markdown]
# ## Calibration before and after (Fig. 1b)
#
# Each point is a held-out problem: mean predicted pass rate of its meta rollouts against its
# actual pass rate. GRPO never trains the meta path; MASA rewards it for agreeing with reality.

# %%
hist, calib = load_runs(OUT, ["GRPO", "MASA"])
panels = {"base": pairs_at(calib["GRPO"], 0), "GRPO": pairs_at(calib["GRPO"]), "MASA": pairs_at(calib["MASA"])}
plots.calibration_scatter(panels, quantity="pass_rate")

# %%
plots.calibration_scatter(panels, quantity="length")

# %% [markdown]
# **Against the paper.** The paper (Qwen3-8B-Base, hundreds of steps on DeepScaleR) shows GRPO's
# fit nearly flat and MASA's close to y = x. The table above states our correlation before and
# after each method, with the number of problems; on the `tiny` profile (12 steps) the meta path
# has seen each level only a few dozen times, and the table says plainly whether MASA's
# calibration rose above GRPO's or not. `masa-lite reproduce --profile cpu` trains longer.
#
# ## Accuracy against step and wall-clock

# %%
target = [h for h in hist["GRPO"] if h["kind"] == "eval"][-1]["pass@1"]
plots.accuracy_curves(hist, x="step", target=target)

# %%
plots.accuracy_curves(hist, x="wall", target=target)

# %% [markdown]
# MASA pays for its meta rollouts: each step generates M extra completions per prompt, so per
# step it is slower than GRPO. The paper reports MASA's accuracy gain (+6.2 % averaged over six
# math sets for Qwen3-8B) — at our budget compare the final pass@1 with its standard error above.
#
# ## The meta reward's parts over training

# %%
plots.meta_reward_parts(hist["MASA"], smooth=3)

# %% [markdown]
# ## Notion use in correct vs incorrect rollouts
#
# At every evaluation the trainer records, for each of the task's notions, the share of correct
# and of incorrect held-out rollouts that use it. The notion reward favours predicting notions
# that separate the two; the paper describes this qualitatively.

# %%
for name, h in hist.items():
    stats = plots.notion_stats_from_history(h)
    if stats:
        fig = plots.notion_frequency(stats, notions=["split", "recheck", "carry", "mul"])
        fig.axes[0].set_title(f"{name}: notion use, correct (solid) vs incorrect (dashed)")

# %% [markdown]
# `split` (the reliable distributive route) is used more by correct rollouts and `recheck` (a
# noticed slip) more by incorrect ones: the notions carry the information the notion reward
# exploits. Next: `05_masa_efficient`.
