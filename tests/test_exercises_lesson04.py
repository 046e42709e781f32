"""The checker of 04_ppo_loop's exercise (write GAE) accepts right answers, names each typical
mistake, and says "not yet" (without raising) to the student edition's stub. The learner
functions below are written out independently, the way a learner would write them — not
through the checker's own mistake catalogue."""

from __future__ import annotations

import pytest
import torch

from rlhf_lessons import gae
from rlhf_lessons.exercises import Verdict, mistake_id
from rlhf_lessons.exercises.lesson04 import MISTAKES, check_gae


def correct(rewards, values, gamma, lam, mask):
    rewards, values = rewards * mask, values * mask
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_advantage, next_value = torch.zeros(B), torch.zeros(B)
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = next_advantage
        next_value = values[:, t]
    returns = advantages + values
    return advantages * mask, returns * mask


def vectorised(rewards, values, gamma, lam, mask):
    """A different right answer: A_t = Σ_k (γλ)^k δ_{t+k} as a matrix product."""
    m = mask.float()
    r, v = rewards * m, values * m
    T = r.shape[1]
    next_v = torch.cat([v[:, 1:], torch.zeros(v.shape[0], 1)], dim=1)
    delta = r + gamma * next_v - v
    k = torch.arange(T)
    weights = ((gamma * lam) ** (k[None, :] - k[:, None]).clamp(min=0).float()) * (
        k[None, :] >= k[:, None]
    )
    adv = delta @ weights.T
    return adv * m, (adv + v) * m


def stub(rewards, values, gamma, lam, mask):
    # YOUR CODE HERE
    raise NotImplementedError


def forward_loop(rewards, values, gamma, lam, mask):
    rewards, values = rewards * mask, values * mask
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    running = torch.zeros(B)
    for t in range(T):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros(B)
        running = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * running
        adv[:, t] = running
    return adv * mask, (adv + values) * mask


def no_decay(rewards, values, gamma, lam, mask):
    rewards, values = rewards * mask, values * mask
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    running, next_value = torch.zeros(B), torch.zeros(B)
    for t in reversed(range(T)):
        running = rewards[:, t] + gamma * next_value - values[:, t] + running
        adv[:, t] = running
        next_value = values[:, t]
    return adv * mask, (adv + values) * mask


def lam_only(rewards, values, gamma, lam, mask):
    rewards, values = rewards * mask, values * mask
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    running, next_value = torch.zeros(B), torch.zeros(B)
    for t in reversed(range(T)):
        running = rewards[:, t] + gamma * next_value - values[:, t] + lam * running
        adv[:, t] = running
        next_value = values[:, t]
    return adv * mask, (adv + values) * mask


def from_padding(rewards, values, gamma, lam, mask):
    B, T = rewards.shape  # values used as the value model gave them, padding included
    adv = torch.zeros_like(rewards)
    running, next_value = torch.zeros(B), torch.zeros(B)
    for t in reversed(range(T)):
        running = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * running
        adv[:, t] = running
        next_value = values[:, t]
    return adv * mask, (adv + values) * mask


def off_by_one(rewards, values, gamma, lam, mask):
    rewards, values = rewards * mask, values * mask
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    running = torch.zeros(B)
    for t in reversed(range(T)):
        running = rewards[:, t] + gamma * values[:, t] - values[:, t] + gamma * lam * running
        adv[:, t] = running
    return adv * mask, (adv + values) * mask


def returns_are_advantages(rewards, values, gamma, lam, mask):
    adv, _ = correct(rewards, values, gamma, lam, mask)
    return adv, adv


def padding_left(rewards, values, gamma, lam, mask):
    adv, ret = correct(rewards, values, gamma, lam, torch.ones_like(mask))
    masked_adv, masked_ret = correct(rewards, values, gamma, lam, mask)
    return masked_adv + (1 - mask) * 0.5, masked_ret


def one_output(rewards, values, gamma, lam, mask):
    return correct(rewards, values, gamma, lam, mask)[0]


def plain_wrong(rewards, values, gamma, lam, mask):
    adv, ret = correct(rewards, values, gamma, lam, mask)
    return 2 * adv, ret


def test_accepts_right_answers(capsys):
    for fn in (correct, vectorised, gae):
        verdict = check_gae(fn)
        assert isinstance(verdict, Verdict) and verdict.ok, verdict.message
    assert "✅ correct" in capsys.readouterr().out


def test_stub_is_not_done_yet_with_a_hint_and_does_not_raise(capsys):
    verdict = check_gae(stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")
    with pytest.raises(AssertionError, match="not done yet"):
        check_gae(stub, raise_on_fail=True)


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (forward_loop, "forward_loop"),
        (no_decay, "missing_gamma_lam"),
        (lam_only, "lam_without_gamma"),
        (from_padding, "bootstrapping_from_padding"),
        (off_by_one, "v_t_instead_of_v_t_1"),
        (returns_are_advantages, "returns_without_values"),
        (padding_left, "padding_not_zero"),
        (one_output, "not_a_pair"),
        (plain_wrong, "wrong_value"),
    ],
)
def test_rejects_a_typical_mistake_with_its_id(fn, mistake, capsys):
    verdict = check_gae(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_every_listed_mistake_is_recognised_as_itself():
    for name, (fn, _message) in MISTAKES.items():
        verdict = check_gae(fn)
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_right_answer_has_no_mistake():
    assert check_gae(correct).mistake == ""


def test_a_learner_bug_is_reported_not_raised():
    def broken(rewards, values, gamma, lam, mask):
        return rewards @ torch.ones(3), values

    verdict = check_gae(broken)
    assert not verdict.ok and verdict.mistake == "raised"
