"""Checkers for the notebooks' exercises: one module per lesson (exercises.lesson03, ...).

Every checker returns a `Verdict` and prints it. It never raises unless called with
`raise_on_fail=True`: in the student edition a stub raises NotImplementedError, and the
checker answers "not yet" with a hint instead of crashing the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Verdict:
    """The outcome of a checker: `ok` and a message for the learner."""

    ok: bool
    message: str

    def __str__(self) -> str:
        return ("✅ correct: " if self.ok else "❌ not yet: ") + self.message

    def _repr_markdown_(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        return self.ok


def run_candidate(fn, *args, stub_hint: str = "", **kwargs):
    """Call the learner's function; return (result, None) or (None, Verdict explaining the failure).

    `stub_hint` is added when the function is still the student edition's stub (it raises
    NotImplementedError): where to start.
    """
    if fn is None:
        return None, Verdict(False, "the function is not defined yet (run the exercise cell)")
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, Verdict(
            False,
            f"{getattr(fn, '__name__', 'your function')} still raises "
            "NotImplementedError: replace it with your code"
            + (f". {stub_hint}" if stub_hint else ""),
        )
    except Exception as exc:  # a learner's bug: report it, do not crash the notebook
        return None, Verdict(False, f"calling it raised {type(exc).__name__}: {exc}")


def report(verdict: Verdict, raise_on_fail: bool = False) -> Verdict:
    """Print the verdict; raise AssertionError only when asked."""
    print(verdict)
    if raise_on_fail and not verdict.ok:
        raise AssertionError(str(verdict))
    return verdict


def scalar_loss_problem(got, how_to_average: str) -> str | None:
    """What is wrong with a learner's loss that must be a scalar torch tensor (None: nothing)."""
    if not isinstance(got, torch.Tensor):
        return (
            f"return a torch tensor (got {type(got).__name__}); keep the computation in torch so "
            "the loss can be backpropagated (no .item(), no numpy)"
        )
    if got.shape != ():
        return f"return a scalar (shape ()), got shape {tuple(got.shape)}: {how_to_average}"
    return None
