"""Rollouts: sample completions for a batch of prompts.

One interface for every caller (evaluation, GRPO, the meta path): prompts in, :class:`Rollout`
records out, each with its completion tokens, text, length (EOS included, as the method page
counts it) and the reason it stopped:

* ``"eos"`` – the model ended the answer itself;
* ``"budget"`` – the row hit its own token budget (``budgets``; MASA's early cutoff);
* ``"max_new_tokens"`` – the global limit truncated it.

Sampling is true sampling by default (``top_k=0``, ``top_p=1``): the tiny-task findings showed
library defaults silently truncate the distribution.

Two engines for the hf backend (``rollout.engine``):

* ``"compact"`` (default, :class:`CompactDecoder`): a KV-cache decode loop on the model's own
  forward in which a row that stops leaves the batch and the cache at once, and freed slots take
  waiting rows. Rollout lengths vary several-fold, so most of ``generate``'s work is on rows that
  have already stopped; here it is not done (``benchmarks/rollout_speed.py`` measures the gain).
* ``"generate"``: transformers ``generate``; per-row budgets work through a stopping criterion
  that returns one flag per row (:class:`RowBudget`), so a row that stops early is never extended
  past its budget but is computed until its chunk's longest row ends. Kept for comparison.

Both give the same tokens for greedy and row-seeded sampling (up to float reordering; none seen
on masa-tiny, see tests/test_rollout_engine.py) and the same distribution otherwise.

Two backends, one interface: :func:`sample_rollouts` dispatches on ``rollout.backend`` to
transformers (here) or vLLM (:mod:`masa_lite.rollout_vllm`, optional extra).

Row-seeded sampling (``seeds``, ``rollout.row_seeded``; always on in data-parallel runs): instead
of ``generate``'s one global random stream, every row samples with its own generator
(:class:`GumbelRowSampler`), so a rollout depends on its seed and its own prompt only — not on the
other rows of its batch, the batch size or the process that generates it.
"""

from __future__ import annotations

import collections
import hashlib
import inspect
import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import (DynamicCache, LogitsProcessor, LogitsProcessorList, StoppingCriteria,
                          StoppingCriteriaList, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)
from transformers.cache_utils import DynamicLayer


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


# ---------------------------------------------------------------------------------------------
# The compact engine: a KV-cache decode loop in which finished rows cost nothing
# ---------------------------------------------------------------------------------------------

ENGINES = ("compact", "generate")
# row-seeded sampling draws Gumbel noise ahead, at most this much per row (512 KiB: 64 steps of a
# 64-token vocabulary, one step of a 150k one); it depends on the vocabulary only, so a row's
# stream is the same whatever the batch
NOISE_ROW_BYTES = 1 << 19
# generation_config settings that ``generate`` would apply and the compact engine does not
UNSUPPORTED = ("repetition_penalty", "no_repeat_ngram_size", "bad_words_ids", "sequence_bias",
               "forced_bos_token_id", "forced_eos_token_id", "begin_suppress_tokens", "min_length",
               "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff")


@dataclass
class _Batch:
    """The rows being decoded, all tensors aligned on the batch dimension of the KV cache.

    ``attn`` is the 2-D attention mask over the cache's columns (0 = left padding), ``pos`` the
    position id of each row's next token (its number of real tokens so far), ``ngen`` the tokens it
    has generated, ``logits`` the scores for its next token. Row-seeded sampling adds one
    generator per row and a block of Gumbel noise drawn ahead (``noise[b, t % chunk]``)."""

    cache: DynamicCache
    attn: torch.Tensor  # [B, C]
    pos: torch.Tensor  # [B]
    rows: torch.Tensor  # [B] index of each row in the caller's list
    ngen: torch.Tensor  # [B]
    budget: torch.Tensor  # [B]
    logits: torch.Tensor  # [B, V] float32
    gens: list | None = None
    noise: torch.Tensor | None = None  # [B, chunk, V]

    def select(self, keep: torch.Tensor, keep_list: list[int]):
        """Keep only rows ``keep`` (cache included), then drop cache columns that are padding in
        every remaining row: a finished long prompt no longer widens everybody's attention."""
        self.cache.batch_select_indices(keep)
        for name in ("attn", "pos", "rows", "ngen", "budget", "logits", "noise"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[keep])
        if self.gens is not None:
            self.gens = [self.gens[k] for k in keep_list]
        first = int(self.attn.any(0).int().argmax()) if len(keep_list) else 0
        if first:
            self.attn = self.attn[:, first:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]

    def extend(self, other: "_Batch"):
        """Append the rows of ``other`` (freshly prefilled prompts): both caches are left-padded
        to the longer one's columns (masked out) and concatenated along the batch."""
        width = max(self.attn.shape[1], other.attn.shape[1])

        def pad(x, cols, dim):  # zeros on the left of ``dim`` (-1: mask, -2: keys/values)
            extra = width - cols
            return F.pad(x, (0, 0, extra, 0) if dim == -2 else (extra, 0)) if extra else x

        a_cols, b_cols = self.attn.shape[1], other.attn.shape[1]
        for la, lb in zip(self.cache.layers, other.cache.layers):
            la.keys = torch.cat([pad(la.keys, a_cols, -2), pad(lb.keys, b_cols, -2)])
            la.values = torch.cat([pad(la.values, a_cols, -2), pad(lb.values, b_cols, -2)])
        self.attn = torch.cat([pad(self.attn, a_cols, -1), pad(other.attn, b_cols, -1)])
        for name in ("pos", "rows", "ngen", "budget", "logits", "noise"):
            if getattr(self, name) is not None:
                setattr(self, name, torch.cat([getattr(self, name), getattr(other, name)]))
        if self.gens is not None:
            self.gens += other.gens


class CompactDecoder:
    """Sampling with the model's own forward and a transformers ``DynamicCache``, where a row that
    has stopped (EOS or its budget) leaves the batch and the cache at once.

    ``generate`` keeps computing a finished row until the batch's longest row ends; rollout
    lengths on the tiny task range from about 20 to over 200 tokens, so most of its work is on rows
    that have already stopped. Here every decode step runs only the active rows; when at least
    ``refill_min`` slots are free, waiting rows are prefilled and join the batch (the caches are
    left-padded to a common width), so ``batch_size`` slots stay busy. The G copies of a prompt
    share one prefill: the prompt runs once and its cache rows are repeated.

    What stays as in ``generate``: left padding with position ids that follow the attention mask
    (cumsum − 1), float32 scores, the processors in ``generate``'s order (``min_new_tokens`` and
    ``suppress_tokens`` from the model's generation config, then temperature, top-k, top-p),
    multinomial sampling from the global torch RNG, greedy argmax, cut at the first EOS.
    Row-seeded sampling draws each row's uniforms from its own generator exactly as
    :class:`GumbelRowSampler` does (the t-th token uses the generator's t-th draw of V uniforms;
    they are drawn ``chunk`` steps at a time, which on CPU is the same stream), so a row's tokens
    depend on its seed and prompt only. LoRA works active or merged: the adapted modules sit inside
    the base model, whose forward is called directly.
    """

    def __init__(self, model, tokenizer, temperature=1.0, top_p=1.0, top_k=0, greedy=False,
                 batch_size=64, refill_min: int | None = None):
        self.base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.tok, self.eos = tokenizer, tokenizer.eos_token_id
        self.device = next(model.parameters()).device
        self.batch_size, self.greedy = batch_size, greedy
        self.refill_min = refill_min or max(1, batch_size // 8)
        params = inspect.signature(self.base.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"  # transformers ≥ 5.24
        self.keep_kw = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        gc = getattr(self.base, "generation_config", None)
        self.min_new = (getattr(gc, "min_new_tokens", None) or 0) if gc is not None else 0
        suppress = getattr(gc, "suppress_tokens", None) if gc is not None else None
        self.suppress = torch.tensor(suppress, device=self.device) if suppress else None
        ignored = [k for k in UNSUPPORTED if getattr(gc, k, None) not in (None, 0, 0.0, 1.0, [])]
        if ignored:
            warnings.warn(f"rollout engine 'compact' ignores generation_config {ignored}; "
                          "use engine='generate' to apply them", stacklevel=3)
        self.warpers = []  # generate's sampling warpers, in its order; each only when it acts
        if not greedy and temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if not greedy and top_k:
            self.warpers.append(TopKLogitsWarper(top_k))
        if not greedy and top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))

    def _forward(self, ids, attn, pos, cache) -> torch.Tensor:
        out = self.base(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True,
                        **{self.cache_kw: cache}, **self.keep_kw)
        return out.logits[:, -1].float()

    def _prefill(self, rows: list[int], texts, budgets, seeds) -> _Batch:
        """Run each distinct prompt among ``rows`` once, then repeat its cache rows for its copies."""
        uniq = {t: j for j, t in enumerate(dict.fromkeys(texts[r] for r in rows))}
        self.prefilled = len(uniq)  # for the trace
        enc = self.tok(list(uniq), return_tensors="pt", padding=True,
                       add_special_tokens=False).to(self.device)
        attn = enc["attention_mask"]
        cache = DynamicCache(config=self.base.config)
        logits = self._forward(enc["input_ids"], attn, (attn.cumsum(-1) - 1).clamp(min=0), cache)
        if any(type(layer) is not DynamicLayer for layer in cache.layers):
            raise NotImplementedError("rollout engine 'compact' needs a full-attention "
                                      "DynamicCache; use engine='generate' for this model")
        where = torch.tensor([uniq[texts[r]] for r in rows], device=self.device)
        if len(uniq) < len(rows):
            cache.batch_select_indices(where)
        attn, logits = attn[where], logits[where]
        batch = _Batch(cache, attn, attn.sum(1), torch.tensor(rows, device=self.device),
                       torch.zeros(len(rows), dtype=torch.long, device=self.device),
                       torch.tensor([budgets[r] for r in rows], device=self.device), logits)
        if seeds is not None:
            batch.gens = [torch.Generator(device=self.device).manual_seed(seeds[r]) for r in rows]
            vocab = logits.shape[1]
            self.chunk = max(1, min(64, NOISE_ROW_BYTES // (4 * vocab)))
            batch.noise = logits.new_empty(len(rows), self.chunk, vocab)
        return batch

    def _sample(self, b: _Batch) -> torch.Tensor:
        """One token per active row from ``b.logits``, processed in ``generate``'s order."""
        z = b.logits
        if self.min_new:  # EOS is masked until a row has min_new_tokens
            z[:, self.eos] = torch.where(b.ngen < self.min_new, -math.inf, z[:, self.eos])
        if self.suppress is not None:
            z[:, self.suppress] = -math.inf
        if self.greedy:
            return z.argmax(-1)
        for warper in self.warpers:
            z = warper(None, z)
        if b.gens is None:
            return torch.multinomial(z.softmax(-1), 1).squeeze(1)
        step = b.ngen % self.chunk
        due = (step == 0).nonzero().squeeze(1)
        if len(due):  # draw the next ``chunk`` steps of uniforms for these rows, row by row
            u = torch.stack([torch.rand(self.chunk, z.shape[1], generator=b.gens[k],
                                        device=self.device) for k in due.tolist()])
            b.noise[due] = -torch.log(-torch.log(u))  # Gumbel(0, 1)
        return (z + b.noise[torch.arange(len(step), device=self.device), step]).argmax(-1)

    @torch.inference_mode()
    def run(self, texts: list[str], budgets: list[int], seeds: list[int] | None = None,
            progress=None, trace: dict | None = None) -> list[tuple[list[int], bool]]:
        """Decode every row of ``texts`` (one prompt per row) up to its budget; returns, per row,
        its tokens (cut after the first EOS) and whether it ended with EOS.

        ``trace``, if a dict, receives ``active`` (rows in the batch at each decode step),
        ``prefill_rows`` / ``prefill_prompts`` (rows admitted, distinct prompts actually run) and
        ``admissions`` (decode step of each prefill)."""
        self.tok.padding_side = "left"
        n_rows = len(texts)
        if trace is not None:
            trace.update(active=[], prefill_rows=0, prefill_prompts=0, admissions=[])
        if n_rows == 0:
            return []
        out = torch.zeros(n_rows, max(budgets), dtype=torch.long, device=self.device)
        length = torch.zeros(n_rows, dtype=torch.long, device=self.device)
        waiting = collections.deque(range(n_rows))
        b: _Batch | None = None
        while waiting or b is not None:
            # 1. enough free slots and rows waiting: prefill them and let them join the batch
            size = 0 if b is None else len(b.rows)
            free = self.batch_size - size
            if waiting and free >= (self.refill_min if size else 1):
                new = self._prefill([waiting.popleft() for _ in range(min(free, len(waiting)))],
                                    texts, budgets, seeds)
                if trace is not None:
                    trace["admissions"].append(len(trace["active"]))
                    trace["prefill_rows"] += len(new.rows)
                    trace["prefill_prompts"] += self.prefilled
                if b is None:
                    b = new
                else:
                    b.extend(new)
            # 2. one token for every row in the batch
            tok = self._sample(b)
            out[b.rows, b.ngen] = tok
            b.ngen += 1
            if trace is not None:
                trace["active"].append(len(b.rows))
            # 3. rows that stopped (EOS or budget) leave the batch and the cache
            done = (tok == self.eos) | (b.ngen >= b.budget)
            if done.any():
                length[b.rows[done]] = b.ngen[done]
                keep = (~done).nonzero().squeeze(1)
                keep_list = keep.tolist()
                if progress is not None:
                    progress.update(len(tok) - len(keep_list))
                if not keep_list:
                    b = None
                    continue
                b.select(keep, keep_list)
                tok = tok[keep]
            # 4. one decode step for the rows still going
            b.attn = torch.cat([b.attn, b.attn.new_ones(len(tok), 1)], dim=1)
            b.logits = self._forward(tok[:, None], b.attn, b.pos[:, None], b.cache)
            b.pos = b.pos + 1
        ids, length = out.tolist(), length.tolist()
        return [(row[:k], row[k - 1] == self.eos) for row, k in zip(ids, length)]


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
    engine: str = "compact",
    trace: dict | None = None,
) -> list[Rollout]:
    """Sample ``n`` completions for every prompt; returns them prompt-major (p0×n, p1×n, …).

    ``budgets`` gives one token budget per prompt (``None`` entries or no list: the global
    ``max_new_tokens``). ``progress`` is an optional tqdm-like object updated as rows finish.
    ``seeds`` (one per prompt) samples row-seeded: sample j of prompt i uses its own generator,
    seeded with ``row_seed(seeds[i], j)``, instead of the global torch RNG.

    ``engine``: ``"compact"`` (:class:`CompactDecoder`: finished rows leave the batch, freed slots
    take waiting rows; ``batch_size`` is the number of slots) or ``"generate"`` (transformers
    ``generate`` on chunks of ``batch_size`` rows; ``cache_implementation`` is passed to it when
    set, e.g. ``"static"``, which transformers compiles for decoding on CUDA). ``trace``, a dict
    (compact engine only), receives what the engine did (see :meth:`CompactDecoder.run`).
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    if budgets is not None and len(budgets) != len(prompts):
        raise ValueError(f"budgets has {len(budgets)} entries for {len(prompts)} prompts")
    if seeds is not None and len(seeds) != len(prompts):
        raise ValueError(f"seeds has {len(seeds)} entries for {len(prompts)} prompts")
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {ENGINES}")
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has no eos_token_id: set one before sampling")
    if engine == "generate":
        return _generate_hf(model, tokenizer, prompts, n, max_new_tokens, temperature, top_p, top_k,
                            budgets, batch_size, greedy, progress, cache_implementation, seeds)
    rows = [i for i in range(len(prompts)) for _ in range(n)]  # prompt-major: row k is sample k % n
    row_budgets = [min(max_new_tokens, budgets[i]) if budgets is not None and budgets[i]
                   else max_new_tokens for i in rows]
    row_seeds = (None if seeds is None or greedy
                 else [row_seed(seeds[i], k % n) for k, i in enumerate(rows)])
    decoder = CompactDecoder(model, tokenizer, temperature=temperature, top_p=top_p, top_k=top_k,
                             greedy=greedy, batch_size=batch_size)
    was_training = model.training
    model.eval()
    try:
        done = decoder.run([prompts[i] for i in rows], row_budgets, row_seeds, progress, trace)
    finally:
        model.train(was_training)
    out = []
    for i, budget, (ids, ended) in zip(rows, row_budgets, done):
        reason = "eos" if ended else ("budget" if budget < max_new_tokens else "max_new_tokens")
        out.append(Rollout(i, prompts[i], tokenizer.decode(ids, skip_special_tokens=True), ids,
                           len(ids), reason))
    return out


@torch.no_grad()
def _generate_hf(
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
    (:func:`generate_rollouts` with the engine ``cfg.rollout.engine``) or ``"vllm"``
    (:mod:`masa_lite.rollout_vllm`, whose engine is built on first use and gets the current LoRA
    adapter before every call). Same Rollouts either way;
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
                             cache_implementation=r.cache_implementation or None, seeds=seeds,
                             engine=r.engine)
