"""A run's folder: held by one run at a time (:func:`lock_run_dir`), created (and an old run moved
aside on a fresh start), checked before a resume (the same configuration and data:
:func:`run_fingerprint`, :func:`check_same_run`), ``config.yaml`` written, ``calibration.jsonl``
kept in step with the restored history. The checkpoints inside it: :mod:`masa_lite.checkpoint`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from masa_lite.config import ConfigError, RunConfig, read_yaml, to_dict
from masa_lite.errors import RunFolderError, shorten
from masa_lite.files import atomic_write_text, read_jsonl, write_jsonl

try:  # the lock is the operating system's: a killed process drops it, so it is never stale
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

# settings a resumed run may change: how long it runs and how it reports
RESUME_MAY_CHANGE = {"grpo.steps", "eval_every", "save_every", "loggers", "out_dir"}
LOCK = "run.lock"
NEW_RUN = ("start a new run: --no-resume (resume=False; the old run is moved aside into "
           "previous-<time>/) or another out_dir (--out)")


# ---- one run per folder -----------------------------------------------------------------------

def make_run_dir(run_dir: Path) -> None:
    """Create the run folder. A path that cannot be one (a file, a name too long, a read-only
    disk, no permission) is refused naming the folder, the reason and the fix."""
    where = shorten(str(run_dir), 100)
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise RunFolderError(f"out_dir {where} is a file, not a folder: choose another --out "
                                 "(out_dir)")
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a name too long, a read-only disk, no permission, a file on the way
        raise RunFolderError(f"cannot create the run folder {where}: {exc.strerror or exc}; "
                             "choose another --out (out_dir)") from None


@dataclass
class RunLock:
    """This process's hold on a run folder (:func:`lock_run_dir`); :meth:`release` ends it."""

    path: Path
    fd: int | None

    def release(self) -> None:
        """Clear the holder's details (a lock file with details left in it was not released)
        and let the folder go."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)  # closing drops the operating system's lock
        self.fd = None


def _try_lock(fd: int, run_dir: Path) -> bool:
    """Take the operating system's lock on ``fd`` without waiting; False if another holds it. A
    file system without locks (some network mounts) gets a warning, and the run goes on."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows: lock one byte far past the holder's details
            os.lseek(fd, 1 << 20, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except (BlockingIOError, PermissionError):
        return False
    except OSError as exc:
        warnings.warn(f"{run_dir}: this file system cannot lock files ({exc.strerror or exc}), so a "
                      "second run in this folder would not be stopped: start one run at a time",
                      stacklevel=4)
        return True


def _holder(fd: int) -> str:
    """The details a lock holder wrote into the lock file, as words ("" if there are none)."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return ""


def lock_run_dir(run_dir) -> RunLock:
    """Create ``run_dir`` and hold it for this process until :meth:`RunLock.release`: one run per
    folder. A folder another live run holds is refused in one line naming that run (pid, host,
    start time). The lock is the operating system's (``flock``), so a run killed with ``kill -9``
    leaves no stale lock: the next run takes it over, with a warning naming the killed run."""
    run_dir = Path(run_dir)
    make_run_dir(run_dir)
    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunFolderError(f"cannot write in the run folder {shorten(str(run_dir), 100)}: "
                             f"{exc.strerror or exc}; choose another --out (out_dir)") from None
    if not _try_lock(fd, run_dir):
        holder = _holder(fd) or "details not written yet"
        os.close(fd)
        raise RunFolderError(f"{run_dir} is in use by another training run ({holder}): wait for it "
                             "to finish or stop it, or train into another folder (--out)")
    killed = _holder(fd)
    if killed:
        warnings.warn(f"{run_dir}: the run that held this folder ({killed}) ended without "
                      "releasing it (killed?); its lock is taken over", stacklevel=3)
    details = {"pid": os.getpid(), "host": socket.gethostname(),
               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with contextlib.suppress(OSError):  # the details inform; a full disk shows up elsewhere
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(details).encode("utf-8"))
    return RunLock(path, fd)


def prepare_run_dir(run_dir: Path, resume: bool) -> Path | None:
    """Create the run folder and remove half-written checkpoints (``ckpt-*.tmp``, left by a crash
    or a full disk). A fresh start (``resume=False``) on a folder that holds checkpoints moves the
    old run aside into ``previous-<timestamp>/`` — never reused, never silently mixed with the new
    one. Returns that folder, or None."""
    make_run_dir(run_dir)
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
        if entry != aside and entry.name != LOCK and not entry.name.startswith("previous-"):
            os.replace(entry, aside / entry.name)
    warnings.warn(f"--no-resume: {run_dir} held a run with checkpoints; it was moved to {aside}",
                  stacklevel=4)
    return aside


# ---- a resume continues the same run ------------------------------------------------------------

def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts as one dict with dotted keys: {"grpo": {"lr": 1}} → {"grpo.lr": 1}."""
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def comparable_config(cfg: RunConfig) -> dict:
    """The configuration as dotted keys and plain (JSON) values, without the settings a resume
    may change (:data:`RESUME_MAY_CHANGE`)."""
    flat = flatten(json.loads(json.dumps(to_dict(cfg))))
    return {k: v for k, v in flat.items() if k not in RESUME_MAY_CHANGE}


def data_digest(records: list[dict]) -> dict:
    """How many problems, and a digest of their ids, texts, answers and levels: a data file
    replaced under the same name changes it."""
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps([r.get(k) for k in ("id", "problem", "answer", "level")],
                            ensure_ascii=False).encode("utf-8") + b"\n")
    return {"problems": len(records), "sha256": h.hexdigest()[:16]}


def run_fingerprint(cfg: RunConfig, pool: list[dict], held_out: list[dict]) -> dict:
    """What makes a run the same run: its configuration (:func:`comparable_config`) and its
    training and evaluation data (:func:`data_digest`). Every checkpoint stores it; a resume
    checks it (:func:`check_same_run`)."""
    return {"config": comparable_config(cfg), "training data": data_digest(pool),
            "evaluation data": data_digest(held_out)}


def config_changes(saved: dict, now: dict) -> list[str]:
    """``key: old → new`` for every setting that differs (a resume may change none of them)."""
    keys = sorted(k for k in set(saved) | set(now)
                  if k not in RESUME_MAY_CHANGE and saved.get(k) != now.get(k))
    return [f"{k}: {shorten(saved.get(k), 40)} → {shorten(now.get(k), 40)}" for k in keys]


def refuse_changed_run(run_dir, changes: list[str]) -> None:
    """Raise the one-line refusal of a resume that would change the run (nothing if no change)."""
    if changes:
        raise ConfigError(f"{run_dir} holds a checkpoint of a run with another configuration or "
                          f"data ({'; '.join(changes[:6])}): resume with the same settings and "
                          f"data, or {NEW_RUN}")


def check_same_run(run_dir: Path, saved: dict | None, now: dict) -> None:
    """Refuse to resume a checkpoint whose run had another configuration or other training or
    evaluation data (a silent mix of two runs): ``saved`` is the checkpoint's fingerprint,
    ``now`` this run's (:func:`run_fingerprint`). A checkpoint written before fingerprints is
    checked against ``config.yaml``, and refused without one (nothing says what run it was)."""
    if saved is None:
        if not (run_dir / "config.yaml").is_file():
            raise RunFolderError(f"{run_dir} holds a checkpoint without a record of its run (no "
                                 f"fingerprint, no config.yaml), so a resume cannot tell whether "
                                 f"it is the same run: {NEW_RUN}")
        saved_config = {**comparable_config(RunConfig()), **flatten(read_yaml(run_dir / "config.yaml"))}
        return refuse_changed_run(run_dir, config_changes(saved_config, now["config"]))
    changes = config_changes(saved["config"], now["config"])
    conf = now["config"]
    sources = {"training data": ("data.task", conf.get("data.task")),
               "evaluation data": ("data.eval_task or data.task",
                                   conf.get("data.eval_task") or conf.get("data.task"))}
    for what, (key, source) in sources.items():
        old, new = saved.get(what) or {"problems": "?", "sha256": "?"}, now[what]
        # synthetic problems follow from the configuration: a change there already says it all
        if old != new and not (changes and source == "synthetic"):
            changes.append(f"the {what} ({key} = {source!r}) changed: {old['problems']} problems, "
                           f"sha256 {old['sha256']} → {new['problems']} problems, sha256 {new['sha256']}")
    refuse_changed_run(run_dir, changes)


def check_resumable(run_dir: Path, cfg: RunConfig) -> None:
    """Refuse to resume a checkpoint written under a different configuration, as ``config.yaml``
    records it (a checkpoint's own fingerprint is what :func:`check_same_run` compares); only the
    length of the run and its reporting (:data:`RESUME_MAY_CHANGE`) may change."""
    saved_path = run_dir / "config.yaml"
    if saved_path.exists():
        # a key missing from an older run's config.yaml had its default value then
        saved = {**comparable_config(RunConfig()), **flatten(read_yaml(saved_path))}
        refuse_changed_run(run_dir, config_changes(saved, comparable_config(cfg)))


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    """``config.yaml``: the run's full configuration, for people and for :func:`check_resumable`
    (written atomically: a run killed while writing it leaves the old one)."""
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))


def trim_calibration(path: Path, eval_steps: set) -> None:
    """Keep the calibration pairs of the evaluations in ``eval_steps`` (those in the restored
    history); pairs of a later or repeated evaluation, and a torn last line, are dropped,
    atomically."""
    if not path.exists():
        atomic_write_text(path, "")
        return
    write_jsonl([p for p in read_jsonl(path) if p.get("step") in eval_steps], path)


def tuple_state(state):
    """random.Random state comes back from torch.load as nested lists in some versions."""
    return tuple(tuple_state(s) if isinstance(s, list) else s for s in state)
