"""Checker for 03_ppo_clip's exercise: write PPO's clipped loss yourself.

    def my_ppo_clip_loss(log_ratio, advantages, eps=0.2): ...

`check_ppo_clip_loss` runs the learner's function on the seed lesson's batch and on seeded
random batches (both signs of A, ratios inside and outside the clip range, two values of eps),
compares it with the package's `ppo_clip_loss`, and when it differs says *which* typical
mistake it matches: a missing minus sign, max instead of min, the clip without the min, no clip
at all, clipping the log-ratio instead of the ratio, forgetting exp, sum instead of mean, a
hard-coded eps, a loss that is not a scalar or does not carry a gradient.
"""

from __future__ import annotations

import torch

from ..losses import ppo_clip_loss
from . import Verdict, mistake_id, report, run_candidate, scalar_loss_problem

__all__ = ["check_ppo_clip_loss", "MISTAKES"]


def _pessimistic(ratio, clipped, advantages):
    return torch.min(ratio * advantages, clipped * advantages)


# Typical wrong answers, each a function of (log_ratio, advantages, eps), with what to say.
MISTAKES = {
    "missing minus sign": (
        lambda lr, a, e: _pessimistic(lr.exp(), lr.exp().clamp(1 - e, 1 + e), a).mean(),
        "your loss has the wrong sign. PPO *maximises* the objective min(ρA, clip(ρ)A); "
        "an optimiser minimises, so the loss is minus its mean: -torch.min(...).mean().",
    ),
    "max instead of min": (
        lambda lr, a, e: -torch.max(lr.exp() * a, lr.exp().clamp(1 - e, 1 + e) * a).mean(),
        "you take the max of the two terms; PPO takes the min (the pessimistic bound), so the "
        "policy never gets credit for moving the ratio beyond 1±eps: torch.min(ratio * A, "
        "clipped * A).",
    ),
    "clip without min": (
        lambda lr, a, e: -(lr.exp().clamp(1 - e, 1 + e) * a).mean(),
        "you use only the clipped term clip(ρ)·A. Without the min, a sample with A < 0 and a "
        "large ratio gets no gradient (it should: that is the pessimistic side), and the loss "
        "forgets ρ·A; keep both terms: torch.min(ratio * A, clipped * A).",
    ),
    "no clip": (
        lambda lr, a, e: -(lr.exp() * a).mean(),
        "your loss is the plain policy-gradient surrogate -mean(ρ·A): nothing is clipped. "
        "Clip the ratio to [1-eps, 1+eps] and take the min of ρ·A and clip(ρ)·A.",
    ),
    "clip the log-ratio to [1-eps, 1+eps]": (
        lambda lr, a, e: -_pessimistic(lr.exp(), lr.clamp(1 - e, 1 + e), a).mean(),
        "you clip the log-ratio to [1-eps, 1+eps]; the range is for the ratio ρ = exp(log_ratio) "
        "(around 1), not for log ρ (around 0): clip log_ratio.exp().",
    ),
    "clip the log-ratio to [-eps, eps]": (
        lambda lr, a, e: -_pessimistic(lr.exp(), lr.clamp(-e, e).exp(), a).mean(),
        "you clip the log-ratio to [-eps, eps] and exponentiate: that clips ρ to "
        "[exp(-eps), exp(eps)] ≈ [0.819, 1.221] for eps=0.2, not to [0.8, 1.2]. "
        "Clip the ratio itself: log_ratio.exp().clamp(1 - eps, 1 + eps).",
    ),
    "forgot exp": (
        lambda lr, a, e: -_pessimistic(lr, lr.clamp(1 - e, 1 + e), a).mean(),
        "you use log_ratio as if it were the ratio; the ratio is ρ = log_ratio.exp() "
        "(π_θ/π_old = exp(log π_θ - log π_old)).",
    ),
    "sum instead of mean": (
        lambda lr, a, e: -_pessimistic(lr.exp(), lr.exp().clamp(1 - e, 1 + e), a).sum(),
        "you sum over the samples; the loss is the mean (.mean()), so that its size does not "
        "grow with the batch and the learning rate means the same for any batch size.",
    ),
    "eps ignored (hard-coded 0.2)": (
        lambda lr, a, e: ppo_clip_loss(lr, a, 0.2),
        "your loss is right for eps=0.2 but ignores the eps argument (is 0.2 hard-coded?): "
        "use 1 - eps and 1 + eps.",
    ),
}

_HINT = (
    "hint: ratio = log_ratio.exp(); clipped = ratio.clamp(1 - eps, 1 + eps); "
    "loss = -torch.min(ratio * advantages, clipped * advantages).mean()"
)


def _cases() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """The seed's batch, then seeded random batches with both signs of A and ratios far outside
    the clip range, at eps 0.2 and 0.1 (so a hard-coded eps shows)."""
    cases = [(torch.tensor([0.1, 0.3, -0.1, 0.5]), torch.tensor([1.0, 0.5, 0.8, 2.0]), 0.2)]
    g = torch.Generator().manual_seed(3)
    for eps, shape in ((0.2, (64,)), (0.1, (8, 16)), (0.3, (5,))):
        log_ratio = 0.6 * torch.randn(shape, generator=g)  # ratios ~0.3 to ~3
        advantages = torch.randn(shape, generator=g)
        cases.append((log_ratio, advantages, eps))
    return cases


def _close(x: torch.Tensor, y: torch.Tensor) -> bool:
    return bool(torch.allclose(x.detach().double(), y.detach().double(), rtol=1e-4, atol=1e-5))


def _fail(message: str, raise_on_fail: bool, mistake: str = "wrong_value") -> Verdict:
    return report(Verdict(False, message, mistake), raise_on_fail)


def check_ppo_clip_loss(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(log_ratio, advantages, eps=0.2)` against `ppo_clip_loss`.

    Introduced in 03_ppo_clip. Prints and returns a Verdict; raises AssertionError only with
    raise_on_fail=True (a stub raising NotImplementedError gets "not yet" and a hint).
    A wrong answer is named only when it matches that mistake on *every* test batch.
    """
    results = []  # (log_ratio, advantages, eps, learner's loss, ppo_clip_loss)
    for log_ratio, advantages, eps in _cases():
        log_ratio = log_ratio.clone().requires_grad_(True)
        got, failed = run_candidate(fn, log_ratio, advantages.clone(), eps=eps, stub_hint=_HINT)
        if failed is not None:
            return report(failed, raise_on_fail)
        if problem := scalar_loss_problem(got, "average the per-sample objective with .mean()"):
            return _fail(problem, raise_on_fail, "not_a_scalar_tensor")
        results.append((log_ratio, advantages, eps, got, ppo_clip_loss(log_ratio, advantages, eps)))

    wrong = [r for r in results if not _close(r[3], r[4])]
    if wrong:
        log_ratio, advantages, eps, got, expected = wrong[0]
        where = (
            f"on log_ratio={[round(v, 2) for v in log_ratio.tolist()]}, "
            f"advantages={[round(v, 2) for v in advantages.tolist()]}, eps={eps}"
            if log_ratio.numel() <= 4
            else f"on a random batch of shape {tuple(log_ratio.shape)} with eps={eps}"
        )
        numbers = f"(got {got.item():.4f}, expected {expected.item():.4f} {where})"
        with torch.no_grad():
            for name, (mistake, message) in MISTAKES.items():
                if all(_close(r[3], mistake(r[0], r[1], r[2])) for r in results):
                    return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        return _fail(f"your loss differs from PPO's clipped loss {numbers}. {_HINT}", raise_on_fail)
    if not all(r[3].requires_grad for r in results):
        return _fail(
            "the value is right but it carries no gradient (did you use .item(), numpy, "
            ".detach() or torch.no_grad()?); an optimiser needs the graph back to log_ratio",
            raise_on_fail,
            "no_gradient",
        )
    return report(
        Verdict(
            True,
            "your loss matches ppo_clip_loss on the seed's batch and on random batches "
            "(both signs of A, ratios outside the clip range, eps 0.1, 0.2 and 0.3)",
        ),
        raise_on_fail,
    )
