"""Convert the string-list lesson scripts (scripts/lessons/lessonNN.py) into jupytext py:percent
sources (lessons/NN_name.py), losslessly, and check that they build the same cells.

Issue 15, item 4: a lesson's code is ordinary Python that ruff lints and an editor highlights,
instead of a string inside a list. The conversion runs the old script with `build()` replaced by
a recorder, so whatever the script computes (f-strings, loops, shared constants) ends up as the
cell it produced; then it writes each cell as `# %%` (code) or `# %% [markdown]`, with every
metadata key in the cell header except the two the builder derives (DESIGN.md conventions):

- `slideshow.slide_type`: written only when it is not "-" (the builder's default);
- `jupyter.source_hidden`: written only when it is not what the `solution` tag implies.

The header cells (title + badge, install cell, environment report) are not written: the source
keeps `title` and `learn` in its YAML header and the builder regenerates them.

    python scripts/lessons_to_percent.py            # convert every scripts/lessons/lessonNN.py
    python scripts/lessons_to_percent.py 09 10      # convert some
    python scripts/lessons_to_percent.py --check    # the two sources give the same cells

Re-runnable: run it again after editing a scripts/lessons/ file (it overwrites lessons/NN_*.py).
Once a lesson lives in lessons/, delete its scripts/lessons/ script and edit the .py:percent file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

import notebook_builder  # noqa: E402
from notebook_builder import comparable  # noqa: E402

ROOT = notebook_builder.ROOT
OLD = SCRIPTS / "lessons"
NEW = ROOT / "lessons"


def record_lesson(script: Path) -> dict:
    """Run an old-format lesson script with build() and header() recorded instead of executed.

    Returns {"name", "title", "learn", "cells" (without the header's cells), "build" (kwargs)}.
    """
    seen = notebook_builder.record_script(script)
    cells, head = seen["cells"], seen["header"]
    if head is not None:
        n = len(head["cells"])
        if [id(c) for c in cells[:n]] != [id(c) for c in head["cells"]]:
            raise SystemExit(f"{script}: header(...) must give the first cells")
        cells = cells[n:]
    return {
        "name": seen["name"],
        "title": head["title"] if head else None,
        "learn": head["learn"] if head else None,
        "cells": cells,
        "build": seen["build"],
    }


def source_metadata(cell: nbformat.NotebookNode) -> dict:
    """The cell's metadata minus what notebook_builder.derive_metadata() puts back."""
    meta = {k: v for k, v in cell.metadata.items()}
    if meta.get("slideshow") == {"slide_type": "-"}:
        del meta["slideshow"]
    if "solution" in meta.get("tags", []) and meta.get("jupyter") == {"source_hidden": True}:
        del meta["jupyter"]
    return meta


def to_percent(lesson: dict) -> str:
    """The py:percent text of one recorded lesson."""
    nb = nbformat.v4.new_notebook()
    head = {"notebook": lesson["name"]}
    if lesson["title"] is not None:
        head["title"] = lesson["title"]
        head["learn"] = lesson["learn"]
    if lesson["build"]:
        head["build"] = lesson["build"]
    nb.metadata = {
        "jupytext": {"cell_metadata_filter": "all", "notebook_metadata_filter": "lesson"},
        "lesson": head,
    }
    for i, cell in enumerate(lesson["cells"]):
        bad = sorted({hex(ord(ch)) for ch in cell.source if ord(ch) < 32 and ch not in "\n\t"})
        if bad:  # a "\f" in a non-raw string is a form feed; py:percent would split the line
            raise SystemExit(
                f"{lesson['name']}: cell {i + 3} holds control characters {', '.join(bad)} "
                "(an unescaped backslash? write \\f or use a raw string)"
            )
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source)
        else:
            new = nbformat.v4.new_code_cell(cell.source)
        new.metadata = source_metadata(cell)
        nb.cells.append(new)
    return jupytext.writes(nb, fmt="py:percent")


def target(name: str) -> Path:
    return NEW / (Path(name).stem + ".py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: every lessonNN.py)")
    parser.add_argument(
        "--check", action="store_true", help="compare cells built from both sources; write nothing"
    )
    args = parser.parse_args(argv)
    scripts = sorted(OLD.glob("lesson[0-9][0-9].py"))
    if args.lessons:
        scripts = [OLD / f"lesson{n.zfill(2)}.py" for n in args.lessons]
        missing = [str(s) for s in scripts if not s.exists()]
        if missing:
            parser.error(f"lessons: no such script {', '.join(missing)}")
    NEW.mkdir(exist_ok=True)
    bad = 0
    for script in scripts:
        lesson = record_lesson(script)
        path = target(lesson["name"])
        if not args.check:
            path.write_text(to_percent(lesson))
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
        old_cells = notebook_builder.record_script(script)["cells"]
        new_name, new_cells, new_build = (
            notebook_builder.read_percent(path) if path.exists() else (None, [], {})
        )
        same = (
            new_name == lesson["name"]
            and new_build == lesson["build"]
            and comparable(old_cells) == comparable(new_cells)
        )
        if not same:
            bad += 1
            for i, (a, b) in enumerate(zip(old_cells, new_cells, strict=False)):
                if comparable([a]) != comparable([b]):
                    print(f"{path.relative_to(ROOT)}: cell {i} differs", file=sys.stderr)
                    break
            else:
                print(
                    f"{path.relative_to(ROOT)}: {len(new_cells)} cells, {script.name} "
                    f"builds {len(old_cells)}",
                    file=sys.stderr,
                )
        else:
            print(f"ok {path.relative_to(ROOT)} = {script.relative_to(ROOT)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
