"""Checkers for 06_dpo_and_grpo's exercises.

1. `check_group_advantages(fn)`: fn(rewards, group_size, eps=1e-4) -> GRPO's advantages,
   each reward normalised within its own group: (r - mean_group) / (std_group + eps).
2. `check_dpo_loss(fn)`: fn(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,
   ref_rejected_logps, beta=0.1) -> DPO's loss.

Each runs the learner's function on hand-made and seeded random inputs, compares it with the
package (`trainers.grpo.group_advantages`, `losses.dpo_loss`) and, when it differs, says which
typical mistake it matches: normalising over the whole batch instead of per group, no eps
(nan on a group of equal rewards), the population std, dividing by the variance, forgetting
the mean; for DPO: forgetting the reference, the wrong sign, no beta, σ instead of log σ,
chosen and rejected swapped, a sum instead of a mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import dpo_loss
from ..trainers.grpo import group_advantages
from . import Verdict, mistake_id, report, run_candidate, scalar_loss_problem

__all__ = ["check_group_advantages", "check_dpo_loss", "GROUP_MISTAKES", "DPO_MISTAKES"]


# ── 1. GRPO's group advantages ───────────────────────────────────────────────────────────


def _grouped(r, G):
    return r.view(-1, G)


GROUP_MISTAKES = {
    "whole batch": (
        lambda r, G, e: (r - r.mean()) / (r.std() + e),
        "you normalise over the whole batch. GRPO compares each response only with the other "
        "responses *to the same prompt*: reshape to (B, G) with rewards.view(-1, group_size) "
        "and take mean and std along dim=1.",
    ),
    "no eps": (
        lambda r, G, e: (
            (_grouped(r, G) - _grouped(r, G).mean(1, keepdim=True))
            / _grouped(r, G).std(1, keepdim=True)
        ).view(-1),
        "a group whose rewards are all equal has std 0, and 0/0 gives nan. Add eps to the std: "
        "(r - mean) / (std + eps) — such a group then gets advantages 0 (it teaches nothing).",
    ),
    "population std": (
        lambda r, G, e: (
            (_grouped(r, G) - _grouped(r, G).mean(1, keepdim=True))
            / (_grouped(r, G).std(1, keepdim=True, unbiased=False) + e)
        ).view(-1),
        "you use the population std (divide by G); the course, like TRL, uses torch's default "
        "unbiased std (divide by G - 1): .std(dim=1, keepdim=True).",
    ),
    "variance instead of std": (
        lambda r, G, e: (
            (_grouped(r, G) - _grouped(r, G).mean(1, keepdim=True))
            / (_grouped(r, G).var(1, keepdim=True) + e)
        ).view(-1),
        "you divide by the variance; divide by the standard deviation (.std), so that each "
        "group's advantages have std ≈ 1.",
    ),
    "no mean": (
        lambda r, G, e: (_grouped(r, G) / (_grouped(r, G).std(1, keepdim=True) + e)).view(-1),
        "you forgot to subtract the group mean: the mean of the group is GRPO's baseline (the "
        "job of PPO's value model), so a response is rewarded only for beating its siblings.",
    ),
    "no std": (
        lambda r, G, e: (_grouped(r, G) - _grouped(r, G).mean(1, keepdim=True)).view(-1),
        "you subtract the group mean but do not divide by the group std (+ eps).",
    ),
    "wrong grouping (strided)": (
        lambda r, G, e: (
            group_advantages(r.view(G, -1).T.reshape(-1), G, e).view(-1, G).T.reshape(-1)
        ),
        "your groups are strided (every B-th reward); the G responses of one prompt sit next "
        "to each other: rewards.view(-1, group_size), one row per prompt.",
    ),
}

_GROUP_HINT = (
    "hint: groups = rewards.view(-1, group_size); A = (groups - groups.mean(dim=1, keepdim=True))"
    " / (groups.std(dim=1, keepdim=True) + eps); return A.view(-1)"
)


def _group_cases() -> list[tuple[torch.Tensor, int, float]]:
    """A hand example (one group of equal rewards), then seeded random batches."""
    cases = [(torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0]), 3, 1e-4)]
    g = torch.Generator().manual_seed(6)
    for B, G, eps in ((4, 8, 1e-4), (6, 4, 1e-2), (3, 5, 1e-4)):
        scale = torch.rand(B, 1, generator=g) * 3 + 0.2  # groups of different spread...
        shift = torch.randn(B, 1, generator=g) * 2  # ...and different means
        cases.append(((torch.randn(B, G, generator=g) * scale + shift).view(-1), G, eps))
    return cases


def _close(x, y) -> bool:
    x, y = torch.as_tensor(x).detach().double(), torch.as_tensor(y).detach().double()
    return x.shape == y.shape and bool(torch.allclose(x, y, rtol=1e-4, atol=1e-5, equal_nan=True))


def _fail(message: str, raise_on_fail: bool, mistake: str = "wrong_value") -> Verdict:
    return report(Verdict(False, message, mistake), raise_on_fail)


def check_group_advantages(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(rewards, group_size, eps=1e-4)` against `group_advantages`.

    Introduced in 06_dpo_and_grpo. Prints and returns a Verdict (raises only with
    raise_on_fail=True). A mistake is named only when it matches on every test batch.
    """
    results = []
    for rewards, G, eps in _group_cases():
        got, failed = run_candidate(fn, rewards.clone(), G, eps=eps, stub_hint=_GROUP_HINT)
        if failed is not None:
            return report(failed, raise_on_fail)
        if not isinstance(got, torch.Tensor):
            return _fail(f"return a torch tensor, got {type(got).__name__}", raise_on_fail)
        if got.shape != rewards.shape:
            return _fail(
                f"return one advantage per response, shape {tuple(rewards.shape)} (B·G,), "
                f"got shape {tuple(got.shape)}: flatten with .view(-1)",
                raise_on_fail,
            )
        results.append((rewards, G, eps, got, group_advantages(rewards, G, eps)))
    wrong = [r for r in results if not _close(r[3], r[4])]
    if wrong:
        rewards, G, eps, got, expected = wrong[0]
        numbers = (
            f"(on rewards={rewards.tolist()} with group_size={G}: got "
            f"{[round(v, 3) for v in got.tolist()]}, expected "
            f"{[round(v, 3) for v in expected.tolist()]})"
            if rewards.numel() <= 6
            else f"(on a random batch of {rewards.numel() // G} groups of {G})"
        )
        for name, (mistake, message) in GROUP_MISTAKES.items():
            if all(_close(r[3], mistake(r[0], r[1], r[2])) for r in results):
                return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        if torch.isnan(got).any():
            return _fail(f"{GROUP_MISTAKES['no eps'][1]} {numbers}", raise_on_fail)
        return _fail(f"your advantages differ from GRPO's {numbers}. {_GROUP_HINT}", raise_on_fail)
    return report(
        Verdict(
            True,
            "per-group mean and unbiased std with eps: a group of equal rewards gets "
            "advantages 0, every other group mean 0 and std ≈ 1",
        ),
        raise_on_fail,
    )


# ── 2. DPO's loss ────────────────────────────────────────────────────────────────────────


def _margin(pw, pl, rw, rl, b):
    return b * ((pw - rw) - (pl - rl))


DPO_MISTAKES = {
    "no reference": (
        lambda pw, pl, rw, rl, b: -F.logsigmoid(b * (pw - pl)).mean(),
        "you left out the reference. DPO's implicit reward is β·log π_θ(y|x)/π_ref(y|x): "
        "subtract ref_chosen_logps from policy_chosen_logps (and the same for rejected). "
        "Without it the loss only pushes likelihoods apart, with no KL leash at all.",
    ),
    "missing minus sign": (
        lambda pw, pl, rw, rl, b: F.logsigmoid(_margin(pw, pl, rw, rl, b)).mean(),
        "wrong sign: the loss is the *negative* log-likelihood of the preference, "
        "-F.logsigmoid(margin).mean(); yours is minimised by ranking rejected above chosen.",
    ),
    "chosen and rejected swapped": (
        lambda pw, pl, rw, rl, b: -F.logsigmoid(-_margin(pw, pl, rw, rl, b)).mean(),
        "chosen and rejected are swapped: the margin is (chosen log-ratio) - (rejected "
        "log-ratio), so that the loss falls when the chosen response gains probability. "
        "(Log-ratios taken the wrong way round, log π_ref - log π_θ, give the same margin.)",
    ),
    "no beta": (
        lambda pw, pl, rw, rl, b: -F.logsigmoid((pw - rw) - (pl - rl)).mean(),
        "you forgot beta: the implicit reward is β·log(π_θ/π_ref), so the margin is "
        "beta * ((pw - rw) - (pl - rl)).",
    ),
    "beta divides": (
        lambda pw, pl, rw, rl, b: -F.logsigmoid(((pw - rw) - (pl - rl)) / b).mean(),
        "you divide by beta; the implicit reward is β times the log-ratio (r = β·log π*/π_ref "
        "from π* ∝ π_ref·exp(r/β)).",
    ),
    "sigmoid instead of log-sigmoid": (
        lambda pw, pl, rw, rl, b: -torch.sigmoid(_margin(pw, pl, rw, rl, b)).mean(),
        "you take -σ(margin); Bradley–Terry's negative log-likelihood is -log σ(margin): "
        "F.logsigmoid (which is also numerically stable).",
    ),
    "sum instead of mean": (
        lambda pw, pl, rw, rl, b: -F.logsigmoid(_margin(pw, pl, rw, rl, b)).sum(),
        "you sum over pairs; take the mean, so that the loss (and the learning rate) does "
        "not depend on the batch size.",
    ),
    "beta ignored (hard-coded 0.1)": (
        lambda pw, pl, rw, rl, b: dpo_loss(pw, pl, rw, rl, 0.1),
        "your loss is right for beta = 0.1 but ignores the beta argument.",
    ),
}

_DPO_HINT = (
    "hint: margin = beta * ((policy_chosen_logps - ref_chosen_logps) - "
    "(policy_rejected_logps - ref_rejected_logps)); loss = -F.logsigmoid(margin).mean()"
)


def _dpo_cases() -> list[tuple[tuple[torch.Tensor, ...], float]]:
    """Hand-made summed logprobs (the reference prefers the rejected one), then random ones."""
    cases = [
        (
            (
                torch.tensor([-5.0, -7.0, -4.0]),
                torch.tensor([-6.0, -6.5, -9.0]),
                torch.tensor([-6.0, -7.5, -5.0]),
                torch.tensor([-5.5, -6.0, -8.0]),
            ),
            0.1,
        )
    ]
    g = torch.Generator().manual_seed(60)
    for B, beta in ((16, 0.5), (8, 0.05), (32, 1.0)):
        logps = tuple(-torch.rand(B, generator=g) * 20 for _ in range(4))  # (B,) sums < 0
        cases.append((logps, beta))
    return cases


def check_dpo_loss(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(pw, pl, rw, rl, beta=0.1)` against `dpo_loss`.

    Introduced in 06_dpo_and_grpo. Prints and returns a Verdict (raises only with
    raise_on_fail=True). A mistake is named only when it matches on every test batch.
    """
    results = []
    for logps, beta in _dpo_cases():
        args = tuple(t.clone().requires_grad_(i == 0) for i, t in enumerate(logps))
        got, failed = run_candidate(fn, *args, beta=beta, stub_hint=_DPO_HINT)
        if failed is not None:
            return report(failed, raise_on_fail)
        if problem := scalar_loss_problem(got, "average over pairs with .mean()"):
            return _fail(problem, raise_on_fail, "not_a_scalar_tensor")
        results.append((args, beta, got, dpo_loss(*logps, beta=beta)))
    wrong = [r for r in results if not _close(r[2], r[3])]
    if wrong:
        args, beta, got, expected = wrong[0]
        numbers = f"(got {got.item():.4f}, expected {expected.item():.4f} with beta={beta})"
        with torch.no_grad():
            for name, (mistake, message) in DPO_MISTAKES.items():
                if all(_close(r[2], mistake(*r[0], r[1])) for r in results):
                    return _fail(f"{message} {numbers}", raise_on_fail, mistake_id(name))
        return _fail(f"your loss differs from DPO's {numbers}. {_DPO_HINT}", raise_on_fail)
    if not all(r[2].requires_grad for r in results):
        return _fail(
            "the value is right but carries no gradient (.item(), numpy, .detach() or "
            "torch.no_grad()?): the optimiser needs the graph back to the policy's logprobs",
            raise_on_fail,
            "no_gradient",
        )
    # as lesson 02's checker: a pair the policy ranks very wrongly (margin = -200)
    extreme = (torch.tensor([-1000.0]), torch.tensor([-10.0]), torch.tensor([-10.0]),
               torch.tensor([-1000.0]), 0.1)  # fmt: skip
    got, failed = run_candidate(fn, *extreme[:4], beta=extreme[4])
    expected = dpo_loss(*extreme[:4], beta=extreme[4])
    if failed is not None or not torch.isfinite(got) or not _close(got, expected):
        value = failed.message if failed is not None else f"{got.item()}"
        return _fail(
            "the formula is right, but it breaks on a pair the policy ranks very wrongly "
            f"(margin = -198): your loss gives {value}, expected {expected.item():.1f}. "
            "torch.log(torch.sigmoid(x)) underflows to log(0) = -inf; F.logsigmoid(x) "
            "computes the same thing stably.",
            raise_on_fail,
            "unstable_log_sigmoid",
        )
    return report(
        Verdict(
            True,
            "your loss matches dpo_loss: -log σ(β·[(log π_w - log π_ref,w) - "
            "(log π_l - log π_ref,l)]), averaged over pairs",
        ),
        raise_on_fail,
    )
