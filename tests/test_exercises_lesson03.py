"""The checker of 03_ppo_clip's exercise accepts the right loss, names typical wrong ones, and says
"not yet" (without raising) to the student edition's stub."""

from __future__ import annotations

import pytest
import torch

from rlhf_lessons import ppo_clip_loss
from rlhf_lessons.exercises import Verdict
from rlhf_lessons.exercises.lesson03 import check_ppo_clip_loss


def correct(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()
    clipped = ratio.clamp(1 - eps, 1 + eps)
    return -torch.min(ratio * advantages, clipped * advantages).mean()


def stub(log_ratio, advantages, eps=0.2):
    # YOUR CODE HERE
    raise NotImplementedError


def missing_minus(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()
    return torch.min(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages).mean()


def max_instead_of_min(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()
    return -torch.max(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages).mean()


def clip_without_min(log_ratio, advantages, eps=0.2):
    return -(log_ratio.exp().clamp(1 - eps, 1 + eps) * advantages).mean()


def clip_log_ratio(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()
    return -torch.min(ratio * advantages, log_ratio.clamp(1 - eps, 1 + eps) * advantages).mean()


def forgot_exp(log_ratio, advantages, eps=0.2):
    ratio = log_ratio
    return -torch.min(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages).mean()


def summed(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()
    return -torch.min(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages).sum()


def hard_coded_eps(log_ratio, advantages, eps=0.2):
    return correct(log_ratio, advantages, 0.2)


def per_sample(log_ratio, advantages, eps=0.2):
    ratio = log_ratio.exp()
    return -torch.min(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages)


def detached(log_ratio, advantages, eps=0.2):
    return correct(log_ratio, advantages, eps).detach()


def as_float(log_ratio, advantages, eps=0.2):
    return correct(log_ratio, advantages, eps).item()


def plain_wrong(log_ratio, advantages, eps=0.2):
    return 2.0 * correct(log_ratio, advantages, eps)


def test_accepts_the_correct_loss_and_the_package_function(capsys):
    verdict = check_ppo_clip_loss(correct)
    assert isinstance(verdict, Verdict) and verdict.ok
    assert "✅ correct" in capsys.readouterr().out
    assert check_ppo_clip_loss(ppo_clip_loss).ok


def test_stub_gets_not_yet_with_a_hint_and_does_not_raise(capsys):
    verdict = check_ppo_clip_loss(stub)
    assert not verdict.ok
    out = capsys.readouterr().out
    assert "not yet" in out and "NotImplementedError" in out
    assert "clamp(1 - eps, 1 + eps)" in verdict.message  # the hint


def test_stub_raises_only_when_asked():
    with pytest.raises(AssertionError, match="NotImplementedError"):
        check_ppo_clip_loss(stub, raise_on_fail=True)


def test_undefined_function_is_not_yet():
    verdict = check_ppo_clip_loss(None)
    assert not verdict.ok and "not defined" in verdict.message


@pytest.mark.parametrize(
    "fn, says",
    [
        (missing_minus, "wrong sign"),
        (max_instead_of_min, "take the max"),
        (clip_without_min, "only the clipped term"),
        (clip_log_ratio, "clip the log-ratio to [1-eps, 1+eps]"),
        (forgot_exp, "as if it were the ratio"),
        (summed, "you sum over the samples"),
        (hard_coded_eps, "ignores the eps argument"),
        (per_sample, "return a scalar"),
        (detached, "carries no gradient"),
        (as_float, "return a torch tensor"),
        (plain_wrong, "differs from PPO's clipped loss"),
    ],
)
def test_rejects_a_typical_mistake_with_a_specific_message(fn, says, capsys):
    verdict = check_ppo_clip_loss(fn)
    assert not verdict.ok
    assert says in verdict.message
    assert "not yet" in capsys.readouterr().out
    # each message is specific: no other mistake's text appears
    others = {"wrong sign", "take the max", "only the clipped term", "you sum over the samples"}
    assert not any(o in verdict.message for o in others - {says})


def test_a_learner_bug_is_reported_not_raised():
    def broken(log_ratio, advantages, eps=0.2):
        return log_ratio.exp() @ torch.ones(3)  # wrong shapes

    verdict = check_ppo_clip_loss(broken)
    assert not verdict.ok and "raised RuntimeError" in verdict.message
