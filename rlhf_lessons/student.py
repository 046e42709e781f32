"""The classroom *student edition* of the notebooks: solutions removed, outputs cleared.

The committed notebooks are the self-learner's edition: executed, with every exercise's stub
left as it is (its checker says "not done yet") and a solution in a collapsed cell tagged
`solution` after the checker (the "show me" toggle), which defines `solution_x` and grades it.
For a class, the student edition removes each solution cell and clears every output:

    python -m rlhf_lessons student-edition --out student/      # or: make student

The exercise convention every lesson follows (see `rlhf_lessons.exercises`):

    visible cell     def my_x(...):             # the stub the learner fills in
                         # YOUR CODE HERE
                         raise NotImplementedError
    checker cell     check_x(my_x);             # "⏳ not done yet" / "❌ not yet: hint" / "✅ correct"
    solution cell    def solution_x(...): ...   # tagged `solution`, collapsed: removed here
                     check_x(solution_x);
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

SOLUTION_TAG = "solution"
# nbconvert's preprocessors: one deletes the cells tagged `solution` (the learner writes in the
# stub cell, which stays), the other clears outputs, execution counts and the metadata named
# here (nbclient's timestamps among them).
REMOVE_SOLUTIONS = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG})
CLEAR_OUTPUTS = ClearOutputPreprocessor(
    remove_metadata_fields={"collapsed", "scrolled", "execution"}
)


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged `solution` (the builder's code(..., solution=True))."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with every solution cell removed and every output cleared."""
    out, _ = REMOVE_SOLUTIONS.preprocess(copy.deepcopy(nb), {})
    out, _ = CLEAR_OUTPUTS.preprocess(out, {})
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
    print(f"wrote {len(written)} notebooks to {args.out}/ ({removed} solution cells removed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
