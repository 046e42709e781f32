"""Checker for 02_reward_model's exercise: write the Bradley–Terry loss with a margin yourself.

    def my_reward_model_loss(score_chosen, score_rejected, margin=0.0): ...

`check_reward_model_loss` runs the learner's function on the seed lesson's scores and on
seeded random batches (a float margin, a per-pair margin tensor, pairs the model gets wrong),
compares it with the package's `reward_model_loss`, and when it differs says which typical
mistake it matches: a missing minus sign, the margin with the wrong sign, chosen and rejected
swapped, the margin ignored, sum instead of mean, a missing log. A formula that is right but
overflows (log(sigmoid(x)) for a pair scored very wrongly) gets a "not yet" too: use logsigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import reward_model_loss
from . import Verdict, mistake_id, report, run_candidate, scalar_loss_problem

__all__ = ["check_reward_model_loss", "MISTAKES"]


# Typical wrong answers, each a function of (score_chosen, score_rejected, margin).
MISTAKES = {
    "missing minus sign": (
        lambda c, r, m: F.logsigmoid(c - r - m).mean(),
        "your loss has the wrong sign: log σ(·) is the log-*likelihood* of the labels, which "
        "training maximises; an optimiser minimises, so the loss is its negative: "
        "-F.logsigmoid(...).mean().",
    ),
    "margin with the wrong sign": (
        lambda c, r, m: -F.logsigmoid(c - r + m).mean(),
        "your margin has the wrong sign: s_chosen - s_rejected + margin *lowers* the bar, so "
        "a pair counts as won before chosen even leads. The margin is subtracted: chosen must "
        "beat rejected by `margin` before the loss stops pushing: σ(s_c - s_r - margin).",
    ),
    "chosen and rejected swapped": (
        lambda c, r, m: -F.logsigmoid(r - c - m).mean(),
        "you push the *rejected* score up: the difference is s_chosen - s_rejected "
        "(minus the margin), not the other way round.",
    ),
    "margin ignored": (
        lambda c, r, m: -F.logsigmoid(c - r).mean(),
        "your loss is right for margin = 0 but ignores the margin argument: subtract it "
        "inside the sigmoid, σ(s_c - s_r - margin).",
    ),
    "sum instead of mean": (
        lambda c, r, m: -F.logsigmoid(c - r - m).sum(),
        "you sum over the pairs; the loss is the mean (.mean()), so its size does not grow "
        "with the batch and the learning rate means the same for any batch size.",
    ),
    "missing log": (
        lambda c, r, m: -torch.sigmoid(c - r - m).mean(),
        "you use σ(·) itself, not its log: the Bradley–Terry loss is the negative "
        "*log*-likelihood, -log σ(s_c - s_r - margin) (F.logsigmoid). Without the log a pair "
        "scored very wrongly gets almost no gradient, the opposite of what you want.",
    ),
}

_HINT = "hint: return -F.logsigmoid(score_chosen - score_rejected - margin).mean()"


def _cases() -> list[tuple[torch.Tensor, torch.Tensor, float | torch.Tensor]]:
    """The seed's scores (margin 0 and 1), then random batches with a float margin and a
    per-pair margin tensor. All differences are moderate, so log(sigmoid) is still exact."""
    seed_c, seed_r = torch.tensor([1.5, 2.0, 1.8]), torch.tensor([0.5, 0.8, 0.3])
    cases = [(seed_c, seed_r, 0.0), (seed_c, seed_r, 1.0)]
    g = torch.Generator().manual_seed(2)
    for margin in (0.5, None):
        c, r = torch.randn(16, generator=g), torch.randn(16, generator=g)
        m = margin if margin is not None else torch.rand(16, generator=g) * 2
        cases.append((c, r, m))
    return cases


# A pair the model gets very wrong: s_c - s_r = -200. -log σ(-200) = 200 exactly in floats,
# but torch.log(torch.sigmoid(-200.)) is log(0) = -inf in float32.
_EXTREME = (torch.tensor([-100.0, 1.0]), torch.tensor([100.0, 0.0]), 0.0)


def _close(x: torch.Tensor, y: torch.Tensor) -> bool:
    return bool(torch.allclose(x.detach().double(), y.detach().double(), rtol=1e-4, atol=1e-5))


def _fail(message: str, raise_on_fail: bool, mistake: str = "wrong_value") -> Verdict:
    return report(Verdict(False, message, mistake), raise_on_fail)


def _call(fn, c, r, m):
    c = c.clone().requires_grad_(True)
    m = m.clone() if isinstance(m, torch.Tensor) else m
    got, failed = run_candidate(fn, c, r.clone(), margin=m, stub_hint=_HINT)
    if failed is None and (
        problem := scalar_loss_problem(got, "average over the pairs with .mean()")
    ):
        failed = Verdict(False, problem, "not_a_scalar_tensor")
    return got, failed


def check_reward_model_loss(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(score_chosen, score_rejected, margin=0.0)` against
    `reward_model_loss`.

    Introduced in 02_reward_model. Prints and returns a Verdict; raises AssertionError only
    with raise_on_fail=True (a stub raising NotImplementedError gets "not yet" and a hint).
    A wrong answer is named only when it matches that mistake on *every* test batch.
    """
    results = []  # (chosen, rejected, margin, learner's loss, reward_model_loss)
    for c, r, m in _cases():
        got, failed = _call(fn, c, r, m)
        if failed is not None:
            return report(failed, raise_on_fail)
        results.append((c, r, m, got, reward_model_loss(c, r, m)))

    wrong = [x for x in results if not _close(x[3], x[4])]
    if wrong:
        c, r, m, got, expected = wrong[0]
        margin = f"{m:g}" if isinstance(m, float) else "a per-pair tensor"
        numbers = (
            f"(got {got.item():.4f}, expected {expected.item():.4f} on {len(c)} pairs with "
            f"margin {margin})"
        )
        with torch.no_grad():
            for name, (mistake, message) in MISTAKES.items():
                if all(_close(x[3], mistake(x[0], x[1], x[2])) for x in results):
                    return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        return _fail(
            f"your loss differs from the Bradley–Terry loss {numbers}. {_HINT}", raise_on_fail
        )
    if not all(x[3].requires_grad for x in results):
        return _fail(
            "the value is right but it carries no gradient (did you use .item(), numpy, "
            ".detach() or torch.no_grad()?); the optimiser needs the graph back to the scores",
            raise_on_fail,
            "no_gradient",
        )
    got, failed = _call(fn, *_EXTREME)
    expected = reward_model_loss(*_EXTREME)
    if failed is not None or not torch.isfinite(got) or not _close(got, expected):
        value = failed.message if failed is not None else f"{got.item()}"
        return _fail(
            "the formula is right, but it breaks on a pair the model gets very wrong "
            f"(s_chosen - s_rejected = -200): your loss gives {value}, expected "
            f"{expected.item():.1f}. torch.log(torch.sigmoid(x)) underflows to log(0) = -inf; "
            "F.logsigmoid(x) computes the same thing stably.",
            raise_on_fail,
            "unstable_log_sigmoid",
        )
    return report(
        Verdict(
            True,
            "your loss matches reward_model_loss on the seed's scores, on random pairs with a "
            "float margin and a per-pair margin, and stays finite on a pair scored very wrongly",
        ),
        raise_on_fail,
    )
