"""A run's folder: created (and an old run moved aside on a fresh start), checked before a resume
(same configuration), ``config.yaml`` written, ``calibration.jsonl`` kept in step with the
restored history. The checkpoints inside it: :mod:`masa_lite.checkpoint`."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import yaml

from masa_lite.config import ConfigError, RunConfig, to_dict
from masa_lite.files import atomic_write_text, read_jsonl, write_jsonl

# settings a resumed run may change: how long it runs and how it reports
RESUME_MAY_CHANGE = {"grpo.steps", "eval_every", "save_every", "loggers", "out_dir"}


def prepare_run_dir(run_dir: Path, resume: bool) -> Path | None:
    """Create the run folder and remove half-written checkpoints (``ckpt-*.tmp``, left by a crash
    or a full disk). A fresh start (``resume=False``) on a folder that holds checkpoints moves the
    old run aside into ``previous-<timestamp>/`` — never reused, never silently mixed with the new
    one. Returns that folder, or None."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in run_dir.glob("ckpt-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    old_run = (run_dir / "latest").exists() or any(p.is_dir() for p in run_dir.glob("ckpt-*"))
    if resume or not old_run:
        return None
    aside = run_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while aside.exists():
        n += 1
        aside = run_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
    aside.mkdir()
    for entry in list(run_dir.iterdir()):
        if entry != aside and not entry.name.startswith("previous-"):
            os.replace(entry, aside / entry.name)
    warnings.warn(f"--no-resume: {run_dir} held a run with checkpoints; it was moved to {aside}",
                  stacklevel=4)
    return aside


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts as one dict with dotted keys: {"grpo": {"lr": 1}} → {"grpo.lr": 1}."""
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def check_resumable(run_dir: Path, cfg: RunConfig) -> None:
    """Refuse to resume a checkpoint written under a different configuration (a silent mix of
    two runs); only the length of the run and its reporting (:data:`RESUME_MAY_CHANGE`) may change."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.exists():
        return

    def flat(c):
        return flatten(json.loads(json.dumps(to_dict(c))))

    # a key missing from an older run's config.yaml had its default value then
    saved = {**flat(RunConfig()), **flatten(yaml.safe_load(saved_path.read_text()) or {})}
    now = flat(cfg)
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in RESUME_MAY_CHANGE and saved.get(k) != now.get(k))
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} → {now.get(k)!r}" for k in diff[:6])
        raise ConfigError(f"{run_dir} holds a checkpoint of a run with another configuration "
                         f"({detail}). Resume with the same settings, or start a new run: another "
                         "out_dir, or --no-resume (resume=False) to overwrite it.")


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    """``config.yaml``: the run's full configuration (what :func:`check_resumable` compares)."""
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def trim_calibration(path: Path, eval_steps: set) -> None:
    """Keep the calibration pairs of the evaluations in ``eval_steps`` (those in the restored
    history); pairs of a later or repeated evaluation are dropped, atomically."""
    if not path.exists():
        atomic_write_text(path, "")
        return
    write_jsonl([p for p in read_jsonl(path) if p.get("step") in eval_steps], path)


def tuple_state(state):
    """random.Random state comes back from torch.load as nested lists in some versions."""
    return tuple(tuple_state(s) if isinstance(s, list) else s for s in state)
