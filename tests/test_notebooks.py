"""Notebooks: each .py (jupytext percent, the source of truth) has its .ipynb twin with the same
cells and no committed outputs, and opens with at most 120 words. Running them is nbmake's job
(`pytest --nbmake notebooks`); their executed copies are checked in tests/test_executed_notebooks.py."""

import re
from pathlib import Path

import jupytext
import pytest

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(p for p in NB_DIR.rglob("*.py") if ".ipynb_checkpoints" not in p.parts)


MAX_OPENER_WORDS = 120  # issue 27: the figure, and three lines on what reproduced and what did not
IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img[^>]*>")


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


def opener_text(nb) -> str:
    """A notebook's opener: every markdown cell before its first code cell."""
    text = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            break
        if cell.cell_type == "markdown":
            text.append(cell.source)
    return "\n".join(text)


def opener_words(nb) -> int:
    """Words of a notebook's opener, images left out (their alt text describes the figure, it is
    not read as prose)."""
    return len(IMAGE.sub(" ", opener_text(nb)).split())


def test_opener_word_count_by_hand():
    nb = jupytext.reads("# %% [markdown]\n# # Title\n#\n# ![a long alt text](f.png)\n"
                        "# one two three\n\n# %%\nx = 1\n\n# %% [markdown]\n# not counted\n", fmt="py:percent")
    assert opener_words(nb) == 5  # "#", "Title", "one", "two", "three"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_opener_is_short(source):
    n = opener_words(jupytext.read(source))
    assert n <= MAX_OPENER_WORDS, (
        f"{source.name} opens with {n} words before its first code cell (at most {MAX_OPENER_WORDS}): "
        "keep the figure and three lines on what reproduced; move the rest after the first code cell "
        "or into the closing \"What the study found\"")


NUMBER = re.compile(r"(?<![\w.])[-−]?\d+\.\d+")
LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")
COURSE = [s for s in SOURCES if s.parent == NB_DIR]  # the exercises' openers hold settings, not results


@pytest.mark.parametrize("source", COURSE, ids=lambda p: p.name)
def test_opener_numbers_come_from_the_files_it_links(source):
    """Issue 27: no number in a notebook disagrees with figures/. A measured number in an opener
    (one with a decimal point) must appear in a file under figures/ that the opener links to."""
    text = IMAGE.sub(" ", opener_text(jupytext.read(source)))
    linked = [(source.parent / t).resolve() for t in LINK.findall(text)]
    sources = "\n".join(p.read_text().replace("−", "-") for p in linked
                        if p.is_file() and "figures" in p.parts and p.suffix in {".md", ".json"})
    for number in NUMBER.findall(text):
        assert number.replace("−", "-") in sources, (
            f"{source.name}'s opener says {number}, which no figures/ file it links to holds: "
            "take the number from figures/ and link the file")
