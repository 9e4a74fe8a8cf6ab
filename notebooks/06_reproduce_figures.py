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
# # 06 · The paper's figures from our runs
#
# ![Held-out pass@1 against training wall-clock, with GRPO's final accuracy as the target (committed cpu run, seed 0 of 3)](../figures/accuracy_vs_wall.png)
#
# - **Reproduced:** accuracy gains; calibration, with our switches; a gate that skips half the
#   prompts, sharpened by Expert SFT; a cutoff that finds the failing rollouts.
# - **In part:** the speed-up (above): 1 of 3 seeds reaches GRPO's final accuracy sooner; only
#   GRPO's and MASA-efficient's clocks compare (`figures/summary.md` says why).
#
# Nothing is trained here: every figure is drawn from the committed `cpu` run, the paper's number
# beside ours. Numbers: [`figures/summary.md`](../figures/summary.md).


# %%
import json
from pathlib import Path

from masa_lite.meta import analysis
from masa_lite.teach import plots
from masa_lite.teach import plots_efficient
from masa_lite.teach import plots_meta
from masa_lite.reproduce import PAPER, figures, load_runs, pairs_at, paper_marks, summarise

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "figures" / "data").is_dir())
prov = json.loads((ROOT / "figures" / "provenance.json").read_text())
print({k: prov.get(k) for k in ("profile", "seeds", "commit", "date", "command", "total_minutes")})
# a multi-seed reproduce (`--seeds`) keeps each seed's runs in data/seed<N>/; the figures are the lowest seed's
SEEDS = prov.get("seeds") or [prov["seed"]]
DATA = ROOT / "figures" / "data"
if (DATA / f"seed{min(SEEDS)}").is_dir():
    DATA = DATA / f"seed{min(SEEDS)}"
runs, calib = load_runs(DATA)
summary = summarise(runs, calib, prov["profile"])
rows = summary["methods"]
print("methods:", list(runs))


def panel(name, step=None):
    return pairs_at(calib[name], step)


# %% [markdown]
# ## The run behind the figures
#
# Every figure of the claims table that our data supports, drawn from the **committed `cpu` run** in
# `figures/data/` (histories and calibration pairs of `masa-lite reproduce`, one folder per seed;
# `figures/provenance.json` says which profile, seeds and commit made it, printed above). Nothing is
# trained here. Our number stands beside the paper's under each figure.
#
# The run: the `cpu` profile (the tiny model, 60 steps of 16 prompts, 120 held-out problems × 4
# samples), seeds 0, 1 and 2, five methods — GRPO, MASA, MASA-efficient without and with Expert SFT,
# and GRPO with a free gate that knows only each level's running pass rate (`GRPO + level gate`).
# The meta methods use the study's switches, `masa-lite reproduce`'s default: the meta path on its
# own LoRA adapter, with Expert SFT whose targets are replayed (also in the MASA row, unlike the
# paper's MASA). `figures/summary.md` gives mean ± sd over the seeds; the figures are seed 0's. To
# redraw them from the data: `masa-lite figures`. To remake the data and the figures
# (`provenance.json` records how the committed run was made and how long it trained):
#
#     masa-lite reproduce --profile cpu --seeds 0 1 2 --publish figures
#
# `figures/tiny/` keeps the CI-sized reference run, the README's main job: the `tiny` profile, 1
# seed, the study's switches with Expert SFT replay (`masa-lite figures figures/tiny/data --out
# figures/tiny` redraws it; its numbers: `figures/tiny/summary.md`). The same in 3 seeds:
# `docs/meta-awareness-study.md`, Finding 18; at that scale the paper's MASA is not calibrated
# (Finding 12).
#
# ```mermaid
# flowchart LR
#     D["figures/data/<br/>history.jsonl, calibration.jsonl<br/>per seed and method"] --> S["reproduce.summarise"] --> T["summary table<br/>and verdicts"]
#     D --> F["masa_lite.teach.plots"] --> PNG["figures/*.png"]
#     D --> AN["analysis.meta_deltas<br/>→ Δaccuracy vs Δmeta, Shapley R²"] --> F
# ```

# %% [markdown]
# ## The summary, over all seeds
#
# `figures/summary.md` as `masa-lite reproduce` wrote it: with `--seeds`, mean ± sd over the seeds
# and, for each of the paper's directions, in how many seeds it holds. The figures and the
# numbers printed below are the lowest seed's (seed 0), so they differ a little from the means.

# %%
print((ROOT / "figures" / "summary.md").read_text())

# %% [markdown]
# ## Fig. 1a/b · Predicted vs actual pass rate and length
#
# Paper: after GRPO the fitted line is nearly flat; after MASA it lies close to y = x.

# %%
panels = {"base": panel("GRPO", 0), **{m: panel(m) for m in runs}}
plots_meta.calibration_scatter(panels, quantity="pass_rate")

# %%
plots_meta.calibration_scatter(panels, quantity="length")

# %%
def signed(x):
    """r with its sign; "undefined" where the predictions were one constant (no spread, no r)."""
    return "undefined" if x is None else f"{x:+.2f}"


for m, r in rows.items():
    print(f"{m:32s} pass-rate r {signed(r['calib_pass_corr_before'])} → {signed(r['calib_pass_corr'])}   "
          f"length r {signed(r['calib_len_corr_before'])} → {signed(r['calib_len_corr'])}   (n = {r['problems']})")

# %% [markdown]
# ## Fig. 4 · Accuracy against step and wall-clock, and the speed-up
#
# Paper: MASA-efficient reaches GRPO's final accuracy 1.28× faster (and takes 34.5 % less time
# than MASA).

# %%
target = summary["grpo_final"]
plots.accuracy_curves(runs, x="step", target=target)

# %% [markdown]
# The curves above are one seed. Every seed, with the mean that `figures/summary.md` reports (the
# spread between seeds is as large as the gaps between methods):

# %%
if len(SEEDS) > 1:
    plots.accuracy_over_seeds({s: load_runs(ROOT / "figures" / "data" / f"seed{s}")[0] for s in SEEDS})

# %%
plots.accuracy_curves(runs, x="wall", target=target)

# %%
for m, r in rows.items():
    s = r["speedup_vs_grpo"]
    print(f"{m:32s} pass@1 {r['pass@1_before']:.3f} → {r['pass@1']:.3f} ± {r['pass@1_se']:.3f}; "
          f"train {r['train_seconds']:.0f} s; speed-up to GRPO's final: "
          + (f"{s:.2f}× (paper {PAPER['speedup']}×)" if s else "not reached"))

# %% [markdown]
# ## Table 3 · Gating and cutoff precision / recall / F1, without and with Expert SFT
#
# Paper: gating F1 0.411 → 0.485, cutoff F1 0.732 → 0.836; about 37 % of prompts gated.

# %%
eff = [m for m in ("MASA-efficient (no Expert SFT)", "MASA-efficient") if m in rows]
ctrl = {m: {k: rows[m][k] for k in ("gate_precision", "gate_recall", "gate_f1",
                                     "cutoff_precision", "cutoff_recall", "cutoff_f1")} for m in eff}
if eff:
    plots_efficient.control_prf_bars(ctrl, paper=paper_marks(ctrl))
for m in eff:
    print(f"{m:32s} gated share {rows[m]['gated_share']} (paper {PAPER['gated_share']})")

# %% [markdown]
# ## The meta reward's parts over MASA training

# %%
if "MASA" in runs:
    plots_meta.meta_reward_parts(runs["MASA"], smooth=3)

# %% [markdown]
# ## Notion use in correct vs incorrect rollouts over training (qualitative in the paper)

# %%
for m in ("GRPO", "MASA"):
    try:
        plots_meta.notion_use(runs.get(m, []), m)
    except ValueError as err:
        print(err, "(made before they were logged)")

# %% [markdown]
# ## Fig. 1c/d · Δaccuracy against Δmeta-awareness, per held-out problem
#
# For each problem: how much its pass rate rose, against how much its predictions improved
# (|p̂ − p| and the relative length error, before vs after MASA; `masa_lite.meta.analysis`). Every Δ
# is after − before; awareness is a *negative* error, so Δmeta > 0 means the predictions moved
# closer to reality. Paper: problems whose meta-awareness improved more gained more accuracy. The
# figure here is seed 0 of the `cpu` run. Over its 3 seeds the summary's column "Δacc ~ Δmeta r"
# (the trend in one number, `analysis.acc_meta_corr`, in [`figures/summary.md`](../figures/summary.md))
# is negative after MASA in every seed, and near 0 after GRPO: the problems whose accuracy rose
# most are those whose predictions improved least — not the paper's rising pattern
# (`docs/meta-awareness-study.md`, Findings 13 and 21).
# Part of any such relation is mechanical (see the caveat under Fig. 6).

# %%
deltas = analysis.meta_deltas(panel("MASA", 0), panel("MASA"))
plots_meta.delta_box(deltas)
print(f"Δacc ~ Δmeta r, this seed: {signed(analysis.acc_meta_corr(deltas))}")

# %% [markdown]
# ## Fig. 6 · What explains the accuracy gain? A Shapley R² split
#
# The paper splits the explained variance of accuracy among notion (67.1 %), difficulty (23.1 %),
# length (8.4 %) and step (1.4 %) awareness. We have per-problem pass-rate and length awareness
# and the problem's level; with about a hundred problems and one seed, read the split as an
# illustration of the method, not as a measurement. One caveat the paper shares: Δaccuracy and
# pass-rate awareness both contain the actual pass rate p (a flat prediction becomes "more aware"
# when p moves towards it), so part of their shared variance is mechanical.

# %%
# The bars are absolute Shapley contributions (they sum to R²); each is labelled with its share of
# R² in percent, the unit of the paper's Fig. 6.
r2 = analysis.awareness_r2(deltas)
print(f"n = {r2['n']} problems, R² of Δaccuracy = {r2['r2']:.3f}")
if r2["shares"]:
    plots_meta.shapley_bars(r2, title="MASA")

# %% [markdown]
# ## Every figure as a PNG
#
# `reproduce.figures` writes them all (here into `runs/figures`; `masa-lite figures` writes
# `figures/`).

# %%
for path in figures(DATA, "runs/figures"):
    print(path)

# %% [markdown]
# ## What the study found
#
# GRPO and MASA raise pass@1 well above the base, about equally; MASA-efficient does too in two
# seeds, but its third seed collapsed in its last steps
# ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Finding 19). MASA's predicted
# pass rate follows the real one in part, above GRPO's in every seed, below the *level-oracle r*
# that knowing each level's mean pass rate gives (Finding 8). MASA-efficient gates a small share of
# prompts, at a gate F1 and a cutoff F1 far below the paper's, and is never faster than GRPO. On
# this task it cannot be: the meta path writes about as many tokens as the solution path, which
# bounds the speed-up near 0.5× even with the paper's gating (Finding 9). Per problem, accuracy and
# meta-awareness move apart after MASA (the summary's Δacc ~ Δmeta r is negative), the opposite of
# the paper's Fig. 1c/d (Finding 13).
