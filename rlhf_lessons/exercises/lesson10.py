"""Checkers for 10_verifiable_rewards' exercise.

`check_grpo_loss(fn)`: fn(per_token_loss, mask, loss_type) -> the scalar loss, for loss_type
"grpo" (mean over each response's tokens, then over responses: DeepSeekMath eq. 3), "dr_grpo"
(sum over every real token / (B · T), T = the mask's width: Liu et al. 2025) and "dapo" (sum /
the number of real tokens: Yu et al. 2025). It compares the learner's function with the package
(`trainers.grpo.aggregate_loss`) on hand-made and seeded random batches whose responses differ in
length and whose padding holds non-zero values (as a per-token loss computed on padding does),
and names the typical mistakes: padding counted, one aggregation for every loss type, "grpo" as
a token mean, "grpo" summing each response, "dr_grpo" divided by the tokens or by B alone.
"""

from __future__ import annotations

import torch

from ..trainers.grpo import aggregate_loss
from . import Verdict, mistake_id, report, run_candidate, scalar_loss_problem

__all__ = ["check_grpo_loss", "MISTAKES", "LOSS_TYPES"]

LOSS_TYPES = ("grpo", "dr_grpo", "dapo")  # what the exercise asks for


def _per_response_mean(x, m):
    return ((x * m).sum(-1) / m.sum(-1)).mean()


def _token_mean(x, m):
    return (x * m).sum() / m.sum()


def _dr_grpo(x, m):
    return (x * m).sum() / (m.shape[0] * m.shape[1])


def _right(x, m, loss_type):
    return {"grpo": _per_response_mean, "dr_grpo": _dr_grpo, "dapo": _token_mean}[loss_type](x, m)


def _but(loss_type, wrong):
    """A mistake made only for `loss_type`: the right aggregation for the other two."""
    return lambda x, m, t: wrong(x, m) if t == loss_type else _right(x, m, t)


MISTAKES = {
    "padding counted": (
        lambda x, m, t: {
            "grpo": x.mean(-1).mean(),
            "dr_grpo": x.sum() / (m.shape[0] * m.shape[1]),
            "dapo": x.mean(),
        }[t],
        "you average (or sum) the padding too: multiply by the mask first, and count only real "
        "tokens — the per-token loss after <eos> is not part of any response.",
    ),
    "grpo for every loss type": (
        lambda x, m, t: _per_response_mean(x, m),
        "every loss_type gives GRPO's per-response mean: read loss_type — dr_grpo divides the "
        "sum by B · T, dapo by the number of real tokens.",
    ),
    "token mean for every loss type": (
        lambda x, m, t: _token_mean(x, m),
        "every loss_type gives the token mean (that is dapo's): grpo averages within each "
        "response first, dr_grpo divides the sum by the constant B · T.",
    ),
    "grpo as a token mean": (
        _but("grpo", _token_mean),
        "your grpo is a token mean over the batch (dapo's); GRPO averages each response's "
        "tokens first, (loss * m).sum(-1) / m.sum(-1), then the responses.",
    ),
    "grpo sums each response": (
        _but("grpo", lambda x, m: (x * m).sum(-1).mean()),
        "your grpo sums each response's tokens; GRPO takes their mean, dividing by the response's "
        "own length m.sum(-1) (which is what makes it length-biased).",
    ),
    "dr_grpo divided by the tokens": (
        _but("dr_grpo", _token_mean),
        "your dr_grpo divides by the number of real tokens (that is dapo); Dr. GRPO divides by a "
        "constant, B · T (T = mask.shape[1], the longest a response may be).",
    ),
    "dr_grpo divided by B": (
        _but("dr_grpo", lambda x, m: (x * m).sum() / m.shape[0]),
        "your dr_grpo divides the sum by B only; divide by B · T, T = mask.shape[1].",
    ),
}

_HINT = (
    "hint: x, m = per_token_loss, mask.float(); grpo: ((x * m).sum(-1) / m.sum(-1)).mean(); "
    "dr_grpo: (x * m).sum() / (B * T); dapo: (x * m).sum() / m.sum()"
)


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(per_token_loss (B, T), mask (B, T)) pairs: lengths differ, padding holds garbage."""
    cases = [
        (
            torch.tensor([[1.0, 2.0, 3.0, 7.0], [4.0, -5.0, -9.0, 8.0], [0.5, 0.5, 0.5, 0.5]]),
            torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]]),
        )
    ]
    g = torch.Generator().manual_seed(100)
    for B, T in ((6, 9), (4, 14), (8, 5)):
        lengths = torch.randint(1, T + 1, (B,), generator=g)  # (B,) at least one real token
        lengths[0] = T - 1 if T > 1 else 1  # one response is never full: padding matters
        mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
        cases.append((torch.randn(B, T, generator=g), mask))
    return cases


def _close(a, b) -> bool:
    return bool(torch.allclose(a.detach().float(), b.detach().float(), atol=1e-5, rtol=1e-4))


def _fail(message: str, raise_on_fail: bool, mistake: str = "") -> Verdict:
    return report(Verdict(False, message, mistake), raise_on_fail)


def check_grpo_loss(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(per_token_loss, mask, loss_type)` against `aggregate_loss`.

    Introduced in 10_verifiable_rewards. Prints and returns a Verdict (raises only with
    raise_on_fail=True). A mistake is named only when it matches on every batch and loss type.
    """
    results = []
    for loss, mask in _cases():
        for loss_type in LOSS_TYPES:
            args = (loss.clone().requires_grad_(True), mask.clone(), loss_type)
            got, failed = run_candidate(fn, *args, stub_hint=_HINT)
            if failed is not None:
                return report(failed, raise_on_fail)
            if problem := scalar_loss_problem(got, "reduce the batch to one number"):
                return _fail(problem, raise_on_fail, "not_a_scalar_tensor")
            results.append((args, got, aggregate_loss(loss, mask, loss_type)))
    wrong = [x for x in results if not _close(x[1], x[2])]
    if wrong:
        (_, _, loss_type), got, expected = wrong[0]
        numbers = f"(loss_type={loss_type!r}: got {got.item():.4f}, expected {expected.item():.4f})"
        with torch.no_grad():
            for name, (mistake, message) in MISTAKES.items():
                if all(_close(x[1], mistake(x[0][0], x[0][1].float(), x[0][2])) for x in results):
                    return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        return _fail(f"your loss differs from aggregate_loss's {numbers}. {_HINT}", raise_on_fail)
    if not all(x[1].requires_grad for x in results):
        return _fail(
            "the value is right but carries no gradient (.item(), .detach() or no_grad?): the "
            "optimiser needs the graph back to per_token_loss",
            raise_on_fail,
            "no_gradient",
        )
    return report(
        Verdict(
            True,
            "your aggregation matches aggregate_loss for grpo (mean per response, then over "
            "responses), dr_grpo (sum / (B·T)) and dapo (sum / real tokens)",
        ),
        raise_on_fail,
    )
