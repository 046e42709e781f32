"""The bounded notebook runner of tests/processes.py: a stall is killed (kernel included) and
tried again, a crash fails at once naming the error, a good run comes back executed."""

from __future__ import annotations

import time

import nbformat
import psutil
import pytest
from processes import execute_notebook


def _notebook(tmp_path, *sources: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def test_a_good_run_comes_back_executed(tmp_path):
    src = _notebook(tmp_path, "x = 6 * 7", "print(x)")
    out = execute_notebook(src, tmp_path / "out.ipynb", cwd=tmp_path)
    cells = nbformat.read(out, as_version=4).cells
    assert cells[1].outputs[0].text == "42\n"


def test_a_crash_fails_at_once_with_the_error(tmp_path):
    src = _notebook(tmp_path, "raise ValueError('stub not filled in')")
    with pytest.raises(pytest.fail.Exception, match="stub not filled in"):
        execute_notebook(src, tmp_path / "out.ipynb", cwd=tmp_path)
    assert not (tmp_path / "out.try2.log").exists(), "a crash must not be retried"


@pytest.mark.parametrize("limit", ["cell", "run"])
def test_a_stall_is_killed_kernel_included_and_tried_again(tmp_path, limit):
    pid_file = tmp_path / "kernel.pid"
    src = _notebook(tmp_path, f"import os; open({str(pid_file)!r}, 'a').write(f'{{os.getpid()}}\\n')",
                    "import time; time.sleep(120)")  # fmt: skip
    # a cell past its timeout (nbclient gives up) or the whole run past its deadline (killed)
    cell_timeout, run_s = (3, 60) if limit == "cell" else (100, 8)
    with pytest.warns(UserWarning, match="stalled") as said:
        with pytest.raises(pytest.fail.Exception, match="stalled 2 times"):
            execute_notebook(src, tmp_path / "out.ipynb", tmp_path, cell_timeout, run_s)
    assert [str(w.message)[:22] for w in said] == [
        "nb.ipynb: try 1 of 2 s",
        "nb.ipynb: try 2 of 2 s",
    ]
    kernels = [int(p) for p in pid_file.read_text().split()]
    assert len(kernels) == 2, "two tries, one kernel each"
    assert all(_gone(pid) for pid in kernels), "a killed try left its kernel running"
