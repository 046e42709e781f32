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


def test_prose_cells_are_collapsed_and_experiments_are_not():
    """Issue 12, item 6: a cell that only computes a sentence for display(Markdown(...)) shows
    its sentence, not its code; a cell that trains, plots or prints a table stays open."""
    prose = 'best = max(rows)\nassert best > 0\ndisplay(Markdown(\n    f"The best run reached {best:.2f}, which is more than every other method reached in this table on the same budget."\n))'
    table = "rows = [run_method(world, m) for m in methods]\ndisplay(Markdown(format_table(rows)))"
    loop = 'for r in rows:\n    print(r)\ndisplay(Markdown(f"{len(rows)} rows, one per method, each evaluated on the same held-out prompts."))'
    assert notebook_builder.is_prose_cell(prose)
    assert not notebook_builder.is_prose_cell(table)  # the table is the lesson: keep it open
    assert not notebook_builder.is_prose_cell(loop)
    assert not notebook_builder.is_prose_cell("display(Markdown(")  # not Python: left alone
    cell = notebook_builder.derive_metadata(nbformat.v4.new_code_cell(prose))
    assert cell.metadata["jupyter"] == {"source_hidden": True}
    hidden = 0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for c in nbformat.read(path, as_version=4).cells:
            if c.cell_type == "code" and notebook_builder.is_prose_cell(c.source):
                assert c.metadata.get("jupyter", {}).get("source_hidden"), (path.name, c.source)
                hidden += 1
    assert hidden >= 15
