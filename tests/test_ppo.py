"""The four-model PPO loop (rlhf_lessons/trainers/ppo.py): the ratio is exactly 1 where it must be,
learning happens (gold rises on held-out prompts), the KL penalty and the clip do what lesson 05
says they do, runs resume exactly, bad settings are refused by name, a non-finite loss stops the
run with the last good checkpoint kept, and the command line writes what DESIGN.md promises.

Budget: CI-sized (the toy SFT policy and reward model come from the cache, or train in seconds).
Numbers on seed 0, one thread (the lead's reference machine, 2 cores): see the asserts.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest
import torch

from rlhf_lessons.evaluate import evaluate_policy
from rlhf_lessons.toy import gold_scores
from rlhf_lessons.trainers import ppo
from rlhf_lessons.trainers.ppo import AdaptiveKLController, PPOConfig, train_ppo

TIMING_KEYS = {"seconds", "cpu_seconds", "rollout_seconds", "score_seconds", "update_seconds"}


@pytest.fixture(scope="module")
def toy():
    from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
    from rlhf_lessons.toy import load_records

    def fresh():
        policy, tokenizer = toy_sft_policy(0)
        reference, _ = toy_sft_policy(0)
        return policy, reference, toy_reward_model(0), tokenizer

    train = [r["prompt"] for r in load_records("prompts_train")]
    test = [r["prompt"] for r in load_records("prompts_test")]
    return fresh, train, test


def _run(toy, **overrides):
    fresh, train, _ = toy
    policy, reference, reward_model, tokenizer = fresh()
    config = PPOConfig.toy(**overrides)
    result = train_ppo(
        config, policy, reference, reward_model, tokenizer, train, gold_fn=gold_scores,
        doctor=False, progress=False,
    )  # fmt: skip
    return result, reference, reward_model, tokenizer


@pytest.fixture(scope="module")
def default_run(toy):
    return _run(toy, steps=16)


@pytest.fixture(scope="module")
def no_kl_run(toy):
    return _run(toy, steps=16, beta=0.0)


# ── the ratio is 1 in the first minibatch of the first epoch ────────────────────────────────
def test_first_minibatch_ratio_is_exactly_one(default_run):
    """Rollout logprobs and training logprobs must agree before any update: a shift by one
    column, padding or position ids that differ, dropout, or a temperature applied on one side
    only would all show up here."""
    result = default_run[0]
    assert all(row["first_log_ratio"] < 1e-5 for row in result.metrics)


def test_the_ratio_check_can_fail(toy):
    """The same check on a rollout scored at another temperature: |log ratio| is far from 0."""
    fresh, train, _ = toy
    policy, reference, reward_model, tokenizer = fresh()
    config = PPOConfig.toy(batch_size=8, num_minibatches=1, ppo_epochs=1)
    value_model = ppo.value_model_from_reward_model(reward_model)
    g = torch.Generator().manual_seed(0)
    from rlhf_lessons.batching import encode_prompts

    ids, mask = encode_prompts(tokenizer, train[:8])
    batch = ppo.rollout(policy, ids, mask, tokenizer, config, g)
    mismatched = ppo.score(
        policy, reference, reward_model, value_model, batch, tokenizer,
        config.replace(temperature=0.7),
    )  # fmt: skip
    mismatched.rewards = ppo.kl_penalised_rewards(
        mismatched.scores, mismatched.logprobs, mismatched.ref_logprobs, mismatched.mask, 0.1
    )
    ppo.compute_advantages(mismatched, config)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.0)  # lr 0: nothing moves
    stats = ppo.ppo_update(policy, value_model, optimizer, mismatched, config, g)
    assert stats["first_log_ratio"] > 0.05


def test_scoring_in_chunks_gives_the_same_rollout(toy):
    """forward_batch_size (the GPU presets' memory bound) changes how many rows a forward
    pass holds, not the numbers: 3-row chunks of 8 (the last one short) match one pass."""
    fresh, train, _ = toy
    policy, reference, reward_model, tokenizer = fresh()
    config = PPOConfig.toy(batch_size=8, num_minibatches=1)
    value_model = ppo.value_model_from_reward_model(reward_model)
    from rlhf_lessons.batching import encode_prompts

    ids, mask = encode_prompts(tokenizer, train[:8])
    batch = ppo.rollout(policy, ids, mask, tokenizer, config, torch.Generator().manual_seed(0))
    calls = []
    real = ppo.response_values
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            ppo, "response_values", lambda m, b: calls.append(len(b.input_ids)) or real(m, b)
        )
        whole = ppo.score(policy, reference, reward_model, value_model, batch, tokenizer, config)
        chunked = ppo.score(policy, reference, reward_model, value_model, batch, tokenizer,
                            config.replace(forward_batch_size=3))  # fmt: skip
    assert calls == [8, 3, 3, 2]
    for name in ("logprobs", "ref_logprobs", "entropy", "values", "scores", "ended"):
        torch.testing.assert_close(getattr(chunked, name), getattr(whole, name), msg=name)
    assert chunked.batch is batch


# ── learning happens ─────────────────────────────────────────────────────────────────────────
def test_default_run_raises_gold_above_the_sft_policy(toy, default_run):
    """Seed 0, 16 steps of the toy preset: held-out gold rises clearly (measured: SFT ≈ 0.0,
    PPO ≈ 0.6 on 256 samples of the 128 held-out prompts)."""
    fresh, _, test = toy
    result, reference, reward_model, tokenizer = default_run
    kwargs = dict(reward_model=reward_model, reference=reference, samples_per_prompt=2, seed=1)
    before = evaluate_policy(reference, tokenizer, test, **kwargs)
    after = evaluate_policy(result.policy, tokenizer, test, **kwargs)
    assert after["gold"] > before["gold"] + 0.3, (before["gold"], after["gold"])
    assert after["reward"] > before["reward"] + 0.8  # the proxy rose too
    assert 0.5 < after["kl"] < 8.0  # moved, but stayed near the reference
    assert after["eos_rate"] > 0.85  # measured 0.92


def test_gold_comes_from_gold_fn_and_eval_prompts_follow_the_contract(toy):
    """No gold_fn: the gold key stays, as None. Held-out evaluations at step 0, every
    eval_every steps and at the end; a Doctor by default (doctor=None)."""
    fresh, train, test = toy
    policy, reference, reward_model, tokenizer = fresh()
    config = PPOConfig.toy(steps=3, batch_size=8, eval_every=2)
    result = train_ppo(config, policy, reference, reward_model, tokenizer, train,
                       eval_prompts=test[:4], progress=False)  # fmt: skip
    assert all(r["gold"] is None for r in result.metrics)
    assert [e["step"] for e in result.evaluations] == [0, 2, 3]
    assert all(e["gold"] is None and e["reward"] is not None for e in result.evaluations)
    assert result.doctor is not None and result.stopped is None


def test_metrics_rows_have_the_promised_fields(default_run):
    rows = default_run[0].metrics
    assert [r["step"] for r in rows] == list(range(1, 17))
    for key in ("reward", "gold", "kl", "seconds", "entropy", "approx_kl", "clipfrac"):
        assert all(isinstance(r[key], float) and math.isfinite(r[key]) for r in rows), key
    for key in ("explained_variance", "reward_std", "eos_rate", "beta", "objective"):
        assert key in rows[0]
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # step 1 samples the reference itself
    assert rows[-1]["reward"] > rows[0]["reward"] + 0.8


# ── the KL penalty and the clip (lesson 05) ──────────────────────────────────────────────────
def test_without_kl_penalty_the_policy_drifts_much_further(default_run, no_kl_run):
    """beta = 0: nothing holds the policy near the reference (measured at step 16: KL ≈ 12
    nats against ≈ 3 with the toy beta)."""
    kl_default = default_run[0].metrics[-1]["kl"]
    kl_free = no_kl_run[0].metrics[-1]["kl"]
    assert kl_free > 2.5 * kl_default, (kl_free, kl_default)


def test_doctor_flags_the_kl_blow_up_of_a_real_run(no_kl_run):
    from rlhf_lessons.doctor import Doctor, Thresholds

    doctor = Doctor("ppo", Thresholds(kl_max=8.0), verbose=False)  # lowered to fit CI's 16 steps
    for row in no_kl_run[0].metrics:
        doctor.check(row["step"], row)
    assert "kl-blow-up" in [f.name for f in doctor.findings]


def test_no_clip_moves_the_policy_more_per_step(toy):
    """eps = 1000 switches the clip off: with an aggressive lr each PPO step moves the policy
    much further (approx_kl; measured ≈ 1 against ≈ 0.1 per token)."""
    clipped = _run(toy, steps=4, lr=3e-3)[0].metrics
    unclipped = _run(toy, steps=4, lr=3e-3, clip_eps=1000.0)[0].metrics
    mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    assert mean(unclipped, "approx_kl") > 3 * mean(clipped, "approx_kl")
    assert mean(unclipped, "clipfrac") == 0.0 < mean(clipped, "clipfrac")


# ── pieces with exact answers ────────────────────────────────────────────────────────────────
def test_kl_penalised_rewards_by_hand():
    scores = torch.tensor([2.0, -1.0])
    logprobs = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, 0.0, 0.0]])
    ref_logprobs = torch.tensor([[-1.5, -1.0, -0.5], [-2.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    rewards = ppo.kl_penalised_rewards(scores, logprobs, ref_logprobs, mask, beta=0.1)
    expected = torch.tensor([[-0.05, 0.1, 0.0 + 2.0], [-0.1 - 1.0, 0.0, 0.0]])
    assert torch.allclose(rewards, expected, atol=1e-6)


def test_adaptive_kl_controller_follows_ziegler():
    ctl = AdaptiveKLController(beta=0.1, target=6.0, horizon=10_000)
    assert ctl.update(kl=12.0, n_steps=64) == pytest.approx(0.1 * (1 + 0.2 * 64 / 10_000))
    ctl = AdaptiveKLController(beta=0.1, target=6.0, horizon=10_000)
    assert ctl.update(kl=6.6, n_steps=64) == pytest.approx(0.1 * (1 + 0.1 * 64 / 10_000))
    ctl = AdaptiveKLController(beta=0.1, target=6.0, horizon=10_000)
    assert ctl.update(kl=0.0, n_steps=64) == pytest.approx(0.1 * (1 - 0.2 * 64 / 10_000))


def test_adaptive_kl_changes_beta_during_a_run(toy):
    rows = _run(toy, steps=3, batch_size=16, adaptive_kl=True, kl_target=100.0)[0].metrics
    assert rows[0]["beta"] == 0.1 and rows[1]["beta"] < rows[0]["beta"]  # KL below target


def test_anneal_lr_decays_linearly(toy):
    rows = _run(toy, steps=4, batch_size=16, anneal_lr=True)[0].metrics
    assert [r["lr"] for r in rows] == pytest.approx([3e-4 * (1 - k / 4) for k in range(4)])


# ── config validation ────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"beta": -0.1}, "beta"),
        ({"clip_eps": 0.0}, "clip_eps"),
        ({"vf_clip": -1.0}, "vf_clip"),
        ({"gamma": 1.5}, "gamma"),
        ({"lam": -0.1}, "lam"),
        ({"lr": 0.0}, "lr"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"ppo_epochs": 0}, "ppo_epochs"),
        ({"temperature": 0.0}, "temperature"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"missing_eos_penalty": -1.0}, "missing_eos_penalty"),
        ({"batch_size": 63}, "num_minibatches"),
        ({"batch_size": 2, "num_minibatches": 2}, "num_minibatches"),
        ({"adaptive_kl": True, "beta": 0.0}, "adaptive_kl"),
        ({"lr": float("nan")}, "lr"),
        ({"forward_batch_size": -1}, "forward_batch_size"),
    ],
)
def test_bad_config_values_are_rejected_by_name(overrides, field):
    with pytest.raises(ValueError, match=f"PPOConfig.{field}"):
        PPOConfig(**overrides)


def test_toy_preset_and_replace():
    config = PPOConfig.toy()
    assert (config.batch_size, config.ppo_epochs, config.num_minibatches) == (64, 4, 2)
    assert (config.lr, config.gamma, config.lam, config.clip_eps, config.vf_clip) == (
        3e-4, 1.0, 0.95, 0.2, 0.2,
    )  # fmt: skip
    assert config.replace(beta=0.0).beta == 0.0 and config.beta == 0.1
    with pytest.raises(ValueError, match="PPOConfig.beta"):
        config.replace(beta=-1.0)


# ── resume, determinism, non-finite stop ─────────────────────────────────────────────────────
class _Interrupt(Exception):
    pass


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def test_resume_reproduces_the_uninterrupted_run(toy, tmp_path):
    fresh, train, _ = toy
    config = PPOConfig.toy(steps=6, batch_size=16, checkpoint_every=3)

    def run(out, resume=False, stop_at=None):
        policy, reference, reward_model, tokenizer = fresh()

        def callback(row):
            if row["step"] == stop_at:
                raise _Interrupt  # killed after step 4 was logged, before its checkpoint

        return train_ppo(
            config, policy, reference, reward_model, tokenizer, train, out_dir=out,
            resume=resume, doctor=False, progress=False, callback=callback,
        )  # fmt: skip

    full = run(tmp_path / "full")
    with pytest.raises(_Interrupt):
        run(tmp_path / "cut", stop_at=4)
    resumed = run(tmp_path / "cut", resume=True)
    assert _strip(resumed.metrics) == _strip(full.metrics)  # rows 1-3 from disk, 4-6 recomputed
    logged = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").open()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(full.policy.state_dict().values(), resumed.policy.state_dict().values()):
        assert torch.equal(a, b)
    again = run(tmp_path / "again")  # same seed, same thread count: the same numbers
    assert _strip(again.metrics) == _strip(full.metrics)


def test_non_finite_values_stop_the_run_and_keep_the_last_checkpoint(toy, tmp_path):
    fresh, train, _ = toy
    policy, reference, reward_model, tokenizer = fresh()
    value_model = ppo.value_model_from_reward_model(reward_model)
    config = PPOConfig.toy(steps=5, batch_size=16, checkpoint_every=2)

    def poison(row):
        if row["step"] == 3:  # after step 3 (checkpoint at 2): the value model goes nan
            with torch.no_grad():
                next(value_model.parameters()).fill_(float("nan"))

    result = train_ppo(
        config, policy, reference, reward_model, tokenizer, train, value_model=value_model,
        out_dir=tmp_path, doctor=True, progress=False, callback=poison,
    )  # fmt: skip
    assert result.stopped and "step 4" in result.stopped and "non-finite" in result.stopped
    assert [r["step"] for r in result.metrics] == [1, 2, 3]
    assert "non-finite" in [f.name for f in result.doctor.findings]
    state = torch.load(tmp_path / "checkpoint" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 2  # the last good checkpoint is untouched


def test_resume_needs_an_out_dir(toy):
    fresh, train, _ = toy
    policy, reference, reward_model, tokenizer = fresh()
    with pytest.raises(ValueError, match="out_dir"):
        train_ppo(PPOConfig.toy(), policy, reference, reward_model, tokenizer, train, resume=True)


# ── the command line ─────────────────────────────────────────────────────────────────────────
def test_cli_writes_metrics_and_safetensors(tmp_path, capsys):
    from rlhf_lessons.__main__ import main

    out = tmp_path / "run"
    argv = ["ppo", "--seed", "0", "--steps", "2", "--out", str(out), "--batch-size", "16"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("step", "reward", "gold", "kl", "seconds"):
        assert key in rows[0]
    assert list((out / "policy").glob("*.safetensors"))
    assert list((out / "checkpoint" / "value_model").glob("*.safetensors"))
    saved = torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=True)
    assert saved["extra"]["config"] == asdict(PPOConfig.toy(steps=2, batch_size=16))
    assert "PPO done" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--beta must be a finite number >= 0, got -1.0"):
        main(["ppo", "--steps", "1", "--out", str(out), "--beta", "-1"])
    with pytest.raises(SystemExit, match="no checkpoint"):
        main(["ppo", "--steps", "1", "--out", str(tmp_path / "empty"), "--resume"])


# ── reward normalisation on reference samples (issue 12, item 3) ─────────────────────────────


def test_reward_normalization_measures_the_reference(toy):
    """(mean, std) of the raw score on the reference's samples; deterministic; step 1's policy
    is the reference, so its normalised scores have mean ≈ 0 and std ≈ 1."""
    fresh, train, _ = toy
    _, reference, reward_model, tokenizer = fresh()
    config = PPOConfig.toy(reward_norm_samples=128)
    ids, mask = ppo.encode_prompts(tokenizer, train)
    mean, std = ppo.reward_normalization(reward_model, reference, tokenizer, ids, mask, config)
    assert (mean, std) == ppo.reward_normalization(
        reward_model, reference, tokenizer, ids, mask, config
    )
    assert 0.3 < mean < 3.0 and 0.1 < std < 5.0  # the raw score is off-centre (mean ≈ +1.4)
    result, *_ = _run(toy, steps=1, batch_size=64, normalize_reward=True, reward_norm_samples=128)
    assert result.reward_norm == (mean, std)
    row = result.metrics[0]
    assert abs(row["reward"]) < 0.5 and 0.5 < row["reward_std"] < 2.5


def test_normalize_reward_changes_nothing_when_off(default_run, toy):
    result, *_ = _run(toy, steps=2, normalize_reward=False)
    assert result.reward_norm == (0.0, 1.0)
    assert result.metrics[0]["reward"] == pytest.approx(default_run[0].metrics[0]["reward"])


def test_reward_norm_samples_must_be_at_least_two():
    with pytest.raises(ValueError, match="reward_norm_samples"):
        PPOConfig.toy(reward_norm_samples=1)


def test_the_result_keeps_the_last_rollout_for_lesson_09(default_run):
    """Lesson 09 looks inside the last update: the rollout's whitened advantages and, against
    the trained policy, the ratios the clipped loss saw (some outside the band, not all)."""
    from rlhf_lessons.rollout import response_logprobs

    result = default_run[0]
    ro = result.rollout
    m = ro.mask.bool()
    assert ro.advantages[m].mean().abs() < 1e-4 and abs(ro.advantages[m].std() - 1) < 1e-2
    assert len(result.samples) == ro.mask.shape[0]
    with torch.no_grad():
        log_ratio = response_logprobs(result.policy, ro.batch, result.config.temperature)
    ratio = (log_ratio - ro.logprobs).exp()[m]
    outside = ((ratio - 1).abs() > result.config.clip_eps).float().mean()
    assert 0 < outside < 0.5


def test_a_frozen_copy_of_the_reference_still_trains(toy):
    """deepcopy(reference) arrives with requires_grad False; PPO used to run on it without an
    error and change nothing (ratio 1, approx_kl 0). The contract unfreezes it, as DPO does."""
    fresh, train, _ = toy
    policy, reference, reward_model, tokenizer = fresh()
    policy.requires_grad_(False)
    result = train_ppo(PPOConfig.toy(steps=1), policy, reference, reward_model, tokenizer, train,
                       doctor=False, progress=False)  # fmt: skip
    assert result.metrics[0]["approx_kl"] > 0
