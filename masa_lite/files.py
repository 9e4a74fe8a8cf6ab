"""Files the library writes and reads, one helper per idiom: atomic writes (a temporary file in the
same folder, then ``os.replace``, so a reader never sees half a file and a crash leaves the old one)
and JSON lines (history, calibration pairs, task and data files)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator


@contextmanager
def atomic_target(path, fsync: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path`` atomically, on
    an error it is removed and ``path`` is left as it was. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path, text: str, fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_target`); returns the path."""
    with atomic_target(path, fsync) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def jsonl_text(records: Iterable[dict], ensure_ascii: bool = True) -> str:
    """Records as JSON lines, one object per line."""
    return "".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in records)


def write_jsonl(records: Iterable[dict], path, ensure_ascii: bool = True, fsync: bool = False) -> Path:
    """Write records as JSON lines atomically."""
    return atomic_write_text(path, jsonl_text(records, ensure_ascii), fsync)


def append_jsonl(records: Iterable[dict], path) -> None:
    """Append records as JSON lines (a run's calibration pairs, one evaluation at a time)."""
    with open(path, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def read_jsonl(path) -> list[dict]:
    """The records of a JSON-lines file; blank lines are skipped."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
