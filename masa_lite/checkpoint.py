"""Atomic checkpoints that a run can resume from exactly, and never lose to damage.

A checkpoint is a folder ``ckpt-000040/`` holding the LoRA adapter (peft ``save_pretrained``),
``state.pt`` (optimizer, scheduler, step, every random-number-generator state, the trainer's own
state such as its prompt sampler and the run's fingerprint) and a copy of the history up to that
step. It is written into ``ckpt-000040.tmp/`` first and renamed into place, then ``latest`` is
replaced atomically, so a run killed at any moment leaves either the old or the new checkpoint,
never half of one. A write that fails (a full disk) removes its ``.tmp`` folder and raises
:class:`~masa_lite.errors.CheckpointWriteError` naming the folder and the free space; the trainer
also clears stale ``ckpt-*.tmp`` folders when it starts.

A checkpoint damaged afterwards (a truncated file, a disk error, a hand edit) is skipped with a
warning naming it and why: a resume continues from the newest checkpoint that reads whole
(:func:`resume_point`), and pruning keeps the newest intact ones (:func:`prune_checkpoints`).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from masa_lite.errors import CheckpointWriteError, DataError, RunFolderError
from masa_lite.files import atomic_write_text, jsonl_text, read_jsonl, safetensors_problem, write_jsonl

LATEST = "latest"
ADAPTER = Path("adapter") / "adapter_model.safetensors"
META = Path("adapter") / "meta" / "adapter_model.safetensors"  # meta.adapter=separate
_CKPT = re.compile(r"ckpt-(\d+)")


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
    prune_checkpoints(run_dir, step, keep)
    return final


def checkpoint_folders(run_dir) -> list[Path]:
    """The run's checkpoint folders (``ckpt-<step>``, not ``.tmp``), oldest step first."""
    found = [p for p in Path(run_dir).glob("ckpt-*") if _CKPT.fullmatch(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(_CKPT.fullmatch(p.name).group(1)))


def prune_checkpoints(run_dir, step: int, keep: int) -> None:
    """Keep the newest ``keep`` intact checkpoints up to ``step`` (the one just written first);
    older ones, and damaged ones among them, are removed. Later steps are left alone: they are
    this run's, left behind by a resume that fell back past a damaged checkpoint, and are
    rewritten when the run gets there. So pruning never removes what a resume would need."""
    if keep <= 0:
        return
    kept = 0
    for path in reversed([p for p in checkpoint_folders(run_dir) if _step(p) <= step]):
        if kept < keep and (_step(path) == step or checkpoint_problem(path) is None):
            kept += 1
        else:
            shutil.rmtree(path, ignore_errors=True)


def _step(path: Path) -> int:
    return int(_CKPT.fullmatch(path.name).group(1))


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


def checkpoint_problem(path) -> str | None:
    """Why checkpoint folder ``path`` cannot be resumed from (a file missing, cut short or not
    what it should be), or None. Cheap: reads the weights' headers and ``state.pt``'s zip
    directory, not the data (:func:`read_checkpoint` reads everything)."""
    path = Path(path)
    if not path.is_dir():
        return "the folder is missing"
    for name in ("state.pt", "history.jsonl"):
        if not (path / name).is_file():
            return f"{name} is missing"
    weights = sorted((path / "adapter").rglob("*.safetensors"))  # adapter/, adapter/meta/
    if not weights:
        return "adapter/ holds no weights (.safetensors)"
    for file in weights:
        why = safetensors_problem(file)
        if why is not None:
            return f"{file.parent.relative_to(path).as_posix()}/{why}"
    if not zipfile.is_zipfile(path / "state.pt"):
        return "state.pt is cut short or not a torch file"
    return None


def read_checkpoint(path) -> dict:
    """Everything a resume restores from checkpoint ``path``, read and checked before any of it
    is applied (:func:`apply_checkpoint`): weights, ``state.pt`` and the history copy. A damaged
    checkpoint raises :class:`~masa_lite.errors.RunFolderError` naming the file and why."""
    from safetensors.torch import load_file

    path = _checked(Path(path))
    try:
        out = {"path": path, "weights": load_file(str(path / ADAPTER)),
               "meta_weights": load_file(str(path / META)) if (path / META).exists() else None}
        state = torch.load(path / "state.pt", weights_only=False)
        missing = [k for k in ("step", "optimizer", "scheduler", "rng", "trainer") if k not in state]
        if missing:
            raise KeyError(f"no {missing}")
        out.update(state=state, history=read_jsonl(path / "history.jsonl", drop_torn_last=False))
    except DataError as exc:  # its message names the file; here the checkpoint names it
        detail = str(exc).replace(f"{path / 'history.jsonl'}, ", "")
        raise RunFolderError(f"{path.name}: history.jsonl is damaged ({detail})") from None
    except Exception as exc:  # whatever a damaged file makes the reader raise
        raise RunFolderError(f"{path.name}: cannot be read ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:120]})") from None
    return out


def apply_checkpoint(ckpt: dict, model, optimizer, scheduler) -> tuple[int, list[dict], dict]:
    """Restore what :func:`read_checkpoint` read: adapter weights, optimizer, scheduler and RNG;
    returns (step, history, trainer state)."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, ckpt["weights"])
    if ckpt["meta_weights"] is not None:
        set_peft_model_state_dict(model, ckpt["meta_weights"], adapter_name="meta")
    state = ckpt["state"]
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["step"], ckpt["history"], state["trainer"]


def load_checkpoint(path, model, optimizer, scheduler) -> tuple[int, list[dict], dict]:
    """Restore adapter weights, optimizer, scheduler and RNG; returns (step, history, trainer)."""
    return apply_checkpoint(read_checkpoint(path), model, optimizer, scheduler)


def _candidates(run_dir: Path) -> list[Path]:
    """Checkpoint folders to resume from, best first: the one ``latest`` names, then the others
    from the newest step down (``latest`` missing or pointing at nothing usable is not the end
    of a run: its checkpoints are still there)."""
    folders = checkpoint_folders(run_dir)[::-1]
    pointer = run_dir / LATEST
    named = pointer.read_text(errors="replace").strip() if pointer.is_file() else ""
    if _CKPT.fullmatch(named):
        folders = [run_dir / named] + [p for p in folders if p.name != named]
    return folders


def _newest_readable(run_dir, read):
    """``read(path)`` of the best checkpoint that it accepts (:func:`_candidates`), warning once
    about every one skipped and why; None if the run has no checkpoint; when every checkpoint
    is damaged, :class:`~masa_lite.errors.RunFolderError` with the way out."""
    run_dir = Path(run_dir)
    skipped = []
    for path in _candidates(run_dir):
        try:
            found = read(path)
        except RunFolderError as exc:
            skipped.append(str(exc))
            continue
        if skipped:
            warnings.warn(f"{run_dir}: skipped damaged checkpoint(s), resuming from {path.name}: "
                          + "; ".join(skipped), stacklevel=3)
        return found
    if skipped:
        raise RunFolderError(f"{run_dir}: no checkpoint can be resumed from ({'; '.join(skipped)}): "
                             "start a new run: --no-resume (resume=False; the damaged run is moved "
                             "aside into previous-<time>/) or another out_dir (--out)")
    return None


def _checked(path: Path) -> Path:
    """``path``, if :func:`checkpoint_problem` finds nothing wrong with it."""
    why = checkpoint_problem(path)
    if why is not None:
        raise RunFolderError(f"{path.name}: {why}")
    return path


def latest_checkpoint(run_dir) -> Path | None:
    """The newest intact checkpoint (the one ``latest`` names, unless it is damaged or missing:
    then the newest intact one, with a warning), or None for a fresh run."""
    return _newest_readable(run_dir, _checked)


def resume_point(run_dir) -> dict | None:
    """What a resume restores (:func:`read_checkpoint`) from the newest checkpoint that reads
    whole, or None for a fresh run; damaged ones are skipped with a warning naming each."""
    return _newest_readable(run_dir, read_checkpoint)
