"""The checker of 05_when_rlhf_breaks' exercise (the adaptive KL controller's update) accepts the
right update, names each typical slip, and says "not yet" to the stub without raising."""

from __future__ import annotations

import pytest

from rlhf_lessons.exercises import Verdict
from rlhf_lessons.exercises.lesson05 import check_update_beta


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


def test_stub_is_not_yet_with_a_hint():
    verdict = check_update_beta(stub)
    assert not verdict.ok and "NotImplementedError" in verdict.message and "hint" in verdict.message
    with pytest.raises(AssertionError):
        check_update_beta(stub, raise_on_fail=True)


@pytest.mark.parametrize(
    "fn, says",
    [
        (sign, "wrong way"),
        (unclipped, "not clipped"),
        (clip_change, "you clip the change of beta"),
        (no_horizon, "n_steps / horizon"),
        (additive, "additive"),
        (absolute, "relative to the target"),
        (a_string, "as a number"),
        (lambda *a: 2 * correct(*a), "expected"),
    ],
)
def test_names_the_mistake(fn, says):
    verdict = check_update_beta(fn)
    assert not verdict.ok and says in verdict.message, verdict.message
