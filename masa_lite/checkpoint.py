"""Atomic checkpoints that a run can resume from exactly.

A checkpoint is a folder ``ckpt-000040/`` holding the LoRA adapter (peft ``save_pretrained``),
``state.pt`` (optimizer, scheduler, step, every random-number-generator state, the trainer's own
state such as its prompt sampler) and a copy of the history up to that step. It is written into
``ckpt-000040.tmp/`` first and renamed into place, then ``latest`` is replaced atomically, so a
run killed at any moment leaves either the old or the new checkpoint, never half of one. A write
that fails (a full disk) removes its ``.tmp`` folder and raises
:class:`~masa_lite.errors.CheckpointWriteError` naming the folder and the free space; the trainer
also clears stale ``ckpt-*.tmp`` folders when it starts.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from masa_lite.errors import CheckpointWriteError
from masa_lite.files import atomic_write_text, jsonl_text, read_jsonl, write_jsonl

LATEST = "latest"


def rng_state() -> dict:
    """Every random-number-generator state that sampling and training touch."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the Python, NumPy, torch (and CUDA) random states saved by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir, step: int, model, optimizer, scheduler, history: list[dict],
                    trainer_state: dict | None = None, keep: int = 2) -> Path:
    """Write ``ckpt-{step}`` atomically and point ``latest`` at it; keep the newest ``keep``."""
    run_dir = Path(run_dir)
    final = run_dir / f"ckpt-{step:06d}"
    tmp = run_dir / f"ckpt-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp / "adapter")
        torch.save({"step": step, "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "rng": rng_state(), "trainer": trainer_state or {}}, tmp / "state.pt")
        (tmp / "history.jsonl").write_text(jsonl_text(history))
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(_write_failure(run_dir, step, exc)) from exc
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(run_dir / LATEST, final.name)
    ckpts = sorted(p for p in run_dir.glob("ckpt-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in ckpts[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def update_checkpoint_history(run_dir, step: int, history: list[dict]) -> bool:
    """Replace the history copy of ``ckpt-{step}`` (atomically) once that step's evaluation is
    done, so a resume does not evaluate it again; False if there is no such checkpoint."""
    path = Path(run_dir) / f"ckpt-{step:06d}"
    if not (path / "state.pt").exists():
        return False
    write_jsonl(history, path / "history.jsonl")
    return True


def _write_failure(run_dir: Path, step: int, exc: BaseException) -> str:
    try:
        free = f"{shutil.disk_usage(run_dir).free / 2**20:.0f} MiB free"
    except OSError:
        free = "free space unknown"
    return (f"could not write the step-{step} checkpoint in {run_dir} ({free}): "
            f"{type(exc).__name__}: {exc}. Free disk space (or choose another out_dir) and run "
            "the same command again: it resumes from the previous checkpoint")


def latest_checkpoint(run_dir) -> Path | None:
    """The checkpoint ``latest`` points at, or None for a fresh run."""
    pointer = Path(run_dir) / LATEST
    if not pointer.exists():
        return None
    path = Path(run_dir) / pointer.read_text().strip()
    if not (path / "state.pt").exists():
        raise FileNotFoundError(f"{pointer} points at {path}, which has no state.pt: the run folder "
                                "was edited by hand; delete 'latest' to start over")
    return path


def load_checkpoint(path, model, optimizer, scheduler) -> tuple[int, list[dict], dict]:
    """Restore adapter weights, optimizer, scheduler and RNG; returns (step, history, trainer)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(path)
    adapter = path / "adapter"
    weights = adapter / "adapter_model.safetensors"
    set_peft_model_state_dict(model, load_file(str(weights)))
    meta_weights = adapter / "meta" / "adapter_model.safetensors"  # meta.adapter=separate
    if meta_weights.exists():
        set_peft_model_state_dict(model, load_file(str(meta_weights)), adapter_name="meta")
    state = torch.load(path / "state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    history = read_jsonl(path / "history.jsonl")
    return state["step"], history, state["trainer"]
