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
# # 04 · MASA training: GRPO plus the meta path, in one loss
#
# ![Predicted vs actual pass rate on held-out problems: the base model, then after GRPO, MASA and both MASA-efficient runs (committed cpu run, seed 0 of 3)](../figures/calibration_pass_rate.png)
#
# - **Reproduced (Fig. 1b):** with our switches (the meta path on its own adapter, Expert SFT with
#   its targets replayed), MASA's predicted pass rate follows the real one in every seed, close to
#   the paper's fit near y = x.
# - **Not shown (Table 1):** MASA's accuracy is GRPO's: with its own adapter, by construction.
# - **This notebook** trains GRPO and MASA at your profile's budget, with the same switches.
#
# Numbers: [`figures/summary.md`](../figures/summary.md); why: "What the study found", at the end.


# %%
from pathlib import Path

import torch

from masa_lite.grpo import advantages
from masa_lite.meta import answer as meta_answer
from masa_lite.meta import ceiling
from masa_lite.meta import reward as meta_rewards
from masa_lite.teach import plots
from masa_lite.teach import plots_meta
from masa_lite.config import profile_name
from masa_lite.reproduce import METHODS, STUDY_SWITCHES, load_runs, pairs_at, reproduce, summary_markdown

PROFILE = profile_name()
OUT = Path("runs/tutorial")
print("profile:", PROFILE, "| methods:", {m: METHODS[m] for m in ("GRPO", "MASA")})
print("the meta method also gets:", STUDY_SWITCHES)

# %% [markdown]
# ## What this notebook does
#
# MASA (arXiv 2510.03259) trains both paths of the **same** policy in one loss. Per training prompt
# q:
#
# ```mermaid
# flowchart LR
#     q[prompt q] --> S["solution prompt → G rollouts"]
#     q --> M["meta prompt → M meta rollouts<br/>(p̂, ℓ̂, notions)"]
#     S --> V["verifier: r_i ∈ {0, 1}"]
#     V --> SG["solution group of q:<br/>Â_i = (r_i − mean) / (std + ε)"]
#     V -- "p, L⁺, f(n,t)" --> RM["r_meta_j = (r_pass + r_len + r_notion) / 3"]
#     M --> RM
#     RM --> MG["meta group of q:<br/>Â_j = (r_meta_j − mean) / (std + ε)"]
#     SG --> L["one clipped loss,<br/>token-mean over all G + M rollouts"]
#     MG --> L
#     L --> U[LoRA update]
# ```
#
# The meta rewards need the solution rollouts of the same prompt and step: they are the "real
# outcome" the predictions are scored against (self-alignment: no labels). This notebook first takes
# the joint objective apart on hand-made numbers, then trains GRPO and MASA from the same base
# model, seed and budget and draws what happened.
#
# It trains at your profile's budget with the study's switches, as `masa-lite reproduce` does
# (`STUDY_SWITCHES`, printed above): the meta path on its own adapter, and Expert SFT whose
# corrected targets are replayed. The paper's MASA (one shared adapter, no Expert SFT) is
# `meta_overrides=[]` in §2, or `masa-lite reproduce --paper`.

# %% [markdown]
# ## 1 · The joint objective and its two groups
#
# A step's batch $\mathcal B$ holds, for every prompt q, its G solution rollouts $o_{q,i}$ and its
# M meta rollouts $m_{q,j}$. Advantages are computed **per group**, and there are two groups per
# prompt, never mixed:
#
# $$\hat A^\text{sol}_{q,i} = \frac{r_{q,i} - \operatorname{mean}_{i'} r_{q,i'}}{\operatorname{std}_{i'} r_{q,i'} + \varepsilon}
#   \qquad
#   \hat A^\text{meta}_{q,j} = w\,\frac{r^\text{meta}_{q,j} - \operatorname{mean}_{j'} r^\text{meta}_{q,j'}}{\operatorname{std}_{j'} r^\text{meta}_{q,j'} + \varepsilon}$$
#
# ($w$ = `meta.loss_weight`, 1 as in the paper). Both paths then share one clipped objective,
# averaged over **every token of every rollout** of the step (token-mean):
#
# $$\mathcal J(\theta) = \frac{1}{\sum_{o \in \mathcal B} |o|} \sum_{o \in \mathcal B} \sum_{t=1}^{|o|}
#   \min\Big(\rho_{o,t}\,\hat A_o,\; \operatorname{clip}(\rho_{o,t}, 1-\varepsilon_\text{low}, 1+\varepsilon_\text{high})\,\hat A_o\Big),
#   \qquad \rho_{o,t} = \frac{\pi_\theta(o_t \mid \cdot)}{\pi_{\theta_\text{old}}(o_t \mid \cdot)}$$
#
# A worked example with one prompt, G = 4 solution rollouts and M = 4 meta rollouts. First the
# meta rewards (`masa_lite.meta.reward.meta_reward`, `03_meta_awareness`): each meta rollout's
# prediction is scored against the same prompt's four solutions,
# $r_\text{meta} = (r_\text{pass} + r_\text{len} + r_\text{notion}) / 3$ with
# $r_\text{pass} = 0.01^{|\hat p - p|}$, $r_\text{len} = \mathbb 1[\min L^+ \le \hat\ell \le \max L^+]$
# and $r_\text{notion}$ the share of predicted notions used more by correct than by wrong
# rollouts:

# %%
problem = "28*2+17"
texts = ["28*2=20*2+8*2=40+16=56 add 56+17=73", "28*2=46 add 46+17=63 no, recheck 28*2=46 add 63",
         "28*2=54 add 54+17=71", "split 28*2=20*2+8*2=56 add 56+17=73"]
correct, lengths = [True, False, False, True], [62, 75, 110, 58]
r_meta = []
for answer in ['{"math_notion": ["split"], "pass_rate": 4, "solution_length": 60}',
               '{"math_notion": ["recheck"], "pass_rate": 6, "solution_length": 60}',
               '{"math_notion": ["carry"], "pass_rate": 0, "solution_length": 90}',
               '{"math_notion": ["split", "recheck"], "pass_rate": 4, "solution_length": 30}']:
    r = meta_rewards.meta_reward(meta_answer.parse_meta(answer), problem, texts, correct, lengths, k=8)
    r_meta.append(r.total)
    print(f"{answer:66s} → r_pass {r.r_pass:.2f}  r_len {r.r_len:.0f}  r_notion {r.r_notion:.2f}"
          f"  r_meta {r.total:.2f}")

# %% [markdown]
# p = 2/4 = 0.5 and L⁺ = {58, 62}. With K = 8 the JSON's `pass_rate` is a count out of 8, so
# p̂ = `pass_rate` / 8. The first prediction — 4 of 8, a length of 60, and the notion `split`,
# which only a correct rollout uses — is perfect; predicting 6 of 8 costs r_pass 1 → 0.32.
#
# Now the two groups. The trainer gives the meta rollouts group ids offset by the number of
# prompts (`n + q`), so `group_advantages` normalises each path within its own group:

# %%
r_sol = torch.tensor([1.0, 0.0, 0.0, 1.0])           # the verifier's rewards of the four solutions
n = 1                                                # prompts in this batch
rewards = torch.cat([r_sol, torch.tensor(r_meta)])
groups = torch.tensor([0, 0, 0, 0, n + 0, n + 0, n + 0, n + 0])   # solution group 0, meta group n + 0
adv = advantages.group_advantages(rewards, group_ids=groups)
print("Â solution:", adv[:4].numpy().round(3), "| Â meta:", adv[4:].numpy().round(3))
pooled = advantages.group_advantages(rewards, group_ids=torch.zeros(8, dtype=torch.long))
print("pooled into one group (wrong):", pooled.numpy().round(3))

# %% [markdown]
# Separate groups matter. Pooled, every meta rollout would be ranked against solutions rewarded
# 0 or 1: the prediction with r_meta = 0.5, second best of its four, would get an advantage of
# about zero. In its own group each meta rollout is compared only with the other predictions for
# the same prompt, so the second best is pushed up and the two worst down.
#
# **Token-mean over both paths.** Every token of the step weighs $1/\sum_o |o|$, whichever path
# it comes from; a path's share of the gradient is its share of the tokens:

# %%
sol_len = torch.tensor(lengths)                      # tokens per solution rollout
meta_len = torch.tensor([38, 41, 36, 40])            # tokens per meta rollout
total = int(sol_len.sum() + meta_len.sum())
print(f"weight of one token: 1/{total}; meta path's share of the loss weight: "
      f"{meta_len.sum().item() / total:.0%}")

# %% [markdown]
# ## 2 · Training GRPO and MASA from the same base
#
# `reproduce` with two of its methods; the runs are written to `runs/tutorial/`, and
# `05_masa_efficient` and `07_evaluation_and_feed_in` reuse them when they find them with the same
# configuration instead of training again.

# %%
summary = reproduce(PROFILE, out_dir=str(OUT), methods=["GRPO", "MASA"], resume=True,
                    meta_overrides=STUDY_SWITCHES)
print(summary_markdown(summary))

# %% [markdown]
# ## 3 · Calibration before and after (the paper's Fig. 1b)
#
# Each point is a held-out problem: mean predicted pass rate of its meta rollouts against its
# actual pass rate. GRPO never trains the meta path; MASA rewards it for agreeing with reality.

# %%
hist, calib = load_runs(OUT, ["GRPO", "MASA"])
panels = {"base": pairs_at(calib["GRPO"], 0), "GRPO": pairs_at(calib["GRPO"]), "MASA": pairs_at(calib["MASA"])}
plots_meta.calibration_scatter(panels, quantity="pass_rate")

# %%
plots_meta.calibration_scatter(panels, quantity="length")

# %% [markdown]
# **Against the paper.** The paper (Qwen3-8B-Base, hundreds of steps on DeepScaleR) shows GRPO's
# fit nearly flat and MASA's close to y = x. The table above states our correlation before and
# after each method, with the number of problems. In 12 steps the paper's MASA (`--paper`) rose
# above GRPO in 2 of 3 seeds, by little (r 0.11 ± 0.11, Finding 12). Longer runs of the paper's MASA
# (40 and 100 steps, both credits) did not produce per-problem calibration either — the meta path
# learns the *average* pass rate, then collapses to one constant prediction. What the study
# (`docs/meta-awareness-study.md`) measured:
#
# - **GRPO flattens what there is to learn.** The real gap between the easiest and the hardest
#   level falls from 0.76 to about 0.4 within 10 steps, so each 8-sample target says less about
#   difficulty; in a supervised probe the flatter curve halves the correlation learned from the
#   same number of targets (0.83 ± 0.01 → 0.47 ± 0.13, 3 seeds).
# - **On one shared adapter the paths move each other**: Expert SFT on the meta prompt changed the
#   solution path's accuracy, and the meta path's RL (rollout credit) optimised the notion and
#   length parts while its pass-rate value drifted.
# - **What works at our scale**: Expert SFT (the paper's supervised step, here at lr 2e-3) on the
#   meta path's *own* adapter, with its targets replayed (Findings 7 and 18, measured on the first
#   tiny model). On today's model, whose problems say how hard they are, the committed `cpu` run
#   calibrates within 20 steps (Finding 21; its numbers: [`figures/summary.md`](../figures/summary.md)).
# - **And in 12 steps**: the same Expert SFT with its targets replayed (`efficient.sft_replay=4`,
#   the run above): r 0.35 ± 0.09 (3 seeds). Without the replay, 12 steps give Expert SFT only 12
#   batches, and the predictions reach the right mean but stay flat across levels (Finding 18).
# - **What did not reproduce**: the paper's MASA alone (meta RL on one model) did not calibrate in
#   any run we measured.
# - **How high r can go here**: a predictor that knows each level's mean pass rate exactly, and
#   nothing about single problems, scores r 0.74 on the base model but only about 0.5 after 100
#   steps of training (0.48 ± 0.06 in the committed run's MASA; GRPO flattens the curve).
#   Going past it needs per-problem self-knowledge. The next cell computes these reference
#   values for the run above (`masa_lite/meta/ceiling.py`; Finding 8 of the study).

# %%
n_samples = [h for h in hist["MASA"] if h["kind"] == "eval"][-1]["n_samples"]
for name in ("base", "GRPO", "MASA"):
    pairs = panels[name]
    actual = [p["actual_pass_rate"] for p in pairs]
    print(f"{name:5s} level-oracle r {ceiling.level_oracle_corr([p['level'] for p in pairs], actual):.2f}"
          f" | noise ceiling {ceiling.noise_ceiling_corr(actual, n_samples):.2f}")

# %% [markdown]
#
# Try it: `masa-lite train --profile tiny -o meta.enabled=true -o meta.adapter=separate
# -o efficient.expert_sft=true -o efficient.sft_min_notion=0 -o efficient.sft_unsolved=true
# -o efficient.sft_lr=2e-3 -o grpo.steps=100` (about 15–40 minutes on 2 cores). The same setting
# with the replay added (`-o efficient.sft_replay=4`) as a whole comparison, 3 seeds of the `cpu`
# profile, is the committed run in `figures/` (its `summary.md` and `provenance.json` give the
# numbers and the command).
#
# ## 4 · Accuracy against step and wall-clock

# %%
target = [h for h in hist["GRPO"] if h["kind"] == "eval"][-1]["pass@1"]
plots.accuracy_curves(hist, x="step", target=target)

# %%
plots.accuracy_curves(hist, x="wall", target=target)

# %% [markdown]
# MASA pays for its meta rollouts: each step generates M extra completions per prompt, so per
# step it is slower than GRPO. The paper reports MASA's accuracy gain (+6.2 % averaged over six
# math sets for Qwen3-8B); at our budget compare the final pass@1 with its standard error above.
# On the committed `cpu` run MASA ends at 0.81 ± 0.03 against GRPO's 0.79 ± 0.03 (3 seeds, MASA
# higher in 2 of 3): no loss from the meta path, and no gain beyond the spread over seeds.
#
# ## 5 · The meta reward's parts over training

# %%
plots_meta.meta_reward_parts(hist["MASA"], smooth=3)

# %% [markdown]
# ## 6 · Notion use in correct vs incorrect rollouts
#
# At every evaluation the trainer records, for each of the task's notions, the share of correct
# and of incorrect held-out rollouts that use it. The notion reward pays for predicting notions
# that correct rollouts use more than wrong ones.

# %%
for name, h in hist.items():
    try:
        plots_meta.notion_use(h, name)
    except ValueError as err:
        print(err)

# %% [markdown]
# Read the figure before believing a story about it. On the reference run
# (`figures/tiny/notion_frequency_masa.png`: the main job's 12 steps of MASA) `recheck` (a
# noticed slip) is used far more by incorrect rollouts, as the task intends (0.45 vs 0.15 at the
# end of MASA). But `split` — the reliable distributive route — is *also* used more by incorrect
# ones (0.61 vs 0.45), not less, and so is every other notion, even `add` and `sub`: incorrect
# rollouts are longer (more steps, redone steps) and come mostly from harder problems with more
# operations, so they contain every notion more often. A share over all held-out rollouts mixes a
# notion's effect with the length and difficulty of the rollouts it appears in; `r_notion`
# compares rollouts of the *same* prompt, which removes the difficulty part.

# %% [markdown]
# ## What the study found
#
# The committed run ([`figures/summary.md`](../figures/summary.md): `cpu` profile, 60 steps, 3
# seeds, 120 held-out problems) trains its meta methods with the study's switches: the meta path on
# its own LoRA adapter, Expert SFT at a gentle step with its targets replayed, unsolved prompts kept
# ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Findings 7 and 18). So its
# MASA row is MASA plus our Expert SFT, not the paper's MASA. There the meta path's predicted pass
# rate does follow the real one: its r rises far above GRPO's in every seed, and far above the
# summary's *level-oracle r*, what a predictor that knows only each level's mean pass rate would
# score — the meta path knows single problems, as in the paper's Fig. 1b. Accuracy rose about as much with MASA as with GRPO: no loss
# from the meta path, but no clear gain either (within the spread over seeds), not the paper's
# accuracy gain. Read "no loss" with care: with the meta path on its own adapter
# (`meta.adapter=separate`) the solution path is trained by GRPO alone, so an unchanged accuracy is
# what the setting gives by construction, not evidence about the meta path.
#
# At your profile's budget (the default `tiny` profile) the same switches put MASA's r well above
# GRPO's (`figures/tiny/summary.md`, the main job's seed 0). With 90 held-out problems one run's r
# has a standard error of about 0.1, so yours may land above or below it. What the paper's MASA
# (one shared adapter, no Expert SFT) does on this model: Finding 21. GRPO against MASA on the
# committed `cpu` run, the three seeds' held-out problems pooled:
#
# ![Predicted vs actual pass rate after 60 steps: GRPO (flat) and MASA (close to y = x), 3 seeds pooled](../figures/study_calibration_pass_rate.png)
#
# Next: `05_masa_efficient`.
