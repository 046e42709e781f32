"""Checkers for 09_policy_gradient's exercise.

`check_reinforce_loss(fn)`: fn(seq_logprobs, rewards, baseline) -> REINFORCE's loss,
-mean_i (R_i - b_i) · log π_θ(y_i | x_i), the advantage R - b carrying no gradient
(Williams 1992; Ahmadian et al. 2024, "Back to Basics", Section 3.1). It compares the learner's
function with the package (`trainers.reinforce.reinforce_loss`) on hand-made and seeded random
inputs and names the typical mistakes: the wrong sign, no baseline, a baseline that is not
detached, probabilities instead of log probabilities, a sum instead of a mean.
"""

from __future__ import annotations

import torch

from ..trainers.reinforce import reinforce_loss
from . import Verdict, mistake_id, report, run_candidate, scalar_loss_problem

__all__ = ["check_reinforce_loss", "MISTAKES"]

MISTAKES = {
    "missing minus sign": (
        lambda lp, r, b: ((r - b) * lp).mean(),
        "wrong sign: the optimiser *minimises* the loss, and we want to *raise* E[R], so the "
        "loss is -mean((R - b) · log π); yours makes bad responses likelier.",
    ),
    "no baseline": (
        lambda lp, r, b: -(r * lp).mean(),
        "you ignore the baseline: the advantage is R - b. (Without it the estimate is still "
        "unbiased, but much noisier: that is the point of this lesson.)",
    ),
    "probabilities instead of log probabilities": (
        lambda lp, r, b: -((r - b) * lp.exp()).mean(),
        "you weight the probability π(y), not its log: the log-derivative trick gives "
        "∇E[R] = E[R ∇log π(y)]; seq_logprobs already is log π(y|x).",
    ),
    "sum instead of mean": (
        lambda lp, r, b: -((r - b) * lp).sum(),
        "you sum over responses; take the mean, so that the step does not grow with the batch.",
    ),
    "baseline added": (
        lambda lp, r, b: -((r + b) * lp).mean(),
        "you add the baseline; subtract it: A = R - b.",
    ),
}

_HINT = "hint: loss = -((rewards - baseline).detach() * seq_logprobs).mean()"


def _cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    cases = [
        (
            torch.tensor([-3.0, -5.0, -2.5, -8.0]),
            torch.tensor([1.0, 0.0, 2.0, -1.0]),
            torch.tensor([0.5, 0.5, 0.5, 0.5]),
        )
    ]
    g = torch.Generator().manual_seed(90)
    for B in (8, 16, 5):
        lp = -torch.rand(B, generator=g) * 10  # (B,) summed logprobs < 0
        r = torch.randn(B, generator=g)  # (B,)
        b = torch.randn(B, generator=g) * 0.5  # (B,)
        cases.append((lp, r, b))
    return cases


def _close(a, b) -> bool:
    return bool(torch.allclose(a.detach().float(), b.detach().float(), atol=1e-5, rtol=1e-4))


def _fail(message: str, raise_on_fail: bool, mistake: str = "") -> Verdict:
    return report(Verdict(False, message, mistake), raise_on_fail)


def check_reinforce_loss(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(seq_logprobs, rewards, baseline)` against `reinforce_loss`.

    Introduced in 09_policy_gradient. Prints and returns a Verdict (raises only with
    raise_on_fail=True). A mistake is named only when it matches on every test batch.
    """
    results = []
    for lp, r, b in _cases():
        args = (lp.clone().requires_grad_(True), r.clone(), b.clone().requires_grad_(True))
        got, failed = run_candidate(fn, *args, stub_hint=_HINT)
        if failed is not None:
            return report(failed, raise_on_fail)
        if problem := scalar_loss_problem(got, "average over responses with .mean()"):
            return _fail(problem, raise_on_fail, "not_a_scalar_tensor")
        results.append((args, got, reinforce_loss(lp, r - b)))
    wrong = [x for x in results if not _close(x[1], x[2])]
    if wrong:
        _, got, expected = wrong[0]
        numbers = f"(got {got.item():.4f}, expected {expected.item():.4f})"
        with torch.no_grad():
            for name, (mistake, message) in MISTAKES.items():
                if all(_close(x[1], mistake(*x[0])) for x in results):
                    return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        return _fail(f"your loss differs from REINFORCE's {numbers}. {_HINT}", raise_on_fail)
    if not all(x[1].requires_grad for x in results):
        return _fail(
            "the value is right but carries no gradient (.item(), .detach() or no_grad?): the "
            "optimiser needs the graph back to seq_logprobs",
            raise_on_fail,
            "no_gradient",
        )
    (lp, _, b), got, _ = results[0]
    got.backward()
    if b.grad is not None and b.grad.abs().sum() > 0:
        return _fail(
            "the value is right, but gradient flows into the baseline: the advantage R - b is a "
            "fixed weight, not something to optimise. Detach it: (rewards - baseline).detach().",
            raise_on_fail,
            "baseline_not_detached",
        )
    return report(
        Verdict(
            True, "your loss matches reinforce_loss: -mean((R - b) · log π(y|x)), R - b detached"
        ),
        raise_on_fail,
    )
