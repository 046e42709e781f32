"""`import rlhf_lessons` has no global side effect (issue 15, item 6): torch's threads, the RNGs,
the environment, the working folder and the warning filters are as they were. The entry points
set threads themselves (the CLI, the notebooks' environment cell, tests/conftest.py, benchmarks).
Checked in a fresh interpreter, where nothing has imported the package yet (the libraries it
imports are imported first: their own import-time settings are not the package's)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import os, random, warnings
    import torch
    # third-party libraries' own import-time settings are theirs, not the package's
    import datasets, safetensors.torch, tokenizers, tqdm, transformers.modeling_utils

    torch.set_num_threads(3)
    before = (
        torch.get_num_threads(), dict(os.environ), random.getstate(),
        torch.random.get_rng_state().tolist(), os.getcwd(), list(warnings.filters),
    )
    import rlhf_lessons
    import rlhf_lessons.trainers, rlhf_lessons.toy, rlhf_lessons.models, rlhf_lessons.rollout
    after = (
        torch.get_num_threads(), dict(os.environ), random.getstate(),
        torch.random.get_rng_state().tolist(), os.getcwd(), list(warnings.filters),
    )
    names = ("torch threads", "os.environ", "random state", "torch RNG", "cwd", "warning filters")
    changed = [n for n, a, b in zip(names, before, after) if a != b]
    print("changed:", ", ".join(changed) if changed else "nothing")
    """
)


def test_import_changes_nothing_global():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "changed: nothing", done.stdout + done.stderr


def test_set_threads_is_what_the_entry_points_call():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch, rlhf_lessons; rlhf_lessons.set_threads(); print(torch.get_num_threads())",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "RLHF_LESSONS_THREADS": "2"},
    )
    assert done.stdout.strip() == "2", done.stdout + done.stderr
