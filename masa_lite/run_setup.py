"""Starting a training run: validate the configuration, take the run folder (one run per folder),
prepare it, load the data, check that a resume continues the same run (configuration and data),
load the model with its LoRA adapter(s) and optimisers, and resume from the newest intact
checkpoint. What it builds, :class:`Run`, is what :func:`masa_lite.trainer.train` holds between
steps (and releases when it ends: :meth:`Run.release`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from masa_lite.checkpoint import apply_checkpoint, resume_point
from masa_lite.config import ConfigError, RunConfig, to_dict, validate
from masa_lite.distributed import DataParallel
from masa_lite.efficient.expert_sft import sft_optimizer
from masa_lite.grpo import policy
from masa_lite.grpo.rollout import row_seed
from masa_lite.history import History
from masa_lite.models import META_ADAPTER, adapter_parameters, has_meta_adapter, pick_device
from masa_lite.run_dir import (RunLock, check_same_run, lock_run_dir, prepare_run_dir, run_fingerprint,
                               trim_calibration, tuple_state, write_config)
from masa_lite.task.prompts import prompt_format_for
from masa_lite.task.records import check_prompt_lengths, model_context, run_records


@dataclass
class Run:
    """What a training run holds between steps: configuration, process group, data, model and
    optimisers, random streams, history and the state a checkpoint saves."""

    cfg: RunConfig
    dp: DataParallel
    run_dir: Path
    pool: list
    held_out: list
    model: object = None
    tokenizer: object = None
    optimizer: object = None
    scheduler: object = None
    meta_opt: object = None      # meta.adapter=separate: the meta adapter's own optimiser
    meta_sched: object = None
    sft_opt: object = None       # efficient.expert_sft
    fmt: object = None
    device: object = None
    sampler: random.Random = None
    audit_rng: random.Random = None
    history: History = None
    start: int = 0
    lock: RunLock | None = None  # rank 0's hold on the run folder, until release()
    fingerprint: dict = None     # configuration and data (masa_lite.run_dir.run_fingerprint)
    state: dict = field(default_factory=lambda: {"wall": 0.0, "sft_buffer": [], "sft_recent": [], "gate": [], "cut": []})

    @property
    def calib_path(self) -> Path:
        return self.run_dir / "calibration.jsonl"

    @property
    def separate(self) -> bool:
        return self.meta_opt is not None

    def seeds(self, step: int, path: str, indices) -> list[int] | None:
        """Row-seeded sampling: one seed per global index, whichever rank samples it."""
        if not (self.cfg.rollout.row_seeded or self.dp.enabled):
            return None
        return [row_seed(self.cfg.seed, step, path, i) for i in indices]

    def saved_state(self) -> dict:
        """The trainer's part of a checkpoint: random streams, bookkeeping, extra optimisers."""
        return {"sampler": self.sampler.getstate(), "audit_rng": self.audit_rng.getstate(),
                "state": self.state, "fingerprint": self.fingerprint,
                "sft_opt": self.sft_opt.state_dict() if self.sft_opt else None,
                "meta_opt": self.meta_opt.state_dict() if self.meta_opt else None,
                "meta_sched": self.meta_sched.state_dict() if self.meta_sched else None}

    def release(self) -> None:
        """Let the run folder go (the run ended, or failed): another run may use it now."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def start_run(cfg: RunConfig, resume: bool) -> Run:
    """Validate, take the run folder (rank 0; refused if another run holds it), prepare it, load
    data (data errors before the model loads), read the checkpoint to resume from and check that
    it is the same run, load the model, check prompt lengths, build the optimisers and restore
    the checkpoint. The returned run holds the folder until :meth:`Run.release`."""
    validate(cfg)  # a config built in code gets the same checks as one loaded from YAML
    pick_device(cfg.model.device)  # a device this machine lacks is refused before anything loads
    dp = DataParallel.from_env(cfg.model.device)  # one process unless launched by torchrun
    if dp.enabled and cfg.rollout.backend != "hf":
        raise ConfigError("data-parallel runs sample row-seeded, which needs rollout.backend=hf")
    run_dir = Path(cfg.out_dir)
    lock = lock_run_dir(run_dir) if dp.is_main else None
    try:
        run = _open_run(cfg, dp, run_dir, resume)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    run.lock = lock
    return run


def _open_run(cfg: RunConfig, dp: DataParallel, run_dir: Path, resume: bool) -> Run:
    """:func:`start_run` once the folder is held."""
    if dp.is_main:
        prepare_run_dir(run_dir, resume)
    dp.barrier()
    run = Run(cfg, dp, run_dir, *run_records(cfg))
    run.fingerprint = run_fingerprint(cfg, run.pool, run.held_out)
    saved = resume_point(run_dir) if resume else None
    if saved is not None:  # before the model loads: a changed run is refused at once
        check_same_run(run_dir, saved["state"]["trainer"].get("fingerprint"), run.fingerprint)
    run.model, run.tokenizer, run.optimizer, run.scheduler = policy.setup(cfg)
    run.device = next(run.model.parameters()).device
    run.fmt = prompt_format_for(cfg.model.name, run.tokenizer, k=cfg.meta.k)
    check_lengths(run)
    run.sampler, run.audit_rng = random.Random(cfg.seed), random.Random(cfg.seed + 7)
    build_path_optimisers(run)
    records = restore_checkpoint(run, saved) if saved is not None else []
    dp.wrap(run.model)  # DDP over the LoRA parameters (several ranks only)
    run.history = History(run_dir, cfg.loggers, records, config=to_dict(cfg), write=dp.is_main)
    if dp.is_main:
        write_config(run_dir, cfg)
    if run.start > 0 and dp.is_main:  # drop pairs of evaluations the checkpoint does not hold
        trim_calibration(run.calib_path, {r["step"] for r in records if r.get("kind") == "eval"})
    return run


def check_lengths(run: Run) -> None:
    """Every training and evaluation prompt, solution and (with the meta path) meta, fits the
    model's context together with its completion budget."""
    cfg = run.cfg
    context = model_context(run.model, cfg)
    for what, recs in (("training", run.pool), ("evaluation", run.held_out)):
        check_prompt_lengths(recs, run.fmt.solution, run.tokenizer, context, cfg.rollout.max_new_tokens,
                             f"{what} data ({cfg.data.task}), solution prompt")
        if cfg.meta.enabled or cfg.meta.eval_calibration:
            check_prompt_lengths(recs, run.fmt.meta, run.tokenizer, context, cfg.meta.max_new_tokens,
                                 f"{what} data ({cfg.data.task}), meta prompt")


def build_path_optimisers(run: Run) -> None:
    """With a meta adapter (``meta.adapter=separate``) the meta path trains it with its own
    optimiser and schedule (``meta.lr``); Expert SFT (``efficient.expert_sft``) trains the meta
    path's parameters — that adapter, or the shared one — with its own optimiser."""
    cfg, model = run.cfg, run.model
    separate = has_meta_adapter(model)
    if separate and run.dp.enabled:
        raise ConfigError("meta.adapter=separate is not implemented for data-parallel runs; use "
                          "meta.adapter=shared with torchrun, or one process")
    meta_params = adapter_parameters(model, META_ADAPTER) if separate else \
        [p for p in model.parameters() if p.requires_grad]
    if separate:
        run.meta_opt = torch.optim.AdamW(meta_params, lr=cfg.grpo.lr if cfg.meta.lr is None else cfg.meta.lr,
                                         weight_decay=cfg.grpo.weight_decay)
        run.meta_sched = torch.optim.lr_scheduler.LambdaLR(run.meta_opt, run.scheduler.lr_lambdas[0])
    run.sft_opt = sft_optimizer(meta_params, cfg) if cfg.efficient.expert_sft else None


def restore_checkpoint(run: Run, ckpt: dict) -> list[dict]:
    """Restore a checkpoint read by :func:`masa_lite.checkpoint.resume_point` (and checked to be
    of this run): weights, optimisers, random streams and bookkeeping. Returns the restored
    history records."""
    run.start, records, saved = apply_checkpoint(ckpt, run.model, run.optimizer, run.scheduler)
    run.sampler.setstate(tuple_state(saved["sampler"]))
    run.audit_rng.setstate(tuple_state(saved["audit_rng"]))
    run.state = saved["state"]
    if run.sft_opt is not None and saved.get("sft_opt"):
        run.sft_opt.load_state_dict(saved["sft_opt"])
    if run.meta_opt is not None:  # the meta adapter's weights came back with the adapter folder
        run.meta_opt.load_state_dict(saved["meta_opt"])
        run.meta_sched.load_state_dict(saved["meta_sched"])
    return records
