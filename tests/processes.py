"""Helpers for tests that start other processes (kernels, torchrun): every wait is bounded.

A test that waits on a child process without a limit can hang a whole CI run: the child
(or its kernel, or a torchrun worker) stalls and nothing ever times out. Here every launch
has a deadline; past it the child's whole process tree is killed (kernels and workers
included) and the launch is tried once more, with a warning that says what happened.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).with_name("run_notebook.py")
STALLED = 3  # run_notebook.py's exit code when a cell ran past its timeout


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill a child and everything it started (kernels, workers); wait for the child."""
    if proc.poll() is not None:
        return
    try:
        family = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


def execute_notebook(
    src: Path, out: Path, cwd: Path, cell_timeout: int = 240, run_s: int = 480, tries: int = 2
) -> Path:
    """Execute notebook `src` in a fresh process (kernel started by nbclient), write it to `out`.

    Relative paths in the notebook resolve from `cwd`. A cell past `cell_timeout` or a run past
    `run_s` seconds is killed, kernel included, and tried again: a kernel can sit idle while
    its client waits (seen here with ipykernel 7, see the pin in pyproject.toml). A cell that
    raises fails the test at once with nbclient's message, naming the cell.
    """
    cmd = [sys.executable, str(RUNNER), str(src), str(out), str(cwd), str(cell_timeout)]
    for attempt in range(1, tries + 1):
        log = out.with_suffix(f".try{attempt}.log")
        with log.open("w") as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
            try:
                rc = proc.wait(timeout=run_s)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                kill_tree(proc)
        said = log.read_text()
        if rc == 0:
            return out
        if rc not in (None, STALLED):
            pytest.fail(f"{src.name} did not run to the end:\n{said[-4000:]}")
        warnings.warn(
            f"{src.name}: try {attempt} of {tries} stalled (a cell past {cell_timeout} s, or the "
            f"run past {run_s} s); killed it, kernel included. Its log:\n{said[-2000:]}",
            stacklevel=2,
        )
    pytest.fail(
        f"{src.name} stalled {tries} times (cells up to {cell_timeout} s, runs up to {run_s} s)"
    )
