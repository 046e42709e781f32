"""SFT (01_rlhf_pipeline): the loss falls, covers response tokens only, repeats exactly for a
seed, and an interrupted run resumes to the same numbers; a non-finite loss keeps the last
good checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import rlhf_lessons.trainers.common as common
import rlhf_lessons.trainers.sft as sft
from rlhf_lessons.batching import encode_queries
from rlhf_lessons.exercises.lesson01 import reference_sft_loss
from rlhf_lessons.models import build_policy, forward_logits
from rlhf_lessons.toy import build_tokenizer, gold_scores, load_records
from rlhf_lessons.trainers.sft import SFTConfig, sft_loss, toy_eval_prompts, train_sft


def _losses(metrics):
    return [m["loss"] for m in metrics]


def _without_time(metrics):
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


@pytest.fixture(scope="module")
def short_run():
    """60 steps of toy SFT (a few seconds): enough for the loss to fall well below its start."""
    return train_sft(SFTConfig.toy(steps=60, eval_every=0), gold_fn=gold_scores,
                     eval_prompts=toy_eval_prompts(32), progress=False)  # fmt: skip


def test_loss_falls_well_below_its_start(short_run):
    losses = _losses(short_run.metrics)
    assert len(losses) == 60
    assert losses[0] == pytest.approx(torch.log(torch.tensor(73.0)).item(), abs=0.3)  # uniform
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0]


def test_short_run_learns_to_stop(short_run):
    last = short_run.metrics[-1]  # evaluated at the final step
    assert last["eos_rate"] is not None and last["eos_rate"] > 0.7
    assert last["gold"] > -0.5  # an untrained policy scores about -0.8
    assert set(last) >= {"step", "loss", "reward", "gold", "kl", "seconds"}


# ── the mask: prompt and padding columns carry no loss ─────────────────────────────────────
@pytest.fixture(scope="module")
def batch_and_logits():
    tok = build_tokenizer()
    records = load_records("sft")[:16]
    batch = encode_queries(tok, [r["prompt"] for r in records], [r["response"] for r in records])
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(*batch.input_ids.shape, len(tok), generator=g)  # (B, L, V)
    assert (batch.attention_mask[:, : batch.prompt_len] == 0).any(), "want left padding"
    assert (batch.response_mask == 0).any(), "want padding after <eos>"
    return batch, logits


def _package_loss(monkeypatch, batch, logits):
    """sft.sft_loss with the policy's logits replaced by `logits`."""
    monkeypatch.setattr(sft, "forward_logits", lambda model, ids, mask: logits)
    return sft_loss(None, batch)


def test_prompt_and_padding_columns_do_not_change_the_loss(monkeypatch, batch_and_logits):
    batch, logits = batch_and_logits
    P = batch.prompt_len
    base = _package_loss(monkeypatch, batch, logits)
    perturbed = logits.clone()
    perturbed[:, : P - 1] += 5 * torch.randn_like(perturbed[:, : P - 1])  # prompt columns
    pad_rows, pad_cols = (batch.response_mask == 0).nonzero(as_tuple=True)
    perturbed[pad_rows, P - 1 + pad_cols] += 5.0  # columns that predict padding
    perturbed[:, -1] += 5.0  # the last column predicts nothing
    assert torch.equal(_package_loss(monkeypatch, batch, perturbed), base)


def test_response_columns_change_the_loss(monkeypatch, batch_and_logits):
    batch, logits = batch_and_logits
    P = batch.prompt_len
    base = _package_loss(monkeypatch, batch, logits)
    for col in (P - 1, P):  # the first response token is predicted at the last prompt column
        perturbed = logits.clone()
        perturbed[0, col] += 5 * torch.randn(logits.shape[-1])
        assert not torch.allclose(_package_loss(monkeypatch, batch, perturbed), base)


def test_gradient_reaches_exactly_the_response_columns(monkeypatch, batch_and_logits):
    batch, logits = batch_and_logits
    P = batch.prompt_len
    leaf = logits.clone().requires_grad_(True)
    _package_loss(monkeypatch, batch, leaf).backward()
    touched = leaf.grad.abs().sum(-1) > 0  # (B, L)
    expected = torch.zeros_like(touched)
    expected[:, P - 1 : -1] = batch.response_mask.bool()
    assert torch.equal(touched, expected)


def test_package_loss_matches_the_lesson_formula_on_a_real_policy():
    tok = build_tokenizer()
    policy = build_policy(tok, seed=1)
    records = load_records("sft")[:8]
    batch = encode_queries(tok, [r["prompt"] for r in records], [r["response"] for r in records])
    with torch.no_grad():
        lesson = reference_sft_loss(
            forward_logits(policy, batch.input_ids, batch.attention_mask), batch
        )
        assert torch.allclose(sft_loss(policy, batch), lesson, atol=1e-6)


# ── determinism, resume, non-finite loss ───────────────────────────────────────────────────
def _config(**kw):
    return SFTConfig.toy(steps=12, eval_every=6, checkpoint_every=4, **kw)


def _train(config, **kw):  # the runs below evaluate 8 held-out prompts with the toy judge
    return sft.train_sft(config, gold_fn=gold_scores, eval_prompts=toy_eval_prompts(8), **kw)


def test_same_seed_gives_identical_metrics():
    a = _train(_config(), progress=False).metrics
    b = _train(_config(), progress=False).metrics
    c = _train(_config(seed=1), progress=False).metrics
    assert _without_time(a) == _without_time(b)
    assert _losses(a) != _losses(c)


def _interrupt_at(monkeypatch, step_to_fail, exc):
    real = sft.check_finite_loss

    def check(loss, step, what="loss"):
        if step == step_to_fail:
            raise exc
        real(loss, step, what)

    monkeypatch.setattr(sft, "check_finite_loss", check)


def _checkpoint_step(out):
    return torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=True)["step"]


def test_interrupted_run_keeps_its_checkpoint_and_resume_reproduces_it(tmp_path, monkeypatch):
    full = _train(_config(), out_dir=tmp_path / "full", progress=False).metrics

    out = tmp_path / "interrupted"
    _interrupt_at(monkeypatch, 10, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _train(_config(), out_dir=out, progress=False)
    monkeypatch.undo()
    assert _checkpoint_step(out) == 8  # the last one written before step 10
    assert (out / "checkpoint" / "policy" / "model.safetensors").exists()
    assert not list(out.glob(".checkpoint*")), "a temporary checkpoint folder was left behind"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 10))

    resumed = _train(_config(), out_dir=out, resume=True, progress=False).metrics
    assert [m["step"] for m in resumed] == list(range(1, 13))
    assert _losses(resumed) == _losses(full)  # exactly: same batches, same optimizer state
    assert _without_time(resumed) == _without_time(full)
    on_disk = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in on_disk] == list(range(1, 13))
    assert _checkpoint_step(out) == 12


def test_a_run_killed_mid_swap_resumes_from_the_previous_checkpoint(tmp_path, monkeypatch):
    """save_checkpoint swaps with two renames; dying between them leaves .checkpoint.old."""
    full = _train(_config(), progress=False).metrics
    real_replace, calls = common.os.replace, []

    def replace(src, dst):
        if Path(dst).name == "checkpoint":
            calls.append(dst)
        if len(calls) == 2:  # checkpoint 2: the old one went aside, the new one never came in
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(common.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        _train(_config(), out_dir=tmp_path, progress=False)
    monkeypatch.undo()
    assert not (tmp_path / "checkpoint").exists() and (tmp_path / ".checkpoint.old").exists()
    resumed = _train(_config(), out_dir=tmp_path, resume=True, progress=False).metrics
    assert [m["step"] for m in resumed] == list(range(1, 13))
    assert _without_time(resumed) == _without_time(full)  # resumed from step 4, exactly
    assert _checkpoint_step(tmp_path) == 12 and not (tmp_path / ".checkpoint.old").exists()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = sft.sft_loss
    calls = []

    def nan_at_step_6(policy, batch):
        calls.append(1)
        loss = real(policy, batch)
        return loss * float("nan") if len(calls) == 6 else loss

    monkeypatch.setattr(sft, "sft_loss", nan_at_step_6)
    result = _train(_config(), out_dir=tmp_path, progress=False)  # the contract: no exception
    assert result.stopped.startswith("step 6: loss is nan")
    assert [r["step"] for r in result.metrics] == [1, 2, 3, 4, 5]  # nothing of step 6 is written
    assert "non-finite" in {f.name for f in result.doctor.findings}
    assert _checkpoint_step(tmp_path) == 4


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="SFTConfig.steps"):
        SFTConfig(steps=0)
    with pytest.raises(ValueError, match="SFTConfig.n_embd must be a multiple of n_head"):
        SFTConfig(n_head=3)
    with pytest.raises(ValueError, match="SFTConfig.lr"):
        SFTConfig(lr=0.0)


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        _train(_config(), out_dir=tmp_path, resume=True, progress=False)
