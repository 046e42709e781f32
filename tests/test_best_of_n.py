"""Best-of-N from the reference: the analytic KL, the selection really is the reward model's
argmax, one sampling pass gives the whole curve, and choosing by the proxy raises gold."""

from __future__ import annotations

import math

import pytest

from rlhf_lessons.batching import encode_queries
from rlhf_lessons.best_of_n import best_of_n, best_of_n_curve, best_of_n_kl
from rlhf_lessons.evaluate import task_reward
from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
from rlhf_lessons.toy import gold_score, load_records


@pytest.fixture(scope="module")
def world():
    policy, tokenizer = toy_sft_policy(seed=0)
    prompts = [r["prompt"] for r in load_records("prompts_test")]
    return policy, tokenizer, toy_reward_model(seed=0), prompts


@pytest.mark.parametrize(
    "n, kl", [(1, 0.0), (2, math.log(2) - 0.5), (4, 0.6362943611), (16, 1.8350887222)]
)
def test_kl_formula(n, kl):
    assert best_of_n_kl(n) == pytest.approx(kl, abs=1e-9)


@pytest.mark.parametrize("n", [0, -2, 2.0, True])
def test_kl_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        best_of_n_kl(n)


def test_selected_responses_are_the_argmax_of_the_proxy(world):
    reference, tok, rm, prompts = world
    prompts = prompts[:6]
    result = best_of_n(reference, rm, tok, prompts, n=4, seed=1)
    assert len(result["samples"]) == 6 and result["kl"] == best_of_n_kl(4)
    # rescore the chosen texts from scratch: their mean proxy and gold are what was reported
    batch = encode_queries(tok, prompts, result["samples"])
    rescored = task_reward(rm, batch, tok.eos_token_id)
    assert result["reward"] == pytest.approx(rescored.mean().item(), abs=1e-4)
    gold = sum(gold_score(t) for t in result["samples"]) / 6
    assert result["gold"] == pytest.approx(gold, abs=1e-6)
    # and each is the best of its 4: none of the n = 4 curve's samples beats it
    curve = best_of_n_curve(reference, rm, tok, prompts, ns=(1, 4), seed=1)
    assert curve[1]["samples"] == result["samples"]
    assert curve[1]["reward"] >= curve[0]["reward"]


def test_curve_is_monotone_in_proxy_and_raises_gold(world):
    reference, tok, rm, prompts = world
    curve = best_of_n_curve(reference, rm, tok, prompts[:64], ns=(1, 2, 4, 16))
    assert [c["n"] for c in curve] == [1, 2, 4, 16]
    rewards = [c["reward"] for c in curve]
    assert rewards == sorted(rewards)  # the first n samples are nested: the max can only grow
    # measured (seed 0): gold ~0.0 at n = 1 -> ~0.7 at n = 16
    assert curve[-1]["gold"] > curve[0]["gold"] + 0.3
    assert [c["kl"] for c in curve] == [best_of_n_kl(n) for n in (1, 2, 4, 16)]


def test_n_equal_one_is_plain_sampling(world):
    reference, tok, rm, prompts = world
    from rlhf_lessons.evaluate import evaluate_policy

    ev = evaluate_policy(reference, tok, prompts[:16], reward_model=rm, seed=3)
    bon = best_of_n(reference, rm, tok, prompts[:16], n=1, seed=3)
    assert bon["samples"] == ev["samples"]
    assert bon["gold"] == pytest.approx(ev["gold"]) and bon["reward"] == pytest.approx(ev["reward"])


def test_empty_prompts_rejected(world):
    reference, tok, rm, _ = world
    with pytest.raises(ValueError, match="prompts"):
        best_of_n(reference, rm, tok, [], n=2)
    with pytest.raises(ValueError, match="n must be"):
        best_of_n_curve(reference, rm, tok, ["review : the plot"], ns=(0, 2))
