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
# # 00 · Quickstart: GRPO and MASA's meta path on a laptop CPU
#
# ![Held-out pass@1 against training step for every method: mean of the committed cpu run's 3 seeds (lines) and each seed (dots)](../figures/accuracy_vs_step_seeds.png)
#
# - **Reproduced:** every method learns; held-out pass@1 ends well above the base model's.
# - **Reproduced, with our switches:** MASA's predicted pass rate follows the real one.
# - **In part:** MASA-efficient skips half the prompts and cuts failing rollouts, and ends near
#   GRPO's accuracy in two thirds of its time; it reaches GRPO's final accuracy sooner in 1 of 3 seeds.
#
# The figure is the committed `cpu` run; its numbers are in
# [`figures/summary.md`](../figures/summary.md). Below: the whole pipeline, and a short GRPO run of
# your own.


# %%
import torch

from masa_lite.task import synthetic
from masa_lite.teach import plots
from masa_lite.config import load_config, profile_name
from masa_lite.meta.answer import parse_meta
from masa_lite.models import load_model_and_tokenizer
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.sampling import generate_rollouts

cfg = load_config(profile_name())
print("profile:", cfg.profile, "| model:", cfg.model.name, "| steps:", cfg.grpo.steps)

# %% [markdown]
# ## What this notebook does
#
# It runs the whole pipeline of masa_lite on the bundled tiny model in a few minutes:
#
# 1. the synthetic task and the tiny model's rollouts, verified;
# 2. the meta path: the model predicting its own pass rate, length and notions;
# 3. a short GRPO run, and the held-out accuracy before and after.
#
# It is a thin runner over the `masa_lite` library: every function called here lives in a module you
# can read (`masa_lite/task/synthetic.py`, `masa_lite/grpo/rollout.py` and `sampling.py`,
# `masa_lite/meta/`, `masa_lite/trainer.py`, …). The size profile comes from the environment
# variable `MASA_LITE_PROFILE` (`tiny` by default, `cpu` for longer runs, `gpu` for a real model),
# read in one place: `masa_lite.config.profile_name`.
#
# ```mermaid
# flowchart LR
#     P[problem] --> SP[solution prompt] --> R["G rollouts<br/>(tiny model, T = 1)"]
#     R --> V["verifier<br/>reward 0 / 1"] --> A["group advantages"] --> L["clipped loss"] --> U["LoRA update"]
#     U -. next step .-> R
#     P --> MP[meta prompt] --> MR["meta rollouts:<br/>pass rate, length, notions"]
# ```

# %% [markdown]
# ## 1 · The task and the base model
#
# Problems are chains of + − × on two-digit numbers, from level 1 (one operation) to level 6.
# Every solution step names its notions (`add`, `carry`, `mul`, `split`, …), and a doubtful
# step is redone after `no, recheck` — so failing rollouts tend to run long.

# %%
torch.manual_seed(0)
model, tok = load_model_and_tokenizer(cfg.model.name, device=cfg.model.device)
problems = [p.to_record() for p in synthetic.generate_problems(6, levels=(2, 5), seed=1, split="test")]
rollouts = generate_rollouts(model, tok, [synthetic.solution_prompt(p["problem"]) for p in problems], n=4)
score_rollouts(rollouts, problems)
for r in rollouts[:4]:
    p = problems[r.prompt_index]
    print(f"{p['problem']} = {p['answer']}  →  {'✓' if r.correct else '✗'} ({r.length} tokens)")
    print(r.text, end="\n\n")

# %% [markdown]
# ## 2 · The meta path
#
# The same model, asked `meta <problem>`, writes `<meta>…</meta>` and a JSON prediction of its
# pass rate (out of K = 8), the length of a correct solution, and the notions it needs. The base
# model writes this format but its numbers are uninformed — MASA's rewards are what align them.

# %%
metas = generate_rollouts(model, tok, [synthetic.meta_prompt(p["problem"]) for p in problems[:3]], n=2)
for m in metas:
    pred = parse_meta(m.text)
    print(m.text)
    print("  parsed:", pred.status, "| pass rate", pred.pass_rate, "/ 8 | length",
          pred.solution_length, "| notions", pred.notions)

# %% [markdown]
# ## 3 · A short GRPO run
#
# `masa_lite.trainer.train` runs the loop: rollouts → rewards → group advantages → clipped loss
# → LoRA update, with evaluations on held-out problems at the start, every `eval_every` steps and
# at the end. Set `meta.enabled=true` in the overrides to train MASA's meta path alongside.
#
# The run is GRPO exactly as `masa-lite reproduce` trains it, in `runs/tutorial/grpo`:
# `04_masa_training` reuses it as its GRPO baseline instead of training it again. A finished run
# there is reused here too; delete the folder to train afresh.

# %%
from masa_lite.reproduce import method_overrides, run_folder
from masa_lite.trainer import train

RUN = f"runs/tutorial/{run_folder('GRPO')}"
run_cfg = load_config(profile_name(), overrides=method_overrides("GRPO") + [f"out_dir={RUN}", "method=GRPO"])
out = train(run_cfg, resume=True)
evals = [h for h in out["history"] if h["kind"] == "eval"]
for e in evals:
    print(f"step {e['step']:3d}: held-out pass@1 {e['pass@1']:.3f} ± {e['pass@1_se']:.3f} "
          f"({e['n_problems']} problems × {e['n_samples']} samples)")

# %% [markdown]
# ## 4 · The curves
#
# Held-out accuracy against training steps, and the training signals the loop records: reward,
# the share of zero-variance groups (no learning signal), completion length, entropy.

# %%

plots.accuracy_curves({"GRPO": out["history"]}, x="step")

# %%
plots.training_overview(out["history"])

# %% [markdown]
# ## What the study found
#
# The committed run ([`figures/summary.md`](../figures/summary.md): `cpu` profile, 60 steps, 3
# seeds, 120 held-out problems × 4 samples) lifts held-out pass@1 well above the base model with
# GRPO and with MASA, within noise of each other. Its meta methods add our own switches to the
# paper's MASA: the meta path gets its own LoRA adapter, trained with Expert SFT whose targets are
# replayed ([`docs/deviations.md`](../docs/deviations.md)). With them the predicted pass rate
# follows the real one in part, still below what knowing each level's mean pass rate gives (the
# summary's *level-oracle r*; [`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md),
# Finding 8). MASA-efficient is not faster than GRPO on this task (notebooks 04–06 show why). Your
# run above used the default `tiny` profile (its step count is printed at the top), the scale of the
# main job's run in `figures/tiny/`.
#
# Next: `01_tasks_and_verification`, or run `masa-lite reproduce` for GRPO vs MASA vs MASA-efficient
# with figures and a summary table.
