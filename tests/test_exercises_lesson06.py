"""The checkers of 06_dpo_and_grpo's exercises accept right answers, name typical wrong ones, and
say "not yet" (without raising) to the student edition's stubs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rlhf_lessons.exercises import Verdict, mistake_id
from rlhf_lessons.exercises.lesson06 import (
    DPO_MISTAKES,
    GROUP_MISTAKES,
    check_dpo_loss,
    check_group_advantages,
)

# ── group advantages ─────────────────────────────────────────────────────────────────────


def adv_correct(rewards, group_size, eps=1e-4):
    groups = rewards.view(-1, group_size)
    mean, std = groups.mean(dim=1, keepdim=True), groups.std(dim=1, keepdim=True)
    return ((groups - mean) / (std + eps)).view(-1)


def adv_loop(rewards, group_size, eps=1e-4):  # a different but right way: a Python loop
    out = []
    for i in range(0, len(rewards), group_size):
        g = rewards[i : i + group_size]
        out.append((g - g.mean()) / (g.std() + eps))
    return torch.cat(out)


def adv_stub(rewards, group_size, eps=1e-4):
    raise NotImplementedError


def adv_whole_batch(rewards, group_size, eps=1e-4):
    return (rewards - rewards.mean()) / (rewards.std() + eps)


def adv_no_eps(rewards, group_size, eps=1e-4):
    groups = rewards.view(-1, group_size)
    return ((groups - groups.mean(1, keepdim=True)) / groups.std(1, keepdim=True)).view(-1)


def adv_population_std(rewards, group_size, eps=1e-4):
    groups = rewards.view(-1, group_size)
    std = groups.std(1, keepdim=True, unbiased=False)
    return ((groups - groups.mean(1, keepdim=True)) / (std + eps)).view(-1)


def adv_no_mean(rewards, group_size, eps=1e-4):
    groups = rewards.view(-1, group_size)
    return (groups / (groups.std(1, keepdim=True) + eps)).view(-1)


def adv_strided(rewards, group_size, eps=1e-4):
    groups = rewards.view(group_size, -1)  # wrong: one column per prompt
    A = (groups - groups.mean(0, keepdim=True)) / (groups.std(0, keepdim=True) + eps)
    return A.reshape(-1)


def adv_grouped_shape(rewards, group_size, eps=1e-4):
    return adv_correct(rewards, group_size, eps).view(-1, group_size)


@pytest.mark.parametrize("fn", [adv_correct, adv_loop])
def test_group_checker_accepts_right_answers(fn, capsys):
    verdict = check_group_advantages(fn)
    assert isinstance(verdict, Verdict) and verdict.ok, verdict.message
    assert "✅ correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (adv_whole_batch, "whole_batch"),
        (adv_no_eps, "no_eps"),
        (adv_population_std, "population_std"),
        (adv_no_mean, "no_mean"),
        (adv_strided, "wrong_grouping_strided"),
        (adv_grouped_shape, "wrong_value"),  # the shape check names no id of its own
        (lambda r, G, eps=1e-4: 2 * adv_correct(r, G, eps), "wrong_value"),
    ],
)
def test_group_checker_names_typical_mistakes(fn, mistake, capsys):
    verdict = check_group_advantages(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_group_checker_recognises_every_listed_mistake_as_itself():
    for name, (fn, _message) in GROUP_MISTAKES.items():
        verdict = check_group_advantages(lambda r, G, eps=1e-4, fn=fn: fn(r, G, eps))
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_group_checker_right_answer_has_no_mistake():
    assert check_group_advantages(adv_correct).mistake == ""


def test_group_stub_is_not_done_yet_with_a_hint(capsys):
    verdict = check_group_advantages(adv_stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")


def test_group_checker_raises_only_when_asked():
    with pytest.raises(AssertionError, match="not yet"):
        check_group_advantages(adv_whole_batch, raise_on_fail=True)


# ── DPO loss ─────────────────────────────────────────────────────────────────────────────


def dpo_correct(pw, pl, rw, rl, beta=0.1):
    return -F.logsigmoid(beta * ((pw - rw) - (pl - rl))).mean()


def dpo_softplus(pw, pl, rw, rl, beta=0.1):  # -log σ(x) = softplus(-x): also right
    return F.softplus(-beta * ((pw - pl) - (rw - rl))).mean()


def dpo_stub(pw, pl, rw, rl, beta=0.1):
    raise NotImplementedError


def dpo_no_reference(pw, pl, rw, rl, beta=0.1):
    return -F.logsigmoid(beta * (pw - pl)).mean()


def dpo_wrong_sign(pw, pl, rw, rl, beta=0.1):
    return F.logsigmoid(beta * ((pw - rw) - (pl - rl))).mean()


def dpo_no_beta(pw, pl, rw, rl, beta=0.1):
    return -F.logsigmoid((pw - rw) - (pl - rl)).mean()


def dpo_sigmoid(pw, pl, rw, rl, beta=0.1):
    return -torch.sigmoid(beta * ((pw - rw) - (pl - rl))).mean()


def dpo_swapped(pw, pl, rw, rl, beta=0.1):
    return -F.logsigmoid(beta * ((pl - rl) - (pw - rw))).mean()


def dpo_detached(pw, pl, rw, rl, beta=0.1):
    return torch.tensor(dpo_correct(pw, pl, rw, rl, beta).item())


@pytest.mark.parametrize("fn", [dpo_correct, dpo_softplus])
def test_dpo_checker_accepts_right_answers(fn):
    assert check_dpo_loss(fn).ok


def dpo_unstable(pw, pl, rw, rl, beta=0.1):  # log(sigmoid): -inf on an extreme pair
    return -torch.log(torch.sigmoid(beta * ((pw - rw) - (pl - rl)))).mean()


def dpo_doubled(pw, pl, rw, rl, beta=0.1):
    return 2 * dpo_correct(pw, pl, rw, rl, beta)


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (dpo_no_reference, "no_reference"),
        (dpo_wrong_sign, "missing_minus_sign"),
        (dpo_no_beta, "no_beta"),
        (dpo_sigmoid, "sigmoid_instead_of_log_sigmoid"),
        (dpo_swapped, "chosen_and_rejected_swapped"),
        (dpo_detached, "no_gradient"),
        (dpo_unstable, "unstable_log_sigmoid"),
        (dpo_doubled, "wrong_value"),
    ],
)
def test_dpo_checker_names_typical_mistakes(fn, mistake):
    verdict = check_dpo_loss(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message


def test_dpo_checker_recognises_every_listed_mistake_as_itself():
    for name, (fn, _message) in DPO_MISTAKES.items():
        verdict = check_dpo_loss(lambda pw, pl, rw, rl, beta=0.1, fn=fn: fn(pw, pl, rw, rl, beta))
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_dpo_checker_right_answer_has_no_mistake_and_a_wrong_one_shows_the_numbers():
    assert check_dpo_loss(dpo_correct).mistake == ""
    message = check_dpo_loss(dpo_doubled).message
    assert "got" in message and "expected" in message


def test_dpo_stub_is_not_done_yet_with_a_hint(capsys):
    verdict = check_dpo_loss(dpo_stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")
