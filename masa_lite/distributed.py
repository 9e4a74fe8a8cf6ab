"""Data-parallel training on PyTorch's own engine: ``torchrun`` (or ``accelerate launch``) starts
one process per GPU (or per CPU slot), :class:`DataParallel` joins them into a process group, and
``DistributedDataParallel`` (DDP) all-reduces the LoRA gradients. Nothing here schedules work,
moves tensors between machines or restarts failed workers: that is the launcher's and PyTorch's job.

One training step with W ranks (:func:`masa_lite.trainer.train`):

1. every rank draws the *same* global batch of prompts (the same sampler, the same seed) and takes
   a contiguous share of it (:meth:`DataParallel.shard`); all rollouts of a prompt — its solution
   group and its meta group — live on one rank, so no advantage group straddles ranks;
2. each rank generates and scores the rollouts of its own prompts;
3. the scored rollouts (token ids and text, a few hundred kB) are all-gathered
   (:meth:`DataParallel.gather`), so every rank holds the step's full picture and computes the same
   metrics, gating decisions, audit samples, gate/cutoff statistics and Expert SFT buffer that one
   process would. That is how metrics and statistics are reduced across ranks, and why the random
   draws of the audits (one Python RNG, copied on every rank) never drift apart;
4. each rank trains on its own groups: the loss normalisers (rollouts and tokens of the step) are
   summed over ranks and DDP averages the gradients, so the update equals the one-process update of
   the whole batch (:func:`masa_lite.grpo.update.policy_update`, :func:`masa_lite.supervised.sft_step`);
5. rank 0 alone writes the history, checkpoints and evaluations; evaluation runs on rank 0 only
   while the other ranks wait at a barrier (simple and exact, but it does not get faster with W).

Why the rollouts do not depend on the split: with several ranks the trainer always samples
*row-seeded* (``rollout.row_seeded``, :class:`masa_lite.grpo.decode_generate.GumbelRowSampler`): every row draws
its tokens from its own generator keyed by (seed, step, path, global prompt index, sample index).
A one-process run with ``rollout.row_seeded=true`` therefore samples the same tokens (up to float
rounding of batched matrix products), which is what ``tests/test_distributed.py`` checks.

Tested: two gloo processes on one CPU machine. Not tested: NCCL on GPUs and several nodes; they use
the same code paths (docs/scaling.md, "Several GPUs / processes").
"""

from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# Evaluation runs on rank 0 while the others wait at a barrier; a real model's evaluation can take
# longer than the library's default collective timeout (10 minutes for NCCL), so allow for it.
TIMEOUT = timedelta(hours=2)


@dataclass
class DataParallel:
    """This process's place in a data-parallel run. The default instance (:data:`SINGLE`) is one
    process: every method is then the identity, so the trainer has a single code path."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    ddp: torch.nn.Module | None = None  # the DDP wrapper used for training forwards (set by wrap)
    owns_group: bool = False  # this object created the process group and will destroy it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files, logs and shows progress."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto") -> DataParallel:
        """Join the run ``torchrun``/``accelerate launch`` started (they set RANK, WORLD_SIZE,
        LOCAL_RANK, MASTER_ADDR, MASTER_PORT); without them, one process.

        ``device`` is the configured ``model.device``: a CUDA device uses NCCL and the GPU
        ``cuda:LOCAL_RANK`` (made the current device, so "auto"/"cuda" land on it); anything else
        uses gloo on the CPU. A process group created by someone else (e.g. ``accelerate``'s
        ``Accelerator``) is reused as it is."""
        from masa_lite.models import pick_device

        world = int(os.environ.get("WORLD_SIZE", "1"))
        if dist.is_available() and dist.is_initialized():
            world = dist.get_world_size()
        if world <= 1:
            return cls()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = pick_device(device).type == "cuda"
        if cuda:
            if str(device) not in ("auto", "cuda"):
                raise ValueError(f"model.device = {device!r} with {world} processes: use auto or "
                                 "cuda, every rank then takes the GPU cuda:LOCAL_RANK")
            torch.cuda.set_device(local_rank)
        owns = not dist.is_initialized()
        if owns:
            dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                   owns_group=owns)

    # ---------------------------------------------------------------- splitting and collecting
    def shard(self, n: int) -> list[int]:
        """This rank's contiguous share of ``n`` items (global indices; sizes differ by ≤ 1).
        Concatenating the shards in rank order gives back ``range(n)``."""
        per, extra = divmod(n, self.world_size)
        start = self.rank * per + min(self.rank, extra)
        return list(range(start, start + per + (self.rank < extra)))

    def gather(self, items: list) -> list:
        """Every rank's ``items`` (any picklable objects), concatenated in rank order, on every
        rank. With contiguous shards this restores the global order of the batch."""
        if not self.enabled:
            return items
        parts: list = [None] * self.world_size
        dist.all_gather_object(parts, items)
        return [x for part in parts for x in part]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over ranks (float64, so counts stay exact)."""
        if not self.enabled:
            return values
        device = torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else "cpu"
        total = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return total.tolist()

    def merge(self, metrics: dict, n: int, sums: tuple[str, ...] = ()) -> dict:
        """Combine one metrics dict per rank: keys in ``sums`` are counts and are added; the others
        are means over this rank's ``n`` items and are re-weighted by n."""
        if not self.enabled:
            return metrics
        parts = self.gather([(n, metrics)])
        total = sum(k for k, _ in parts)
        return {key: (sum(m[key] for _, m in parts) if key in sums
                      else sum(k * m[key] for k, m in parts) / max(total, 1))
                for key in metrics}

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    # ---------------------------------------------------------------- gradients
    def wrap(self, model) -> None:
        """Wrap ``model`` in DDP for the training forwards. DDP registers gradient hooks on the
        trainable (LoRA) parameters only and checks that every rank starts from rank 0's weights.
        Generation, adapter toggling and saving keep using the plain model: its parameters are
        the ones DDP synchronises, so they see the same weights."""
        if self.enabled:
            from torch.nn.parallel import DistributedDataParallel

            cuda = next(model.parameters()).device.type == "cuda"
            self.ddp = DistributedDataParallel(model,
                                               device_ids=[self.local_rank] if cuda else None)

    def train_model(self, model):
        """The module to run a forward pass through when its gradients must be all-reduced."""
        return self.ddp if self.ddp is not None else model

    def sync(self, last: bool):
        """Context for one micro-batch of gradient accumulation: gradients are all-reduced only in
        the backward pass of the ``last`` micro-batch (the others run under DDP's ``no_sync``).
        Each rank thus makes exactly one all-reduce per optimiser step, however many micro-batches
        it has, so ranks with fewer rows (e.g. gated prompts) never stall the others."""
        if self.ddp is None or last:
            return contextlib.nullcontext()
        return self.ddp.no_sync()

    def close(self) -> None:
        """Wait for every rank, release DDP, then leave the process group if this object created
        it. DDP goes first: freed after its process group was destroyed, it sometimes hung the
        process on exit (measured: rank 0 stuck in the teardown of ``train``'s locals, 3 of
        about 115 launches of ``tests/test_distributed.py``'s 2-process run, and once in CI)."""
        if self.enabled:
            dist.barrier()
            self.ddp = None
            gc.collect()  # the DDP wrapper and its reducer, now, while the group still exists
            if self.owns_group:
                dist.destroy_process_group()


SINGLE = DataParallel()  # one process: every collective is the identity
