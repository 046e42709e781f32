"""Lesson 10's runs (rlhf_lessons.verifiable): GRPO variants learn the verifier on one budget."""

from __future__ import annotations

import pytest

from rlhf_lessons.trainers.grpo import GRPOConfig
from rlhf_lessons.verifiable import (
    RLVR_SETTINGS,
    VARIANTS,
    format_variant_table,
    load_verifiable_world,
    pass_rate,
    rlvr_config,
    run_variant,
)


@pytest.fixture(scope="module")
def world():
    return load_verifiable_world(seed=0, eval_prompts=64)


def test_configs_name_the_variants():
    assert rlvr_config("GRPO").beta == 0.0 and rlvr_config("GRPO").epochs == 2
    assert rlvr_config("Dr. GRPO").loss_type == "dr_grpo"
    assert rlvr_config("Dr. GRPO").scale_rewards == "none"
    assert rlvr_config("DAPO").epsilon_high == 0.28
    assert rlvr_config("GSPO").importance_sampling_level == "sequence"
    assert rlvr_config("GRPO", steps=7, dynamic_sampling=True).dynamic_sampling
    assert set(RLVR_SETTINGS) <= {f for f in GRPOConfig.__dataclass_fields__}
    with pytest.raises(ValueError, match="variant must be one of"):
        rlvr_config("PPO")


def test_the_sft_policy_mostly_fails_the_verifier(world):
    before = pass_rate(world)
    assert 0.0 <= before["pass_rate"] < 0.3
    assert len(before["samples"]) == len(world.eval_prompts)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_learns_the_verifier_and_the_clip_acts(world, variant):
    row = run_variant(world, variant, steps=12)
    assert row["pass_after"] > row["pass_before"] + 0.3, row["pass_after"]
    assert row["clipfrac"] > 0  # epochs = 2: the ratio leaves 1 within a batch
    assert 0 <= row["zero_variance_groups"] <= 1 and row["dropped_groups"] == 0
    assert row["response_length"] > 0 and row["entropy"] > 0 and row["cpu_seconds"] > 0
    table = format_variant_table([row])
    assert variant in table and table.count("\n") == 2


def test_dynamic_sampling_drops_the_tied_groups(world):
    row = run_variant(world, "DAPO", steps=6, dynamic_sampling=True)
    rows = row["metrics"]
    assert row["dropped_groups"] == sum(round(r["zero_variance_groups"] * 8) for r in rows)
    assert row["dropped_groups"] > 0


def test_trl_defaults_the_lesson_cites():
    """Lesson 10 says TRL 1.16's GRPOConfig defaults to beta = 0.0 and recommends 0.28 (DAPO)."""
    trl = pytest.importorskip("trl")
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(trl.GRPOConfig)}
    assert fields["beta"].default == 0.0
    assert "0.28" in fields["epsilon_high"].metadata["help"]


def test_a_learners_verifier_is_the_reward_and_the_gold(world):
    """Lesson 10's try-it 3: a stricter task passed as `verifier` is what trains and is judged."""
    from rlhf_lessons.toy.verifier import verify_all

    def strict(texts):  # also fail responses of more than 4 words (<eos> is the 5th "word")
        return [v if len(t.split()) <= 5 else 0.0 for t, v in zip(texts, verify_all(texts))]

    assert pass_rate(world, verifier=strict)["pass_rate"] <= pass_rate(world)["pass_rate"]
    row = run_variant(world, "GRPO", steps=3, verifier=strict)
    assert all(r["reward"] == r["gold"] for r in row["metrics"])
    assert row["pass_before"] == pass_rate(world, verifier=strict)["pass_rate"]  # same yardstick
