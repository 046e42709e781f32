"""REINFORCE and RLOO trainers (lesson 09) on the trainer contract: advantages and losses by hand,
config errors name the field, metrics.jsonl rows, atomic safetensors checkpoints, --resume gives
the uninterrupted numbers, a non-finite loss stops the run, gold rises on the toy preset, CLI runs."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from rlhf_lessons.trainers.contract import METRICS_KEYS, ConfigError, field_docs
from rlhf_lessons.trainers.reinforce import (
    REINFORCEConfig,
    kl_penalised_rewards,
    reinforce_loss,
    toy_models,
    train_reinforce,
)
from rlhf_lessons.trainers.rloo import RLOOConfig, rloo_advantages, rloo_loss, train_rloo

TRAINERS = [(REINFORCEConfig, train_reinforce), (RLOOConfig, train_rloo)]
SMALL = {"steps": 2, "eval_every": 0, "eval_prompts": 4, "prompts_per_step": 8}


@pytest.fixture(scope="module")
def world():
    _, sft, rm, tok, gold = toy_models(0)
    return sft, rm, tok, gold


# ── pieces by hand ───────────────────────────────────────────────────────────────────────


def test_rloo_advantages_leave_one_out_by_hand():
    # prompt 1: R = 1, 2, 3 -> baselines (2+3)/2, (1+3)/2, (1+2)/2 -> A = -1.5, 0, 1.5
    got = rloo_advantages(torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0]), k=3)
    torch.testing.assert_close(got, torch.tensor([-1.5, 0.0, 1.5, 0.0, 0.0, 0.0]))
    # A_i = k/(k-1) (R_i - mean): the leave-one-out advantage is the mean-baseline one, scaled
    r = torch.randn(12, generator=torch.Generator().manual_seed(0))
    groups = r.view(-1, 4)
    want = (4 / 3) * (groups - groups.mean(1, keepdim=True))
    torch.testing.assert_close(rloo_advantages(r, 4), want.view(-1))
    whitened = rloo_advantages(r, 4, normalize=True)
    assert abs(whitened.mean().item()) < 1e-6 and abs(whitened.std().item() - 1) < 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rewards": torch.ones(7), "k": 2}, "multiple of k"), ({"rewards": torch.ones(4), "k": 1}, "k"),
     ({"rewards": torch.ones(2, 2), "k": 2}, "shape"),
     ({"rewards": torch.tensor([1.0, float("nan")]), "k": 2}, "non-finite")],
)  # fmt: skip
def test_rloo_advantages_reject_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        rloo_advantages(**kwargs)


def test_kl_penalty_is_part_of_the_reward():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -9.0]])
    ref = torch.tensor([[-1.5, -2.5], [-1.0, 0.0]])
    mask = torch.tensor([[1, 1], [1, 0]])  # the second response's last token is padding
    got = kl_penalised_rewards(torch.tensor([1.0, 2.0]), logp, ref, mask, beta=0.1)
    torch.testing.assert_close(got, torch.tensor([1.0 - 0.1 * 1.0, 2.0 - 0.1 * 0.5]))
    with pytest.raises(ValueError, match="beta"):
        kl_penalised_rewards(torch.ones(2), logp, ref, mask, beta=-1.0)


def test_reinforce_loss_gradient_is_minus_advantage_over_batch():
    seq = torch.tensor([-3.0, -5.0], requires_grad=True)
    loss = reinforce_loss(seq, torch.tensor([2.0, -1.0]))
    assert loss.item() == pytest.approx(-(2 * -3 + -1 * -5) / 2)
    loss.backward()
    torch.testing.assert_close(seq.grad, torch.tensor([-1.0, 0.5]))
    with pytest.raises(ValueError, match="shape"):
        reinforce_loss(seq, torch.ones(3))


def test_rloo_loss_with_ratio_one_is_reinforce_and_clips_off_policy():
    seq = torch.tensor([-3.0, -5.0], requires_grad=True)
    A = torch.tensor([2.0, -1.0])
    loss, stats = rloo_loss(seq, seq.detach(), A)
    assert loss.item() == pytest.approx(-(2.0 - 1.0) / 2) and stats["clipfrac"] == 0.0
    loss.backward()
    torch.testing.assert_close(seq.grad, torch.tensor([-1.0, 0.5]))  # = REINFORCE's gradient
    up = torch.tensor([0.5], requires_grad=True)  # ratio e^0.5 > 1.2 with A > 0: clipped
    loss, stats = rloo_loss(up, torch.zeros(1), torch.ones(1))
    assert loss.item() == pytest.approx(-1.2) and stats["clipfrac"] == 1.0
    loss.backward()
    assert up.grad.item() == 0.0


# ── the contract ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("config_cls", [REINFORCEConfig, RLOOConfig])
@pytest.mark.parametrize(
    "field_name, value",
    [("steps", 0), ("lr", -1.0), ("beta", -0.1), ("beta", float("nan")), ("steps", 2.0),
     ("max_grad_norm", 0.0), ("eval_every", -1)],
)  # fmt: skip
def test_a_bad_value_names_its_field(config_cls, field_name, value):
    with pytest.raises(ConfigError) as info:
        config_cls(**{field_name: value})
    assert info.value.field == field_name


def test_trainer_specific_fields_are_checked_and_documented():
    with pytest.raises(ConfigError) as info:
        RLOOConfig(k=1)
    assert info.value.field == "k"
    with pytest.raises(ConfigError) as info:
        REINFORCEConfig(baseline="value")
    assert info.value.field == "baseline"
    for cls in (REINFORCEConfig, RLOOConfig):
        docs = field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}, cls
    # the toy batch is PPO's: 64 responses a step
    assert REINFORCEConfig.toy().prompts_per_step == 64
    assert RLOOConfig.toy().prompts_per_step * RLOOConfig.toy().k == 64


@pytest.mark.parametrize("config_cls, train", TRAINERS)
def test_metrics_checkpoint_and_resume(world, tmp_path, config_cls, train):
    sft, rm, tok, gold = world
    config = config_cls.toy(**{**SMALL, "steps": 4, "checkpoint_every": 2})
    whole = train(config, copy.deepcopy(sft), sft, rm, tok, gold_fn=gold, progress=False)
    half = config.replace(steps=2)
    train(half, copy.deepcopy(sft), sft, rm, tok, gold_fn=gold, out_dir=tmp_path, progress=False)
    assert (tmp_path / "checkpoint" / "policy" / "model.safetensors").exists()
    assert not list(tmp_path.glob(".checkpoint.tmp-*"))  # the temp folder was swapped in
    resumed = train(config, copy.deepcopy(sft), sft, rm, tok, gold_fn=gold, out_dir=tmp_path,
                    resume=True, progress=False)  # fmt: skip
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for row in rows:
        assert set(METRICS_KEYS) <= set(row) and all(row[k] is not None for k in METRICS_KEYS)
    for key in ("loss", "reward", "gold", "kl"):
        assert [r[key] for r in resumed.metrics] == pytest.approx(
            [r[key] for r in whole.metrics], abs=1e-6
        ), key


def test_without_gold_fn_the_gold_key_stays_as_none(world):
    sft, rm, tok, _ = world
    result = train_rloo(RLOOConfig.toy(**SMALL), copy.deepcopy(sft), sft, rm, tok,
                        eval_prompts=[], progress=False, doctor=False)  # fmt: skip
    assert [r["gold"] for r in result.metrics] == [None, None]
    assert result.doctor is None and result.evaluations == []


@pytest.mark.parametrize("config_cls, train", TRAINERS)
def test_a_non_finite_loss_stops_the_run_and_keeps_the_checkpoint(world, tmp_path, config_cls,
                                                                  train, capsys):  # fmt: skip
    sft, _, tok, _ = world
    config = config_cls.toy(**SMALL)
    train(config, copy.deepcopy(sft), sft, None, tok, reward_fn=lambda t: [0.0] * len(t),
          eval_prompts=[], out_dir=tmp_path, progress=False)  # fmt: skip
    saved = (tmp_path / "checkpoint" / "policy" / "model.safetensors").read_bytes()

    def huge(texts):  # finite rewards whose products with log-probs overflow float32
        return [3e38 * (i % 2) for i in range(len(texts))]

    result = train(config.replace(steps=3), copy.deepcopy(sft), sft, None, tok, reward_fn=huge,
                   eval_prompts=[], out_dir=tmp_path, resume=True, progress=False)  # fmt: skip
    assert result.stopped and "non-finite" in result.stopped
    assert "stopped:" in capsys.readouterr().out
    assert [r["step"] for r in result.metrics] == [1, 2]  # nothing of step 3 was written
    assert (tmp_path / "checkpoint" / "policy" / "model.safetensors").read_bytes() == saved


def test_bad_arguments_are_clear_errors(world):
    sft, rm, tok, _ = world
    with pytest.raises(ValueError, match="same object"):
        train_reinforce(REINFORCEConfig.toy(**SMALL), sft, sft, rm, tok, progress=False)
    with pytest.raises(ValueError, match="reward_model or a reward_fn"):
        train_rloo(RLOOConfig.toy(**SMALL), copy.deepcopy(sft), sft, None, tok, progress=False)
    with pytest.raises(TypeError, match="RLOOConfig"):
        train_rloo(REINFORCEConfig.toy(), copy.deepcopy(sft), sft, rm, tok, progress=False)
    with pytest.raises(TypeError, match="gold_fn"):
        train_rloo(RLOOConfig.toy(**SMALL), copy.deepcopy(sft), sft, rm, tok, gold_fn=3,
                   progress=False)  # fmt: skip


@pytest.mark.parametrize("config_cls, train", TRAINERS)
def test_gold_rises_on_the_toy_preset(world, config_cls, train):
    sft, rm, tok, gold = world
    result = train(config_cls.toy(eval_every=0), copy.deepcopy(sft), sft, rm, tok,
                   gold_fn=gold, progress=False)  # fmt: skip
    before, after = result.evaluations[0], result.evaluations[-1]
    # measured (seed 0, 1 thread, 30 steps x 64 responses): gold -0.06 -> 0.65, KL 4-5 nats
    assert after["gold"] > before["gold"] + 0.4, (before, after)
    assert 0.5 < after["kl"] < 15
    assert result.train_seconds < 15


@pytest.mark.parametrize("command", ["reinforce", "rloo"])
def test_command_line_runs_and_names_bad_flags(tmp_path, command, capsys):
    from rlhf_lessons.__main__ import main

    argv = [command, "--steps", "2", "--out", str(tmp_path), "--eval-every", "0",
            "--eval-prompts", "4", "--prompts-per-step", "8"]  # fmt: skip
    assert main(argv) == 0
    assert "done: gold" in capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[-1]["gold"] is not None
    assert (tmp_path / "checkpoint" / "policy" / "model.safetensors").exists()
    with pytest.raises(SystemExit, match="--beta must be"):
        main([command, "--out", str(tmp_path), "--beta", "-1"])


def test_gradient_variance_baselines_unbiased_and_lower():
    """Lesson 09: no baseline and RLOO's leave-one-out are unbiased; baselines lower variance."""
    from rlhf_lessons.trainers.reinforce import gradient_variance

    logits = torch.tensor([0.5, 0.0, -0.5, 1.0])
    rewards = torch.tensor([1.0, 2.0, 3.0, 1.5]) + 5.0  # a large offset: no baseline is noisy
    out = gradient_variance(logits, rewards, k=4, trials=40000, seed=0)
    exact = out["exact"][0]
    for name in ("none", "leave-one-out"):
        assert torch.allclose(out[name][0], exact, atol=0.03), name
    assert torch.allclose(out["mean"][0], exact * 3 / 4, atol=0.03)  # (k-1)/k bias
    assert out["leave-one-out"][1] < out["none"][1] / 5
