"""Checker for 05_when_rlhf_breaks' exercise: write the adaptive KL controller's update.

    def my_update_beta(beta, kl, target, horizon, n_steps): ...   # -> the new beta (a float)

Ziegler et al. 2019, section 2.2 (and `rlhf_lessons.trainers.ppo.AdaptiveKLController`):

    error = clip(kl / target - 1, -0.2, 0.2)
    beta ← beta · (1 + error · n_steps / horizon)

`check_update_beta` compares the learner's function with the controller on KLs below, near and
far above the target, and names the usual slips: the sign turned round, no clipping of the
error, clipping beta's change instead of the error, n_steps/horizon forgotten, an additive
update, the error measured as kl - target instead of relative to the target.
"""

from __future__ import annotations

import math

from ..trainers.ppo import AdaptiveKLController
from . import Verdict, mistake_id, report, run_candidate

__all__ = ["check_update_beta", "MISTAKES"]


def _clip(x: float) -> float:
    return min(max(x, -0.2), 0.2)


# Typical wrong answers, each a function of (beta, kl, target, horizon, n_steps), with what to say.
MISTAKES = {
    "sign turned round": (
        lambda b, kl, t, h, n: b * (1 - _clip(kl / t - 1) * n / h),
        "beta moves the wrong way: when the KL is above the target the penalty must grow "
        "(error > 0 → beta goes up), when it is below, shrink.",
    ),
    "no clip": (
        lambda b, kl, t, h, n: b * (1 + (kl / t - 1) * n / h),
        "the error is not clipped: one batch with a huge KL would multiply beta by a huge "
        "factor. Clip the proportional error to [-0.2, 0.2] first.",
    ),
    "clip beta's change": (
        lambda b, kl, t, h, n: b * (1 + _clip((kl / t - 1) * n / h)),
        "you clip the change of beta; Ziegler et al. clip the proportional error "
        "kl / target - 1 to [-0.2, 0.2] and *then* scale it by n_steps / horizon.",
    ),
    "no n_steps / horizon": (
        lambda b, kl, t, h, n: b * (1 + _clip(kl / t - 1)),
        "beta changes by up to 20% per batch: the clipped error must be scaled by "
        "n_steps / horizon, so beta changes by a factor e^±0.2 only over `horizon` samples.",
    ),
    "additive update": (
        lambda b, kl, t, h, n: b + _clip(kl / t - 1) * n / h,
        "your update is additive; it is multiplicative: beta · (1 + error · n_steps / horizon), "
        "so beta stays positive and its scale does not matter.",
    ),
    "exponential update": (
        lambda b, kl, t, h, n: b * math.exp(_clip(kl / t - 1) * n / h),
        "beta · exp(error · n_steps / horizon) is a fine controller (and agrees to the first "
        "order), but the lesson's, Ziegler et al.'s and TRL's is beta · (1 + error · n_steps / "
        "horizon): the two differ in the 6th digit on these cases.",
    ),
    "absolute error": (
        lambda b, kl, t, h, n: b * (1 + _clip(kl - t) * n / h),
        "the error must be relative to the target, kl / target - 1, not kl - target "
        "(the same controller must work for a target of 1 nat and of 20).",
    ),
}

_HINT = (
    "hint: error = min(max(kl / target - 1, -0.2), 0.2); "
    "return beta * (1 + error * n_steps / horizon)"
)

# (beta, kl, target, horizon, n_steps): below, near and far above the target, a tiny horizon
_CASES = [
    (0.1, 12.0, 6.0, 10_000, 64),
    (0.1, 6.6, 6.0, 10_000, 64),
    (0.05, 0.0, 6.0, 10_000, 512),
    (0.2, 5.0, 4.0, 100, 64),
    (0.2, 3.5, 4.0, 100, 64),
    (0.3, 40.0, 2.0, 640, 64),
    (0.01, 1.0, 1.0, 1000, 256),
]


def _expected(beta, kl, target, horizon, n_steps) -> float:
    return AdaptiveKLController(beta, target, horizon).update(kl, n_steps)


def check_update_beta(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(beta, kl, target, horizon, n_steps) -> new beta`.

    Introduced in 05_when_rlhf_breaks. Prints and returns a Verdict; raises AssertionError only
    with raise_on_fail=True. A wrong answer is named only when it matches that mistake on every
    case.
    """
    got = []
    for case in _CASES:
        value, failed = run_candidate(fn, *case, stub_hint=_HINT)
        if failed is not None:
            return report(failed, raise_on_fail)
        if hasattr(value, "item"):
            value = value.item()
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return report(
                Verdict(
                    False,
                    f"return the new beta as a number, got {type(value).__name__}",
                    "not_a_number",
                ),
                raise_on_fail,
            )
        got.append(float(value))

    def close(a, b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)

    wrong = [(c, v) for c, v in zip(_CASES, got) if not close(v, _expected(*c))]
    if not wrong:
        return report(
            Verdict(
                True,
                "your update matches AdaptiveKLController: below, near and far above the target, "
                "with the error clipped and scaled by n_steps / horizon",
            ),
            raise_on_fail,
        )
    for name, (mistake, message) in MISTAKES.items():
        if all(close(v, mistake(*c)) for c, v in zip(_CASES, got)):
            return report(Verdict(False, message, mistake_id(name)), raise_on_fail)
    (beta, kl, target, horizon, n_steps), value = wrong[0]
    return report(
        Verdict(
            False,
            f"for beta={beta}, kl={kl}, target={target}, horizon={horizon}, n_steps={n_steps} you "
            f"return {value:.10g}, expected {_expected(beta, kl, target, horizon, n_steps):.10g}. "
            f"{_HINT}",
        ),
        raise_on_fail,
    )
