"""Files the library writes and reads, one helper per idiom: atomic writes (a temporary file in the
same folder, then ``os.replace``, so a reader never sees half a file and a crash leaves the old one)
and JSON lines (history, calibration pairs, task and data files)."""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from masa_lite.errors import DataError, shorten


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


def read_jsonl(path, drop_torn_last: bool = True) -> list[dict]:
    """The records of a JSON-lines file; blank lines are skipped.

    A last line that does not parse is what a process killed in the middle of an append leaves
    (``history.jsonl``, ``calibration.jsonl``): it is dropped with a warning naming the file and
    line, or, with ``drop_torn_last=False`` (a file written atomically, which cannot be torn),
    refused. Any other bad line raises :class:`~masa_lite.errors.DataError` naming the file and
    the line as an editor numbers it."""
    path = Path(path)
    lines = [(n, raw) for n, raw in enumerate(path.read_bytes().split(b"\n"), 1) if raw.strip()]
    records = []
    for n, raw in lines:
        try:
            records.append(json.loads(raw.decode("utf-8")))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            if drop_torn_last and n == lines[-1][0]:
                warnings.warn(f"{path}, line {n}: dropped a torn last line (a write that was "
                              f"interrupted: {shorten(raw.decode('utf-8', 'replace'), 60)}); the "
                              "lines before it are read", stacklevel=2)
                break
            raise DataError(f"{path}, line {n}: not a JSON record ({type(exc).__name__}: "
                            f"{shorten(str(exc), 100)}); the file was damaged or edited") from None
    return records


def safetensors_problem(path) -> str | None:
    """Why ``path`` cannot be loaded as a ``.safetensors`` file (missing, cut short, not
    safetensors), or None. Reads only the header (an 8-byte length and a JSON table of tensors),
    so checking a large file costs nothing."""
    path = Path(path)
    if not path.is_file():
        return f"{path.name} is missing"
    size = path.stat().st_size
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        if size < 8 or length > size - 8:
            return f"{path.name} is cut short or not a safetensors file ({size} bytes)"
        try:
            header = json.loads(f.read(length))
            end = int(max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"),
                          default=0))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return f"{path.name} is not a safetensors file (its header cannot be read)"
    if 8 + length + end > size:
        return f"{path.name} is cut short ({size} of {8 + length + end} bytes)"
    return None
