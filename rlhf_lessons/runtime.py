"""Threads, seeds and the cache folder: the few process-wide settings of the course.

Threads: on a 2-core machine two torch threads run the toy models ~1.5x faster than one when
the machine is idle, but 20-40x *slower* when another busy process shares the cores (parallel
tests, a learner's busy laptop). So the default is one thread; set RLHF_LESSONS_THREADS=2
(or call `set_threads(2)`) on an idle machine. Thread count changes float tails, which is
why lessons print rounded numbers.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch

DEFAULT_THREADS = 1


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads (default: $RLHF_LESSONS_THREADS or 1). Returns the count."""
    if n is None:
        n = int(os.environ.get("RLHF_LESSONS_THREADS", DEFAULT_THREADS))
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


def set_seed(seed: int) -> torch.Generator:
    """Seed Python's and torch's global RNGs and return a fresh torch.Generator for sampling."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def repo_root() -> Path:
    """The folder that holds `data/` (the repository checkout)."""
    return Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Where trained toy checkpoints are cached ($RLHF_LESSONS_CACHE or <repo>/.cache)."""
    path = Path(os.environ.get("RLHF_LESSONS_CACHE", repo_root() / ".cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def environment_report() -> str:
    """One line per package version, threads and device: the first code cell of every lesson."""
    import importlib.metadata as md
    import platform

    lines = [f"python {platform.python_version()}"]
    for pkg in ("torch", "transformers", "datasets", "tokenizers", "ipywidgets", "rlhf-lessons"):
        try:
            lines.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            lines.append(f"{pkg} (not installed)")
    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    lines.append(f"torch threads {torch.get_num_threads()} (RLHF_LESSONS_THREADS), device {device}")
    return "\n".join(lines)
