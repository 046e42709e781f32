"""The toy verifiable task (issue 14, lesson 10): each rule, and GRPO learns from it."""

from __future__ import annotations

import pytest

from rlhf_lessons.toy.verifier import verify, verify_all, why_not


@pytest.mark.parametrize(
    "response, reason",
    [
        ("a great film <eos>", None),
        ("a great film", "no <eos>"),
        ("great <eos>", "1 word, not 3..6"),
        ("the plot and cast and great acting was so <eos>", "9 words, not 3..6"),
        ("a long film <eos>", "no positive adjective"),
        ("a great but boring film <eos>", "a negative adjective"),
        ("great great film <eos>", "a repeated word"),
    ],
)
def test_each_rule(response, reason):
    assert why_not(response) == reason
    assert verify(response) == (1.0 if reason is None else 0.0)


def test_batch_and_bad_input():
    assert verify_all(["a great film <eos>", "film"]) == [1.0, 0.0]
    with pytest.raises(TypeError, match="response"):
        verify(3)


def test_grpo_learns_the_verifiable_task():
    import copy

    from rlhf_lessons.trainers.grpo import GRPOConfig, train_grpo
    from rlhf_lessons.trainers.toy_models import toy_sft_policy

    sft, tok = toy_sft_policy()
    config = GRPOConfig.toy(beta=0.0, steps=15, eval_every=0)
    result = train_grpo(config, copy.deepcopy(sft), sft, None, tok, reward_fn=verify_all,
                        progress=False)  # fmt: skip
    first = sum(r["reward"] for r in result.metrics[:3]) / 3
    last = sum(r["reward"] for r in result.metrics[-3:]) / 3
    assert last > first + 0.1, (first, last)
