"""GRPO trainer: group advantages by hand, the loss by hand, learning happens (gold rises above
the SFT policy), zero-variance groups are counted and flagged, bad settings are rejected by name
(beta = 0 is allowed), runs resume exactly, and the command line writes its run folder."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from rlhf_lessons.doctor import Doctor
from rlhf_lessons.trainers.grpo import GRPOConfig, group_advantages, grpo_loss, train_grpo
from rlhf_lessons.trainers.toy_models import toy_reward_model, toy_sft_policy


@pytest.fixture(scope="module")
def world():
    policy, tokenizer = toy_sft_policy(seed=0)
    return policy, tokenizer, toy_reward_model(seed=0)


# ── group advantages ─────────────────────────────────────────────────────────────────────


def test_group_advantages_by_hand():
    # group 1: rewards 1, 2, 3 -> mean 2, unbiased std 1; group 2: all equal -> advantages 0
    rewards = torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])
    got = group_advantages(rewards, group_size=3, eps=1e-4)
    want = torch.tensor([-1 / 1.0001, 0.0, 1 / 1.0001, 0.0, 0.0, 0.0])
    torch.testing.assert_close(got, want)
    # not the batch statistics: over all six, the first response would be far below the mean
    batch = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
    assert not torch.allclose(got, batch)


def test_group_advantages_by_hand_two_of_each():
    # rewards 0, 4 -> mean 2, unbiased std sqrt(8) = 2.828...; per group, not per batch
    got = group_advantages(torch.tensor([0.0, 4.0, 10.0, 10.0]), group_size=2, eps=1e-4)
    a = 2 / (math.sqrt(8) + 1e-4)
    torch.testing.assert_close(got, torch.tensor([-a, a, 0.0, 0.0]))


def test_group_advantages_shift_and_scale_invariant():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(32, generator=g)
    a = group_advantages(rewards, 8)
    b = group_advantages(3.0 * rewards + 7.0, 8)
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    groups = a.view(-1, 8)
    torch.testing.assert_close(groups.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(groups.std(1), torch.ones(4), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rewards": torch.ones(7), "group_size": 2}, "multiple of group_size"),
        ({"rewards": torch.ones(4), "group_size": 1}, "group_size"),
        ({"rewards": torch.ones(2, 2), "group_size": 2}, "shape"),
        ({"rewards": torch.tensor([1.0, float("nan")]), "group_size": 2}, "non-finite"),
        ({"rewards": torch.ones(4), "group_size": 2, "eps": 0.0}, "eps"),
    ],
)
def test_group_advantages_rejects_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        group_advantages(**kwargs)


# ── the loss ─────────────────────────────────────────────────────────────────────────────


def test_grpo_loss_by_hand():
    logprobs = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True)  # (B=2, T=2)
    ref = torch.tensor([[-1.5, -2.0], [-0.5, -3.0]])
    mask = torch.tensor([[1, 1], [1, 0]])  # response 2 has one real token
    advantages = torch.tensor([1.0, -1.0])
    beta = 0.1
    loss, stats = grpo_loss(logprobs, logprobs.detach(), ref, advantages, mask, 0.2, beta)
    # ratio = 1 everywhere; k3 of token (0,0): log r = -0.5 -> e^-0.5 - 1 + 0.5
    k3 = math.exp(-0.5) - 0.5
    response1 = (1.0 - beta * k3 + 1.0 - 0.0) / 2  # mean over its 2 tokens
    response2 = -1.0  # one token, A = -1, no KL
    assert loss.item() == pytest.approx(-(response1 + response2) / 2, abs=1e-6)
    assert stats["clipfrac"] == 0.0
    assert stats["kl_k3"] == pytest.approx(k3 / 3, abs=1e-6)
    loss.backward()
    # d loss / d logprob: -A/|o_i|/B from the surrogate (ratio' = ratio = 1), plus the KL part
    dk3 = 1 - math.exp(-0.5)  # d k3 / d logprob at log r = -0.5: 1 - e^{log r}
    want = torch.tensor([[-(1 - beta * dk3) / 4, -1 / 4], [1 / 2, 0.0]])
    torch.testing.assert_close(logprobs.grad, want)


def test_grpo_loss_clips_like_ppo():
    logprobs = torch.tensor([[0.5]], requires_grad=True)  # ratio e^0.5 ≈ 1.65 vs old
    loss, stats = grpo_loss(
        logprobs, torch.zeros(1, 1), logprobs.detach(), torch.tensor([1.0]), torch.ones(1, 1),
        0.2, 0.0,
    )  # fmt: skip
    assert loss.item() == pytest.approx(-1.2)  # clipped at 1 + eps
    assert stats["clipfrac"] == 1.0
    loss.backward()
    assert logprobs.grad.abs().item() == 0.0  # outside the trust region: no gradient


# ── training ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.slow
def test_grpo_raises_gold_above_the_sft_policy(world):
    sft, tok, rm = world
    # fixed seed, CI-sized: 30 steps of 8 prompts x 8 responses
    config = GRPOConfig.toy(steps=30, eval_every=0)
    from rlhf_lessons.toy import gold_scores, load_records

    held_out = [r["prompt"] for r in load_records("prompts_test")][:128]
    result = train_grpo(
        config,
        copy.deepcopy(sft),
        sft,
        rm,
        tok,
        gold_fn=gold_scores,
        eval_prompts=held_out,
        progress=False,
    )
    before, after = result.evaluations[0], result.evaluations[-1]
    assert (before["step"], after["step"]) == (0, 30)
    # measured (seed 0, 1 thread): gold -0.06 -> +0.5, proxy 1.3 -> 2.9, KL ~2
    assert after["gold"] > before["gold"] + 0.25, (before["gold"], after["gold"])
    assert after["reward"] > before["reward"] + 0.5
    assert 0.3 < after["kl"] < 10
    assert all(r["zero_std_groups"] <= 0.25 for r in result.metrics)
    assert not result.doctor.findings


def test_reference_is_used_only_for_the_kl(world):
    sft, tok, rm = world
    calls = []
    reference = copy.deepcopy(sft)
    reference.register_forward_hook(lambda *_: calls.append(1))
    config = GRPOConfig.toy(steps=2, eval_every=0, prompts_per_step=4,
                            group_size=4)  # fmt: skip
    train_grpo(config, copy.deepcopy(sft), reference, rm, tok, progress=False)
    assert len(calls) == 2  # one scoring pass per step (eval_prompts None: no evaluations)


def test_beta_zero_is_allowed_and_trains(world):
    sft, tok, rm = world
    config = GRPOConfig.toy(beta=0.0, steps=2, eval_every=0,
                            prompts_per_step=4, group_size=4)  # fmt: skip
    result = train_grpo(config, copy.deepcopy(sft), sft, rm, tok, progress=False)
    assert result.metrics[-1]["kl_k3"] == 0.0  # no KL in the loss ...
    assert result.metrics[-1]["kl"] is not None  # ... but the log still measures it


def test_zero_variance_groups_are_counted_and_flagged(world):
    sft, tok, rm = world
    flat = copy.deepcopy(rm)
    torch.nn.init.zeros_(flat.score.weight)  # every response scores 0: no signal at all
    doctor = Doctor("grpo", verbose=False)
    config = GRPOConfig.toy(steps=2, eval_every=0, prompts_per_step=4,
                            group_size=4, missing_eos_penalty=0.0)  # fmt: skip
    result = train_grpo(config, copy.deepcopy(sft), sft, flat, tok, doctor=doctor, progress=False)
    assert [r["zero_std_groups"] for r in result.metrics] == [1.0, 1.0]
    assert result.metrics[0]["loss"] == pytest.approx(0.0, abs=1e-6)  # A = 0 and KL = 0
    assert "zero-reward-variance" in [f.name for f in doctor.findings]


def test_identical_rollouts_give_zero_advantages_loss_and_gradient_silently():
    """Issue 14's silent bug: a group of identical rollouts (same seed per sample, or greedy)."""
    g = torch.Generator().manual_seed(0)
    B, G, T = 3, 4, 5
    one = torch.randn(B, 1, T, generator=g).expand(B, G, T).reshape(B * G, T)  # (B·G, T)
    logprobs = one.clone().requires_grad_(True)  # every member of a group wrote the same tokens
    rewards = torch.randn(B, 1, generator=g).expand(B, G).reshape(B * G)  # (B·G,) equal per group
    advantages = group_advantages(rewards, G)  # (B·G,)
    assert torch.equal(advantages, torch.zeros(B * G))
    mask = torch.ones(B * G, T)
    loss, _ = grpo_loss(logprobs, one, one, advantages, mask, 0.2, beta=0.0)
    loss.backward()
    assert loss.item() == 0.0 and logprobs.grad.abs().max().item() == 0.0  # and no error


def test_doctor_names_the_zero_gradient(world):
    sft, tok, rm = world
    flat = copy.deepcopy(rm)
    torch.nn.init.zeros_(flat.score.weight)  # identical rewards in every group
    doctor = Doctor("grpo", verbose=False)
    config = GRPOConfig.toy(beta=0.0, steps=1, eval_every=0, prompts_per_step=4,
                            group_size=4, missing_eos_penalty=0.0)  # fmt: skip
    result = train_grpo(config, copy.deepcopy(sft), sft, flat, tok, doctor=doctor, progress=False)
    row = result.metrics[-1]
    assert row["zero_variance_groups"] == 1.0 and row["grad_norm"] == 0.0
    assert row["response_length"] > 0
    found = {f.name: f for f in doctor.findings}
    assert "zero-gradient" in found and "100% of groups" in found["zero-gradient"].seen


@pytest.mark.parametrize(
    "field, value",
    [("beta", -0.1), ("group_size", 1), ("clip_eps", 0.0), ("lr", -1e-3), ("steps", 0),
     ("epochs", 0), ("adv_eps", 0.0), ("missing_eos_penalty", -1.0), ("beta", float("nan")),
     ("loss_type", "ppo"), ("epsilon_high", 0.1), ("importance_sampling_level", "tok"),
     ("scale_rewards", True)],
)  # fmt: skip
def test_bad_config_values_are_rejected_by_name(field, value):
    with pytest.raises(ValueError, match=f"GRPOConfig.{field}"):
        GRPOConfig(**{field: value})


def test_defaults_follow_deepseekmath_and_the_toy_preset_is_measured():
    assert GRPOConfig().beta == 0.04
    assert GRPOConfig.toy().beta == 0.2
    assert GRPOConfig.toy(beta=0.0).beta == 0.0


def test_resume_matches_an_uninterrupted_run(world, tmp_path):
    sft, tok, rm = world
    config = GRPOConfig.toy(steps=4, eval_every=0, prompts_per_step=4,
                            group_size=4, checkpoint_every=2)  # fmt: skip
    whole = train_grpo(config, copy.deepcopy(sft), sft, rm, tok, progress=False)
    half = GRPOConfig.toy(**{**config.__dict__, "steps": 2})
    train_grpo(half, copy.deepcopy(sft), sft, rm, tok, out_dir=tmp_path, progress=False)
    resumed = train_grpo(config, copy.deepcopy(sft), sft, rm, tok, out_dir=tmp_path,
                         resume=True, progress=False)  # fmt: skip
    assert [r["step"] for r in resumed.metrics] == [1, 2, 3, 4]
    assert [r["loss"] for r in resumed.metrics] == pytest.approx(
        [r["loss"] for r in whole.metrics], abs=1e-6
    )
    assert [r["reward"] for r in resumed.metrics] == pytest.approx(
        [r["reward"] for r in whole.metrics], abs=1e-6
    )


def test_command_line_writes_metrics_and_checkpoint(tmp_path):
    from rlhf_lessons.__main__ import main

    argv = ["grpo", "--steps", "2", "--out", str(tmp_path), "--eval-every", "0",
            "--prompts-per-step", "4", "--group-size", "4"]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward", "gold", "kl", "seconds", "zero_std_groups", "loss"):
        assert rows[-1][key] is not None, key
    assert (tmp_path / "checkpoint" / "policy" / "model.safetensors").exists()


def test_rule_based_reward_fn_replaces_the_reward_model(world):
    sft, tok, _ = world
    seen = []

    def length_reward(texts):
        seen.extend(texts)
        return [float(len(t.split())) for t in texts]

    config = GRPOConfig.toy(steps=1, eval_every=0, prompts_per_step=2, group_size=4)
    result = train_grpo(config, copy.deepcopy(sft), sft, None, tok, reward_fn=length_reward,
                        eval_prompts=[], progress=False)  # fmt: skip
    assert len(seen) == 8
    assert result.metrics[0]["reward"] == pytest.approx(sum(len(t.split()) for t in seen) / 8)
    assert result.evaluations == []  # eval_prompts=[]: no held-out evaluation
    with pytest.raises(ValueError, match="reward_fn returned shape"):
        train_grpo(config, copy.deepcopy(sft), sft, None, tok, reward_fn=lambda t: [1.0],
                   eval_prompts=[], progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="reward_model or a reward_fn"):
        train_grpo(config, copy.deepcopy(sft), sft, None, tok, progress=False)


def test_a_non_finite_loss_stops_the_run_and_says_so(world, monkeypatch, tmp_path):
    import rlhf_lessons.trainers.grpo as grpo

    sft, tok, rm = world

    def nan_loss(logprobs, *args, **kwargs):
        return logprobs.sum() * float("nan"), {"clipfrac": 0.0, "kl_k3": 0.0}

    monkeypatch.setattr(grpo, "grpo_loss", nan_loss)
    config = GRPOConfig.toy(steps=2, eval_every=0, prompts_per_step=2, group_size=2)
    result = train_grpo(config, copy.deepcopy(sft), sft, rm, tok, out_dir=tmp_path, progress=False)
    assert result.stopped and "non-finite" in result.stopped
    assert result.metrics == []  # nothing of the bad step is written


# ── DAPO's dynamic sampling (issue 14) ───────────────────────────────────────────────────


def test_varied_groups_drops_only_the_tied_group():
    from rlhf_lessons.trainers.grpo import varied_groups

    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])  # group 1 tied
    assert varied_groups(rewards, 3).tolist() == [True] * 3 + [False] * 3 + [True] * 3


def test_a_tied_group_contributes_nothing_and_the_others_are_unchanged():
    """With the tied group dropped, the loss and gradient are those of the other groups alone."""
    from rlhf_lessons.trainers.grpo import varied_groups

    g = torch.Generator().manual_seed(0)
    G, T = 3, 4
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.0, 0.0, 1.0])  # (B·G,) group 1 tied
    base = torch.randn(3 * G, T, generator=g)  # (B·G, T)
    mask = torch.ones(3 * G, T)
    keep = varied_groups(rewards, G)  # (B·G,)
    adv = group_advantages(rewards, G)
    lp = base.clone().requires_grad_(True)
    loss, _ = grpo_loss(lp[keep], base[keep], base[keep], adv[keep], mask[keep], beta=0.0)
    loss.backward()
    others = torch.cat([rewards[:3], rewards[6:]])
    lp2 = torch.cat([base[:3], base[6:]]).clone().requires_grad_(True)
    mask2 = torch.ones(2 * G, T)
    loss2, _ = grpo_loss(lp2, lp2.detach(), lp2.detach(), group_advantages(others, G), mask2,
                         beta=0.0)  # fmt: skip
    loss2.backward()
    assert loss.item() == pytest.approx(loss2.item())
    assert lp.grad[3:6].abs().max().item() == 0.0  # the tied group: no gradient
    assert torch.allclose(torch.cat([lp.grad[:3], lp.grad[6:]]), lp2.grad)


def test_dynamic_sampling_skips_an_all_tied_batch_without_error(world):
    sft, tok, rm = world
    flat = copy.deepcopy(rm)
    torch.nn.init.zeros_(flat.score.weight)  # every group tied
    config = GRPOConfig.toy(beta=0.0, steps=2, eval_every=0, prompts_per_step=4, group_size=4,
                            missing_eos_penalty=0.0, dynamic_sampling=True)  # fmt: skip
    policy = copy.deepcopy(sft)
    result = train_grpo(config, policy, sft, flat, tok, doctor=False, progress=False)
    assert [r["dropped_groups"] for r in result.metrics] == [4, 4]
    assert all(r["update_skipped"] for r in result.metrics)
    for p, q in zip(policy.parameters(), sft.parameters(), strict=True):
        assert torch.equal(p, q)  # nothing updated


def test_dynamic_sampling_counts_dropped_groups(world):
    sft, tok, rm = world
    config = GRPOConfig.toy(steps=2, eval_every=0, prompts_per_step=4, group_size=4,
                            dynamic_sampling=True)  # fmt: skip
    result = train_grpo(config, copy.deepcopy(sft), sft, rm, tok, doctor=False, progress=False)
    for r in result.metrics:
        assert r["dropped_groups"] == round(r["zero_variance_groups"] * 4)


def test_dynamic_sampling_flag_on_the_command_line():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "rlhf_lessons", "grpo", "--help"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "--dynamic-sampling" in out
