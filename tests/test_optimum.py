"""The Monte-Carlo optimum J*(beta) (rlhf_lessons/optimum.py): exact identities on crafted samples,
limits in beta, the effective sample size, and the estimators on the real toy models."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf_lessons import optimum
from rlhf_lessons.optimum import ReferenceSamples, gap_closed, optimum_from_samples


def _samples(rewards, gold=None) -> ReferenceSamples:
    r = torch.tensor(rewards, dtype=torch.float64)
    g = torch.tensor(gold, dtype=torch.float64) if gold is not None else torch.zeros_like(r)
    return ReferenceSamples([f"p{i}" for i in range(r.shape[0])], r, g)


def test_two_samples_closed_form():
    # one prompt, reference = uniform over two responses with rewards 0 and 1, beta = 1
    est = optimum_from_samples(_samples([[0.0, 1.0]], [[-1.0, 1.0]]), beta=1.0)
    z = (1 + math.e) / 2  # mean of exp(r/beta)
    w1 = math.e / (1 + math.e)  # π*(y=1) ∝ π_ref · exp(r)
    assert est.j_star == pytest.approx(math.log(z), abs=1e-12)
    assert est.j_ref == pytest.approx(0.5, abs=1e-12)
    assert est.reward == pytest.approx(w1, abs=1e-12)
    kl = w1 * math.log(w1 / 0.5) + (1 - w1) * math.log((1 - w1) / 0.5)  # KL(π*‖uniform)
    assert est.kl == pytest.approx(kl, abs=1e-12)
    assert est.gold == pytest.approx(w1 - (1 - w1), abs=1e-12)
    assert est.ess_mean == pytest.approx(1 / (w1**2 + (1 - w1) ** 2), abs=1e-12)
    # and J* is the objective of π* itself: E_π*[r] - beta·KL
    assert est.j_star == pytest.approx(est.reward - 1.0 * est.kl, abs=1e-12)


def test_proposal_weights_recover_the_reference_expectations():
    """Samples from m(a) = 0.7, m(b) = 0.3 in exact proportion, weighted by π_ref/m for
    π_ref(a) = 0.9, π_ref(b) = 0.1: Z = 0.9 + 0.1·e^{1/beta} exactly, E_ref[r] = 0.1."""
    beta = 0.25
    r = [[0.0] * 7 + [1.0] * 3]
    log_ratio = torch.tensor(
        [[math.log(0.9 / 0.7)] * 7 + [math.log(0.1 / 0.3)] * 3], dtype=torch.float64
    )
    s = _samples(r)
    s.log_ratio = log_ratio
    est = optimum_from_samples(s, beta)
    z = 0.9 + 0.1 * math.exp(1 / beta)
    assert est.j_star == pytest.approx(beta * math.log(z), abs=1e-12)
    assert est.j_ref == pytest.approx(0.1, abs=1e-12)
    p_b = 0.1 * math.exp(1 / beta) / z  # π*(b)
    assert est.reward == pytest.approx(p_b, abs=1e-12)
    kl = p_b * math.log(p_b / 0.1) + (1 - p_b) * math.log((1 - p_b) / 0.9)
    assert est.kl == pytest.approx(kl, abs=1e-12)


def test_j_star_beats_every_other_policy_on_the_samples():
    """On the empirical reference (uniform over the n samples), π* maximises r - beta·KL."""
    g = torch.Generator().manual_seed(0)
    r = torch.randn(3, 50, generator=g, dtype=torch.float64)
    beta = 0.3
    est = optimum_from_samples(_samples(r.tolist()), beta)
    n = r.shape[1]
    for _ in range(20):
        q = torch.softmax(torch.randn(3, n, generator=g, dtype=torch.float64) * 2, dim=1)
        j_q = ((q * r).sum(1) - beta * (q * torch.log(q * n)).sum(1)).mean().item()
        assert j_q < est.j_star
    assert est.j_star >= est.j_ref  # Jensen: the optimum is at least the reference


def test_limits_in_beta_and_ess():
    s = _samples([[0.0, 1.0, 2.0, 5.0]])
    big = optimum_from_samples(s, beta=1e4)  # beta → ∞: stay at the reference
    assert big.j_star == pytest.approx(2.0, abs=1e-3)
    assert big.kl == pytest.approx(0.0, abs=1e-6)
    assert big.ess_mean == pytest.approx(4.0, abs=1e-3)
    small = optimum_from_samples(s, beta=1e-3)  # beta → 0: the best sample, all weight on it
    assert small.reward == pytest.approx(5.0, abs=1e-6)
    assert small.kl == pytest.approx(math.log(4), abs=1e-3)  # one of 4 equally likely samples
    assert small.ess_min == pytest.approx(1.0, abs=1e-6)
    flat = optimum_from_samples(_samples([[1.0] * 8]), beta=0.1)  # equal rewards: ESS = n
    assert flat.ess_mean == pytest.approx(8.0)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="beta"):
        optimum_from_samples(_samples([[0.0, 1.0]]), beta=0.0)
    with pytest.raises(ValueError, match="J\\*"):
        gap_closed(1.0, 2.0, 2.0)
    assert gap_closed(1.5, 1.0, 2.0) == pytest.approx(0.5)
    assert gap_closed(1.0, 1.0, 2.0) == 0.0


@pytest.fixture(scope="module")
def toy():
    from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
    from rlhf_lessons.toy import load_records

    reference, tokenizer = toy_sft_policy(0)
    reward_model = toy_reward_model(0)
    prompts = [r["prompt"] for r in load_records("prompts_test")][:4]
    return reference, reward_model, tokenizer, prompts


def test_sample_reference_on_toy_models(toy):
    from rlhf_lessons.toy import gold_score

    reference, reward_model, tokenizer, prompts = toy
    s = optimum.sample_reference(
        reference, reward_model, tokenizer, prompts, 16, seed=3, chunk=24, keep_texts=True
    )
    assert s.rewards.shape == s.gold.shape == (4, 16)
    assert torch.isfinite(s.rewards).all()
    assert s.gold[2, 5].item() == pytest.approx(gold_score(s.texts[2][5]))
    again = optimum.sample_reference(
        reference, reward_model, tokenizer, prompts, 16, seed=3, chunk=24
    )
    assert torch.equal(again.rewards, s.rewards)  # the same seed and chunks: the same samples
    # chunks of 24 cut across prompts: each row must still hold its own prompt's samples
    from rlhf_lessons.batching import encode_queries
    from rlhf_lessons.evaluate import task_reward

    for i, j in ((0, 0), (1, 7), (1, 8), (3, 15)):
        batch = encode_queries(tokenizer, [prompts[i]], [s.texts[i][j]])
        r = task_reward(reward_model, batch, tokenizer.eos_token_id)
        assert r.item() == pytest.approx(s.rewards[i, j].item(), abs=1e-5)
    ests = optimum.estimate_optimum(
        reference, reward_model, tokenizer, prompts, betas=(1.0, 0.1), n_samples=16, seed=3,
        chunk=24,
    )  # fmt: skip
    assert ests[1.0].j_star == pytest.approx(optimum_from_samples(s, 1.0).j_star)
    assert ests[0.1].kl > ests[1.0].kl  # a smaller beta lets π* move further


def test_mixture_with_the_reference_as_proposal_is_plain_sampling(toy):
    reference, reward_model, tokenizer, prompts = toy
    s = optimum.sample_mixture(reference, reference, reward_model, tokenizer, prompts[:2], 8)
    assert s.rewards.shape == s.log_ratio.shape == (2, 16)
    assert s.log_ratio.abs().max().item() < 1e-6  # m = ½π_ref + ½π_ref = π_ref
    est = optimum_from_samples(s, 0.5)
    assert est.j_ref == pytest.approx(s.rewards.mean().item(), abs=1e-6)


def test_policy_objective_of_the_reference_is_its_reward(toy):
    reference, reward_model, tokenizer, prompts = toy
    out = optimum.policy_objective(
        reference, reference, reward_model, tokenizer, prompts, beta=0.1, n_samples=8
    )
    assert out["kl"] == 0.0  # the same model: log π - log π_ref = 0 exactly
    assert out["objective"] == pytest.approx(out["reward"])
    assert 0.0 <= out["eos_rate"] <= 1.0
