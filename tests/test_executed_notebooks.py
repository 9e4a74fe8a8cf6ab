"""Executed copies of the notebooks (`notebooks/executed/`, made by `scripts/execute_notebooks.py`)
show their figures and outputs on the web without running anything. Their inputs must never
drift from the sources: a copy records the SHA-256 of the `.py` it was run from, and this test
fails when a copy is missing or its source has changed since (it is older than its source).

Copies not made yet are allowed only while ``NOT_YET_EXECUTED`` names them: the list is the
to-do, and a name must leave it once its copy exists.
"""

import hashlib
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import execute_notebooks as ex  # noqa: E402  (the tool itself: where copies live, how sources are found)

# Sources without an executed copy yet, by path under notebooks/ (a to-do list: empty when every
# notebook's copy has been made, as now).
NOT_YET_EXECUTED: set[str] = set()
SOURCES = ex.sources()


def _name(source: Path) -> str:
    return source.relative_to(ex.NOTEBOOKS).with_suffix("").as_posix()


def test_sources_are_the_paired_notebooks():
    assert SOURCES and all(s.with_suffix(".ipynb").exists() for s in SOURCES)
    assert not list(ex.EXECUTED.rglob("*.py")), "notebooks/executed/ holds copies only, never sources"


def test_allow_list_names_real_notebooks():
    unknown = NOT_YET_EXECUTED - {_name(s) for s in SOURCES}
    assert not unknown, f"NOT_YET_EXECUTED names no notebook source: {sorted(unknown)}"


@pytest.mark.parametrize("source", SOURCES, ids=_name)
def test_executed_copy_is_present_and_made_from_the_current_source(source):
    copy = ex.executed_path(source)
    rel = copy.relative_to(ROOT).as_posix()
    if _name(source) in NOT_YET_EXECUTED:
        assert not copy.exists(), f"{rel} exists: take {_name(source)!r} off NOT_YET_EXECUTED"
        pytest.skip(f"no executed copy yet (NOT_YET_EXECUTED): {rel}")
    fix = f"run `python scripts/execute_notebooks.py {_name(source)}` and commit {rel}"
    assert copy.exists(), f"{rel} is missing: {fix}"
    nb = nbformat.read(copy, as_version=4)
    meta = nb.metadata.get("masa_lite", {})
    assert meta.get("source") == source.relative_to(ROOT).as_posix(), f"{rel} was made from another source"
    assert meta.get("source_sha256") == hashlib.sha256(source.read_bytes()).hexdigest(), (
        f"{rel} is older than {source.name} (its recorded source hash differs): {fix}")
    code = [c.source.strip() for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert [c.source.strip() for c in nb.cells if c.cell_type == "code"] == code, f"{rel}: code differs from its source"
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{rel} has no outputs"
    text = copy.read_text()
    for local in {str(ROOT), str(Path.home()), tempfile.gettempdir() + "/"} - {"/"}:
        assert local not in text, f"{rel} holds an absolute path of the machine that made it ({local})"


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """A source path in a throwaway notebooks folder, with the tool pointed at it."""
    src = tmp_path / "nb" / "x.py"
    src.parent.mkdir()
    monkeypatch.setattr(ex, "NOTEBOOKS", src.parent)
    monkeypatch.setattr(ex, "EXECUTED", src.parent / "executed")
    return src


def test_a_changed_source_is_stale(throwaway):
    """The staleness rule on a throwaway notebook: fresh after a copy is recorded, stale after an edit."""
    src = throwaway
    src.write_text("# %%\nprint(1)\n")
    copy = ex.executed_path(src)
    assert ex.is_stale(src)  # no copy
    copy.parent.mkdir()
    nb = jupytext.read(src)
    nb.metadata["masa_lite"] = {"source_sha256": ex.source_hash(src)}
    nbformat.write(nb, copy)
    assert not ex.is_stale(src)
    src.write_text("# %%\nprint(2)\n")
    assert ex.is_stale(src)


def test_a_prose_only_edit_keeps_the_outputs_and_a_code_edit_needs_a_run(throwaway):
    """refresh_prose: new markdown (a cell added too) over the old outputs when the code is the
    same, recorded as fresh; nothing done when a code cell changed."""
    src = throwaway
    src.write_text("# %% [markdown]\n# old words\n\n# %%\nprint(1)\n")
    copy = ex.executed_path(src)
    assert ex.refresh_prose(src) is None  # no copy yet
    copy.parent.mkdir()
    nb = jupytext.read(src)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.metadata["masa_lite"] = {"source_sha256": ex.source_hash(src), "seconds": 3.0}
    nb.metadata["widgets"] = {"state": {"w1": 1}}
    code.metadata["execution"] = {"start": "t0"}
    nbformat.write(nb, copy)
    src.write_text("# %% [markdown]\n# new words\n\n# %% [markdown]\n# and more\n\n# %%\nprint(1)\n")
    assert ex.is_stale(src)
    assert ex.refresh_prose(src) == copy and not ex.is_stale(src)
    got = nbformat.read(copy, as_version=4)
    assert [c.source for c in got.cells if c.cell_type == "markdown"] == ["new words", "and more"]
    (ran,) = [c for c in got.cells if c.cell_type == "code"]
    assert ran.outputs[0]["text"] == "1\n" and got.metadata["masa_lite"]["seconds"] == 3.0
    assert got.metadata["widgets"] == {"state": {"w1": 1}}  # saved widget views stay
    assert ran.metadata["execution"] == {"start": "t0"} and "jupytext" not in got.metadata
    src.write_text("# %% [markdown]\n# new words\n\n# %%\nprint(2)\n")
    assert ex.refresh_prose(src) is None and ex.is_stale(src)
