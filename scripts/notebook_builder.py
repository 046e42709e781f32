"""Build a lesson notebook from a list of cells, with the course's conventions baked in, and execute it.

Every lesson is written as a small Python script in scripts/lessons/ that calls `build()`;
`make notebooks` (or `python scripts/lessons/lesson03.py`) rewrites notebooks/NN_*.ipynb,
executed top to bottom with nbclient and a finite timeout. Conventions (DESIGN.md):

- every cell carries metadata.slideshow.slide_type (for `jupyter nbconvert --to slides`);
- exercise solutions: tag `solution`, collapsed (jupyter.source_hidden);
- a cell meant to raise: tag `raises-exception`;
- cells 1-3 of every lesson: title + Colab badge, a Colab install cell (a no-op when the package
  is installed), and an environment report;
- markdown never types in a measured number: a code cell prints it with display(Markdown(...)).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


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
    """Merge consecutive stream outputs of one name and keep what a terminal shows after each
    carriage return: a progress bar is stored as its last state, not as every redraw."""
    merged = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            last["text"] += out["text"]
        else:
            merged.append(out)
    for out in merged:
        if out.get("output_type") == "stream":
            out["text"] = re.sub(r"[^\n]*\r(?!\n)", "", out["text"])
    return merged


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
