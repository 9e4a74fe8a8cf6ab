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
# # 05 · MASA-efficient: Expert SFT, predictive gating, early cutoff
#
# Once the meta path predicts outcomes, the predictions can save compute (masa-method.md §4):
#
# 1. **Expert SFT** — per prompt, the meta rollout with the best notion score (≥ 0.2), its
#    `pass_rate` and `solution_length` overwritten with the *true* statistics, is cloned by a
#    supervised step with its own learning rate;
# 2. **predictive gating** — meta rollouts first; a prompt whose predicted pass rates agree
#    (std < 0.1) on ≈ 0 or ≈ 1 is skipped: its group would be zero-variance and teach nothing;
# 3. **early cutoff** — a solution rollout is stopped at 2 × the mean predicted length and scores 0.
#
# Gating and cutoff switch on after a warm-up in parallel mode (`efficient.warmup_steps`). Both are
# **audited**: a sample of gated prompts is rolled out anyway and a sample of cut rollouts is
# continued to the global limit, to measure precision / recall / F1 against what really happened.
# The authors' public code has neither; masa_lite implements both from the paper's description.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from masa_lite import masa, meta, plots, widgets
from masa_lite.config import load_config, profile_name
from masa_lite.grpo import sample_solutions
from masa_lite.problems import eval_records
from masa_lite.prompts import prompt_format_for
from masa_lite.reproduce import METHODS, PAPER, load_runs, reproduce, run_folder, summary_markdown
from masa_lite.rewards import score_rollouts
from masa_lite.trainer import _meta_rollouts, train

PROFILE = profile_name()
OUT = Path("runs/tutorial")
EFFICIENT = ["MASA-efficient (no Expert SFT)", "MASA-efficient"]
print({m: METHODS[m] for m in EFFICIENT})

# %% [markdown]
# ## 1 · An Expert SFT target
#
# A meta answer is rewritten with the true pass rate round(p·K) and the mean length of the
# *correct* rollouts, as integers in the prompt's own JSON format (the public code computes the
# length over all rollouts, writes floats and serialises with `str()` — three bugs not copied).

# %%
predicted = '<meta>3 ops: mul, add, sub</meta>{"math_notion": ["carry", "split"], "pass_rate": 7, "solution_length": 150}'
print(meta.expert_target(predicted, actual_pass_rate=3 / 8, correct_lengths=[61, 70, 64], k=8))

# %% [markdown]
# ## 2 · Training: GRPO vs MASA-efficient with and without Expert SFT
#
# The GRPO run is reused from `04_masa_training` when it is in `runs/tutorial/` with the same
# configuration (otherwise it is trained here), so the wall-clock comparison uses runs of the same
# machine and session.

# %%
summary = reproduce(PROFILE, out_dir=str(OUT), methods=["GRPO"] + EFFICIENT, resume=True)
print(summary_markdown(summary))

# %% [markdown]
# ## 3 · Gating and cutoff against the real outcome (the paper's Table 3)
#
# Precision, recall and F1 of "gated ⇔ zero-variance group" and "cut ⇔ would have been wrong",
# accumulated over the sequential-mode steps from the audits. Paper: gating F1 0.411 → 0.485 and
# cutoff F1 0.732 → 0.836 with Expert SFT.

# %%
hist, _ = load_runs(OUT, ["GRPO"] + EFFICIENT)
ctrl = {m: {k: summary["methods"][m][k] for k in ("gate_precision", "gate_recall", "gate_f1",
                                                   "cutoff_precision", "cutoff_recall", "cutoff_f1")}
        for m in EFFICIENT}
for m, c in ctrl.items():
    print(m, {k: (None if v is None else round(v, 3)) for k, v in c.items()})
plots.control_prf_bars(ctrl, paper={"gate_f1": PAPER["gate_f1"], "cutoff_f1": PAPER["cutoff_f1"]})

# %% [markdown]
# ## 4 · What sequential mode does per step
#
# Share of prompts gated, share of rollouts cut, and where each step's time goes.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for m in EFFICIENT:
    tr = [r for r in hist[m] if r["kind"] == "train"]
    axes[0].plot([r["step"] for r in tr], [r.get("gated_frac") or 0 for r in tr], label=f"{m}: gated")
    axes[0].plot([r["step"] for r in tr], [r.get("cut_frac") or 0 for r in tr], ls="--", label=f"{m}: cut")
axes[0].set_xlabel("step")
axes[0].set_ylabel("share")
axes[0].legend(fontsize=7)
phases = ["seconds_meta", "seconds_generation", "seconds_scoring", "seconds_training", "seconds_sft"]
bottom = np.zeros(len(hist))
for ph in phases:
    vals = np.array([np.mean([r.get(ph) or 0 for r in h if r["kind"] == "train"]) for h in hist.values()])
    axes[1].bar(range(len(hist)), vals, bottom=bottom, label=ph.replace("seconds_", ""))
    bottom += vals
axes[1].set_xticks(range(len(hist)), [m.replace(" (", "\n(") for m in hist], fontsize=7)
axes[1].set_ylabel("seconds per step (mean)")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · Accuracy against wall-clock (the paper's Fig. 4) and the speed-up
#
# The dashed line is GRPO's final accuracy; the speed-up is GRPO's training time divided by the
# time each method needed to reach that accuracy (paper: 1.28× for MASA-efficient). The summary
# table above states whether it was reached at all within the budget.

# %%
target = [h for h in hist["GRPO"] if h["kind"] == "eval"][-1]["pass@1"]
plots.accuracy_curves(hist, x="wall", target=target)

# %%
for m, row in summary["methods"].items():
    reach, speedup = row["seconds_to_grpo_final"], row["speedup_vs_grpo"]
    print(f"{m:32s} trained {row['train_seconds']:6.0f} s; reached GRPO's final pass@1 "
          + (f"after {reach:.0f} s → speed-up {speedup:.2f}×" if reach else "— not within the budget"))

# %% [markdown]
# ## 6 · Threshold explorer
#
# What would gating and cutoff do at other thresholds? Take the trained MASA-efficient model, get
# M meta predictions and G full-length solution rollouts for held-out problems, and recompute the
# decisions for any std / margin / cutoff factor (`widgets.control_outcomes`).

# %%
cfg = load_config(PROFILE, overrides=METHODS["MASA-efficient"] + [f"out_dir={OUT / run_folder('MASA-efficient')}",
                                                                  "method=MASA-efficient"])
trained = train(cfg, resume=True, progress=False)  # the finished run: loads its last checkpoint
model, tok = trained["model"], trained["tokenizer"]
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
probs = eval_records(cfg)[::2]
torch.manual_seed(0)
metas, preds = _meta_rollouts(model, tok, probs, fmt, cfg, cfg.meta.group_size)
by = masa.predictions_by_prompt(metas, preds, len(probs), cfg.meta.k)
sols = sample_solutions(model, tok, probs, fmt.solution, cfg)
score_rollouts(sols, probs, cfg)
st = masa.prompt_stats(sols, len(probs))
args = ([b["pass"] for b in by], [b["length"] for b in by], [s.correct for s in st], [s.lengths for s in st])
for std_max, margin, factor in [(0.1, 0.1, 2.0), (0.2, 0.2, 1.5), (0.3, 0.25, 1.0)]:
    o = widgets.control_outcomes(*args, std_max=std_max, margin=margin, factor=factor)
    print(f"std<{std_max} margin {margin} cutoff×{factor}: gated {o['gated_share']:.2f} (F1 {o['gate_f1']:.2f}), "
          f"cut {o['cut_share']:.2f} (F1 {o['cutoff_f1']:.2f}), tokens saved {o['tokens_saved_share']:.1%}")
widgets.threshold_explorer(*args)

# %% [markdown]
# Next: `06_reproduce_figures` draws every figure of the method page's claims table from the
# committed reference run, with the paper's numbers beside ours.
