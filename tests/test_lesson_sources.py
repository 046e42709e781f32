"""Lesson sources (issue 15, item 4): every lessons/NN_*.py is jupytext py:percent that round-trips,
is ruff-clean, and builds exactly the cells (type, source, metadata) of its committed notebook."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import notebook_builder  # noqa: E402

SOURCES = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))


def test_there_are_lesson_sources():
    assert len(SOURCES) >= 8, "lessons/ lost its py:percent sources"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_a_source_is_py_percent_and_round_trips(path):
    text = path.read_text()
    nb = jupytext.reads(text, fmt="py:percent")
    assert nb.cells, f"{path.name}: no cells"
    assert "lesson" in nb.metadata and "notebook" in nb.metadata["lesson"], (
        f"{path.name}: the YAML header needs lesson.notebook (the .ipynb it builds)"
    )
    again = jupytext.reads(jupytext.writes(nb, fmt="py:percent"), fmt="py:percent")
    assert [(c.cell_type, c.source, dict(c.metadata)) for c in again.cells] == [
        (c.cell_type, c.source, dict(c.metadata)) for c in nb.cells
    ], f"{path.name}: writing and reading it back changes its cells"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_a_source_builds_its_committed_notebook(path):
    number = path.name[:2]
    assert notebook_builder.find_source(number) == path
    assert notebook_builder.check([number]) == []


def test_every_source_is_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    done = subprocess.run(
        [ruff, "check", "--no-cache", "lessons"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_builder_fills_in_slides_and_collapsed_solutions():
    nb = jupytext.reads(
        '# %% [markdown]\n# hi\n\n# %% tags=["solution"]\nx = 1\n', fmt="py:percent"
    )
    cells = [notebook_builder.derive_metadata(c) for c in nb.cells]
    assert cells[0].metadata == {"slideshow": {"slide_type": "-"}}
    assert cells[1].metadata == {
        "tags": ["solution"],
        "slideshow": {"slide_type": "-"},
        "jupyter": {"source_hidden": True},
    }


def test_the_check_names_a_stale_notebook(tmp_path, monkeypatch):
    source = SOURCES[0]
    name = jupytext.read(source).metadata["lesson"]["notebook"]
    stale = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    stale.cells[5].source += "\n# edited by hand"
    nbformat.write(stale, tmp_path / name)
    monkeypatch.setattr(notebook_builder, "NOTEBOOKS", tmp_path)
    (problem,) = notebook_builder.check([source.name[:2]])
    assert "cell 5 differs" in problem and f"LESSONS={source.name[:2]}" in problem
