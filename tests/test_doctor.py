"""The training doctor (rlhf_lessons/doctor.py): every symptom it knows is provoked and its named
warning seen — by crafted metric rows (each next to a healthy row that must stay silent), and,
where a real run provokes it in a second, by a real PPO run. (The KL blow-up of a real beta = 0
run and the non-finite stop are provoked in tests/test_ppo.py.)"""

from __future__ import annotations

import math

import pytest

from rlhf_lessons.doctor import CATALOGUE, Doctor

HEALTHY_PPO = {
    "kl": 3.0,
    "approx_kl": 0.01,
    "clipfrac": 0.05,
    "explained_variance": 0.5,
    "entropy": 1.5,
    "reward_std": 0.8,
    "eos_rate": 0.98,
    "reward": 2.0,
    "gold": 0.5,
    "first_log_ratio": 2e-7,
}

# symptom -> (stage, the metric changed from the healthy row, its sick value)
CRAFTED = {
    "non-finite": ("ppo", "reward", float("nan")),
    "kl-blow-up": ("ppo", "kl", 40.0),
    "kl-negative": ("ppo", "kl", -2.0),
    "approx-kl-high": ("ppo", "approx_kl", 0.8),
    "clipfrac-high": ("ppo", "clipfrac", 0.6),
    "entropy-collapse": ("ppo", "entropy", 0.02),
    "zero-reward-variance": ("ppo", "reward_std", 0.0),
    "no-eos": ("ppo", "eos_rate", 0.1),
    "ratio-not-one": ("ppo", "first_log_ratio", 0.02),
    "zero-gradient": ("grpo", "grad_norm", 0.0),
}


def test_every_catalogued_symptom_has_a_test():
    provoked = set(CRAFTED) | {"preference-loss-stuck", "value-not-learning"}
    assert provoked == set(CATALOGUE), set(CATALOGUE) ^ provoked


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_symptom_is_named_once_with_cause_and_fix(name, capsys):
    stage, key, value = CRAFTED[name]
    doctor = Doctor(stage)
    for step in range(1, 12):  # healthy: silent
        assert doctor.check(step, dict(HEALTHY_PPO)) == []
    sick = {**HEALTHY_PPO, key: value}
    new = doctor.check(12, sick)
    assert [s.name for s in new] == [name]
    printed = capsys.readouterr().out
    seen, cause, fix = CATALOGUE[name]
    assert f"[{name}] at step 12" in printed and cause in printed and fix in printed
    assert doctor.check(13, sick) == []  # reported once per run
    assert [f.name for f in doctor.findings] == [name]


def test_value_not_learning_waits_for_warm_up_and_three_bad_steps_in_a_row(capsys):
    doctor = Doctor("ppo")
    bad = {**HEALTHY_PPO, "explained_variance": 0.0}
    for step in (3, 4, 5):  # warm-up: not judged, not counted
        assert doctor.check(step, {**HEALTHY_PPO, "explained_variance": -0.5}) == []
    assert doctor.check(10, bad) == [] and doctor.check(11, bad) == []
    assert doctor.check(12, dict(HEALTHY_PPO)) == []  # one good batch resets the count
    assert doctor.check(13, bad) == [] and doctor.check(14, bad) == []
    assert [s.name for s in doctor.check(15, bad)] == ["value-not-learning"]
    printed = capsys.readouterr().out
    seen, cause, fix = CATALOGUE["value-not-learning"]
    assert "[value-not-learning] at step 15" in printed and cause in printed and fix in printed
    assert "for 3 steps" in printed
    assert doctor.check(16, bad) == []  # reported once per run


def test_zero_variance_groups_for_grpo():
    doctor = Doctor("grpo", verbose=False)
    assert doctor.check(1, {"zero_std_groups": 0.25}) == []
    assert [s.name for s in doctor.check(2, {"zero_std_groups": 0.75})] == ["zero-reward-variance"]


@pytest.mark.parametrize("stage", ["reward_model", "dpo"])
def test_preference_loss_stuck_at_log_2(stage):
    doctor = Doctor(stage, verbose=False)
    for step in range(1, 20):  # 19 steps at log 2: not yet
        assert doctor.check(step, {"loss": math.log(2) + 0.001}) == []
    assert [s.name for s in doctor.check(20, {"loss": math.log(2)})] == ["preference-loss-stuck"]
    moving = Doctor(stage, verbose=False)  # a loss that leaves log 2 resets the count
    for step in range(1, 40):
        loss = math.log(2) if step % 10 else 0.5
        assert moving.check(step, {"loss": loss}) == []


def test_preference_loss_is_not_judged_for_ppo():
    doctor = Doctor("ppo", verbose=False)
    for step in range(1, 30):
        assert doctor.check(step, {"loss": math.log(2)}) == []


def test_summary_lists_findings():
    doctor = Doctor("ppo", verbose=False)
    assert doctor.summary() == "doctor (ppo): no symptoms"
    doctor.check(4, {"kl": 50.0, "eos_rate": 0.0})
    assert doctor.summary() == "doctor (ppo): kl-blow-up@4, no-eos@4"


# ── real runs, one or two PPO steps each ─────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def toy():
    from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
    from rlhf_lessons.toy import load_records

    def fresh():
        policy, tokenizer = toy_sft_policy(0)
        return policy, toy_reward_model(0), tokenizer

    return fresh, [r["prompt"] for r in load_records("prompts_train")]


def _findings(toy, reward_model=None, policy=None, **overrides) -> list[str]:
    from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo

    fresh, prompts = toy
    sft, rm, tokenizer = fresh()
    policy = policy if policy is not None else sft
    config = PPOConfig.toy(**{"steps": 1, "batch_size": 16, **overrides})
    doctor = Doctor("ppo", verbose=False)
    train_ppo(
        config, policy, None, reward_model or rm, tokenizer, prompts, doctor=doctor, progress=False
    )
    return [f.name for f in doctor.findings]


def test_real_run_healthy_default_is_silent(toy):
    assert _findings(toy, steps=2) == []


def test_real_run_without_clip_and_a_large_lr(toy):
    """lr 3e-3: with the clip, many tokens are clipped; without it (eps = 1000) the policy
    moves ~10x further per step."""
    assert "clipfrac-high" in _findings(toy, batch_size=64, lr=3e-3)
    assert "approx-kl-high" in _findings(toy, batch_size=64, lr=3e-3, clip_eps=1000.0)


def test_real_run_responses_cut_before_eos(toy):
    assert "no-eos" in _findings(toy, max_new_tokens=2)


def test_real_run_collapsed_policy_has_no_entropy(toy):
    """A policy whose logits are scaled 300x (as after mode collapse) writes one thing per prompt."""
    import torch

    fresh, _ = toy
    policy, _, _ = fresh()
    with torch.no_grad():
        policy.transformer.ln_f.weight.mul_(300.0)
        policy.transformer.ln_f.bias.mul_(300.0)
    assert "entropy-collapse" in _findings(toy, policy=policy)


def test_real_run_constant_reward_model(toy):
    import torch

    fresh, _ = toy
    _, rm, _ = fresh()
    with torch.no_grad():  # a broken head: every response scores the same
        rm.score.weight.zero_()
    assert "zero-reward-variance" in _findings(toy, reward_model=rm, missing_eos_penalty=0.0)
