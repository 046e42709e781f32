"""The checker of 09_policy_gradient's exercise accepts right answers, names typical wrong ones,
and says "not yet" (without raising) to the student edition's stub."""

from __future__ import annotations

import pytest

from rlhf_lessons.exercises import NOT_DONE, Verdict, mistake_id
from rlhf_lessons.exercises.lesson09 import MISTAKES, check_reinforce_loss


def correct(seq_logprobs, rewards, baseline):
    return -((rewards - baseline).detach() * seq_logprobs).mean()


def stub(seq_logprobs, rewards, baseline):
    raise NotImplementedError


def not_detached(seq_logprobs, rewards, baseline):
    return -((rewards - baseline) * seq_logprobs).mean()


def test_accepts_right_answer(capsys):
    verdict = check_reinforce_loss(correct)
    assert isinstance(verdict, Verdict) and verdict.ok, verdict.message
    assert "✅" in capsys.readouterr().out


def test_stub_not_done():
    assert check_reinforce_loss(stub).mistake == NOT_DONE


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_mistake_named(name):
    fn = MISTAKES[name][0]
    verdict = check_reinforce_loss(lambda lp, r, b: fn(lp, r, b))
    assert not verdict.ok and verdict.mistake == mistake_id(name)


def test_baseline_not_detached():
    assert check_reinforce_loss(not_detached).mistake == "baseline_not_detached"
