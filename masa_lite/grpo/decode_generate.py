"""The ``generate`` rollout engine: transformers ``generate`` on chunks of rows, with per-row
token budgets (:class:`RowBudget`) and row-seeded sampling (:class:`GumbelRowSampler`).
Called through :func:`masa_lite.grpo.sampling.generate_rollouts` (``engine="generate"``)."""

from __future__ import annotations

import torch
from transformers import (LogitsProcessor, LogitsProcessorList, StoppingCriteria,
                          StoppingCriteriaList, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)

from masa_lite.grpo.rollout import Rollout, row_seed, trim_completion


class RowBudget(StoppingCriteria):
    """Stops each row once it has generated ``budgets[row]`` new tokens."""

    def __init__(self, prompt_len: int, budgets: torch.Tensor):
        self.prompt_len = prompt_len
        self.budgets = budgets

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_len
        return torch.full((input_ids.shape[0],), generated, device=input_ids.device) >= self.budgets


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


@torch.no_grad()
def generate_with_hf(
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
    """The ``engine="generate"`` path: transformers ``generate`` on chunks of ``batch_size`` rows.
    Every row of a chunk is computed until the chunk's longest row ends."""
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
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
            ids, ended = trim_completion(seq[:budget], eos_id, pad_id)
            reason = "eos" if ended else ("budget" if budget < max_new_tokens
                                          else "max_new_tokens")
            text = tokenizer.decode(ids, skip_special_tokens=True)
            out.append(Rollout(i, prompt, text, ids, len(ids), reason))
        if progress is not None:
            progress.update(len(chunk))
    model.train(was_training)
    return out
