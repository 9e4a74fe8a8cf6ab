"""Notebooks: each .py (jupytext percent, the source of truth) has its .ipynb twin with the same
cells and no committed outputs. Running them is nbmake's job (`pytest --nbmake notebooks`)."""

from pathlib import Path

import jupytext
import pytest

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(p for p in NB_DIR.rglob("*.py") if ".ipynb_checkpoints" not in p.parts)


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks():
    assert SOURCES, "no jupytext notebooks found in notebooks/"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_pair_in_sync_and_without_outputs(source):
    twin = source.with_suffix(".ipynb")
    assert twin.exists(), f"{twin.name} is missing: run `jupytext --sync {source}`"
    py, ipynb = jupytext.read(source), jupytext.read(twin)
    assert _cells(py) == _cells(ipynb), (
        f"{source.name} and {twin.name} differ: edit the .py, then `jupytext --sync {source}`")
    for cell in ipynb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"{twin.name} has committed outputs: clear them (jupytext --sync regenerates it)")
