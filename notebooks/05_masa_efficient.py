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
# ![Precision, recall and F1 of predictive gating and early cutoff, without and with Expert SFT, with the paper's Table 3 F1 marks: mean of the committed cpu run's 3 seeds (bars) and each seed (dots)](../figures/gating_cutoff_prf_seeds.png)
#
# - **Gating and cutoff (Table 3):** their precision, recall and F1, without and with Expert SFT,
#   beside the paper's F1 marks; what reproduced is in the verdicts of the summary below.
# - **Speed-up (Fig. 4):** §7 measures it and what bounds it.
# - **This notebook** loads the committed `cpu` run (seed 0), trained in the setting that calibrates
#   long enough for the gate to fire, or trains it at your profile (`TRAIN = True`, §4).
#
# Numbers and verdicts: [`figures/summary.md`](../figures/summary.md); why: "What the study found".


# %%
import json
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
from masa_lite.reproduce import (METHODS, PAPER, STUDY_SWITCHES, load_runs, method_overrides, paper_marks,
                                  reproduce, run_folder, summary_markdown)
from masa_lite.grpo.rewards import score_rollouts

PROFILE = profile_name()
OUT = Path("runs/tutorial")
EFFICIENT = ["MASA-efficient (no Expert SFT)", "MASA-efficient"]
print({m: METHODS[m] for m in EFFICIENT})
print("the meta methods also get:", STUDY_SWITCHES)

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
# This notebook trains with the switches `masa-lite reproduce` gives its meta methods (`STUDY_SWITCHES`,
# printed above; `docs/deviations.md`): the meta path on its own LoRA adapter, and Expert SFT whose
# targets are replayed. They are what calibrates the meta path at our budgets. The paper's setting
# (one shared adapter) is one argument away, `meta_overrides=[]` in §4 (or `masa-lite reproduce
# --paper`); at these budgets its meta path is not calibrated and its gate stays silent
# (`docs/results.md`, "Earlier"). On the default `tiny` profile it also trains longer than the
# profile's 12 steps, so that sequential mode starts later (§4 says why).

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
# half the time is exactly what GRPO learns from, so it must not be skipped. The last line (made
# up, but typical of uninformed guesses) is the base model: it learned the meta format from
# *random* targets, so its predictions for a prompt disagree and nothing is gated. In the paper's
# setting at small budgets they still disagree after training (`docs/results.md`, "Earlier": gated
# share 0 at every step). Expert SFT on the meta path's own adapter teaches it the true pass
# rates, and on this task many prompts are trivial (easy, always solved) or hopeless (hard, never
# solved: `01_tasks_and_verification`), so the predictions come to agree and the gate fires (§6),
# once Expert SFT has had enough steps (§4).
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
# paper sets c = 2. On this task a failing trace (a hard problem, or a solver lost after two
# rejections) runs on to the token budget, while a correct one is about as long as its steps
# (`01_tasks_and_verification`), so a budget of twice the predicted *correct* length cuts mostly
# wrong rollouts — if ℓ̂ follows the correct lengths. §5 measures how often it does; a cut
# rollout scores 0, so a cutoff that binds too early also removes the signal of right answers.
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
# the average rollout. That is what makes the cutoff bind: after Expert SFT the predicted lengths,
# and so the budgets of §2, move towards the length of the correct rollouts. The runs of §4 use
# our switches here too: `efficient.sft_min_notion=0` (any meta rollout can carry a target),
# `efficient.sft_unsolved=true` (a prompt with no correct rollout still teaches pass_rate 0) and
# `efficient.sft_replay=4` (each step trains on earlier targets again; `docs/deviations.md`).
#
# ## 4 · The runs: the committed cpu run, or your own
#
# The sections below need GRPO and both MASA-efficient runs trained long enough for the gate to
# fire. By default they **load the committed `cpu` run** (seed 0 of 3, 60 steps, sequential mode
# from step 16: `figures/data/seed0/`, with the MASA-efficient run's final adapters), so every
# figure here shows a gate that fired, in seconds. Its numbers against the other seeds:
# [`figures/summary.md`](../figures/summary.md).
#
# **To train them yourself**, set `TRAIN = True`: the three runs are trained at your profile with
# `STUDY_SWITCHES`, as `masa-lite reproduce` trains them (`meta_overrides=[]` trains the paper's
# setting). The tiny profile switches to sequential mode after 6 of its 12 steps, too early for
# the meta path's predictions to agree, and its gate skips almost nothing; so where the profile's
# warm-up is under 15 steps every run trains 20 steps with sequential mode from step 16 (`LONGER`,
# about 9 minutes on two cores).

# %%
TRAIN = False  # True: train the three runs here instead of loading the committed cpu run
if TRAIN:
    profile_cfg = load_config(PROFILE)
    LONGER = ([] if profile_cfg.efficient.warmup_steps >= 15 else
              ["efficient.warmup_steps=15", f"grpo.steps={max(profile_cfg.grpo.steps, 20)}"])
    print("every method of this notebook also gets:", LONGER or "nothing (the profile as it is)")
    if LONGER:  # 04's runs cannot be continued with other settings (a resume refuses a changed run)
        OUT = Path("runs/tutorial_longer")
    summary = reproduce(PROFILE, out_dir=str(OUT), methods=["GRPO"] + EFFICIENT, resume=True,
                        overrides=LONGER, meta_overrides=STUDY_SWITCHES)
    cfg = load_config(PROFILE, overrides=method_overrides("MASA-efficient", LONGER, STUDY_SWITCHES))
    ADAPTER = latest_checkpoint(OUT / run_folder("MASA-efficient")) / "adapter"
else:
    OUT = Path("../figures/data/seed0")
    summary = json.loads(Path("../figures/summary.json").read_text())["per_seed"]["0"]
    cfg = load_config(path=OUT / run_folder("MASA-efficient") / "config.yaml")
    ADAPTER = OUT / run_folder("MASA-efficient") / "adapter"
    print(f"loaded the committed {summary['profile']} run, seed 0: {OUT}")
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
# The same in numbers: every sequential-mode step of both runs, and how many prompts the gate
# skipped in all. A gate that never fires has nothing for §5 and §8 to measure, so the cell says
# so loudly if it happens.

# %%
for m in EFFICIENT:
    seq = [h for h in hist[m] if h.get("kind") == "train" and h.get("gated_frac") is not None]
    n_gated = sum(round(h["gated_frac"] * cfg.grpo.prompts_per_step) for h in seq)
    print(f"{m}: {len(seq)} sequential steps, {n_gated} of {len(seq) * cfg.grpo.prompts_per_step} "
          f"prompts gated (share {summary['methods'][m]['gated_share'] or 0:.2f})")
    print("   gated share per step:", " ".join(f"{h['gated_frac']:.2f}" for h in seq))
    print("   cut share per step:  ", " ".join(f"{h.get('cut_frac') or 0:.2f}" for h in seq))
seq = [h for h in hist["MASA-efficient"] if h.get("kind") == "train" and h.get("gated_frac") is not None]
fired = sum(round(h["gated_frac"] * cfg.grpo.prompts_per_step) for h in seq)
if fired >= 3:
    print(f"✓ the gate fired: {fired} prompts skipped in the MASA-efficient run")
elif fired:
    print(f"~ the gate fired on only {fired} prompt(s): too few for its audit to measure precision")
else:
    print("⚠ the gate did NOT fire in the MASA-efficient run: its meta path's predictions never agreed "
          "on a trivial or hopeless prompt. Train longer before sequential mode (LONGER in §4) and "
          "check that STUDY_SWITCHES were passed there.")

# %% [markdown]
# ## 7 · Accuracy against wall-clock (the paper's Fig. 4) and the speed-up
#
# The dashed line is GRPO's final accuracy; the speed-up is GRPO's training time divided by the
# time each method needed to reach that accuracy (paper: 1.28× for MASA-efficient). In the
# committed run only GRPO's and MASA-efficient's clocks were taken on idle cores; the other three
# methods shared their cores with other jobs, so their times are too slow to compare.

# %%
target = [h for h in hist["GRPO"] if h["kind"] == "eval"][-1]["pass@1"]
plots.accuracy_curves(hist, x="wall", target=target)

# %%
for m, row in summary["methods"].items():
    reach, speedup = row["seconds_to_grpo_final"], row["speedup_vs_grpo"]
    print(f"{m:32s} trained {row['train_seconds']:6.0f} s; reached GRPO's final pass@1 "
          + (f"after {reach:.0f} s → speed-up {speedup:.2f}×" if reach else "— not within the budget"))

# %% [markdown]
# The meta rollouts come first and cost time of their own; the gate saves a gated prompt's
# solution rollouts, the cutoff the tail of the rollouts it cuts — and, where it binds too early,
# also the reward of right answers. Whether that adds up to a speed-up at your budget is what the
# lines above say; the committed `cpu` run's across seeds is in `figures/summary.md`.
#
# **What speed-up is possible at all?** Count a step's generated tokens with a GRPO step as 1.
# MASA-efficient costs (1 − g)(1 − c) + m: g the share of prompts gated, c the share of solution
# tokens the cutoff saves, m the meta path's tokens per solution token. If its steps teach as much
# as GRPO's, the speed-up is at most 1 / that (`masa_lite/study/cost.py`). The paper's 1.28×
# with 37 % gated fits m ≈ 0.2; the next cell measures this run's m and bound:

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
# What would gating and cutoff do at other thresholds? Load the trained MASA-efficient adapters
# (§4: the committed run's, or your run's last checkpoint), get M meta predictions and G full-length solution rollouts for
# held-out problems, and recompute the decisions for any std / margin / cutoff factor
# (`widgets.control_outcomes`).

# %%
model, tok = load_model_and_tokenizer(cfg.model.name, device=cfg.model.device, dtype=cfg.model.dtype)
model = load_trained_adapters(model, ADAPTER)  # and the meta adapter, if the run had one
print("loaded", ADAPTER)
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
probs = eval_records(cfg)[::2]
torch.manual_seed(0)
metas, preds = meta_scoring.sample_meta(model, tok, probs, fmt, cfg, n=cfg.meta.group_size)  # meta adapter
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
# The committed run ([`figures/summary.md`](../figures/summary.md): the `cpu` profile, 3
# seeds, with our switches) trains MASA-efficient like MASA for `efficient.warmup_steps`, then in
# sequential mode; its numbers, and in how many seeds each direction holds, are there, and every
# measurement behind them in [`docs/results.md`](../docs/results.md). Three things to keep in mind
# when reading them:
#
# - **Gate precision has a ceiling even for a calibrated predictor.** A prompt with pass rate 0.9
#   has all 8 rollouts right only 43 % of the time (0.9⁸), so "predicted trivial" and "zero-variance
#   group" differ for mid prompts; the sure cases are the easy and hard kinds of this task.
# - **Compare F1 only between gates that fired.** "Expert SFT raised the gate's F1" says little if
#   the gate without it never fired (precision n/a, F1 0), which is what the paper's setting gives at
#   small budgets; the paper's claim is the sharpening of a working gate (0.411 → 0.485).
# - **The cutoff trades signal for tokens.** A cut rollout scores 0, so a budget below a correct
#   solution's length turns right answers into wrong ones; if the solutions grow late in a run, a
#   fixed factor c cuts more and more of them
#   ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Findings 9, 11 and 19).
#
# Next: `06_reproduce_figures` draws every figure of the claims table from the committed `cpu` run
# in `figures/`, with the paper's numbers beside ours.
