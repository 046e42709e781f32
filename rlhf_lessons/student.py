"""The classroom *student edition* of the notebooks: solutions removed, outputs cleared.

The committed notebooks are the teacher edition: executed, with every exercise solved in a
collapsed cell tagged `solution` (the self-learner's "show me" toggle). For a class, the
student edition replaces each solution cell by an empty code cell (`# YOUR CODE HERE`) and
clears every output, so students run the lesson themselves and the checker cells answer
"not yet" until their own code is right:

    python -m rlhf_lessons student-edition --out student/      # or: make student

The exercise convention every lesson follows (see `rlhf_lessons.exercises`):

    visible cell     def my_fn(...):            # the stub the student fills in
                         # YOUR CODE HERE
                         raise NotImplementedError
    solution cell    def my_fn(...): ...        # tagged `solution`, collapsed: removed here
    checker cell     check_fn(my_fn)            # prints "✅ correct: ..." or "❌ not yet: ..."
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor

SOLUTION_TAG = "solution"
PLACEHOLDER = "# YOUR CODE HERE"
# nbconvert's preprocessor clears a code cell's outputs, execution count and the metadata named
# here (nbclient's timestamps among them). Emptying a solution is the course's own convention:
# nbconvert's TagRemovePreprocessor would delete the cell, and the student needs it to type in.
CLEAR_OUTPUTS = ClearOutputPreprocessor(
    remove_metadata_fields={"collapsed", "scrolled", "execution"}
)


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged `solution` (the builder's code(..., solution=True))."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_cell(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student-edition version of one cell.

    A solution cell becomes a code cell holding only `# YOUR CODE HERE`; it keeps its id, its
    slide type and its other tags, and is no longer collapsed. Every code cell loses its
    outputs and execution count.
    """
    if is_solution(cell):
        new = nbformat.v4.new_code_cell(PLACEHOLDER)
        if "id" in cell:
            new["id"] = cell["id"]
        meta = copy.deepcopy(dict(cell.get("metadata", {})))
        tags = [t for t in meta.pop("tags", []) if t != SOLUTION_TAG]
        if tags:
            meta["tags"] = tags
        jupyter = {k: v for k, v in meta.pop("jupyter", {}).items() if k != "source_hidden"}
        if jupyter:
            meta["jupyter"] = jupyter
        meta.pop("execution", None)
        new.metadata.update(meta)
        return new
    new, _ = CLEAR_OUTPUTS.preprocess_cell(copy.deepcopy(cell), {}, 0)
    return new


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with every solution cell emptied and every output cleared."""
    out = copy.deepcopy(nb)
    out.cells = [student_cell(cell) for cell in nb.cells]
    return out


def make_student_edition(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student edition of every `src_dir/*.ipynb` into `out_dir`; return the paths.

    Each notebook is validated against the nbformat schema before it is written.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not src_dir.is_dir():
        raise ValueError(f"src_dir must be a folder of notebooks, got {str(src_dir)!r}")
    sources = sorted(src_dir.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"src_dir {str(src_dir)!r} holds no .ipynb notebooks")
    if out_dir.resolve() == src_dir.resolve():
        raise ValueError("out_dir must differ from src_dir: the student edition would overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        nb = student_notebook(nbformat.read(path, as_version=4))
        nbformat.validate(nb)
        target = out_dir / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def _default_src() -> Path:
    """`notebooks/` under the current folder, else under the repository checkout."""
    here = Path("notebooks")
    if here.is_dir():
        return here
    from .runtime import repo_root

    return repo_root() / "notebooks"


def main(argv: list[str] | None = None) -> int:
    """`python -m rlhf_lessons student-edition [--src notebooks] [--out student]`."""
    parser = argparse.ArgumentParser(
        prog="python -m rlhf_lessons student-edition",
        description="Write the classroom student edition: solutions removed, outputs cleared.",
    )
    parser.add_argument("--src", type=Path, default=None, help="teacher notebooks (notebooks/)")
    parser.add_argument("--out", type=Path, default=Path("student"), help="output folder")
    args_in = list(argv) if argv is not None else None
    if args_in and args_in[0] == "student-edition":  # tolerate the dispatcher passing it on
        args_in = args_in[1:]
    args = parser.parse_args(args_in)
    src = args.src if args.src is not None else _default_src()
    try:
        written = make_student_edition(src, args.out)
    except ValueError as exc:
        parser.error(str(exc))
    removed = 0
    for path in written:
        removed += sum(is_solution(c) for c in nbformat.read(src / path.name, as_version=4).cells)
    print(f"wrote {len(written)} notebooks to {args.out}/ ({removed} solution cells emptied)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
