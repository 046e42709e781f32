"""Execute one notebook with nbclient and write the result (used by tests/processes.py).

    python tests/run_notebook.py SRC OUT CWD CELL_TIMEOUT

Runs in its own process so that a stalled kernel can be killed without taking the test
worker with it. Exit code 1 and nbclient's message (naming the cell) when a cell raises,
3 when a cell runs past CELL_TIMEOUT (a stall: the caller tries again).
"""

from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError


def main(src: str, out: str, cwd: str, cell_timeout: str) -> int:
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(
        nb,
        timeout=int(cell_timeout),
        kernel_name="python3",
        allow_errors=False,  # cells tagged raises-exception may still raise
        resources={"metadata": {"path": cwd}},  # relative data paths resolve from here
    )
    try:
        client.execute()
    except CellExecutionError as e:
        print(e, file=sys.stderr)
        return 1
    except CellTimeoutError as e:
        print(e, file=sys.stderr)
        return 3
    nbformat.write(nb, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
