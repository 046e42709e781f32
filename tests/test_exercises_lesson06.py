"""The checkers of 06_dpo_and_grpo's exercises accept right answers, name typical wrong ones, and
say "not yet" (without raising) to the student edition's stubs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rlhf_lessons.exercises import Verdict
from rlhf_lessons.exercises.lesson06 import check_dpo_loss, check_group_advantages

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
    "fn, words",
    [
        (adv_whole_batch, "whole batch"),
        (adv_no_eps, "0/0 gives nan"),
        (adv_population_std, "population std"),
        (adv_no_mean, "forgot to subtract the group mean"),
        (adv_strided, "strided"),
        (adv_grouped_shape, "one advantage per response"),
        (adv_stub, "NotImplementedError"),
    ],
)
def test_group_checker_names_typical_mistakes(fn, words, capsys):
    verdict = check_group_advantages(fn)
    assert not verdict.ok
    assert words in verdict.message, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_group_checker_raises_only_when_asked():
    with pytest.raises(AssertionError, match="whole batch"):
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


@pytest.mark.parametrize(
    "fn, words",
    [
        (dpo_no_reference, "left out the reference"),
        (dpo_wrong_sign, "wrong sign"),
        (dpo_no_beta, "forgot beta"),
        (dpo_sigmoid, "log σ"),
        (dpo_swapped, "swapped"),
        (dpo_detached, "no gradient"),
        (dpo_stub, "NotImplementedError"),
    ],
)
def test_dpo_checker_names_typical_mistakes(fn, words):
    verdict = check_dpo_loss(fn)
    assert not verdict.ok
    assert words in verdict.message, verdict.message
