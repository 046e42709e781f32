"""The toy checkpoint cache (pipeline.py): a model a lesson trained and `remember`ed is
the one later lessons load, without training it again; a cold cache trains it."""

from __future__ import annotations

import pytest
import torch

import rlhf_lessons.pipeline as pipeline
import rlhf_lessons.trainers.toy_models as toy_models
from rlhf_lessons.trainers.reward_model import RewardModelConfig, train_reward_model
from rlhf_lessons.trainers.sft import SFTConfig, train_sft


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _no_training(*args, **kwargs):
    raise AssertionError("trained again although the cache holds this config")


def test_remembered_sft_policy_is_loaded_not_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    config = SFTConfig.toy(steps=3, eval_every=0)
    trained = train_sft(config, progress=False).policy
    pipeline.remember(config, trained)
    monkeypatch.setattr(toy_models, "train_sft", _no_training)
    loaded, _ = pipeline.toy_sft_policy(config=config)
    assert _same_weights(trained, loaded)


def test_remembered_reward_model_is_loaded_not_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    config = RewardModelConfig.toy(steps=3)
    trained = train_reward_model(config, progress=False).reward_model
    pipeline.remember(config, trained)
    monkeypatch.setattr(toy_models, "train_reward_model", _no_training)
    assert _same_weights(trained, pipeline.toy_reward_model(config=config))


def test_cold_cache_trains_and_another_config_is_another_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    a = SFTConfig.toy(steps=2, eval_every=0)
    b = SFTConfig.toy(steps=3, eval_every=0)
    pipeline.toy_sft_policy(config=a)
    pipeline.toy_sft_policy(config=b)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("sft-")]) == 2


def test_remember_names_what_it_expects():
    with pytest.raises(TypeError, match="config must be an SFTConfig or a RewardModelConfig"):
        pipeline.remember({"steps": 3}, torch.nn.Linear(1, 1))


# ── lesson 04's PPO run, reused by lesson 06 ────────────────────────────────────────────────


@pytest.fixture(scope="module")
def ppo_inputs():
    from rlhf_lessons.models import build_policy, build_reward_model, freeze
    from rlhf_lessons.toy import build_tokenizer, load_records

    tokenizer = build_tokenizer()
    reference = freeze(build_policy(tokenizer, seed=0))
    reward_model = freeze(build_reward_model(tokenizer, seed=1))
    prompts = [r["prompt"] for r in load_records("prompts_train")][:64]
    return reference, reward_model, tokenizer, prompts


def _ppo(ppo_inputs, steps=2, **overrides):
    import copy

    from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo

    reference, reward_model, tokenizer, prompts = ppo_inputs
    config = PPOConfig.toy(steps=steps, batch_size=8, **overrides)
    policy = copy.deepcopy(reference).requires_grad_(True)
    return train_ppo(config, policy, reference, reward_model, tokenizer, prompts, progress=False)


def test_remembered_ppo_run_is_recalled_with_its_weights_rows_and_findings(
    tmp_path, monkeypatch, ppo_inputs
):
    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    reference, reward_model, _, prompts = ppo_inputs
    result = _ppo(ppo_inputs)
    assert pipeline.recall_ppo_run(result.config, reference, reward_model, prompts) is None
    pipeline.remember_ppo_run(result, reference, reward_model, prompts)
    again = pipeline.recall_ppo_run(result.config, reference, reward_model, prompts)
    assert _same_weights(result.policy, again.policy)
    assert _same_weights(result.value_model, again.value_model)
    assert [r["step"] for r in again.metrics] == [1, 2]
    assert again.metrics[1]["kl"] == pytest.approx(result.metrics[1]["kl"])
    assert all(r["cpu_seconds"] > 0 for r in again.metrics)
    assert [f.name for f in again.doctor.findings] == [f.name for f in result.doctor.findings]


def test_a_ppo_run_is_recalled_only_for_the_same_config_models_and_prompts(
    tmp_path, monkeypatch, ppo_inputs
):
    import dataclasses

    from rlhf_lessons.models import build_reward_model, freeze

    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    reference, reward_model, tokenizer, prompts = ppo_inputs
    result = _ppo(ppo_inputs)
    pipeline.remember_ppo_run(result, reference, reward_model, prompts)
    other_rm = freeze(build_reward_model(tokenizer, seed=2))
    other_config = dataclasses.replace(result.config, beta=0.2)
    assert pipeline.recall_ppo_run(other_config, reference, reward_model, prompts) is None
    assert pipeline.recall_ppo_run(result.config, reference, other_rm, prompts) is None
    assert pipeline.recall_ppo_run(result.config, reference, reward_model, prompts[:-1]) is None


def test_a_ppo_run_that_stopped_early_is_not_remembered(tmp_path, monkeypatch, ppo_inputs):
    import dataclasses

    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    reference, reward_model, _, prompts = ppo_inputs
    result = dataclasses.replace(_ppo(ppo_inputs), stopped="step 2: loss is nan")
    assert pipeline.remember_ppo_run(result, reference, reward_model, prompts) is None
    assert pipeline.recall_ppo_run(result.config, reference, reward_model, prompts) is None


def test_run_method_reuses_the_saved_ppo_run_and_reports_its_training_time(tmp_path, monkeypatch):
    from rlhf_lessons import comparison

    monkeypatch.setenv("RLHF_LESSONS_CACHE", str(tmp_path))
    world = comparison.load_world(seed=0, eval_prompts=8)
    first = comparison.run_method(world, "PPO", steps=2)
    monkeypatch.setattr("rlhf_lessons.trainers.ppo.train_ppo", _no_training)
    second = comparison.run_method(world, "PPO", steps=2)
    assert not first["loaded"] and second["loaded"]
    assert second["gold"] == first["gold"] and second["kl"] == first["kl"]
    assert second["cpu_seconds"] == pytest.approx(sum(r["cpu_seconds"] for r in first["metrics"]))
