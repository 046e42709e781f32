"""The comparison machinery of lesson 06: one evaluation for every method, the optimum gap by
hand, the table, the published facts, bad input by name."""

from __future__ import annotations

import pytest

from rlhf_lessons.comparison import (
    MODEL_COPIES,
    PUBLISHED,
    format_table,
    load_world,
    optimum_gap,
    published_table,
    reference_row,
    run_method,
)


@pytest.fixture(scope="module")
def world():
    return load_world(seed=0, eval_prompts=16)


def test_optimum_gap_interpolates_along_the_curve():
    optimum = [{"kl": 0.0, "reward": 1.0}, {"kl": 2.0, "reward": 3.0}, {"kl": 4.0, "reward": 3.5}]
    assert optimum_gap({"kl": 1.0, "reward": 1.5}, optimum) == pytest.approx(0.5)  # 2.0 - 1.5
    assert optimum_gap({"kl": 3.0, "reward": 3.5}, optimum) == pytest.approx(-0.25)  # above it
    assert optimum_gap({"kl": 5.0, "reward": 3.0}, optimum) is None  # beyond the curve


def test_model_copies_match_the_course():
    # PPO 4 (2 trained), GRPO 3 (1), DPO 1 while training (reference precomputed), BoN 2 (0)
    assert {m: c[:2] for m, c in MODEL_COPIES.items()} == {
        "PPO": (4, 2), "DPO": (1, 1), "GRPO": (3, 1), "best-of-N": (2, 0),
    }  # fmt: skip


def test_published_table_states_the_missing_comparison():
    table = published_table()
    assert table.count("\n") == len(PUBLISHED) + 1
    assert "no published comparison at equal compute on MT-Bench" in table
    for fact in ("2.5%", "1.2%", "6.70 → 7.00", "61%", "57%"):
        assert fact in table


def test_every_method_is_judged_by_the_same_evaluation(world):
    ref = reference_row(world)
    again = reference_row(world)
    assert ref["samples"] == again["samples"]  # same prompts, same seed: same samples
    assert ref["kl"] == pytest.approx(0.0, abs=1e-6)  # the reference against itself
    dpo = run_method(world, "DPO", steps=2)
    assert dpo["method"] == "DPO" and dpo["beta"] == 0.1 and dpo["copies"] == 1
    assert len(dpo["metrics"]) == 2 and dpo["cpu_seconds"] > 0
    table = format_table([ref, dpo])
    assert table.splitlines()[2].startswith("| reference (SFT) |")
    assert "| DPO | β = 0.1 |" in table


@pytest.mark.parametrize(
    "kwargs, match",
    [({"method": "TRPO"}, "method must be one of"), ({"method": "DPO", "steps": 0}, "steps")],
)
def test_bad_input_named(world, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_method(world, **kwargs)


@pytest.mark.parametrize("method", ["REINFORCE", "RLOO"])
def test_lesson09_policy_gradients_run_on_the_same_budget(world, method):
    row = run_method(world, method, steps=2)
    assert row["method"] == method and row["copies"] == 3 and row["trained_copies"] == 1
    assert [r["step"] for r in row["metrics"]] == [1, 2]
    assert row["samples"] and row["gold"] is not None and row["kl"] is not None
    assert all(r["gold"] is not None for r in row["metrics"])  # gold_fn was passed


def test_format_table_adds_the_gap_column_only_when_asked():
    row = {"method": "PPO", "beta": 0.1, "gold": 0.7, "reward": 1.5, "kl": 3.0, "seconds": 1.0,
           "cpu_seconds": 2.0, "copies": 4, "trained_copies": 2}  # fmt: skip
    assert "below π*" not in format_table([row])
    lines = format_table(
        [{**row, "gap": 0.123}, {**row, "method": "DPO", "gap": None}]
    ).splitlines()
    assert "below π* at that KL" in lines[0] and lines[1].count("|") == lines[0].count("|")
    assert "| 3.00 | 0.12 | 1.0 / 2.0 |" in lines[2] and "| 3.00 | — | 1.0 / 2.0 |" in lines[3]
