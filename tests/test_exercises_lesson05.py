"""The checker of 05_when_rlhf_breaks' exercise (the adaptive KL controller's update) accepts the
right update, names each typical slip, and says "not yet" to the stub without raising."""

from __future__ import annotations

import math

import pytest

from rlhf_lessons.exercises import Verdict, mistake_id
from rlhf_lessons.exercises.lesson05 import MISTAKES, check_update_beta


def correct(beta, kl, target, horizon, n_steps):
    error = min(max(kl / target - 1, -0.2), 0.2)
    return beta * (1 + error * n_steps / horizon)


def stub(beta, kl, target, horizon, n_steps):
    # YOUR CODE HERE
    raise NotImplementedError


def sign(beta, kl, target, horizon, n_steps):
    error = min(max(1 - kl / target, -0.2), 0.2)
    return beta * (1 + error * n_steps / horizon)


def unclipped(beta, kl, target, horizon, n_steps):
    return beta * (1 + (kl / target - 1) * n_steps / horizon)


def clip_change(beta, kl, target, horizon, n_steps):
    return beta * (1 + min(max((kl / target - 1) * n_steps / horizon, -0.2), 0.2))


def no_horizon(beta, kl, target, horizon, n_steps):
    return beta * (1 + min(max(kl / target - 1, -0.2), 0.2))


def additive(beta, kl, target, horizon, n_steps):
    return beta + min(max(kl / target - 1, -0.2), 0.2) * n_steps / horizon


def absolute(beta, kl, target, horizon, n_steps):
    return beta * (1 + min(max(kl - target, -0.2), 0.2) * n_steps / horizon)


def a_string(beta, kl, target, horizon, n_steps):
    return "0.1"


def test_accepts_the_right_update(capsys):
    verdict = check_update_beta(correct)
    assert isinstance(verdict, Verdict) and verdict.ok
    assert "✅ correct" in capsys.readouterr().out


def exponential(beta, kl, target, horizon, n_steps):
    return beta * math.exp(min(max(kl / target - 1, -0.2), 0.2) * n_steps / horizon)


def test_stub_is_not_done_yet_with_a_hint(capsys):
    verdict = check_update_beta(stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")
    with pytest.raises(AssertionError):
        check_update_beta(stub, raise_on_fail=True)


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (sign, "sign_turned_round"),
        (unclipped, "no_clip"),
        (clip_change, "clip_beta_s_change"),
        (no_horizon, "no_n_steps_horizon"),
        (additive, "additive_update"),
        (exponential, "exponential_update"),
        (absolute, "absolute_error"),
        (a_string, "not_a_number"),
        (lambda *a: 2 * correct(*a), "wrong_value"),
    ],
)
def test_names_the_mistake(fn, mistake):
    verdict = check_update_beta(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message


def test_every_listed_mistake_is_recognised_as_itself():
    for name, (fn, _message) in MISTAKES.items():
        verdict = check_update_beta(fn)
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_right_answer_has_no_mistake_and_a_wrong_one_shows_the_numbers():
    assert check_update_beta(correct).mistake == ""
    assert "expected" in check_update_beta(lambda *a: 2 * correct(*a)).message
