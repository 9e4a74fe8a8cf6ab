"""The ``compact`` rollout engine (the default): a KV-cache decode loop on the model's own
forward in which finished rows cost nothing. Called through
:func:`masa_lite.grpo.sampling.generate_rollouts` (``engine="compact"``)."""

from __future__ import annotations

import collections
import inspect
import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import (DynamicCache, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)
from transformers.cache_utils import DynamicLayer


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
