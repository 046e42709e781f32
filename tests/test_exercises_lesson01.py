"""The checker of 01_rlhf_pipeline's exercise (the response-only SFT loss) accepts the right
loss written several ways, names each typical mistake written as a learner would write it, and
says "not yet" (without raising) to the student edition's stub."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rlhf_lessons.exercises import Verdict
from rlhf_lessons.exercises.lesson01 import MISTAKES, check_sft_loss


def correct(logits, batch):
    P = batch.prompt_len
    nll = F.cross_entropy(
        logits[:, P - 1 : -1].transpose(1, 2), batch.response_ids, reduction="none"
    )
    mask = batch.response_mask.float()
    return (nll * mask).sum() / mask.sum()


def correct_with_log_softmax(logits, batch):
    """The same loss by gather, with the labels shifted instead of the logits."""
    logp = logits.log_softmax(-1)[:, :-1]  # (B, L-1, V): column t predicts token t+1
    targets = batch.input_ids[:, 1:]  # (B, L-1)
    token_logp = logp.gather(-1, targets[..., None]).squeeze(-1)  # (B, L-1)
    mask = torch.zeros_like(token_logp)
    mask[:, batch.prompt_len - 1 :] = batch.response_mask
    return -(token_logp * mask).sum() / mask.sum()


def correct_with_ignore_index(logits, batch):
    """The Hugging Face way: labels = -100 where there is no loss."""
    labels = batch.input_ids.clone()
    labels[:, : batch.prompt_len] = -100
    labels[:, batch.prompt_len :][batch.response_mask == 0] = -100
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )


def stub(logits, batch):
    # YOUR CODE HERE
    raise NotImplementedError


def prompt_included(logits, batch):  # the attention mask instead of the response mask
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), batch.input_ids[:, 1:], reduction="none")
    mask = batch.attention_mask[:, 1:].float()
    return (nll * mask).sum() / mask.sum()


def no_shift(logits, batch):
    P = batch.prompt_len
    nll = F.cross_entropy(logits[:, P:].transpose(1, 2), batch.response_ids, reduction="none")
    mask = batch.response_mask.float()
    return (nll * mask).sum() / mask.sum()


def one_late(logits, batch):
    P = batch.prompt_len
    nll = F.cross_entropy(
        logits[:, P:-1].transpose(1, 2), batch.response_ids[:, 1:], reduction="none"
    )
    mask = batch.response_mask[:, 1:].float()
    return (nll * mask).sum() / mask.sum()


def padding_counted(logits, batch):
    P = batch.prompt_len
    return F.cross_entropy(logits[:, P - 1 : -1].transpose(1, 2), batch.response_ids)


def per_sequence(logits, batch):
    P = batch.prompt_len
    nll = F.cross_entropy(
        logits[:, P - 1 : -1].transpose(1, 2), batch.response_ids, reduction="none"
    )
    mask = batch.response_mask.float()
    return ((nll * mask).sum(1) / mask.sum(1)).mean()


def summed(logits, batch):
    return correct(logits, batch) * batch.response_mask.sum()


def per_token(logits, batch):
    P = batch.prompt_len
    return F.cross_entropy(
        logits[:, P - 1 : -1].transpose(1, 2), batch.response_ids, reduction="none"
    )


def detached(logits, batch):
    return correct(logits, batch).detach()


def as_float(logits, batch):
    return correct(logits, batch).item()


def plain_wrong(logits, batch):
    return 2.0 * correct(logits, batch)


def crashes(logits, batch):
    return logits[:, batch.prompt_len] @ batch.response_ids


@pytest.mark.parametrize("fn", [correct, correct_with_log_softmax, correct_with_ignore_index])
def test_accepts_the_correct_loss_written_three_ways(fn, capsys):
    verdict = check_sft_loss(fn)
    assert isinstance(verdict, Verdict) and verdict.ok, verdict.message
    assert "✅ correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, words",
    [
        (prompt_included, "prompt tokens"),
        (no_shift, "logits[:, P:]"),
        (one_late, "second response token"),
        (padding_counted, "<pad> columns"),
        (per_sequence, "average each response first"),
        (summed, "you sum the token losses"),
    ],
)
def test_names_each_typical_mistake(fn, words, capsys):
    verdict = check_sft_loss(fn)
    assert not verdict.ok
    assert words in verdict.message, verdict.message
    assert "got" in verdict.message and "expected" in verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_every_listed_mistake_is_recognised_as_itself():
    for name, (fn, message) in MISTAKES.items():
        verdict = check_sft_loss(fn)
        assert not verdict.ok and verdict.message.startswith(message), name


def test_stub_gets_not_yet_with_a_hint_and_does_not_raise(capsys):
    verdict = check_sft_loss(stub)
    assert not verdict.ok
    assert "NotImplementedError" in verdict.message and "hint" in verdict.message
    assert "❌ not yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, words",
    [
        (per_token, "return a scalar"),
        (detached, "no gradient"),
        (as_float, "return a torch tensor"),
        (plain_wrong, "differs from the response-only SFT loss"),
        (crashes, "raised RuntimeError"),
        (None, "not defined yet"),
    ],
)
def test_other_failures_are_explained(fn, words):
    verdict = check_sft_loss(fn)
    assert not verdict.ok and words in verdict.message, verdict.message


def test_raise_on_fail_raises_only_when_asked():
    with pytest.raises(AssertionError, match="not yet"):
        check_sft_loss(no_shift, raise_on_fail=True)
    assert check_sft_loss(correct, raise_on_fail=True).ok
