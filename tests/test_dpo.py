"""DPO trainer: learning happens (gold rises above the SFT policy), the reference is used only
through logprobs precomputed before training, the first step is exactly log 2, bad settings are
rejected by name, the doctor notices a stuck loss, and runs resume exactly."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from rlhf_lessons.doctor import Doctor
from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
from rlhf_lessons.rollout import response_logprobs
from rlhf_lessons.toy import gold_scores, load_records
from rlhf_lessons.trainers.dpo import DPOConfig, encode_pairs, reference_logprobs, train_dpo

EVAL_PROMPTS = [r["prompt"] for r in load_records("prompts_test")][:128]


def _prompts(n: int) -> dict:
    return {"gold_fn": gold_scores, "eval_prompts": EVAL_PROMPTS[:n]}


@pytest.fixture(scope="module")
def world():
    policy, tokenizer = toy_sft_policy(seed=0)
    return policy, tokenizer, toy_reward_model(seed=0)


@pytest.fixture(scope="module")
def pairs():
    return load_records("pairs_train")


def count_calls(model) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.slow
def test_dpo_raises_gold_above_the_sft_policy(world):
    sft, tok, rm = world
    # fixed seed, CI-sized: 40 steps of 64 pairs (~1.5 s on an idle core)
    result = train_dpo(
        DPOConfig.toy(steps=40, eval_every=0), copy.deepcopy(sft), sft, tok,
        reward_model=rm, gold_fn=gold_scores, eval_prompts=EVAL_PROMPTS, progress=False,
    )  # fmt: skip
    before, after = result.evaluations[0], result.evaluations[-1]
    assert before["step"] == 0 and after["step"] == 40
    # measured (seed 0, 1 thread): gold -0.06 -> +0.41, KL 0 -> ~1.4, last-10 accuracy ~0.7
    assert after["gold"] > before["gold"] + 0.2, (before["gold"], after["gold"])
    assert 0.2 < after["kl"] < 5.0
    assert after["reward"] > before["reward"]  # the proxy rises too, though DPO never saw it
    late = [r["accuracy"] for r in result.metrics[-10:]]
    assert sum(late) / len(late) > 0.6
    assert result.metrics[-1]["loss"] < math.log(2)
    assert not result.doctor.findings


def test_reference_logprobs_are_precomputed_not_recomputed(world, pairs):
    sft, tok, _ = world
    subset = pairs[:256]
    counts = []
    for steps in (2, 6):
        reference = copy.deepcopy(sft)
        calls = count_calls(reference)
        config = DPOConfig.toy(steps=steps, batch_size=16, eval_every=0,
                               reference_batch_size=128)  # fmt: skip
        train_dpo(config, copy.deepcopy(sft), reference, tok, subset, progress=False,
                  **_prompts(8))  # fmt: skip
        counts.append(calls[0])
    # 512 sequences / 128 per pass = 4 precompute passes + 2 evaluations (KL before and after);
    # none during training: 4 more steps do not add a single call
    assert counts == [4 + 2, 4 + 2]


def test_reference_logprobs_match_token_by_token_scoring(world, pairs):
    sft, tok, _ = world
    data = encode_pairs(tok, pairs[:5])  # rows 0-4 chosen, 5-9 rejected
    assert len(data) == 10
    got = reference_logprobs(sft, data, batch_size=3)  # chunks of 3: chunking must not matter
    with torch.no_grad():
        want = response_logprobs(sft, data).sum(-1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # the pair layout: row i is pairs[i]'s chosen, row 5 + i its rejected
    assert data.response_mask[0].sum() == len(pairs[0]["chosen"].split())
    assert data.response_mask[5].sum() == len(pairs[0]["rejected"].split())


def test_first_step_loss_is_log_two_when_policy_equals_reference(world, pairs):
    sft, tok, _ = world
    config = DPOConfig.toy(steps=1, batch_size=32, eval_every=0)
    result = train_dpo(config, copy.deepcopy(sft), sft, tok, pairs[:64], progress=False,
                       **_prompts(4))  # fmt: skip
    first = result.metrics[0]  # step 1: the metrics rows start at step 1
    assert first["step"] == 1 and [e["step"] for e in result.evaluations] == [0, 1]
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert first["chosen_reward"] == pytest.approx(0, abs=1e-5)
    assert first["margin"] == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize(
    "field, value",
    [("beta", 0.0), ("beta", -0.1), ("lr", 0.0), ("steps", 0), ("batch_size", -1),
     ("eval_every", -1), ("beta", float("nan")), ("micro_batch_size", -1)],
)  # fmt: skip
def test_bad_config_values_are_rejected_by_name(field, value):
    with pytest.raises(ValueError, match=f"DPOConfig.{field}"):
        DPOConfig(**{field: value})


def test_beta_zero_error_explains_why():
    with pytest.raises(ValueError, match="log 2"):
        DPOConfig(beta=0)


def test_batch_larger_than_the_data_is_rejected(world, pairs):
    sft, tok, _ = world
    with pytest.raises(ValueError, match="batch_size"):
        train_dpo(DPOConfig.toy(steps=1, batch_size=64), copy.deepcopy(sft),
                  sft, tok, pairs[:10], progress=False, **_prompts(2))  # fmt: skip


def test_doctor_flags_a_loss_stuck_at_log_two(world, pairs):
    sft, tok, _ = world
    doctor = Doctor("dpo", verbose=False)
    config = DPOConfig.toy(steps=22, batch_size=8, lr=1e-9, eval_every=0)
    train_dpo(config, copy.deepcopy(sft), sft, tok, pairs[:64], doctor=doctor, progress=False,
              **_prompts(4))  # fmt: skip
    assert [f.name for f in doctor.findings] == ["preference-loss-stuck"]


def test_resume_matches_an_uninterrupted_run(world, pairs, tmp_path):
    sft, tok, _ = world
    subset = pairs[:128]
    config = DPOConfig.toy(steps=4, batch_size=16, eval_every=0, checkpoint_every=2)
    whole = train_dpo(config, copy.deepcopy(sft), sft, tok, subset, progress=False, **_prompts(4))
    half = config.replace(steps=2)
    train_dpo(half, copy.deepcopy(sft), sft, tok, subset, out_dir=tmp_path, progress=False,
              **_prompts(4))  # fmt: skip
    resumed = train_dpo(config, copy.deepcopy(sft), sft, tok, subset, out_dir=tmp_path,
                        resume=True, progress=False, **_prompts(4))  # fmt: skip
    losses = lambda result: [r["loss"] for r in result.metrics]  # noqa: E731
    assert len(losses(resumed)) == 4
    assert losses(resumed) == pytest.approx(losses(whole), abs=1e-6)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for key in ("step", "reward", "gold", "kl", "seconds", "loss", "accuracy"):
        assert key in rows[-1]
    assert (tmp_path / "checkpoint" / "policy" / "model.safetensors").exists()


def test_micro_batches_take_the_same_step_as_the_whole_batch(world, pairs):
    """Gradient accumulation (the GPU presets' memory bound): 16 pairs as chunks of 5, 5, 5
    and 1 give the whole batch's loss, metrics and weights, up to float rounding."""
    sft, tok, _ = world
    config = DPOConfig.toy(steps=3, batch_size=16, eval_every=0)
    runs = [
        train_dpo(config.__class__(**{**config.__dict__, "micro_batch_size": m}),
                  copy.deepcopy(sft), sft, tok, pairs[:128], eval_prompts=[], progress=False)
        for m in (0, 5)
    ]  # fmt: skip
    whole, chunked = runs
    for a, b in zip(whole.metrics, chunked.metrics):
        for key in ("loss", "accuracy", "margin", "chosen_reward", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    assert whole.metrics[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    # grad_norm above catches a wrongly scaled sum (Adam's step would not); the weights moved
    # ~1e-3 per step, and Adam turns rounding in near-zero gradients into ~1e-5 differences
    for (name, p), q in zip(whole.policy.named_parameters(), chunked.policy.parameters()):
        torch.testing.assert_close(q, p, rtol=0, atol=1e-4, msg=name)
    assert max((p - p0).abs().max() for p, p0 in zip(whole.policy.parameters(),
                                                     sft.parameters())) > 2e-3  # fmt: skip


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    world, pairs, tmp_path, monkeypatch
):
    import rlhf_lessons.trainers.dpo as dpo

    sft, tok, _ = world
    real, calls = dpo.dpo_loss, []

    def nan_at_step_3(*args):
        calls.append(1)
        return real(*args) * float("nan") if len(calls) == 3 else real(*args)

    monkeypatch.setattr(dpo, "dpo_loss", nan_at_step_3)
    config = DPOConfig.toy(steps=4, batch_size=16, eval_every=0, checkpoint_every=2)
    result = train_dpo(config, copy.deepcopy(sft), sft, tok, pairs[:64], out_dir=tmp_path,
                       progress=False)  # fmt: skip
    assert result.stopped.startswith("step 3: loss is nan")
    assert [r["step"] for r in result.metrics] == [1, 2]
    assert "non-finite" in {f.name for f in result.doctor.findings}
    assert torch.load(tmp_path / "checkpoint" / "trainer_state.pt", weights_only=True)["step"] == 2


def test_command_line_writes_metrics_and_checkpoint(tmp_path):
    from rlhf_lessons.__main__ import main

    assert main(["dpo", "--steps", "3", "--out", str(tmp_path), "--eval-every", "0"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[-1]["gold"] is not None and rows[0]["gold"] is None
    assert (tmp_path / "checkpoint" / "policy" / "model.safetensors").exists()


def test_pre_encoded_pairs_and_reference_logprobs_are_reused(world, pairs):
    sft, tok, _ = world
    data = encode_pairs(tok, pairs[:64])
    ref_logps = reference_logprobs(sft, data)
    reference = copy.deepcopy(sft)
    calls = count_calls(reference)
    config = DPOConfig.toy(steps=3, batch_size=16, eval_every=0)
    reused = train_dpo(config, copy.deepcopy(sft), reference, tok, data, reference_logps=ref_logps,
                       eval_prompts=[], progress=False)  # fmt: skip
    assert calls[0] == 0  # the reference was not run at all
    fresh = train_dpo(config, copy.deepcopy(sft), sft, tok, pairs[:64], eval_prompts=[],
                      progress=False)  # fmt: skip
    assert [r["loss"] for r in reused.metrics] == pytest.approx(
        [r["loss"] for r in fresh.metrics], abs=1e-6
    )
    with pytest.raises(ValueError, match="reference_logps must be a tensor of shape"):
        train_dpo(config, copy.deepcopy(sft), sft, tok, data, reference_logps=ref_logps[:5],
                  progress=False)  # fmt: skip
