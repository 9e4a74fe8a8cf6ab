"""Rollouts: sample completions for a batch of prompts with transformers ``generate``.

One interface for every caller (evaluation, GRPO, the meta path): prompts in, :class:`Rollout`
records out, each with its completion tokens, text, length (EOS included, as the method page
counts it) and the reason it stopped:

* ``"eos"`` – the model ended the answer itself;
* ``"budget"`` – the row hit its own token budget (``budgets``; MASA's early cutoff);
* ``"max_new_tokens"`` – the global limit truncated it.

Per-row budgets work through a stopping criterion that returns one flag per row, so a row that
stops early frees nothing else in the batch but is never extended past its budget. Sampling is
true sampling by default (``top_k=0``, ``top_p=1``): the tiny-task findings showed library
defaults silently truncate the distribution.

Two backends, one interface: :func:`sample_rollouts` dispatches on ``rollout.backend`` to
transformers ``generate`` (here) or vLLM (:mod:`masa_lite.rollout_vllm`, optional extra).

Row-seeded sampling (``seeds``, ``rollout.row_seeded``; always on in data-parallel runs): instead
of ``generate``'s one global random stream, every row samples with its own generator
(:class:`GumbelRowSampler`), so a rollout depends on its seed and its own prompt only — not on the
other rows of its batch, the batch size or the process that generates it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from transformers import (LogitsProcessor, LogitsProcessorList, StoppingCriteria,
                          StoppingCriteriaList, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)


@dataclass
class Rollout:
    """One sampled completion."""

    prompt_index: int
    prompt: str
    text: str
    token_ids: list[int]
    length: int  # completion tokens, EOS included
    stop_reason: str  # "eos" | "budget" | "max_new_tokens"
    correct: bool | None = None  # filled in by scoring
    reward: float | None = None


class RowBudget(StoppingCriteria):
    """Stops each row once it has generated ``budgets[row]`` new tokens."""

    def __init__(self, prompt_len: int, budgets: torch.Tensor):
        self.prompt_len = prompt_len
        self.budgets = budgets

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_len
        return torch.full((input_ids.shape[0],), generated, device=input_ids.device) >= self.budgets


def row_seed(*key) -> int:
    """A 63-bit seed from a key such as (run seed, step, "solution", prompt index): the same in
    every process and Python version (``hash`` of a string is salted per process)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class GumbelRowSampler(LogitsProcessor):
    """Exact sampling with one random stream per row, for ``generate`` in greedy mode.

    For a row's processed logits z (temperature, top-k, top-p already applied), the Gumbel-max
    trick gives a sample of softmax(z): argmax_v (z_v + g_v) with g_v = −log(−log u_v) and
    u_v ~ U(0, 1). Greedy decoding takes that argmax. Each row draws its u from its own generator,
    seeded once per rollout, so its tokens do not depend on what else is in the batch."""

    def __init__(self, seeds: list[int], device):
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids, scores):
        u = torch.stack([torch.rand(scores.shape[-1], generator=g, device=scores.device)
                         for g in self.generators])
        return scores + -torch.log(-torch.log(u))  # z + g; −inf (masked tokens) stays −inf


def _row_seeded_processors(seeds, temperature, top_k, top_p, device) -> LogitsProcessorList:
    """The warpers ``generate`` applies when sampling, in its order, then the Gumbel-max draw."""
    procs = LogitsProcessorList()
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    if top_k:
        procs.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    procs.append(GumbelRowSampler(seeds, device))
    return procs


def _trim(ids: list[int], eos_id: int, pad_id: int | None) -> tuple[list[int], bool]:
    """Cut a completion at its first EOS (kept) or drop trailing padding."""
    if eos_id in ids:
        return ids[: ids.index(eos_id) + 1], True
    if pad_id is not None and pad_id != eos_id:
        while ids and ids[-1] == pad_id:
            ids = ids[:-1]
    return ids, False


@torch.no_grad()
def generate_rollouts(
    model,
    tokenizer,
    prompts: list[str],
    n: int = 1,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    budgets: list[int] | None = None,
    batch_size: int = 64,
    greedy: bool = False,
    progress=None,
    cache_implementation: str | None = None,
    seeds: list[int] | None = None,
) -> list[Rollout]:
    """Sample ``n`` completions for every prompt; returns them prompt-major (p0×n, p1×n, …).

    ``budgets`` gives one token budget per prompt (``None`` entries or no list: the global
    ``max_new_tokens``). ``progress`` is an optional tqdm-like object updated per batch.
    ``cache_implementation`` is passed to ``generate`` when set (``"static"``: a pre-allocated KV
    cache, which transformers also compiles for decoding on CUDA; ``None``: the library default).
    ``seeds`` (one per prompt) samples row-seeded: sample j of prompt i uses its own generator,
    seeded with ``row_seed(seeds[i], j)``, instead of the global torch RNG.
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    if budgets is not None and len(budgets) != len(prompts):
        raise ValueError(f"budgets has {len(budgets)} entries for {len(prompts)} prompts")
    if seeds is not None and len(seeds) != len(prompts):
        raise ValueError(f"seeds has {len(seeds)} entries for {len(prompts)} prompts")
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    if eos_id is None:
        raise ValueError("tokenizer has no eos_token_id: set one before sampling")
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    rows = [(i, p) for i, p in enumerate(prompts) for _ in range(n)]
    out: list[Rollout] = []
    was_training = model.training
    model.eval()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        enc = tokenizer([p for _, p in chunk], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(device)
        row_budget = [
            min(max_new_tokens, budgets[i]) if budgets is not None and budgets[i] else max_new_tokens
            for i, _ in chunk
        ]
        prompt_len = enc["input_ids"].shape[1]
        stop = StoppingCriteriaList()
        if min(row_budget) < max_new_tokens:
            stop.append(RowBudget(prompt_len, torch.tensor(row_budget, device=device)))
        gen_kwargs = dict(do_sample=False) if greedy else dict(
            do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k)
        if seeds is not None and not greedy:  # prompt-major rows: row start+k is sample (start+k) % n
            gen_kwargs = dict(do_sample=False, logits_processor=_row_seeded_processors(
                [row_seed(seeds[i], (start + k) % n) for k, (i, _) in enumerate(chunk)],
                temperature, top_k, top_p, device))
        if cache_implementation:
            gen_kwargs["cache_implementation"] = cache_implementation
        seqs = model.generate(**enc, max_new_tokens=max(row_budget), stopping_criteria=stop,
                              eos_token_id=eos_id, pad_token_id=pad_id if pad_id is not None
                              else eos_id, **gen_kwargs)
        for (i, prompt), seq, budget in zip(chunk, seqs[:, prompt_len:].tolist(), row_budget):
            ids, ended = _trim(seq[:budget], eos_id, pad_id)
            reason = "eos" if ended else ("budget" if budget < max_new_tokens
                                          else "max_new_tokens")
            text = tokenizer.decode(ids, skip_special_tokens=True)
            out.append(Rollout(i, prompt, text, ids, len(ids), reason))
        if progress is not None:
            progress.update(len(chunk))
    model.train(was_training)
    return out


def sample_rollouts(model, tokenizer, prompts: list[str], cfg, *, n: int, max_new_tokens: int,
                    budgets: list[int] | None = None,
                    seeds: list[int] | None = None) -> list[Rollout]:
    """Training-time sampling through the backend ``cfg.rollout.backend`` picks: ``"hf"``
    (:func:`generate_rollouts`) or ``"vllm"`` (:mod:`masa_lite.rollout_vllm`, whose engine is built
    on first use and gets the current LoRA adapter before every call). Same Rollouts either way;
    sampling settings come from ``cfg.rollout``; ``seeds``: row-seeded sampling (hf backend)."""
    r = cfg.rollout
    if r.backend == "vllm" and seeds is not None:
        raise NotImplementedError("row-seeded sampling (rollout.row_seeded, data-parallel runs) "
                                  "is implemented for rollout.backend=hf only")
    if r.backend == "vllm":
        from masa_lite.rollout_vllm import engine_for

        return engine_for(model, tokenizer, cfg).generate(
            prompts, n=n, max_new_tokens=max_new_tokens, temperature=r.temperature, top_p=r.top_p,
            top_k=r.top_k, budgets=budgets)
    return generate_rollouts(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens,
                             temperature=r.temperature, top_p=r.top_p, top_k=r.top_k,
                             batch_size=r.batch_size, budgets=budgets,
                             cache_implementation=r.cache_implementation or None, seeds=seeds)
