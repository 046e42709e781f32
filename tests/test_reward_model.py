"""Reward model (02_reward_model): learns the gold judge's preferences from noisy pairs to
within a few points of the ceiling, reads the last real token, the margin acts as the formula
says, runs repeat exactly, resumes exactly; and the "be the human" labeller."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import GPT2ForSequenceClassification

import rlhf_lessons.trainers.reward_model as rm
from rlhf_lessons import reward_model_loss
from rlhf_lessons.batching import encode_queries
from rlhf_lessons.models import build_reward_model, reward_scores
from rlhf_lessons.toy import build_tokenizer, gold_score, gold_scores, load_records
from rlhf_lessons.trainers.reward_model import (
    RewardModelConfig,
    encode_pairs,
    gold_ceiling,
    score_queries,
    train_reward_model,
)

# Measured (1 torch thread, seed 0): held-out accuracy 0.802; realised ceiling 0.868, expected
# ceiling 0.834; with seed 1: 0.792.
REALISED_CEILING = 0.868


@pytest.fixture(scope="module")
def full_run():
    """The toy reward model: 3 epochs over the 2,000 training pairs (a few seconds)."""
    return train_reward_model(RewardModelConfig.toy(), gold_fn=gold_scores, progress=False)


def test_accuracy_clearly_above_chance_and_near_the_ceiling(full_run):
    assert full_run.ceiling == pytest.approx(REALISED_CEILING)
    assert full_run.accuracy > 0.75, f"held-out accuracy {full_run.accuracy:.3f}"
    assert full_run.accuracy < full_run.ceiling + 0.02  # it cannot beat the gold judge
    assert full_run.ceiling - full_run.accuracy < 0.08, (
        f"accuracy {full_run.accuracy:.3f} is more than 8 points below the ceiling "
        f"{full_run.ceiling:.3f}"
    )


def test_proxy_ranks_like_the_gold_judge_where_gold_is_clear(full_run):
    pairs = [
        p
        for p in load_records("pairs_test")
        if abs(gold_score(p["chosen"]) - gold_score(p["rejected"])) > 0.5
    ]
    tok = build_tokenizer()
    chosen, rejected = encode_pairs(tok, pairs)
    diff = score_queries(full_run.reward_model, chosen) - score_queries(
        full_run.reward_model, rejected
    )
    gold = torch.tensor([gold_score(p["chosen"]) - gold_score(p["rejected"]) for p in pairs])
    assert ((diff > 0) == (gold > 0)).float().mean() > 0.9


def test_metrics_have_the_common_keys_and_the_loss_falls(full_run):
    rows = full_run.metrics
    assert len(rows) == 3 * (2000 // 64)
    assert set(rows[0]) >= {"step", "loss", "accuracy", "reward", "gold", "kl", "seconds"}
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=0.4)
    assert sum(r["loss"] for r in rows[-10:]) / 10 < rows[0]["loss"] - 0.2


def test_the_reward_model_is_a_one_label_hf_classifier(full_run):
    model = full_run.reward_model
    assert isinstance(model, GPT2ForSequenceClassification)
    assert model.config.num_labels == 1


def test_score_is_read_at_the_last_real_token_whatever_the_padding():
    tok = build_tokenizer()
    model = build_reward_model(tok, seed=0).eval()
    alone = encode_queries(tok, ["review : the plot"], ["was great <eos>"])
    padded = encode_queries(
        tok,
        ["review : the plot", "review : overall its cast and music"],
        ["was great <eos>", "is dull but the ending felt moving and the pace is slow <eos>"],
    )
    assert padded.input_ids.shape[1] > alone.input_ids.shape[1]  # left and right padding
    with torch.no_grad():
        a = reward_scores(model, alone.input_ids, alone.attention_mask)
        b = reward_scores(model, padded.input_ids, padded.attention_mask)
    assert torch.allclose(a[0], b[0], atol=1e-5)


# ── the margin ─────────────────────────────────────────────────────────────────────────────
def test_margin_equals_shifting_the_difference():
    c, r = torch.tensor([1.5, 2.0, 1.8]), torch.tensor([0.5, 0.8, 0.3])
    assert reward_model_loss(c, r, margin=1.0) == pytest.approx(reward_model_loss(c - 1.0, r))
    assert reward_model_loss(c, r, margin=1.0).item() == pytest.approx(0.5885, abs=1e-4)
    per_pair = torch.tensor([0.0, 1.0, 2.0])
    expected = -torch.nn.functional.logsigmoid(c - r - per_pair).mean()
    assert torch.allclose(reward_model_loss(c, r, margin=per_pair), expected)
    for shift in (-10.0, 3.7, 100.0):  # only differences are identified
        assert torch.allclose(reward_model_loss(c + shift, r + shift), reward_model_loss(c, r))


@pytest.fixture(scope="module")
def small_data():
    return load_records("pairs_train")[:256], load_records("pairs_test")[:64]


def test_margin_raises_the_first_loss_and_widens_the_gaps(small_data):
    pairs, test = small_data
    runs = {
        m: train_reward_model(
            RewardModelConfig.toy(steps=24, margin=m), pairs=pairs, test_pairs=test, progress=False
        )
        for m in (0.0, 2.0)
    }
    # same initialisation and batch: the first loss is -log σ(Δ - m), larger for m > 0
    assert runs[2.0].metrics[0]["loss"] > runs[0.0].metrics[0]["loss"] + 1.0
    tok = build_tokenizer()
    chosen, rejected = encode_pairs(tok, pairs)
    gaps = {
        m: (score_queries(r.reward_model, chosen) - score_queries(r.reward_model, rejected)).mean()
        for m, r in runs.items()
    }
    assert gaps[2.0] > gaps[0.0] + 0.3


# ── determinism and resume ─────────────────────────────────────────────────────────────────
def _config(**kw):
    return RewardModelConfig.toy(steps=12, checkpoint_every=5, **kw)


def _without_time(metrics):
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


def test_same_seed_gives_identical_metrics(small_data):
    pairs, test = small_data
    a = train_reward_model(_config(), pairs=pairs, test_pairs=test, progress=False)
    b = train_reward_model(_config(), pairs=pairs, test_pairs=test, progress=False)
    assert _without_time(a.metrics) == _without_time(b.metrics)
    assert a.accuracy == b.accuracy


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch, small_data):
    """12 steps over 256 pairs (4 steps per epoch), interrupted at step 8, checkpoint at 5."""
    pairs, test = small_data
    full = train_reward_model(
        _config(), out_dir=tmp_path / "full", pairs=pairs, test_pairs=test, progress=False
    )
    real = rm.check_finite_loss

    def interrupt(loss, step, what="loss"):
        if step == 8:
            raise KeyboardInterrupt
        real(loss, step, what)

    out = tmp_path / "interrupted"
    monkeypatch.setattr(rm, "check_finite_loss", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_reward_model(_config(), out_dir=out, pairs=pairs, test_pairs=test, progress=False)
    monkeypatch.undo()
    state = torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 5
    assert (out / "checkpoint" / "reward_model" / "model.safetensors").exists()

    resumed = train_reward_model(
        _config(), out_dir=out, resume=True, pairs=pairs, test_pairs=test, progress=False
    )
    assert [m["step"] for m in resumed.metrics] == list(range(1, 13))
    assert [m["loss"] for m in resumed.metrics] == [m["loss"] for m in full.metrics], (
        "a resumed run must see the same batches as an uninterrupted one"
    )
    assert resumed.accuracy == full.accuracy
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))


def test_gold_ceiling_on_hand_pairs():
    pairs = [
        {"prompt": "review : the plot", "chosen": "was great <eos>", "rejected": "was dull <eos>"},
        {"prompt": "review : the plot", "chosen": "was dull <eos>", "rejected": "was great <eos>"},
        {"prompt": "review : the plot", "chosen": "was long <eos>", "rejected": "was short <eos>"},
        {"prompt": "review : the plot", "chosen": "was good <eos>", "rejected": "was good"},
    ]
    assert gold_ceiling(pairs, gold_scores) == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="RewardModelConfig.steps"):
        RewardModelConfig(steps=0)
    with pytest.raises(ValueError, match="RewardModelConfig.epochs"):
        RewardModelConfig(epochs=0)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, small_data
):
    pairs, test = small_data
    real, calls = rm.reward_model_loss, []

    def nan_at_step_7(s_chosen, s_rejected, margin):
        calls.append(1)
        loss = real(s_chosen, s_rejected, margin)
        return loss * float("nan") if len(calls) == 7 else loss

    monkeypatch.setattr(rm, "reward_model_loss", nan_at_step_7)
    result = train_reward_model(_config(), pairs=pairs, test_pairs=test, out_dir=tmp_path,
                                progress=False)  # fmt: skip
    assert result.stopped.startswith("step 7: loss is nan")
    assert [r["step"] for r in result.metrics] == list(range(1, 7))
    assert torch.load(tmp_path / "checkpoint" / "trainer_state.pt", weights_only=True)["step"] == 5
    assert math.isnan(result.ceiling)  # no gold_fn, no ceiling


# ── be the human: the labeller of 02 ───────────────────────────────────────────────────────
def test_labeller_buttons_record_labels_and_the_script_presses_them(tmp_path):
    from rlhf_lessons.widgets.labeller import preference_labeller

    labeller = preference_labeller(n_labels=4, save_path=tmp_path / "l.jsonl", auto_train=False)
    first, second = labeller.current(), labeller.candidates[1]
    labeller.buttons["A"].click()
    labeller.buttons["skip"].click()
    labeller.buttons["B"].click()
    assert labeller.labels[0] == {
        "prompt": first["prompt"], "chosen": first["a"], "rejected": first["b"]
    }  # fmt: skip
    third = labeller.candidates[2]
    assert labeller.labels[1] == {
        "prompt": third["prompt"], "chosen": third["b"], "rejected": third["a"]
    }  # fmt: skip
    assert labeller.skipped == 1 and second not in labeller.labels
    assert "2</b> / 4 labels (1 skipped)" in labeller.progress.value

    calls = []

    def script(prompt, a, b):
        calls.append((prompt, a, b))
        return "A"

    assert labeller.run_script(script) is None  # auto_train off: no report
    assert len(labeller.labels) == 4 and len(calls) == 2
    with pytest.raises(ValueError, match="must return one of"):
        labeller.run_script(lambda p, a, b: "C", n=5)


def test_noisy_gold_labeller_is_deterministic_and_follows_the_gold_judge():
    from rlhf_lessons.widgets.labeller import candidate_pairs, noisy_gold_labeller

    pairs = candidate_pairs(300, seed=0)
    assert pairs == candidate_pairs(300, seed=0) and pairs != candidate_pairs(300, seed=1)
    a = [noisy_gold_labeller(seed=0)(p["prompt"], p["a"], p["b"]) for p in pairs]
    b = [noisy_gold_labeller(seed=0)(p["prompt"], p["a"], p["b"]) for p in pairs]
    assert a == b
    diffs = [gold_score(p["a"]) - gold_score(p["b"]) for p in pairs]
    assert all(c == "skip" for c, d in zip(a, diffs) if d == 0)
    agree = [(c == "A") == (d > 0) for c, d in zip(a, diffs) if d != 0]
    assert 0.75 < sum(agree) / len(agree) < 0.95  # noisy, like the data set's labels
    sharp = noisy_gold_labeller(temperature=1e-3)
    assert all(
        (sharp(p["prompt"], p["a"], p["b"]) == "A") == (d > 0)
        for p, d in zip(pairs, diffs)
        if abs(d) > 0.1
    )


def test_labeller_trains_on_its_labels_reports_and_saves_them(tmp_path):
    from rlhf_lessons.toy import validate_jsonl
    from rlhf_lessons.widgets.labeller import noisy_gold_labeller, preference_labeller

    path = tmp_path / "mine" / "my_labels.jsonl"
    labeller = preference_labeller(n_labels=20, save_path=path, steps=30)
    report = labeller.run_script(noisy_gold_labeller(seed=0))
    assert report is labeller.report and report.n_labels == 20
    assert (report.n_train, report.n_heldout) == (16, 4)
    assert report.train_agreement >= 0.9  # 30 full-batch steps on 16 pairs: memorised
    for value in (report.heldout_agreement, report.gold_agreement, report.test_accuracy):
        assert 0.0 <= value <= 1.0
    assert report.ceiling == pytest.approx(REALISED_CEILING)
    assert report.path == path and "my_labels.jsonl" in report.summary()
    saved = validate_jsonl(path, ("prompt", "chosen", "rejected"))
    assert saved == labeller.labels
    line = path.read_text().splitlines()[0]
    assert list(json.loads(line)) == ["chosen", "prompt", "rejected"]  # data/toy/ key order
    assert "20</b> / 20" in labeller.progress.value

    labeller.mix.value = True  # the option: mix with the data set's pairs
    labeller.steps = 5
    labeller.buttons["train"].click()
    assert labeller.report.mixed_with_dataset and labeller.report is not report


def test_labeller_refuses_bad_arguments():
    from rlhf_lessons.widgets.labeller import preference_labeller

    with pytest.raises(ValueError, match="n_labels"):
        preference_labeller(n_labels=1)
    with pytest.raises(ValueError, match="holdout"):
        preference_labeller(holdout=1.0)
    with pytest.raises(ValueError, match="candidates\\[0\\]"):
        preference_labeller(candidates=[{"prompt": "review : the plot", "a": "", "b": "x"}])
    labeller = preference_labeller(n_labels=5, save_path=None)
    with pytest.raises(ValueError, match="label at least 2 pairs"):
        labeller.train()
    assert labeller.buttons["train"].disabled
