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
# # 03 · Meta-awareness: predicting one's own pass rate, length and notions
#
# ![Predicted vs actual pass rate per held-out problem; the first panel is the base model (committed cpu run, seed 0 of 3)](../figures/calibration_pass_rate.png)
#
# - **Reproduced (Fig. 1a):** the base model is not meta-aware: its predicted pass rates do not
#   follow the real ones (a flat fit).
# - **Reproduced:** after GRPO they stay flat (second panel).
# - **Reproduced, with our switches:** after MASA the fit lies close to y = x (third panel;
#   notebook 04).
#
# Numbers: [`figures/summary.md`](../figures/summary.md). Below, the three meta rewards on real
# rollouts.


# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from masa_lite.meta import answer as meta_answer
from masa_lite.meta import reward as meta_rewards
from masa_lite.task import synthetic
from masa_lite.teach import plots_meta
from masa_lite.teach import widgets
from masa_lite.config import load_config, profile_name
from masa_lite.grpo.policy import sample_solutions, setup
from masa_lite.meta.scoring import prompt_stats
from masa_lite.task.records import eval_records
from masa_lite.task.prompts import prompt_format_for
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.sampling import sample_rollouts
from masa_lite.evaluation import evaluate_run

cfg = load_config(profile_name())
model, tok, _, _ = setup(cfg)
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
print("profile:", cfg.profile, "| prompt style:", fmt.name, "| K =", cfg.meta.k)

# %% [markdown]
# ## What this notebook does
#
# MASA (arXiv 2510.03259) gives the policy a second prompt about the same problem: *don't solve it —
# say how it will go*. The model reasons inside `<meta> … </meta>` and answers with JSON:
#
# ```
# {"math_notion": ["carry", "split"], "pass_rate": 5, "solution_length": 62}
# ```
#
# `pass_rate` counts how many of K = 8 attempts it expects to solve. These predictions are rewarded
# by how well they match the model's **own** solution rollouts of that problem — self-alignment, no
# labels needed. This notebook builds the three rewards on real rollouts and measures how (un)aware
# the base model is: the paper's Fig. 1a.
#
# ```mermaid
# flowchart LR
#     q[problem q] --> MP[meta prompt] --> MR["M meta rollouts"] --> PA["parse: p̂ = pass_rate/K,<br/>ℓ̂, notions"]
#     q --> SP[solution prompt] --> SR["G solution rollouts"] --> ST["p = mean c_i, L⁺,<br/>f(n, correct), f(n, wrong)"]
#     PA --> RW["r_pass = 0.01^|p̂−p|<br/>r_len = 1[min L⁺ ≤ ℓ̂ ≤ max L⁺]<br/>r_notion"]
#     ST --> RW
#     RW --> RM["r_meta = mean of the three"]
# ```

# %% [markdown]
# ## 1 · The meta prompt
#
# Real models get the paper's wording (`meta.PAPER_META_TEMPLATE`, wrapped in the chat template);
# the tiny model was trained on a compact form of the same request.

# %%
problem = synthetic.generate_problems(1, levels=(4,), seed=3, split="train")[0].to_record()
print("tiny model's meta prompt:", repr(fmt.meta(problem)))
print("\nthe paper's meta prompt:\n" + meta_answer.build_meta_prompt(problem["problem"], k=cfg.meta.k))

# %% [markdown]
# ## 2 · A lenient parser
#
# The authors' code reads the JSON with a regex that silently scores anything but compact JSON as
# 0. `meta.parse_meta` accepts what models actually write — pretty-printed JSON, numbers as
# strings, fractions and percentages, comma-separated notions, text around the object — never
# raises, and records each fallback it used so training can count them.

# %%
examples = [
    '<meta>two steps</meta>{"math_notion": ["carry"], "pass_rate": 6, "solution_length": 40}',
    '<meta>hm</meta>\n{\n  "math_notion": "carry, split",\n  "pass_rate": "6",\n  "solution_length": 40.0\n}',
    'Sure! {"math_notion": ["Carries"], "pass_rate": "75%", "solution_length": "40"} Hope it helps.',
    '{"pass_rate": 3/4, "solution_length": -5}',
    "pass_rate: 7, solution_length: 55",
    "I cannot predict that.",
]
for text in examples:
    p = meta_answer.parse_meta(text, k=cfg.meta.k)
    print(f"{p.status:>12}  pass_rate={p.pass_rate}  length={p.solution_length}  notions={p.notions}  "
          f"fallbacks={list(p.fallbacks)}\n              ← {text!r}")

# %% [markdown]
# ## 3 · The three rewards
#
# With c_i the correctness of solution rollout i, p = mean(c_i), L⁺ the lengths of the correct
# rollouts and f(n, t) the number of rollouts of correctness t that use notion n:
#
# $$r_\text{pass} = b^{|\hat p - p|},\; b = 0.01 \qquad
#   r_\text{len} = \mathbb 1[\min L^+ \le \hat\ell \le \max L^+] \qquad
#   r_\text{notion} = \frac{|\{n : f(n,1) - f(n,0) > 0\}|}{|\text{notions}|}$$
#
# $$r_\text{meta} = (r_\text{pass} + r_\text{len} + r_\text{notion}) / 3$$
#
# (masa_lite counts the length interval's edges as inside; `meta.length_inclusive=false` gives the
# public code's strict inequality.) r_pass falls fast: 1 for an exact hit, 0.1 at an error of 0.5.

# %%
err = np.linspace(0, 1, 101)
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot(err, [meta_rewards.pass_rate_reward(e * cfg.meta.k, 0.0, k=cfg.meta.k) for e in err])
ax.set_xlabel("prediction error |p̂ − p| (pass rate, 0–1)")
ax.set_ylabel("r_pass (0–1)")
ax.set_title("r_pass = 0.01^|p̂ − p|  (a teaching sketch)")
plt.show()

# %% [markdown]
# Now on real rollouts: four problems of different levels, G solution rollouts and M meta
# rollouts each, every meta rollout scored against its own problem's solutions.

# %%
probs = [synthetic.generate_problems(1, levels=(lv,), seed=20 + lv, split="train")[0].to_record()
         for lv in (1, 3, 5, 6)]
torch.manual_seed(0)
sols = sample_solutions(model, tok, probs, fmt.solution, cfg)
score_rollouts(sols, probs, cfg)
stats = prompt_stats(sols, len(probs))
metas = sample_rollouts(model, tok, [fmt.meta(p) for p in probs], cfg, n=4,
                        max_new_tokens=cfg.meta.max_new_tokens)
preds = [meta_answer.parse_meta(m.text, k=cfg.meta.k) for m in metas]
for ro, pred in zip(metas, preds):
    i, st = ro.prompt_index, stats[ro.prompt_index]
    r = meta_rewards.meta_reward(pred, probs[i]["problem"], st.texts, st.correct, st.lengths, k=cfg.meta.k)
    lp = st.correct_lengths
    print(f"L{probs[i]['level']} {probs[i]['problem']:>22}  actual p={st.pass_rate:.2f}, L⁺=[{min(lp, default='–')}, "
          f"{max(lp, default='–')}]  |  predicted p̂={pred.pass_rate}/8, ℓ̂={pred.solution_length}, "
          f"notions={list(pred.notions or [])}  →  r_pass {r.r_pass:.2f}  r_len {r.r_len:.0f}  "
          f"r_notion {r.r_notion:.2f}  r_meta {r.total:.2f}")

# %% [markdown]
# ## 4 · How meta-aware is the base model? (the paper's Fig. 1a)
#
# On the held-out split: each problem's mean predicted pass rate (over `meta.eval_group_size` meta
# rollouts) against its actual pass rate (over `data.eval_samples` solutions). A meta-aware model
# sits on y = x. The tiny model learned the meta *format* from uninformed targets, so — like the
# paper's base model — its predictions carry no information about its real outcomes.

# %%
held_out = eval_records(cfg)
rec, pairs = evaluate_run(model, tok, fmt, held_out, cfg, step=0, wall=0.0)
print(f"{len(pairs)} problems: pass@1 {rec['pass@1']:.3f}; calibration r (pass rate) "
      f"{rec.get('calib_pass_corr', float('nan')):.2f}, MAE {rec.get('calib_pass_mae', float('nan')):.2f}; "
      f"r (length) {rec.get('calib_len_corr', float('nan')):.2f}")
plots_meta.calibration_scatter({"base model": pairs}, quantity="pass_rate")

# %%
plots_meta.calibration_scatter({"base model": pairs}, quantity="length")

# %% [markdown]
# Paper (Qwen3-8B-Base after plain GRPO): the fitted line of predicted vs actual pass rate is
# nearly flat — GRPO alone does not make a model meta-aware. Ours above is flat too (r close to 0).
#
# ## 5 · Meta-prediction explorer
#
# Browse the pairs by level: predicted and actual pass rate and length per problem.

# %%
widgets.meta_explorer(pairs)

# %% [markdown]
# ## What the study found
#
# On the committed run the base model's predicted pass rates are uncorrelated with the real ones and
# far off on average, like the paper's base model ([`docs/results.md`](../docs/results.md) gives the
# base row). After 60 steps GRPO's predictions are still flat, while MASA with our switches (the
# meta path on its own adapter, with Expert SFT and its targets replayed) follows the real pass rate
# closely ([`figures/summary.md`](../figures/summary.md)). How far it could go: a predictor
# that knew only each level's mean pass rate would score the summary's *level-oracle r*; beating it
# needs knowledge of single problems
# ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Finding 8).
#
# Exercise (see `exercises/`): implement r_meta yourself. Next: `04_masa_training`, where the meta
# rewards train the model alongside GRPO.
