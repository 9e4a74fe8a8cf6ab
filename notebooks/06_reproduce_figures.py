# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The paper's figures from our runs
#
# Every figure of the method page's claims table that our data supports, drawn from the
# **committed reference run** in `figures/data/` (histories and calibration pairs of
# `masa-lite reproduce`; `figures/provenance.json` says which profile, seed and commit made it).
# Nothing is trained here. Our number stands beside the paper's under each figure.
#
# To redraw `figures/` from that data: `masa-lite figures`. To remake the data and the figures:
# `masa-lite reproduce --publish figures` (about 10 minutes on 2 cores for the `tiny` profile).
# `figures/cpu/` holds the longer comparison in which the meta path does become calibrated: the
# `cpu` profile, 100 steps, 3 seeds, with the study's switches for the meta methods (its
# `summary.md` gives mean ± sd; `masa-lite figures figures/cpu/data --out figures/cpu` redraws its seed-0 figures).


# %% [markdown]
# ## What you will see
#
# ![Held-out pass@1 against training wall-clock, with GRPO's final accuracy as the target (committed reference run)](../figures/accuracy_vs_wall.png)
#
# **Did it reproduce the paper? Accuracy gains over the base: yes. Calibration, gating and the
# speed-up: no.** On the committed reference run every method learns (0.476 → 0.67–0.74
# pass@1), but MASA's calibration is no better than GRPO's (r ≈ −0.04 vs 0.02), no prompt was
# gated, and MASA-efficient never reached GRPO's final accuracy (above: GRPO gets there first).
# Cutoff F1 moved in the paper's direction with Expert SFT (0.02 → 0.62). Every figure below
# states the paper's number beside ours; a study of why the meta-awareness effects do not appear
# is in progress (`docs/meta-awareness-study.md`).
#
# ```mermaid
# flowchart LR
#     D["figures/data/<br/>history.jsonl, calibration.jsonl<br/>per method"] --> S["reproduce.summarise"] --> T["summary table<br/>and verdicts"]
#     D --> F["masa_lite.teach.plots"] --> PNG["figures/*.png"]
#     D --> AN["analysis.meta_deltas<br/>→ Δaccuracy vs Δmeta, Shapley R²"] --> F
# ```

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
# ## The summary, over all seeds
#
# `figures/summary.md` as `masa-lite reproduce` wrote it: with `--seeds`, mean ± sd over the seeds
# and, for each of the paper's directions, in how many seeds it holds. The figures below are the
# lowest seed's.

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
for m, r in rows.items():
    print(f"{m:32s} pass-rate r {r['calib_pass_corr_before']:+.2f} → {r['calib_pass_corr']:+.2f}   "
          f"length r {r['calib_len_corr_before']:+.2f} → {r['calib_len_corr']:+.2f}   (n = {r['problems']})")

# %% [markdown]
# ## Fig. 4 · Accuracy against step and wall-clock, and the speed-up
#
# Paper: MASA-efficient reaches GRPO's final accuracy 1.28× faster (and takes 34.5 % less time
# than MASA).

# %%
target = summary["grpo_final"]
plots.accuracy_curves(runs, x="step", target=target)

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
# closer to reality. Paper: problems whose meta-awareness improved more gained more accuracy. On
# the reference run the gain is largest in the two middle bins and smallest where the predictions
# improved most — not the paper's rising pattern; part of any such relation is mechanical (see the
# caveat under Fig. 6).

# %%
deltas = analysis.meta_deltas(panel("MASA", 0), panel("MASA"))
plots_meta.delta_box(deltas)

# %% [markdown]
# ## Fig. 6 · What explains the accuracy gain? A Shapley R² split
#
# The paper splits the explained variance of accuracy among notion (67.1 %), difficulty (23.1 %),
# length (8.4 %) and step (1.4 %) awareness. We have per-problem pass-rate and length awareness
# and the problem's level; with about a hundred problems and a short run, read the split as an
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
