"""Presenting the course: every lesson builds as reveal.js slides, and Voilà renders lesson 03.

- Every cell carries metadata.slideshow.slide_type (the builder sets it; a hand-added cell
  without it would silently join the previous slide).
- `jupyter nbconvert --to slides` builds each notebook; cells marked "skip" (the install and
  environment cells) stay out of the deck.
- scripts/present.sh's Voilà serves lesson 03 with its widget and without its code.

Set RLHF_LESSONS_NOTEBOOKS=<folder> to check notebooks elsewhere.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = Path(os.environ.get("RLHF_LESSONS_NOTEBOOKS", ROOT / "notebooks"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
BIN = Path(sys.executable).parent
nb_param = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


@nb_param
def test_every_cell_has_a_slide_type(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type")
        assert slide_type in SLIDE_TYPES, (
            f"{path.name} cell {i} has slide_type {slide_type!r}, expected one of "
            f"{sorted(SLIDE_TYPES)} (set it in the lesson source's cell header, lessons/NN_*.py)"
        )


@nb_param
def test_builds_as_slides(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    proc = subprocess.run(
        [BIN / "jupyter", "nbconvert", "--to", "slides", str(path), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"nbconvert --to slides failed on {path.name}:\n{proc.stderr}"
    html = (tmp_path / f"{path.stem}.slides.html").read_text()
    slides = sum(c.metadata.get("slideshow", {}).get("slide_type") == "slide" for c in nb.cells)
    assert html.count("<section") >= max(slides, 1), f"{path.name}: fewer slides than expected"
    for i, cell in enumerate(nb.cells):
        skipped = cell.metadata.get("slideshow", {}).get("slide_type") == "skip"
        if skipped and cell.cell_type == "code" and 'find_spec("rlhf_lessons")' in cell.source:
            assert "find_spec" not in html, f"{path.name} cell {i} (skip) is in the slides"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


VOILA_LESSON = NOTEBOOK_DIR / "03_ppo_clip.ipynb"


@pytest.mark.skipif(not VOILA_LESSON.exists(), reason="lesson 03 is not built yet")
def test_voila_renders_lesson03_widget_without_code(tmp_path):
    port = _free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        VOILA=str(BIN / "voila"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    log = (tmp_path / "voila.log").open("w")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "present.sh"), str(VOILA_LESSON)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # present.sh execs voila: terminating it ends the server
    )
    try:
        page, deadline = None, time.monotonic() + 120  # server start + running the lesson
        while page is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=90) as r:
                    assert r.status == 200
                    page = r.read().decode()
            except OSError:
                assert proc.poll() is None, (tmp_path / "voila.log").read_text()[-3000:]
                time.sleep(1)
        assert page is not None, "Voilà did not answer within 120 s"
        assert "application/vnd.jupyter.widget-view+json" in page, "no widget in the page"
        assert 'find_spec("rlhf_lessons")' not in page, "Voilà shows code (strip_sources?)"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
