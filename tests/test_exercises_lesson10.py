"""The checker of 10_verifiable_rewards' exercise accepts right answers, names typical wrong ones,
and says "not yet" (without raising) to the student edition's stub."""

from __future__ import annotations

import pytest
import torch

from rlhf_lessons.exercises import NOT_DONE, Verdict, mistake_id
from rlhf_lessons.exercises.lesson10 import MISTAKES, check_grpo_loss


def correct(per_token_loss, mask, loss_type):
    m = mask.to(per_token_loss.dtype)
    B, T = m.shape
    if loss_type == "grpo":
        return ((per_token_loss * m).sum(dim=1) / m.sum(dim=1)).mean()
    if loss_type == "dr_grpo":
        return (per_token_loss * m).sum() / (B * T)
    return (per_token_loss * m).sum() / m.sum()


def correct_by_loops(per_token_loss, mask, loss_type):  # one response at a time
    B, T = mask.shape
    sums = [per_token_loss[i][mask[i].bool()].sum() for i in range(B)]
    lengths = [int(mask[i].sum()) for i in range(B)]
    if loss_type == "grpo":
        return sum(s / n for s, n in zip(sums, lengths, strict=True)) / B
    if loss_type == "dr_grpo":
        return sum(sums) / (B * T)
    return sum(sums) / sum(lengths)


def stub(per_token_loss, mask, loss_type):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [correct, correct_by_loops])
def test_accepts_right_answers(fn, capsys):
    verdict = check_grpo_loss(fn)
    assert isinstance(verdict, Verdict) and verdict.ok, verdict.message
    assert "✅" in capsys.readouterr().out


def test_stub_not_done(capsys):
    verdict = check_grpo_loss(stub)
    assert not verdict.ok and verdict.mistake == NOT_DONE
    assert "⏳ not done yet" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_mistake_named(name):
    fn = MISTAKES[name][0]
    verdict = check_grpo_loss(lambda x, m, t: fn(x, m.float(), t))
    assert not verdict.ok and verdict.mistake == mistake_id(name)


def test_no_gradient_and_not_a_tensor():
    assert check_grpo_loss(lambda x, m, t: correct(x, m, t).detach()).mistake == "no_gradient"
    assert check_grpo_loss(lambda x, m, t: float(correct(x, m, t).detach())).mistake == (
        "not_a_scalar_tensor"
    )


def test_an_unexplained_wrong_answer_is_still_rejected():
    verdict = check_grpo_loss(lambda x, m, t: correct(x, m, t) * 2)
    assert not verdict.ok and verdict.mistake == "wrong_value"


def test_the_package_aggregation_is_grpo_loss_s():
    """aggregate_loss is what grpo_loss uses: with A = 1 and ratio 1 the loss is -aggregate(1)."""
    from rlhf_lessons.trainers.grpo import aggregate_loss, grpo_loss

    logprobs = torch.zeros(3, 4)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    advantages = torch.tensor([1.0, -2.0, 0.5])
    for loss_type in ("grpo", "bnpo", "dr_grpo", "dapo"):
        loss, _ = grpo_loss(logprobs, logprobs, logprobs, advantages, mask, beta=0.0,
                            loss_type=loss_type)  # fmt: skip
        per_token = -advantages[:, None].expand(3, 4)
        assert torch.allclose(loss, aggregate_loss(per_token, mask, loss_type))
