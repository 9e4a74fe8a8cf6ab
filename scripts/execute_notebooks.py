"""Execute the notebooks on the tiny profile and keep executed copies apart from their sources.

The sources are the jupytext `.py` files in `notebooks/` (each with its output-free `.ipynb`
twin, `tests/test_notebooks.py`). A student reading the repository on the web sees nothing in an
output-free notebook, so this writes, for every source, an executed copy under
`notebooks/executed/` (same relative path, `.ipynb`) with its figures and printed outputs, as a
run on the `tiny` profile produced them. Each copy records in its metadata (`masa_lite`) the
SHA-256 of the source it was made from; `tests/test_executed_notebooks.py` fails when a copy is
missing or its source has changed since.

Each notebook runs in its own kernel with its own folder as the working directory, as nbmake runs
it, in the order 00 … 08, then the exercises and their solutions (04, 05 and 07 share their runs
through `notebooks/runs/tutorial/`). Absolute paths of this machine are removed from the outputs.
Run it after changing a notebook (one notebook takes seconds to minutes; all of them about 20
minutes on 2 cores):

    OMP_NUM_THREADS=1 python scripts/execute_notebooks.py                   # every notebook
    OMP_NUM_THREADS=1 python scripts/execute_notebooks.py 01_tasks_and_verification
    OMP_NUM_THREADS=1 python scripts/execute_notebooks.py --only-stale      # prose-only edits: no run
    python scripts/execute_notebooks.py --stale                              # list, run nothing
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from masa_lite.files import atomic_target

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = NOTEBOOKS / "executed"
PROFILE = "tiny"
CELL_TIMEOUT_S = 1800
LINK = re.compile(r"(\]\(|<img [^>]*src=\")([^)\"#:]+)((?:#[^)\"]*)?[)\"])")  # relative links only


def sources() -> list[Path]:
    """Every notebook source, in the order a course reads them (and runs them: 04 before 05, 07)."""
    found = [p for p in NOTEBOOKS.rglob("*.py")
             if ".ipynb_checkpoints" not in p.parts and EXECUTED not in p.parents]
    return sorted(found, key=lambda p: (len(p.relative_to(NOTEBOOKS).parts), p.as_posix()))


def source_hash(source: Path) -> str:
    """The SHA-256 of a source's bytes: any change to the `.py` makes its executed copy stale."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def executed_path(source: Path) -> Path:
    return EXECUTED / source.relative_to(NOTEBOOKS).with_suffix(".ipynb")


def recorded_hash(copy: Path) -> str | None:
    """The source hash an executed copy was made from (None without a copy or a record)."""
    if not copy.exists():
        return None
    return nbformat.read(copy, as_version=4).metadata.get("masa_lite", {}).get("source_sha256")


def is_stale(source: Path) -> bool:
    return recorded_hash(executed_path(source)) != source_hash(source)


def _rebase_links(text: str, source: Path, copy: Path) -> str:
    """Relative links and images of a markdown cell, rewritten to point from the copy's folder."""
    def fix(m):
        target = (source.parent / m.group(2)).resolve()
        return m.group(1) + Path(os.path.relpath(target, copy.parent)).as_posix() + m.group(3)
    return LINK.sub(fix, text)


# a warning raised in a cell names the kernel's temporary file for it, e.g. /tmp/ipykernel_123/456.py
KERNEL_CELL = re.compile(r"[^\s\"']*/ipykernel_\d+/\d+\.py")


def _scrub(value, replacements):
    """``value`` (an output, recursively) with this machine's absolute paths replaced."""
    if isinstance(value, str):
        value = KERNEL_CELL.sub("<cell>", value)
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_scrub(v, replacements) for v in value]
    if isinstance(value, dict):
        return type(value)((k, _scrub(v, replacements)) for k, v in value.items())
    return value


def _replacements() -> list[tuple[str, str]]:
    pairs = [(sys.prefix, "<venv>"), (str(ROOT) + "/", ""), (str(ROOT), "."), (str(Path.home()), "~"),
             (tempfile.gettempdir() + "/", "<tmp>/")]
    return [(old, new) for old, new in pairs if old and old != "/"]


def execute(source: Path) -> tuple[Path, float]:
    """Run ``source`` in a fresh kernel on the tiny profile and write its executed copy."""
    copy = executed_path(source)
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)  # a copy is not a jupytext pair: Jupyter must not write a .py beside it
    os.environ["MASA_LITE_PROFILE"] = PROFILE  # the kernel inherits it
    start = time.time()
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(source.parent)}}).execute()
    seconds = time.time() - start
    replacements = _replacements()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _scrub(cell.outputs, replacements)
    nb.metadata["masa_lite"] = {
        "source": source.relative_to(ROOT).as_posix(),
        "source_sha256": source_hash(source),
        "profile": PROFILE,
        "seconds": round(seconds, 1),
        "made_by": "python scripts/execute_notebooks.py",
    }
    _write_copy(nb, source, copy)
    return copy, seconds


def _write_copy(nb, source: Path, copy: Path) -> None:
    """Write an executed copy: its markdown links rebased to the copy's folder, atomically."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _rebase_links(cell.source, source, copy)
    with atomic_target(copy) as tmp:
        nbformat.write(nb, tmp)


def refresh_prose(source: Path) -> Path | None:
    """Bring a stale copy up to date without running it, when only the prose changed: if the
    source's code cells are the copy's, in order, the copy takes the source's markdown (links
    rebased) and keeps each code cell's outputs, and records the new source hash. Outputs depend
    on the code alone, so they are what a run would print. Returns the copy, or None (the code
    changed, or there is no copy): then it must be executed."""
    copy = executed_path(source)
    if not copy.exists():
        return None
    old = nbformat.read(copy, as_version=4)
    new = jupytext.read(source)
    old_code = [c for c in old.cells if c.cell_type == "code"]
    new_code = [c for c in new.cells if c.cell_type == "code"]
    if [c.source.strip() for c in old_code] != [c.source.strip() for c in new_code]:
        return None
    for cell, ran in zip(new_code, old_code):  # the run's outputs, ids and timings
        cell.outputs, cell.execution_count = ran.outputs, ran.get("execution_count")
        cell.metadata, cell.id = ran.metadata, ran.get("id", cell.get("id"))
    new.metadata = old.metadata  # kernel, language and the widgets' saved state
    new.metadata.pop("jupytext", None)  # a copy is not a jupytext pair
    new.metadata["masa_lite"] = dict(old.metadata.get("masa_lite", {}),
                                     source_sha256=source_hash(source), prose_refreshed=True)
    _write_copy(new, source, copy)
    return copy


def _select(names: list[str]) -> list[Path]:
    every = sources()
    if not names:
        return every
    chosen = []
    for name in names:
        hits = [p for p in every if name in (p.stem, p.name, p.relative_to(NOTEBOOKS).with_suffix("").as_posix())]
        if not hits:
            raise SystemExit(f"execute_notebooks: no notebook source named {name!r} in notebooks/")
        chosen += hits
    return chosen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="notebook stems, e.g. 01_tasks_and_verification or "
                                             "exercises/solutions/ex1_group_advantage (default: all)")
    ap.add_argument("--stale", action="store_true", help="only list the sources whose copy is missing or stale")
    ap.add_argument("--only-stale", action="store_true", help="execute only the missing or stale ones; a "
                    "stale copy whose source changed only in its prose is refreshed without running")
    args = ap.parse_args(argv)
    chosen = _select(args.names)
    if args.stale or args.only_stale:
        chosen = [s for s in chosen if is_stale(s)]
    if args.stale:
        for s in chosen:
            print(s.relative_to(ROOT).as_posix())
        return 0
    for s in chosen:
        if args.only_stale and refresh_prose(s):
            print(f"{s.relative_to(ROOT).as_posix()}: prose refreshed (its code is unchanged)", flush=True)
            continue
        print(f"{s.relative_to(ROOT).as_posix()} …", flush=True)
        copy, seconds = execute(s)
        print(f"  → {copy.relative_to(ROOT).as_posix()} ({seconds:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
