"""Build the lesson notebooks from their sources, with the course's conventions baked in, and
execute them top to bottom (nbclient, a finite timeout).

A lesson's source is a jupytext py:percent file, lessons/NN_name.py (issue 15, item 4): `# %%`
cells, `# %% [markdown]` cells, tags and other metadata in the cell header, and a YAML header
with the notebook's file name, title and "you will learn" list (the string-list scripts that
scripts/lessons_to_percent.py converted are deleted; record_script stays for that converter).
This file adds only what jupytext, nbconvert and nbclient do not (DESIGN.md conventions):

- cells 1-3 of every lesson: title + Colab badge, a Colab install cell (a no-op when the package
  is installed), and an environment report;
- every cell carries metadata.slideshow.slide_type ("-" when the source names none);
- exercise solutions: tag `solution`, collapsed (jupyter.source_hidden);
- prose cells (code that only computes and prints a sentence with display(Markdown(...)), plus
  its asserts): collapsed too, so a learner reads the sentence, not the scaffolding; the code is
  one click away (issue 12, item 6);
- a cell meant to raise: tag `raises-exception`; its stored error keeps "Name: message" only;
- markdown never types in a measured number: a code cell prints it with display(Markdown(...)).

    python scripts/notebook_builder.py              # build and execute every lesson
    python scripts/notebook_builder.py 09 10        # some
    python scripts/notebook_builder.py --check      # committed notebooks' sources = the sources
"""

from __future__ import annotations

import argparse
import ast
import re
import runpy
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LESSONS = ROOT / "lessons"  # jupytext py:percent sources


def repository_url() -> str:
    """The repository URL, kept in one place: pyproject's project.urls.Repository."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["project"]["urls"]["Repository"].rstrip("/")


def colab_url(notebook_name: str) -> str:
    owner_repo = re.sub(r"^https://github.com/", "", repository_url())
    return (
        f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{notebook_name}"
    )


INSTALL_CELL = """\
# On Colab (or any fresh kernel) this installs the course; where it is installed it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("rlhf_lessons") is None:
    subprocess.run(["git", "clone", "-q", "{repo}", "rlhf-lessons"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "rlhf-lessons"], check=True)
    sys.path.insert(0, os.path.abspath("rlhf-lessons"))
    os.chdir("rlhf-lessons/notebooks")"""

ENV_CELL = """\
# NBVAL_IGNORE_OUTPUT
import rlhf_lessons
from rlhf_lessons.runtime import environment_report

rlhf_lessons.set_threads()  # one torch thread unless RLHF_LESSONS_THREADS says otherwise
print(environment_report())"""


def md(source: str, slide: str = "-", **meta) -> nbformat.NotebookNode:
    """A markdown cell. slide: 'slide', 'subslide', 'fragment', '-' (continue) or 'skip'."""
    cell = nbformat.v4.new_markdown_cell(source.strip("\n"))
    cell.metadata["slideshow"] = {"slide_type": slide}
    cell.metadata.update(meta)
    return cell


def code(
    source: str,
    slide: str = "-",
    *,
    solution: bool = False,
    raises: bool = False,
    tags: list[str] | None = None,
) -> nbformat.NotebookNode:
    """A code cell. solution=True tags it `solution` and collapses it; raises=True tags
    `raises-exception` (for cells whose error is the lesson)."""
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    cell.metadata["slideshow"] = {"slide_type": slide}
    all_tags = list(tags or [])
    if solution:
        all_tags.append("solution")
        cell.metadata["jupyter"] = {"source_hidden": True}
    if raises:
        all_tags.append("raises-exception")
    if all_tags:
        cell.metadata["tags"] = all_tags
    return cell


def header(name: str, title: str, learn: list[str]) -> list[nbformat.NotebookNode]:
    """Title with Colab badge and 'you will learn' list, install cell, environment report."""
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(name)})"
    bullets = "\n".join(f"- {item}" for item in learn)
    return [
        md(f"# {title}\n\n{badge}\n\n**You will learn**\n\n{bullets}", slide="slide"),
        code(INSTALL_CELL.format(repo=repository_url() + ".git"), slide="skip"),
        code(ENV_CELL, slide="skip"),
    ]


def coalesce_streams(outputs: list) -> list:
    """One stream output per run of prints of one name, and a progress bar stored as its last
    state (what a terminal shows after each carriage return): nbconvert's preprocessor."""
    cell = nbformat.v4.new_code_cell(outputs=outputs)
    cell, _ = CoalesceStreamsPreprocessor().preprocess_cell(cell, {}, 0)
    return cell.outputs


def build(name: str, cells: list, *, execute: bool = True, timeout: int = 600) -> Path:
    """Write notebooks/<name> from `cells` and execute it top to bottom (cwd = notebooks/)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = cells
    path = NOTEBOOKS / name
    if execute:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
            record_timing=True,  # cell timestamps: tests/test_teaching_guide.py reads run times from them
        )
        client.execute()
        for cell in nb.cells:
            if "outputs" in cell:
                cell["outputs"] = coalesce_streams(cell["outputs"])
        for cell in nb.cells:  # a lesson's intended error: keep "Name: message", not the frames
            for out in cell.get("outputs", []):  # (frames hold paths of this machine)
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out['ename']}: {out['evalue']}"]
    for i, cell in enumerate(nb.cells):  # stable cell ids keep diffs of rebuilt notebooks small
        cell["id"] = f"c{i:03d}"
    nbformat.write(nb, path)
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return path


# ── lesson sources ────────────────────────────────────────────────────────────────────────────


def _shows_markdown(stmt: ast.stmt) -> bool:
    """`display(Markdown(...))` as a statement."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and getattr(call.func, "id", None) == "display"
        and bool(call.args)
        and isinstance(call.args[0], ast.Call)
        and getattr(call.args[0].func, "id", None) == "Markdown"
    )


def is_prose_cell(source: str) -> bool:
    """A code cell that exists to print prose: only imports, assignments, asserts and
    display(Markdown(...)), the last of which writes a sentence (>= 80 characters of literal
    text, so a table printed by display(Markdown(format_table(rows))) stays visible)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    shows = [s for s in body if _shows_markdown(s)]
    if not shows:
        return False
    text = sum(
        len(n.value)
        for n in ast.walk(shows[-1])
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )
    simple = (ast.Assign, ast.AugAssign, ast.Assert, ast.Import, ast.ImportFrom)
    return text >= 80 and all(isinstance(s, simple) or _shows_markdown(s) for s in body)


def derive_metadata(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Fill in what a py:percent cell leaves out: slide_type "-", and a collapsed solution or
    prose cell."""
    cell.metadata.setdefault("slideshow", {"slide_type": "-"})
    if "solution" in cell.metadata.get("tags", []) or (
        cell.cell_type == "code" and is_prose_cell(cell.source)
    ):
        cell.metadata.setdefault("jupyter", {"source_hidden": True})
    return cell


def read_percent(path: Path) -> tuple[str, list[nbformat.NotebookNode], dict]:
    """(notebook name, every cell with the header's, build() options) of a py:percent source."""
    nb = jupytext.read(path, fmt="py:percent")
    lesson = nb.metadata.get("lesson")
    if not lesson or "notebook" not in lesson:
        raise SystemExit(f"{path}: its YAML header has no lesson.notebook (the .ipynb name)")
    cells = [derive_metadata(c) for c in nb.cells]
    for cell in cells:  # a fresh cell of the notebook format, without jupytext's leftovers
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if "title" in lesson:
        cells = header(lesson["notebook"], lesson["title"], lesson["learn"]) + cells
    return lesson["notebook"], cells, dict(lesson.get("build", {}))


def record_script(script: Path) -> dict:
    """Run a string-list lesson script with build() (and header()) recorded, not executed.

    Returns {"name", "cells" (all of them), "build" (its keyword arguments), "header" (the
    header() arguments and cells, or None)}.
    """
    module = sys.modules[__name__]
    seen: dict = {"header": None}
    real_header, real_build = module.header, module.build

    def recording_header(name, title, learn):
        cells = real_header(name, title, learn)
        seen["header"] = {"title": title, "learn": list(learn), "cells": cells}
        return cells

    def recording_build(name, cells, **kwargs):
        seen.update(name=name, cells=list(cells), build=kwargs)

    # the scripts import this file as `notebook_builder`, also when it runs as __main__
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    targets = {module, sys.modules.setdefault("notebook_builder", module)}
    for m in targets:
        m.header, m.build = recording_header, recording_build
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        for m in targets:
            m.header, m.build = real_header, real_build
    if "cells" not in seen:
        raise SystemExit(f"{script}: never calls build(NAME, cells)")
    return seen


def find_source(number: str) -> Path:
    """lessons/NN_*.py, the one source of lesson NN."""
    number = number.zfill(2)
    found = sorted(LESSONS.glob(f"{number}_*.py"))
    if len(found) > 1:
        raise SystemExit(f"lesson {number}: two sources, {', '.join(map(str, found))}")
    if found:
        return found[0]
    raise SystemExit(f"lesson {number}: no lessons/{number}_*.py")


def all_numbers() -> list[str]:
    return sorted({p.name[:2] for p in LESSONS.glob("[0-9][0-9]_*.py")})


def load_source(path: Path) -> tuple[str, list[nbformat.NotebookNode], dict]:
    """(notebook name, cells, build() options) of a lesson's py:percent source."""
    return read_percent(path)


def comparable(cells: list) -> list[tuple]:
    """What a source decides about a cell: its type, source and metadata (not the timestamps
    nbclient records when it executes the cell)."""
    return [
        (c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k != "execution"})
        for c in cells
    ]


def shown(path: Path) -> str:
    """A path as the repository names it (or whole, when it lies elsewhere)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def check(numbers: list[str]) -> list[str]:
    """Problems: committed notebooks whose cells (type, source, metadata) differ from the source."""
    problems = []
    for number in numbers:
        source = find_source(number)
        name, cells, _ = load_source(source)
        path = NOTEBOOKS / name
        if not path.exists():
            problems.append(f"{shown(path)}: missing (built from {source.name})")
            continue
        committed = nbformat.read(path, as_version=4).cells
        want, have = comparable(cells), comparable(committed)
        if want == have:
            continue
        where = next(
            (i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b),
            min(len(want), len(have)),
        )
        problems.append(
            f"{shown(path)}: cell {where} differs from {shown(source)} "
            f"({len(have)} cells committed, {len(want)} in the source); rebuild it: "
            f"make notebooks LESSONS={number}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers, e.g. 03 09 (default: all)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="build nothing: fail when a committed notebook's cells differ from its source",
    )
    parser.add_argument(
        "--no-execute", action="store_true", help="write the notebooks without running them"
    )
    parser.add_argument("--timeout", type=int, default=None, help="cell timeout in seconds")
    args = parser.parse_args(argv)
    numbers = args.lessons or all_numbers()
    if args.check:
        problems = check(numbers)
        for line in problems:
            print(line, file=sys.stderr)
        if not problems:
            print(f"ok: {len(numbers)} notebooks match their sources", file=sys.stderr)
        return 1 if problems else 0
    for number in numbers:
        name, cells, options = load_source(find_source(number))
        if args.timeout is not None:
            options["timeout"] = args.timeout
        build(name, cells, execute=not args.no_execute, **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
