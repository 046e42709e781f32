"""The checker of 03_ppo_clip's exercise accepts the right loss, names typical wrong ones, and says
"not yet" (without raising) to the student edition's stub."""

from __future__ import annotations

import pytest
import torch

from rlhf_lessons import ppo_clip_loss
from rlhf_lessons.exercises import Verdict, mistake_id
from rlhf_lessons.exercises.lesson03 import MISTAKES, check_ppo_clip_loss


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


def test_stub_is_not_done_yet_with_a_hint_and_does_not_raise(capsys):
    verdict = check_ppo_clip_loss(stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")


def test_stub_raises_only_when_asked():
    with pytest.raises(AssertionError, match="not done yet"):
        check_ppo_clip_loss(stub, raise_on_fail=True)


def test_undefined_function_is_not_yet():
    verdict = check_ppo_clip_loss(None)
    assert not verdict.ok and verdict.mistake == "not_defined"


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (missing_minus, "missing_minus_sign"),
        (max_instead_of_min, "max_instead_of_min"),
        (clip_without_min, "clip_without_min"),
        (clip_log_ratio, "clip_the_log_ratio_to_1_eps_1_eps"),
        (forgot_exp, "forgot_exp"),
        (summed, "sum_instead_of_mean"),
        (hard_coded_eps, "eps_ignored_hard_coded_0_2"),
        (per_sample, "not_a_scalar_tensor"),
        (detached, "no_gradient"),
        (as_float, "not_a_scalar_tensor"),
        (plain_wrong, "wrong_value"),
    ],
)
def test_rejects_a_typical_mistake_with_its_id(fn, mistake, capsys):
    verdict = check_ppo_clip_loss(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_every_listed_mistake_is_recognised_as_itself():
    for name, (fn, _message) in MISTAKES.items():
        verdict = check_ppo_clip_loss(lambda lr, a, eps=0.2, fn=fn: fn(lr, a, eps))
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_right_answer_has_no_mistake():
    assert check_ppo_clip_loss(correct).mistake == ""


def test_a_learner_bug_is_reported_not_raised():
    def broken(log_ratio, advantages, eps=0.2):
        return log_ratio.exp() @ torch.ones(3)  # wrong shapes

    verdict = check_ppo_clip_loss(broken)
    assert not verdict.ok and verdict.mistake == "raised"
