"""The classroom student edition (rlhf_lessons.student): solutions gone, and it still runs.

For every lesson with an exercise, the student edition must be valid nbformat, contain no
solution source, execute top to bottom without an error (the stubs raise NotImplementedError,
which the checkers turn into "not done yet"), and every checker cell that says "⏳ not done yet"
in the committed edition must say so in the student edition too. Executing a lesson takes its
full run time, so the test is parametrised per notebook (pytest-xdist spreads them).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from processes import execute_notebook

from rlhf_lessons.student import is_solution, main, make_student_edition

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = Path(os.environ.get("RLHF_LESSONS_NOTEBOOKS", ROOT / "notebooks"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WITH_EXERCISE = [
    p for p in NOTEBOOKS if any(is_solution(c) for c in nbformat.read(p, as_version=4).cells)
]


def _texts(cell) -> str:
    """All the text a code cell's outputs show."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def _toy_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    stub = nbformat.v4.new_code_cell(
        "def my_f():\n    # YOUR CODE HERE\n    raise NotImplementedError"
    )
    check = nbformat.v4.new_code_cell("print(my_f())")
    check.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    check.execution_count = 3
    solution = nbformat.v4.new_code_cell("def solution_f():\n    return 42  # the secret answer")
    solution.metadata.update(
        tags=["solution", "keep-me"],
        jupyter={"source_hidden": True},
        slideshow={"slide_type": "fragment"},
    )
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), stub, check, solution]
    return nb


def test_builder_removes_solutions_and_clears_outputs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_toy_notebook(), src / "01_toy.ipynb")
    (written,) = make_student_edition(src, tmp_path / "out")
    nb = nbformat.read(written, as_version=4)
    nbformat.validate(nb)
    assert len(nb.cells) == 3  # the solution cell is gone
    assert nb.cells[1].source.startswith("def my_f():")  # the visible stub stays
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    assert "secret answer" not in written.read_text()


def test_builder_rejects_bad_folders(tmp_path):
    with pytest.raises(ValueError, match="src_dir"):
        make_student_edition(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ValueError, match="no .ipynb"):
        make_student_edition(tmp_path, tmp_path / "out")
    nbformat.write(_toy_notebook(), tmp_path / "01_toy.ipynb")
    with pytest.raises(ValueError, match="overwrite"):
        make_student_edition(tmp_path, tmp_path)


def test_command_line(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_toy_notebook(), src / "01_toy.ipynb")
    assert main(["student-edition", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "wrote 1 notebooks" in (said := capsys.readouterr().out), said
    assert "1 solution cells removed" in said
    assert (tmp_path / "out" / "01_toy.ipynb").exists()


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    if not NOTEBOOKS:
        pytest.skip(f"no notebooks in {NOTEBOOK_DIR}")
    out = tmp_path_factory.mktemp("student")
    make_student_edition(NOTEBOOK_DIR, out)
    return out


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two tries of up to 480 s each (processes.py)
@pytest.mark.parametrize("path", WITH_EXERCISE, ids=[p.stem for p in WITH_EXERCISE])
def test_student_edition_runs_and_says_not_yet(path, student_dir, tmp_path):
    teacher = nbformat.read(path, as_version=4)
    student = nbformat.read(student_dir / path.name, as_version=4)
    nbformat.validate(student)
    kept = [c for c in teacher.cells if not is_solution(c)]
    assert [c.id for c in student.cells] == [c.id for c in kept], "only solutions are removed"

    student_text = "\n".join(c.source for c in student.cells)
    for i, cell in enumerate(teacher.cells):
        if is_solution(cell):
            assert cell.source.strip() not in student_text, f"{path.name} cell {i} leaked"
    assert not any(is_solution(c) for c in student.cells)

    # the learner's checkers: they say "not done yet" in the committed (self-learner's) edition
    checkers = [i for i, c in enumerate(student.cells) if "⏳ not done yet" in _texts(kept[i])]
    assert checkers, f"{path.name}: no checker prints '⏳ not done yet' in the committed edition"

    # in its own process, with a deadline (fails naming the cell if the student edition crashes)
    ran = execute_notebook(student_dir / path.name, tmp_path / path.name, cwd=NOTEBOOK_DIR)
    student = nbformat.read(ran, as_version=4)

    for i in checkers:
        said = _texts(student.cells[i])
        assert "⏳ not done yet" in said, (
            f"{path.name} cell {i}: the checker says {said.strip()[:200]!r} in the student "
            "edition, expected '⏳ not done yet: ...' (does it handle NotImplementedError?)"
        )
