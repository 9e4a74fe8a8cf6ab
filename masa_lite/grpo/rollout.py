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
transformers (:mod:`masa_lite.grpo.sampling`) or vLLM (:mod:`masa_lite.grpo.rollout_vllm`, optional
extra).

Row-seeded sampling (``seeds``, ``rollout.row_seeded``; always on in data-parallel runs): instead
of ``generate``'s one global random stream, every row samples with its own generator
(:class:`GumbelRowSampler`), so a rollout depends on its seed and its own prompt only — not on the
other rows of its batch, the batch size or the process that generates it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


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


def row_seed(*key) -> int:
    """A 63-bit seed from a key such as (run seed, step, "solution", prompt index): the same in
    every process and Python version (``hash`` of a string is salted per process)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def trim_completion(ids: list[int], eos_id: int, pad_id: int | None) -> tuple[list[int], bool]:
    """Cut a completion at its first EOS (kept) or drop trailing padding; also says whether it
    ended with EOS. Shared by the generate engine and the vLLM backend."""
    if eos_id in ids:
        return ids[: ids.index(eos_id) + 1], True
    if pad_id is not None and pad_id != eos_id:
        while ids and ids[-1] == pad_id:
            ids = ids[:-1]
    return ids, False


def reindex(rollouts, indices):
    """Map each rollout's position in a sub-list of prompts back to its index in the batch."""
    for r in rollouts:
        r.prompt_index = indices[r.prompt_index]
    return rollouts
