"""The checker of 02_reward_model's exercise (the Bradley–Terry loss with a margin) accepts the
right loss, names each typical mistake, flags an unstable log(sigmoid), and says "not yet"
(without raising) to the student edition's stub."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rlhf_lessons import reward_model_loss
from rlhf_lessons.exercises import Verdict, mistake_id
from rlhf_lessons.exercises.lesson02 import MISTAKES, check_reward_model_loss


def correct(score_chosen, score_rejected, margin=0.0):
    return -F.logsigmoid(score_chosen - score_rejected - margin).mean()


def softplus_form(score_chosen, score_rejected, margin=0.0):
    return F.softplus(score_rejected - score_chosen + margin).mean()  # -log σ(x) = softplus(-x)


def stub(score_chosen, score_rejected, margin=0.0):
    # YOUR CODE HERE
    raise NotImplementedError


def missing_minus(score_chosen, score_rejected, margin=0.0):
    return F.logsigmoid(score_chosen - score_rejected - margin).mean()


def margin_plus(score_chosen, score_rejected, margin=0.0):
    return -F.logsigmoid(score_chosen - score_rejected + margin).mean()


def swapped(score_chosen, score_rejected, margin=0.0):
    return -F.logsigmoid(score_rejected - score_chosen - margin).mean()


def margin_ignored(score_chosen, score_rejected, margin=0.0):
    return -F.logsigmoid(score_chosen - score_rejected).mean()


def summed(score_chosen, score_rejected, margin=0.0):
    return -F.logsigmoid(score_chosen - score_rejected - margin).sum()


def no_log(score_chosen, score_rejected, margin=0.0):
    return -torch.sigmoid(score_chosen - score_rejected - margin).mean()


def unstable(score_chosen, score_rejected, margin=0.0):
    return -torch.log(torch.sigmoid(score_chosen - score_rejected - margin)).mean()


def per_pair(score_chosen, score_rejected, margin=0.0):
    return -F.logsigmoid(score_chosen - score_rejected - margin)


def detached(score_chosen, score_rejected, margin=0.0):
    return correct(score_chosen, score_rejected, margin).detach()


def as_float(score_chosen, score_rejected, margin=0.0):
    return correct(score_chosen, score_rejected, margin).item()


def plain_wrong(score_chosen, score_rejected, margin=0.0):
    return (score_chosen - score_rejected - margin).pow(2).mean()  # a "regression"


@pytest.mark.parametrize("fn", [correct, softplus_form, reward_model_loss])
def test_accepts_the_correct_loss(fn, capsys):
    verdict = check_reward_model_loss(fn)
    assert isinstance(verdict, Verdict) and verdict.ok, verdict.message
    assert "✅ correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (missing_minus, "missing_minus_sign"),
        (margin_plus, "margin_with_the_wrong_sign"),
        (swapped, "chosen_and_rejected_swapped"),
        (margin_ignored, "margin_ignored"),
        (summed, "sum_instead_of_mean"),
        (no_log, "missing_log"),
    ],
)
def test_names_each_typical_mistake(fn, mistake, capsys):
    verdict = check_reward_model_loss(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_every_listed_mistake_is_recognised_as_itself():
    for name, (fn, _message) in MISTAKES.items():
        verdict = check_reward_model_loss(lambda c, r, margin=0.0, fn=fn: fn(c, r, margin))
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_seed_numbers_appear_when_the_order_is_swapped():
    verdict = check_reward_model_loss(swapped)
    assert "got 1.4927, expected 0.2593" in verdict.message


def test_unstable_log_sigmoid_is_named():
    verdict = check_reward_model_loss(unstable)
    assert not verdict.ok and verdict.mistake == "unstable_log_sigmoid", verdict.message


def test_right_answer_has_no_mistake_and_a_generic_wrong_one_is_wrong_value():
    assert check_reward_model_loss(correct).mistake == ""
    doubled = lambda c, r, margin=0.0: 2.0 * correct(c, r, margin)  # noqa: E731
    assert check_reward_model_loss(doubled).mistake == "wrong_value"


def test_stub_is_not_done_yet_with_a_hint_and_does_not_raise(capsys):
    verdict = check_reward_model_loss(stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (per_pair, "not_a_scalar_tensor"),
        (detached, "no_gradient"),
        (as_float, "not_a_scalar_tensor"),
        (plain_wrong, "wrong_value"),
        (None, "not_defined"),
    ],
)
def test_other_failures_are_explained(fn, mistake):
    verdict = check_reward_model_loss(fn)
    assert not verdict.ok and verdict.mistake == mistake, verdict.message


def test_raise_on_fail_raises_only_when_asked():
    with pytest.raises(AssertionError, match="not yet"):
        check_reward_model_loss(margin_plus, raise_on_fail=True)
    assert check_reward_model_loss(correct, raise_on_fail=True).ok
