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
# # 07 · Evaluation: pass@k and notion feed-in at inference
#
# ![Held-out pass@1 without feed-in, with the meta path's predicted notions and with the problem's true notions in the solution prompt, for the base model, MASA and MASA-efficient: mean of the committed cpu run's 3 seeds (bars) and each seed (dots)](../figures/feed_in_seeds.png)
#
# - **Not seen here:** the help the paper expects from feeding the predicted notions back. They
#   lower pass@1 after MASA, 0.761 → 0.691, in 3 of 3 seeds; after MASA-efficient too.
# - **Why, in part:** the true notions raise the base model's pass@1 (0.646 → 0.685) but lower
#   MASA's (0.732), likely because RL trained it only on prompts without hints.
# - **This notebook** measures pass@k and feed-in on your MASA run from `04_masa_training`.
#
# Numbers: [`figures/feed_in.json`](../figures/feed_in.json) (`python scripts/feed_in_reference.py`);
# accuracy over training: [`figures/summary.md`](../figures/summary.md).


# %%
import torch

from masa_lite.teach import plots_efficient
from masa_lite.checkpoint import latest_checkpoint
from masa_lite.config import load_config, profile_name
from masa_lite.evaluation import evaluate_policy
from masa_lite.stats import pass_at_k
from masa_lite.adapters import load_trained_adapters
from masa_lite.models import load_model_and_tokenizer
from masa_lite.task.records import eval_records
from masa_lite.task.prompts import prompt_format_for
from masa_lite.reproduce import STUDY_SWITCHES, load_runs, method_overrides, run_folder
from masa_lite.evaluation import evaluate_run
from masa_lite.trainer import train

PROFILE = profile_name()
print("pass@k for n = 8, c = 2:", {k: round(pass_at_k(8, 2, k), 3) for k in (1, 2, 4, 8)})

# %% [markdown]
# ## What this notebook does
#
# * **pass@k**, unbiased (Chen et al. 2021): with n samples of which c are correct, $\text{pass@}k =
#   1 - \binom{n-c}{k} / \binom{n}{k}$, averaged over problems. The paper reports the mean of 32
#   samples at T = 0.6; we use n = `data.eval_samples` at T = 1.
# * **notion feed-in**: the meta path runs first and its most-predicted notions are appended to the
#   solution prompt ("… using split, carry" for the tiny model; the paper's "The problem could be
#   solved using the following math notions: …" for real models). Same as `masa-lite eval
#   --feed-in`.
# * at the end, on a machine with a GPU, the `gpu` profile's real model evaluated (not yet measured;
#   skipped without CUDA).
#
# ```mermaid
# flowchart LR
#     q[held-out problem] --> MR["meta rollouts"] --> N["most-predicted notions"]
#     N --> SP["solution prompt + '… using split, carry'"]
#     q --> SP0["plain solution prompt"]
#     SP --> S1["n samples"] --> V1["pass@1 with feed-in"]
#     SP0 --> S0["n samples"] --> V0["unbiased pass@k:<br/>1 − C(n−c, k) / C(n, k)"]
# ```

# %% [markdown]
# ## The MASA-trained model
#
# This notebook evaluates the MASA run of `04_masa_training` (`runs/tutorial/masa`); it does not
# train one of its own. If that run is missing or unfinished, the next cell says so and what to
# run. So that the notebook still runs on its own (as CI may run it), it then trains a small MASA
# run — 4 steps — and says so loudly: its numbers are not the tutorial run's.

# %%
TUTORIAL = f"runs/tutorial/{run_folder('MASA')}"
MASA = method_overrides("MASA", None, STUDY_SWITCHES)  # as 04_masa_training and masa-lite reproduce train it
cfg = load_config(PROFILE, overrides=MASA + [f"out_dir={TUTORIAL}", "method=MASA"])


def finished(run_dir, steps):
    """A finished run: its history ends with the evaluation after the last step, and it has a checkpoint."""
    try:
        hist, _ = load_runs(run_dir.rsplit("/", 1)[0], ["MASA"])
    except FileNotFoundError:
        return False
    evals = [h for h in hist["MASA"] if h["kind"] == "eval"]
    return bool(evals) and evals[-1]["step"] == steps and latest_checkpoint(run_dir) is not None


if finished(TUTORIAL, cfg.grpo.steps):
    print(f"using the tutorial MASA run in {TUTORIAL}")
else:
    print(f"No finished MASA run in {TUTORIAL}. Run notebooks/04_masa_training first (or "
          f"`masa-lite reproduce --profile {PROFILE} --out runs/tutorial`) to evaluate the tutorial run.")
    small = f"runs/evaluation_small/{run_folder('MASA')}"
    cfg = load_config(PROFILE, overrides=MASA + [f"out_dir={small}", "method=MASA",
                                                 "grpo.steps=4", "eval_every=0"])
    print(f"TRAINING a small MASA run now ({cfg.grpo.steps} steps → {small}) so that the cells below "
          "have a model to evaluate; its numbers are not the tutorial run's.")
    train(cfg, resume=True, progress=False)
ckpt = latest_checkpoint(cfg.out_dir)
model, tok = load_model_and_tokenizer(cfg.model.name, device=cfg.model.device, dtype=cfg.model.dtype)
model = load_trained_adapters(model, ckpt / "adapter")  # and the meta adapter, if the run had one
print("loaded the adapter of", ckpt)
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
held_out = eval_records(cfg)
ks = (1, 2, 4, cfg.data.eval_samples)

# %% [markdown]
# ## pass@k before and after, per level
#
# The base model is the same network with the LoRA adapter switched off. Greedy decoding gives one
# answer per problem, so it has only a pass@1.

# %%
results = {}
with model.disable_adapter():
    results["base"] = evaluate_policy(model, tok, held_out, fmt.solution, n_samples=cfg.data.eval_samples,
                                      max_new_tokens=cfg.rollout.max_new_tokens, ks=ks, seed=cfg.seed)
results["MASA"] = evaluate_policy(model, tok, held_out, fmt.solution, n_samples=cfg.data.eval_samples,
                                  max_new_tokens=cfg.rollout.max_new_tokens, ks=ks, seed=cfg.seed)
results["MASA, greedy"] = evaluate_policy(model, tok, held_out, fmt.solution, greedy=True,
                                          max_new_tokens=cfg.rollout.max_new_tokens, seed=cfg.seed)
print(f"n = {len(held_out)} problems; pass@1 standard error ≈ {results['MASA']['pass@1_se']:.3f}")
plots_efficient.pass_at_k(results)

# %% [markdown]
# pass@k rises with k for every model: with more tries, problems solved now and then count as
# solved. RL mostly moves pass@1 — it makes the model do reliably what it could sometimes do —
# so the gap between the base and MASA is widest at k = 1 and narrows at k = n.
#
# ## Notion feed-in at inference
#
# The same model and samples, with and without the predicted notions in the solution prompt.
# Paper (§4): feeding notions in at inference helps a meta-aware model. The tiny model saw hinted
# prompts in a quarter of its pre-training data, so it can read a hint; whether the *predicted*
# notions help depends on how good they are — and after the 12 steps of the default `tiny`
# profile its meta path knows roughly how hard a problem is (its pass-rate r: `figures/tiny/summary.md`,
# `04_masa_training`), not yet which notions a solution needs. Compare the difference with the
# error bars.

# %%
plain, _ = evaluate_run(model, tok, fmt, held_out, cfg, step=cfg.grpo.steps, wall=0.0)
fed, _ = evaluate_run(model, tok, fmt, held_out, cfg, step=cfg.grpo.steps, wall=0.0, feed_in=True)
print(f"pass@1 without {plain['pass@1']:.3f} ± {plain['pass@1_se']:.3f}, with feed-in "
      f"{fed['pass@1']:.3f} ± {fed['pass@1_se']:.3f}")
plots_efficient.feed_in({"no feed-in": plain, "feed-in": fed})

# %% [markdown]
# ## A real model on a GPU
#
# The `gpu` profile is written to train and evaluate Qwen2.5-0.5B-Instruct with LoRA in bf16 (other
# Qwen2.5 / Qwen3 sizes through `model.name`), on the synthetic task or on a real set. **Not yet
# measured**: no run of this profile, and no Qwen model from 0.5B to 8B, has been trained or
# evaluated for this project yet; the commands are what to run when a GPU is available:
#
# ```bash
# MASA_LITE_PROFILE=gpu masa-lite eval --dataset math500 --feed-in
# masa-lite train --profile gpu -o meta.enabled=true -o data.task=deepscaler
# ```
#
# On a CPU-only machine this section is skipped.

# %%
if torch.cuda.is_available():
    from masa_lite.models import load_model_and_tokenizer

    gpu = load_config("gpu", overrides=["data.eval_per_level=5"])
    big, big_tok = load_model_and_tokenizer(gpu.model.name, device="cuda", dtype="bf16")
    gfmt = prompt_format_for(gpu.model.name, big_tok, k=gpu.meta.k)
    res = evaluate_policy(big, big_tok, eval_records(gpu), gfmt.solution, n_samples=4,
                          max_new_tokens=gpu.rollout.max_new_tokens, ks=(1, 4), seed=0)
    print(gpu.model.name, {k: res[k] for k in ("pass@1", "pass@4", "per_level")})
else:
    print("No GPU here: skipped the real-model evaluation (it needs CUDA and the model's weights "
          "from the Hugging Face hub or a local folder).")

# %% [markdown]
# ## What the study found
#
# The committed run evaluated pass@1 on 120 held-out problems × 4 samples every 10 steps
# ([`figures/summary.md`](../figures/summary.md)). Notion feed-in was then measured on its final
# checkpoints, on the same problems and sampling seeds, so each change is paired
# ([`figures/feed_in.json`](../figures/feed_in.json), `python scripts/feed_in_reference.py`):
#
# * predicted notions lower pass@1 after MASA by 0.07 on average (per seed −0.071, −0.098 and
#   −0.042, each with a paired standard error of about 0.02), after MASA-efficient by 0.056;
# * true notions raise the base model's by 0.04 in every seed, but lower MASA's by 0.029 and
#   MASA-efficient's by 0.026 (lower in every seed): a hint is a prompt RL never trained on, and
#   the adapters do worse on it;
# * so what feed-in could give here is bounded by that, before the meta path's notions are even
#   right. Training with hints in some prompts (the paper feeds notions in at training too) is the
#   experiment that would tell; it has not been run ([`docs/results.md`](../docs/results.md)).
