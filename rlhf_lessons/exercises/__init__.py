"""Checkers for the notebooks' exercises: one module per lesson (exercises.lesson03, ...).

Every checker returns a `Verdict` and prints it. It never raises unless called with
`raise_on_fail=True`: in the student edition a stub raises NotImplementedError, and the
checker answers "not yet" with a hint instead of crashing the notebook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

NOT_DONE = "not_done"  # the mistake id of a stub left as it is (it raises NotImplementedError)


@dataclass
class Verdict:
    """The outcome of a checker: `ok`, a message for the learner, and a stable `mistake` id.

    `mistake` is "" for a right answer, NOT_DONE for the untouched stub, and otherwise a short
    id naming the slip ("no_mask", "wrong_sign", ...) that tests assert on instead of wording.
    """

    ok: bool
    message: str
    mistake: str = ""

    def __post_init__(self) -> None:
        if not self.ok and not self.mistake:
            self.mistake = "wrong_value"  # a wrong answer no named mistake explains

    @property
    def done(self) -> bool:
        """False while the learner's function is still the stub."""
        return self.mistake != NOT_DONE

    def __str__(self) -> str:
        if self.ok:
            return "✅ correct: " + self.message
        if not self.done:
            return "⏳ not done yet: " + self.message
        return "❌ not yet: " + self.message

    def _ipython_display_(self) -> None:
        """Show nothing: the checker has printed the verdict already.

        A checker cell ends with the call, and its return value would otherwise be displayed a
        second time. A trailing `;` does not reliably stop that: nbval runs cells with
        store_history=False, and IPython's `;` test reads the stored history.
        """

    def __bool__(self) -> bool:
        return self.ok


def mistake_id(name: str) -> str:
    """A MISTAKES key as a stable id: "missing minus sign" -> "missing_minus_sign"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def run_candidate(fn, *args, stub_hint: str = "", **kwargs):
    """Call the learner's function; return (result, None) or (None, Verdict explaining the failure).

    `stub_hint` is added when the function is still the student edition's stub (it raises
    NotImplementedError): where to start.
    """
    if fn is None:
        return None, Verdict(
            False, "the function is not defined yet (run the exercise cell)", "not_defined"
        )
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, Verdict(
            False,
            f"{getattr(fn, '__name__', 'your function')} still raises "
            "NotImplementedError: replace it with your code"
            + (f". {stub_hint}" if stub_hint else ""),
            NOT_DONE,
        )
    except Exception as exc:  # a learner's bug: report it, do not crash the notebook
        return None, Verdict(False, f"calling it raised {type(exc).__name__}: {exc}", "raised")


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
