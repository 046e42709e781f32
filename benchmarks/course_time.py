"""How long the whole course takes to run: every notebook, top to bottom, one after another.

Each notebook runs in a fresh kernel (nbclient), and its time includes starting that kernel,
as a learner's "Restart and Run All" does. The checkpoint cache starts empty (a temporary
RLHF_LESSONS_CACHE), so models are trained, not loaded: the learner's first run. The course's
budget (the issue's goal): the whole course in 3 minutes on 2 cores, no lesson over 60 s.

    .venv/bin/python benchmarks/course_time.py                  # table on stdout
    .venv/bin/python benchmarks/course_time.py --threads 2      # on an idle 2-core machine
    .venv/bin/python benchmarks/course_time.py --write-readme   # also update README.md

`--write-readme` replaces the text between `<!-- course-time:start -->` and
`<!-- course-time:end -->` in README.md. Exit status 1 when a notebook fails or, with
`--check`, when the budget is exceeded. On a shared machine the wall-clock seconds are only
meaningful when the load average (printed) is below the core count; the CPU seconds (kernel
process and its children) move far less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- course-time:start -->", "<!-- course-time:end -->"
BUDGET_TOTAL_S = 360.0  # ten lessons; raised from 180 s when lessons 09 and 10 arrived
BUDGET_LESSON_S = 60.0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_notebook(
    path: Path, timeout: int, slowest: int = 3
) -> tuple[float, float, str | None, list[tuple[float, int]]]:
    """Run one notebook in a fresh kernel (cwd = its folder).

    Returns (wall s, CPU s, error or None, the `slowest` cells as (seconds, cell index)).
    Each cell's start and end are logged to stderr, so a stuck cell shows where it is.
    """
    nb = nbformat.read(path, as_version=4)
    started: dict[int, float] = {}
    cells: list[tuple[float, int]] = []

    def on_start(cell, cell_index, **_):
        started[cell_index] = time.perf_counter()
        print(f"  {path.stem} cell {cell_index} ...", file=sys.stderr, end="", flush=True)

    def on_done(cell, cell_index, **_):
        seconds = time.perf_counter() - started[cell_index]
        cells.append((seconds, cell_index))
        print(f" {seconds:.1f} s", file=sys.stderr, flush=True)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=on_start,
        on_cell_executed=on_done,
    )
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    error = None
    try:
        client.execute()  # starts the kernel, runs every cell, shuts the kernel down
    except Exception as exc:  # report it in the table and go on with the next lesson
        lines = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines() or [""]
        error = f"{type(exc).__name__}: {lines[-1][:200]}"
    wall = time.perf_counter() - t0
    return wall, _children_cpu_s() - cpu0, error, sorted(cells, reverse=True)[:slowest]


def markdown_report(
    rows, threads: int, load_before: float, load_after: float, warm_cache: bool = False
) -> str:
    """The table, the machine it ran on and the verdict against the course's budget."""
    total = sum(wall for _, wall, _, _ in rows)
    total_cpu = sum(cpu for _, _, cpu, _ in rows)
    lines = ["| notebook | seconds | CPU seconds |", "|---|---:|---:|"]
    for name, wall, cpu, error in rows:
        note = (
            f" (failed: {error})" if error else (" (over 60 s)" if wall > BUDGET_LESSON_S else "")
        )
        lines.append(f"| `{name}`{note} | {wall:.1f} | {cpu:.1f} |")
    lines.append(f"| **total** | **{total:.1f}** | **{total_cpu:.1f}** |")
    over = [name for name, wall, _, _ in rows if wall > BUDGET_LESSON_S]
    failed = [name for name, _, _, error in rows if error]
    if failed:
        verdict = f"not measured: {', '.join(failed)} failed."
    elif total > BUDGET_TOTAL_S or over:
        verdict = "**exceeded**" + (f" by {', '.join(over)}." if over else " (total).")
    else:
        verdict = "within."
    lines += [
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores; torch threads {threads}; "
        f"{dt.date.today().isoformat()}; load average {load_before:.1f} before, "
        f"{load_after:.1f} after; each notebook in a fresh kernel (start included), "
        + ("existing checkpoint cache." if warm_cache else "empty checkpoint cache."),
        f"Budget (whole course ≤ {BUDGET_TOTAL_S:.0f} s, each lesson ≤ {BUDGET_LESSON_S:.0f} s): "
        + verdict,
    ]
    return "\n".join(lines)


def write_readme(readme: Path, report: str) -> None:
    """Replace the text between the course-time markers of `readme` by `report`."""
    text = readme.read_text()
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise SystemExit(f"{readme}: add the markers {START} and {END} where the table goes")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{report}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to time (default: notebooks/*.ipynb)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads in each kernel (default: $RLHF_LESSONS_THREADS or the package's 1)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    parser.add_argument(
        "--warm-cache", action="store_true", help="use the existing checkpoint cache"
    )
    parser.add_argument("--write-readme", action="store_true", help="update README.md's table")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="exit 1 when over the budget")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        parser.error("no notebooks to time")
    for path in paths:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    threads = args.threads or int(os.environ.get("RLHF_LESSONS_THREADS", 1))
    os.environ["RLHF_LESSONS_THREADS"] = str(threads)  # read by rlhf_lessons in each kernel
    os.environ["OMP_NUM_THREADS"] = str(threads)

    with tempfile.TemporaryDirectory(prefix="rlhf-lessons-cache-") as cache:
        if not args.warm_cache:
            os.environ["RLHF_LESSONS_CACHE"] = cache
        load_before = os.getloadavg()[0]
        rows = []
        for path in paths:
            wall, cpu, error, slow = time_notebook(path.resolve(), args.timeout)
            rows.append((path.stem, wall, cpu, error))
            status = f"failed: {error}" if error else "ok"
            cells = ", ".join(f"cell {i} {s:.1f} s" for s, i in slow)
            print(
                f"{path.name}: {wall:.1f} s ({cpu:.1f} CPU s) {status}; slowest: {cells}",
                file=sys.stderr,
            )
        load_after = os.getloadavg()[0]

    report = markdown_report(rows, threads, load_before, load_after, args.warm_cache)
    print(report)
    if args.write_readme:
        write_readme(args.readme, report)
        print(f"updated {args.readme}", file=sys.stderr)
    failed = any(error for *_, error in rows)
    over = sum(w for _, w, _, _ in rows) > BUDGET_TOTAL_S or any(
        w > BUDGET_LESSON_S for _, w, _, _ in rows
    )
    return 1 if failed or (args.check and over) else 0


if __name__ == "__main__":
    raise SystemExit(main())
