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
# # 07 · Evaluation: pass@k, notion feed-in at inference, and a real model on a GPU
#
# * **pass@k**, unbiased (Chen et al. 2021): with n samples of which c are correct,
#   $\text{pass@}k = 1 - \binom{n-c}{k} / \binom{n}{k}$, averaged over problems. The paper reports
#   the mean of 32 samples at T = 0.6; we use n = `data.eval_samples` at T = 1.
# * **notion feed-in**: the meta path runs first and its most-predicted notions are appended to
#   the solution prompt ("… using split, carry" for the tiny model; the paper's "The problem could
#   be solved using the following math notions: …" for real models). Same as
#   `masa-lite eval --feed-in`.

# %%
import torch

from masa_lite.config import load_config, profile_name
from masa_lite.evaluation import evaluate_policy, pass_at_k
from masa_lite.problems import eval_records
from masa_lite.prompts import prompt_format_for
from masa_lite.reproduce import METHODS, run_folder
from masa_lite.trainer import evaluate_run, train

PROFILE = profile_name()
print("pass@k for n = 8, c = 2:", {k: round(pass_at_k(8, 2, k), 3) for k in (1, 2, 4, 8)})

# %% [markdown]
# ## The MASA-trained model
#
# Reused from `04_masa_training` (`runs/tutorial/masa`) when present with the same configuration;
# otherwise trained here.

# %%
cfg = load_config(PROFILE, overrides=METHODS["MASA"] + [f"out_dir=runs/tutorial/{run_folder('MASA')}",
                                                        "method=MASA"])
out = train(cfg, resume=True)
model, tok = out["model"], out["tokenizer"]
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
held_out = eval_records(cfg)
ks = (1, 2, 4, cfg.data.eval_samples)

# %% [markdown]
# ## pass@k before and after, per level
#
# The base model is the same network with the LoRA adapter switched off.

# %%
results = {}
with model.disable_adapter():
    results["base"] = evaluate_policy(model, tok, held_out, fmt.solution, n_samples=cfg.data.eval_samples,
                                      max_new_tokens=cfg.rollout.max_new_tokens, ks=ks, seed=cfg.seed)
results["MASA"] = evaluate_policy(model, tok, held_out, fmt.solution, n_samples=cfg.data.eval_samples,
                                  max_new_tokens=cfg.rollout.max_new_tokens, ks=ks, seed=cfg.seed)
results["MASA, greedy"] = evaluate_policy(model, tok, held_out, fmt.solution, greedy=True,
                                          max_new_tokens=cfg.rollout.max_new_tokens, seed=cfg.seed)
print(f"{'':14s}" + "".join(f"{'pass@' + str(k):>9s}" for k in ks) + "   per level (pass@1)")
for name, r in results.items():
    print(f"{name:14s}" + "".join(f"{r.get(f'pass@{k}', float('nan')):9.3f}" for k in ks)
          + "   " + " ".join(f"L{lv}:{v:.2f}" for lv, v in r["per_level"].items()))
print(f"(n = {len(held_out)} problems; pass@1 standard error ≈ {results['MASA']['pass@1_se']:.3f})")

# %% [markdown]
# ## Notion feed-in at inference
#
# The same model and samples, with and without the predicted notions in the solution prompt.
# Paper (§4): feeding notions in at inference helps a meta-aware model. The tiny model saw hinted
# prompts in a quarter of its pre-training data, so it can read a hint; whether the *predicted*
# notions help depends on how good they are.

# %%
plain, _ = evaluate_run(model, tok, fmt, held_out, cfg, step=cfg.grpo.steps, wall=0.0)
fed, _ = evaluate_run(model, tok, fmt, held_out, cfg, step=cfg.grpo.steps, wall=0.0, feed_in=True)
for name, r in (("no feed-in", plain), ("feed-in", fed)):
    print(f"{name:12s} pass@1 {r['pass@1']:.3f} ± {r['pass@1_se']:.3f}   mean correct length "
          f"{r['len_correct_mean']:.0f} tokens   per level "
          + " ".join(f"{v:.2f}" for v in r["per_level"].values()))

# %% [markdown]
# ## A real model on a GPU
#
# The `gpu` profile trains and evaluates Qwen2.5-0.5B-Instruct (any Qwen2.5 / Qwen3 0.5B–8B works
# through `model.name`) with LoRA in bf16, on the synthetic task or on a real set:
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
