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
# # 05 · MASA-efficient: predictive gating, early cutoff, Expert SFT
#
# ![Precision, recall and F1 of predictive gating and early cutoff, without and with Expert SFT, with the paper's Table 3 F1 marks (committed cpu run, seed 0 of 3)](../figures/gating_cutoff_prf.png)
#
# - **In part (Table 3):** with Expert SFT the gate fires, far below the paper's F1; without it the
#   gate never fires.
# - **Not reproduced:** the cutoff rarely finds the wrong solutions, and MASA-efficient is never
#   faster than GRPO: here a meta answer is as long as a solution (§7).
# - **This notebook** trains the paper's setting at your profile's budget, where the meta path is
#   not yet calibrated: expect a silent gate.
#
# Numbers: [`figures/summary.md`](../figures/summary.md); why: "What the study found", at the end.


# %%
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from masa_lite.efficient import cutoff
from masa_lite.efficient import expert_sft
from masa_lite.efficient import gate
from masa_lite.meta import answer as meta_answer
from masa_lite.meta import reward as meta_rewards
from masa_lite.meta import scoring as meta_scoring
from masa_lite.study import cost
from masa_lite.teach import plots
from masa_lite.teach import plots_efficient
from masa_lite.teach import widgets
from masa_lite.checkpoint import latest_checkpoint
from masa_lite.config import load_config, profile_name
from masa_lite.grpo.policy import sample_solutions
from masa_lite.adapters import load_trained_adapters
from masa_lite.models import load_model_and_tokenizer
from masa_lite.task.records import eval_records
from masa_lite.task.prompts import prompt_format_for
from masa_lite.reproduce import METHODS, PAPER, load_runs, paper_marks, reproduce, run_folder, summary_markdown
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.sampling import sample_rollouts

PROFILE = profile_name()
OUT = Path("runs/tutorial")
EFFICIENT = ["MASA-efficient (no Expert SFT)", "MASA-efficient"]
print({m: METHODS[m] for m in EFFICIENT})

# %% [markdown]
# ## What this notebook does
#
# Once the meta path predicts outcomes, the predictions can save compute. MASA-efficient asks the
# meta path **first** (sequential mode, after `efficient.warmup_steps` ordinary MASA steps) and uses
# its answers to control the solution rollouts:
#
# ```mermaid
# flowchart LR
#     q[prompt q] --> M["M meta rollouts<br/>p̂_j, ℓ̂_j, notions"]
#     M --> G{"gate:<br/>std p̂ < τ and<br/>mean p̂ ≥ 1−m or ≤ m"}
#     G -- gated --> SKIP["no solution rollouts<br/>(an audited sample is rolled out anyway)"]
#     G -- not gated --> B["budget = ⌈c · mean ℓ̂⌉"]
#     B --> S["G solution rollouts,<br/>each stopped at the budget"]
#     S -- "cut: reward 0" --> R[rewards]
#     S -- "finished: verifier" --> R
#     R --> L["MASA loss (both groups)"]
#     M --> E["Expert SFT:<br/>best-notion meta rollout<br/>with the true p and ℓ"]
#     R -- "p, L⁺" --> E
#     E --> SFT["supervised step<br/>(its own learning rate)"]
# ```
#
# Both controls are **audited**: a sample of gated prompts is rolled out anyway and a sample of cut
# rollouts is continued to the global limit, to measure precision / recall / F1 against what really
# happened (the paper's Table 3). masa_lite implements gating and cutoff from the paper's
# description (arXiv 2510.03259, §4).
#
# This notebook trains at your profile's budget (on the default `tiny` profile, sequential mode
# starts halfway), without our switches (one shared adapter). At that scale the meta path is not
# calibrated, and on an earlier run of this setting (`docs/results.md`, "Earlier") the gate never
# fired. Expect the same from your run.

# %% [markdown]
# ## 1 · Predictive gating: the rule and its margin
#
# A prompt whose group would be zero-variance (all right or all wrong) gives every rollout
# advantage 0: generating it teaches nothing. The gate skips a prompt when its M predicted pass
# rates **agree** and say **trivial or hopeless**:
#
# $$\text{gate}(q) = \Big[\operatorname{std}_j \hat p_{q,j} < \tau\Big] \wedge
#   \Big[\overline{\hat p}_q \ge 1 - m \;\vee\; \overline{\hat p}_q \le m\Big],
#   \qquad \hat p_{q,j} = \texttt{pass\_rate}_{q,j} / K$$
#
# with τ = `efficient.gate_std` = 0.1, the margin m = `efficient.gate_margin` = 0.1 (population
# std, at least two predictions). `gate.gate_prompts` on five prompts of M = 4 predictions:

# %%
cases = {"agree: trivial": [8, 8, 7, 8], "agree: hopeless": [0, 0, 1, 0], "agree: middle": [4, 4, 4, 4],
         "disagree": [0, 8, 0, 8], "like the tiny base model": [2, 6, 4, 1]}
p_hat = [[c / 8 for c in counts] for counts in cases.values()]
gated = gate.gate_prompts(p_hat, std_max=0.1, margin=0.1)
for (name, counts), ps, g in zip(cases.items(), p_hat, gated):
    print(f"{name:26s} pass_rate {counts} → mean p̂ {np.mean(ps):.3f}, std p̂ {np.std(ps):.3f} → "
          + ("GATED" if g else "trained"))

# %% [markdown]
# The margin matters: "agree: middle" has std 0 but a mean of 0.5 — a prompt the model solves
# half the time is exactly what GRPO learns from, so it must not be skipped. And the last line
# (made up, but typical of uninformed guesses) shows why **no prompt was ever gated in 12 steps of
# the paper's setting** (`docs/results.md`, "Earlier"): the tiny base model learned the meta
# format from *random* targets, so its predictions for a prompt disagree, and in 12 steps of MASA
# no prompt's M = 8 predictions ever met both conditions (gated share 0.00 at every step). After
# 100 steps with Expert SFT on the meta path's own adapter (the committed `cpu` run in `figures/`)
# they agree often enough for the gate to fire on a small share of prompts (`figures/summary.md`).
# `exercises/ex6_gate_threshold` loosens τ and measures what the gate then does.
#
# ## 2 · Early cutoff: the budget rule
#
# Wrong rollouts run long (the solver redoes doubtful steps), so a rollout far longer than the
# predicted length is probably wrong. Each prompt's solution rollouts get the token budget
#
# $$b_q = \min\Big(\max\big(8,\; \lceil c \cdot \overline{\hat\ell}_q \rceil\big),\;
#   \texttt{max\_new\_tokens}\Big), \qquad r_{q,i} = 0 \text{ if rollout } i \text{ hit } b_q$$
#
# with c = `efficient.cutoff_factor` = 2 and $\overline{\hat\ell}_q$ the mean predicted length
# of its meta rollouts (`cutoff.cutoff_budget`; no prediction: the global limit applies):

# %%
pred_lengths = [40, 52, 61, 47]                       # ℓ̂ of four meta rollouts: mean 50
budget = cutoff.cutoff_budget(pred_lengths, factor=2.0, max_new_tokens=400)
rollouts = {"short, correct": (58, True), "long, correct": (104, True), "long, wrong": (180, False)}
print(f"mean ℓ̂ = {np.mean(pred_lengths):.0f} → budget {budget} tokens")
for name, (n_tok, ok) in rollouts.items():
    cut = n_tok > budget
    print(f"  {name:15s} {n_tok:3d} tokens → " + ("cut at the budget, reward 0" if cut else
                                                  f"finished, reward {int(ok)}")
          + (" (a wrong cut: the audit counts it against precision)" if cut and ok else ""))
print("budget if the predictions are half as long:", cutoff.cutoff_budget([20, 26, 30, 24], 2.0, 400))

# %% [markdown]
# The cutoff is only as good as ℓ̂: predictions that are too short cut correct rollouts (a
# precision error, and a reward of 0 for a right answer); too long, and nothing is saved. The
# paper sets c = 2. On a 12-step run of the paper's setting (`docs/results.md`, "Earlier") without
# Expert SFT the base model's long, uninformed length predictions almost never bound (cut share
# ≤ 2 %); with Expert SFT they were pulled towards the mean correct length, so the budgets bound
# and cut up to half of the rollouts (51 % at the last step), and pass@1 ended lower (0.674 ± 0.030 vs
# 0.743 ± 0.027 without it). After 100 steps (the committed `cpu` run) the cutoff's F1 is
# 0.09 ± 0.08: a wrong solution on this task is seldom twice as long as the predicted length
# (`docs/meta-awareness-study.md`, Findings 9 and 11). In one seed the solutions grew in the
# last steps and the cutoff cut 38–55 % of the rollouts; cut rollouts score 0, so many groups
# lost their signal and pass@1 fell to 0.39 (Finding 19).
#
# ## 3 · Expert SFT: how a target is built
#
# Per prompt, take the meta rollout with the best notion score (at least
# `efficient.sft_min_notion` = 0.2), keep its reasoning and notions, and overwrite its numbers
# with what the solution rollouts really did:
#
# $$j^* = \arg\max_j r_\text{notion}(m_{q,j}) \;\; (r_\text{notion} \ge 0.2), \qquad
#   \texttt{pass\_rate} \leftarrow \operatorname{round}(p_q K), \qquad
#   \texttt{solution\_length} \leftarrow \operatorname{round}\Big(\tfrac{1}{|L^+_q|}\textstyle\sum_{\ell \in L^+_q} \ell\Big)$$
#
# (half-up rounding, integers in the prompt's own JSON format). The (meta prompt, target) pairs
# are cloned by a supervised step with its own learning rate (`efficient.sft_lr`) once
# `efficient.sft_batch_size` of them have been collected. `expert_sft.expert_sft_examples` on one
# prompt with three meta rollouts and eight solutions, three of them correct:

# %%
cfg = load_config(PROFILE, overrides=METHODS["MASA-efficient"])
problem = {"problem": "28*2+17", "answer": "73"}
sols = ["28*2=20*2+8*2=40+16=56 add 56+17=73"] * 2 + ["split 28*2=20*2+8*2=56 add 56+17=73"] \
    + ["28*2=46 add 46+17=63 no, recheck 28*2=46 add 63"] * 3 + ["28*2=54 add 54+17=71"] * 2
stats = [meta_scoring.PromptStats(sols, [True, True, True, False, False, False, False, False],
                          [61, 70, 64, 120, 131, 118, 80, 77])]
meta_texts = ['<meta>mul then add</meta>{"math_notion": ["recheck"], "pass_rate": 7, "solution_length": 150}',
              '<meta>split the product</meta>{"math_notion": ["split", "add"], "pass_rate": 2, "solution_length": 40}',
              '<meta>easy</meta>{"math_notion": ["carry"], "pass_rate": 8, "solution_length": 20}']
metas = [SimpleNamespace(prompt_index=0, text=t) for t in meta_texts]
preds = [meta_answer.parse_meta(t, k=8) for t in meta_texts]
for t, pr in zip(meta_texts, preds):
    print(f"r_notion {meta_rewards.notion_reward(pr.notions, problem['problem'], sols, stats[0].correct):.2f}  ← {t}")
pairs = expert_sft.expert_sft_examples(metas, preds, [problem], stats, cfg, prompt_fn=lambda r: f"meta {r['problem']}")
print(f"\np = {stats[0].pass_rate:.3f} → pass_rate round({stats[0].pass_rate:.3f}·8) = 3; "
      f"L⁺ = {stats[0].correct_lengths} → mean {np.mean(stats[0].correct_lengths):.2f} → 65")
print("SFT pair:", pairs)
print("the same rewrite, directly:", expert_sft.expert_target(meta_texts[1], 3 / 8, [61, 70, 64], k=8))

# %% [markdown]
# The second meta rollout wins on notions (`split` is used only by a correct solution; `add`
# appears in every solution, so it does not separate them: r_notion = 1/2), and its numbers are
# replaced by the truth: 3 of 8 and 65 tokens. Its own guesses (2 and 40) are discarded. Note what
# the target teaches for *lengths*: the mean length of the **correct** rollouts — shorter than
# the average rollout. That is the mechanism behind the 12-step cutoff result of §2: after Expert
# SFT the predicted lengths, and so the budgets, shrink.
#
# ## 4 · Training: MASA-efficient with and without Expert SFT
#
# The GRPO run is reused from `04_masa_training` when it is in `runs/tutorial/` with the same
# configuration (otherwise it is trained here), so the wall-clock comparison uses runs of the same
# machine and session.

# %%
summary = reproduce(PROFILE, out_dir=str(OUT), methods=["GRPO"] + EFFICIENT, resume=True)
print(summary_markdown(summary))

# %% [markdown]
# ## 5 · Gating and cutoff against the real outcome (the paper's Table 3)
#
# Precision, recall and F1 of "gated ⇔ zero-variance group" and "cut ⇔ would have been wrong",
# accumulated over the sequential-mode steps from the audits; the dashed marks are the paper's F1
# (gating 0.411 → 0.485, cutoff 0.732 → 0.836 with Expert SFT). Precision is undefined (n/a) when
# nothing was gated or cut.

# %%
hist, _ = load_runs(OUT, ["GRPO"] + EFFICIENT)
ctrl = {m: {k: summary["methods"][m][k] for k in ("gate_precision", "gate_recall", "gate_f1",
                                                   "cutoff_precision", "cutoff_recall", "cutoff_f1")}
        for m in EFFICIENT}
plots_efficient.control_prf_bars(ctrl, paper=paper_marks(ctrl))

# %% [markdown]
# ## 6 · What sequential mode does per step
#
# Share of prompts gated and of rollouts cut at every step, and where each step's time goes.

# %%
plots_efficient.efficient_steps(hist)

# %% [markdown]
# ## 7 · Accuracy against wall-clock (the paper's Fig. 4) and the speed-up
#
# The dashed line is GRPO's final accuracy; the speed-up is GRPO's training time divided by the
# time each method needed to reach that accuracy (paper: 1.28× for MASA-efficient).

# %%
target = [h for h in hist["GRPO"] if h["kind"] == "eval"][-1]["pass@1"]
plots.accuracy_curves(hist, x="wall", target=target)

# %%
for m, row in summary["methods"].items():
    reach, speedup = row["seconds_to_grpo_final"], row["speedup_vs_grpo"]
    print(f"{m:32s} trained {row['train_seconds']:6.0f} s; reached GRPO's final pass@1 "
          + (f"after {reach:.0f} s → speed-up {speedup:.2f}×" if reach else "— not within the budget"))

# %% [markdown]
# Without gating there is nothing to save on prompts, and the meta rollouts come first and cost
# time of their own, so a speed-up could only come from the cutoff — which, where it binds, also
# cuts correct rollouts. That is what 12 steps of the paper's setting showed (`docs/results.md`,
# "Earlier": the gate never fired, no speed-up). In the committed `cpu` run the gate does fire,
# and still no seed was faster than GRPO (`figures/summary.md`). The next cell says why.
#
# **What speed-up is possible at all?** Count a step's generated tokens with a GRPO step as 1.
# MASA-efficient costs (1 − g)(1 − c) + m: g the share of prompts gated, c the share of solution
# tokens the cutoff saves, m the meta path's tokens per solution token. If its steps teach as much
# as GRPO's, the speed-up is at most 1 / that (`masa_lite/study/cost.py`). The paper's 1.28×
# with 37 % gated fits m ≈ 0.2; here the meta answer is about as long as a solution:

# %%
eff = "MASA-efficient"
m_share = cost.meta_share_of(hist[eff])
g = summary["methods"][eff]["gated_share"] or 0.0
print(f"m = {m_share:.2f} meta tokens per solution token (parallel-mode steps of {eff})")
print(f"bound with this run's gating (g = {g:.2f}, no cutoff saving): {cost.speedup_bound(m_share, g):.2f}×")
print(f"bound with the paper's gating (g = 0.37, c = 0.10): {cost.speedup_bound(m_share, 0.37, 0.10):.2f}×")
print(f"largest m that allows 1.25× at the paper's gating: {cost.max_meta_share(1.25, 0.37, 0.10):.2f}")

# %% [markdown]
# ## 8 · Threshold explorer
#
# What would gating and cutoff do at other thresholds? Load the trained MASA-efficient adapter
# from its last checkpoint, get M meta predictions and G full-length solution rollouts for
# held-out problems, and recompute the decisions for any std / margin / cutoff factor
# (`widgets.control_outcomes`).

# %%
cfg = load_config(PROFILE, overrides=METHODS["MASA-efficient"])
ckpt = latest_checkpoint(OUT / run_folder("MASA-efficient"))
model, tok = load_model_and_tokenizer(cfg.model.name, device=cfg.model.device, dtype=cfg.model.dtype)
model = load_trained_adapters(model, ckpt / "adapter")  # and the meta adapter, if the run had one
print("loaded", ckpt)
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
probs = eval_records(cfg)[::2]
torch.manual_seed(0)
metas = sample_rollouts(model, tok, [fmt.meta(r) for r in probs], cfg, n=cfg.meta.group_size,
                        max_new_tokens=cfg.meta.max_new_tokens)
preds = [meta_answer.parse_meta(r.text, k=cfg.meta.k) for r in metas]
by = meta_scoring.predictions_by_prompt(metas, preds, len(probs), cfg.meta.k)
sols = sample_solutions(model, tok, probs, fmt.solution, cfg)
score_rollouts(sols, probs, cfg)
st = meta_scoring.prompt_stats(sols, len(probs))
args = ([b["pass"] for b in by], [b["length"] for b in by], [s.correct for s in st], [s.lengths for s in st])
for std_max, margin, factor in [(0.1, 0.1, 2.0), (0.2, 0.2, 1.5), (0.3, 0.25, 1.0)]:
    o = widgets.control_outcomes(*args, std_max=std_max, margin=margin, factor=factor)
    print(f"std<{std_max} margin {margin} cutoff×{factor}: gated {o['gated_share']:.2f} (F1 {o['gate_f1']:.2f}), "
          f"cut {o['cut_share']:.2f} (F1 {o['cutoff_f1']:.2f}), tokens saved {o['tokens_saved_share']:.1%}")
widgets.threshold_explorer(*args)

# %% [markdown]
# ## What the study found
#
# The committed run ([`figures/summary.md`](../figures/summary.md): `cpu` profile, 100 steps, 3
# seeds) trains MASA-efficient 50 steps like MASA, then 50 in sequential mode. Its meta path has its
# own LoRA adapter and our Expert SFT settings, targets replayed (`04_masa_training`), which
# calibrate it in part. With that, MASA-efficient gates a small share of prompts, far fewer than the
# paper's (about 37 %), at a gate precision and F1 well below the paper's. That precision is about
# what a merely calibrated predictor gets: a prompt with pass rate 0.9 has all 8 rollouts right only
# 43 % of the time (0.9⁸). The cutoff's F1 stays near noise. Accuracy is kept in 2 of 3 seeds; in
# the third the solutions grew in the last steps, the cutoff cut a large share of the rollouts and
# pass@1 collapsed ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Finding 19).
# MASA-efficient was never faster than GRPO (paper 1.28×). **No speed-up is possible on this task**:
# the meta path writes about as many tokens as the solution path, so a MASA-efficient step costs
# about twice a GRPO step whatever the gate does, and the speed-up is bounded near 0.5×, a little
# more even with the paper's gating (§7; Finding 9).
#
# The figure also shows the run without Expert SFT: its gate never fired in any seed (its meta path
# predicted one constant in 2 of 3 seeds). So "Expert SFT raised the gate's F1 in every seed"
# compares against a gate that never fired, not the paper's sharpening of a working one (0.411 →
# 0.485); the cutoff's F1 rose in only 1 of 3 seeds (paper 0.732 → 0.836). (In the earlier
# comparison, without replay, one seed without Expert SFT instead collapsed to "always right" and
# gated many prompts at low precision; Finding 14.) Even a perfect length prediction would give a
# low cutoff F1 at the paper's factor 2 on this task: its wrong solutions are not long enough to be
# cut (Finding 11).
#
# Next: `06_reproduce_figures` draws every figure of the claims table from the committed `cpu` run
# in `figures/`, with the paper's numbers beside ours.
