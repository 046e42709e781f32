"""The checker of 01_rlhf_pipeline's exercise (the response-only SFT loss) accepts the right
loss written several ways, names each typical mistake written as a learner would write it, and
says "not yet" (without raising) to the student edition's stub."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rlhf_lessons.exercises import Verdict, mistake_id
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


def eos_left_out(logits, batch):  # the mask without the <eos> token
    P = batch.prompt_len
    nll = F.cross_entropy(
        logits[:, P - 1 : -1].transpose(1, 2), batch.response_ids, reduction="none"
    )
    mask = batch.response_mask.float() * (batch.response_ids != 2)
    return (nll * mask).sum() / mask.sum()


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (prompt_included, "prompt_tokens_in_the_loss"),
        (no_shift, "no_shift"),
        (one_late, "shift_one_token_late"),
        (padding_counted, "padding_counted"),
        (per_sequence, "per_sequence_mean"),
        (summed, "sum_instead_of_mean"),
        (eos_left_out, "eos_left_out"),
    ],
)
def test_names_each_typical_mistake(fn, mistake, capsys):
    verdict = check_sft_loss(fn)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_a_named_mistake_shows_the_numbers():
    verdict = check_sft_loss(no_shift)
    assert "got" in verdict.message and "expected" in verdict.message


def test_every_listed_mistake_is_recognised_as_itself():
    for name, (fn, _message) in MISTAKES.items():
        verdict = check_sft_loss(fn)
        assert not verdict.ok and verdict.mistake == mistake_id(name), name


def test_right_answer_has_no_mistake_and_a_generic_wrong_one_is_wrong_value():
    assert check_sft_loss(correct).mistake == ""
    assert check_sft_loss(plain_wrong).mistake == "wrong_value"


def test_stub_is_not_done_yet_with_a_hint_and_does_not_raise(capsys):
    verdict = check_sft_loss(stub)
    assert not verdict.ok and not verdict.done
    assert verdict.mistake == "not_done"
    assert "hint" in verdict.message
    assert capsys.readouterr().out.startswith("⏳ not done yet")


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (per_token, "not_a_scalar_tensor"),
        (detached, "no_gradient"),
        (as_float, "not_a_scalar_tensor"),
        (plain_wrong, "wrong_value"),
        (crashes, "raised"),
        (None, "not_defined"),
    ],
)
def test_other_failures_are_explained(fn, mistake):
    verdict = check_sft_loss(fn)
    assert not verdict.ok and verdict.mistake == mistake, verdict.message


def test_raise_on_fail_raises_only_when_asked():
    with pytest.raises(AssertionError, match="not yet"):
        check_sft_loss(no_shift, raise_on_fail=True)
    assert check_sft_loss(correct, raise_on_fail=True).ok
