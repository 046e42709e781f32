"""The checkers of 07_planning_a_real_run accept the answer and reject the usual slips."""

from __future__ import annotations

import pytest

from rlhf_lessons.exercises import lesson07 as ex

# ── 1. bytes per parameter for PPO ───────────────────────────────────────────────────────


def right_bytes(lora_fraction):
    if lora_fraction is None:
        return 2 * 16 + 2 * 2
    return 2 * (2 + 16 * lora_fraction) + 2 * 2


def test_bytes_checker_accepts_the_answer(capsys):
    assert ex.check_ppo_bytes_per_param(right_bytes).ok
    assert "correct" in capsys.readouterr().out


BYTES_SLIPS = [
    (lambda f: 2 * 16 if f is None else 2 * (2 + 16 * f), "full_fine_tune"),  # frozen forgotten
    (lambda f: 4 * 16 if f is None else 8 + 32 * f, "full_fine_tune"),  # all four trained
    (lambda f: 2 * 4 + 2 * 2 if f is None else 8 + 32 * f, "full_fine_tune"),  # Adam forgotten
    (lambda f: 36 if f is None else 2 * 16 * f + 2 * 2, "lora_fraction"),  # LoRA base forgotten
    (lambda f: 36 if f is None else 8 + 2 * 2 * f, "lora_fraction"),  # adapters without Adam
    (lambda f: 36 if f is None else 8, "lora_fraction"),  # adapters forgotten
]


@pytest.mark.parametrize("wrong, mistake", BYTES_SLIPS)
def test_bytes_checker_rejects_slips_with_their_id(wrong, mistake, capsys):
    verdict = ex.check_ppo_bytes_per_param(wrong)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == mistake, verdict.message
    assert "❌ not yet" in capsys.readouterr().out


def test_bytes_checker_gives_each_slip_its_own_hint():
    messages = {ex.check_ppo_bytes_per_param(wrong).message for wrong, _ in BYTES_SLIPS}
    assert len(messages) == len(BYTES_SLIPS)
    assert all("Hint" in m for m in messages)


def test_bytes_checker_says_not_done_yet_for_a_stub_and_not_yet_for_none(capsys):
    def stub(lora_fraction):
        raise NotImplementedError

    verdict = ex.check_ppo_bytes_per_param(stub)
    assert not verdict.ok and not verdict.done and verdict.mistake == "not_done"
    assert capsys.readouterr().out.startswith("⏳ not done yet")
    assert ex.check_ppo_bytes_per_param(None).mistake == "not_defined"
    verdict = ex.check_ppo_bytes_per_param(lambda f: None)
    assert not verdict.ok and verdict.mistake == "returned_none"
    with pytest.raises(AssertionError):
        ex.check_ppo_bytes_per_param(lambda f: None, raise_on_fail=True)
    assert ex.check_ppo_bytes_per_param(right_bytes).mistake == ""


# ── 2. FLOPs of a DPO run ────────────────────────────────────────────────────────────────


def right_flops(n_params, n_pairs, seq_tokens, epochs):
    tokens = epochs * n_pairs * 2 * seq_tokens
    return (6 + 2) * n_params * tokens


def test_flops_checker_accepts_the_answer():
    assert ex.check_dpo_flops(right_flops).ok
    assert ex.dpo_flops_reference(13e9, 100_000, 512, 1) == pytest.approx(1.065e19, rel=1e-3)


FLOPS_SLIPS = [
    lambda n, p, s, e: (2 + 2) * n * e * p * 2 * s,  # 2·N instead of 6·N for the policy
    lambda n, p, s, e: 6 * n * e * p * 2 * s,  # reference forgotten
    lambda n, p, s, e: 12 * n * e * p * 2 * s,  # reference trained like the policy
    lambda n, p, s, e: 8 * n * p * 2 * s,  # epochs forgotten
    lambda n, p, s, e: 8 * n * e * p * s,  # one sequence per pair
]


@pytest.mark.parametrize("wrong", FLOPS_SLIPS)
def test_flops_checker_rejects_slips_with_their_id(wrong):
    verdict = ex.check_dpo_flops(wrong)
    assert not verdict.ok and verdict.done
    assert verdict.mistake == "dpo_flops", verdict.message


def test_flops_checker_gives_each_slip_its_own_hint():
    # 2·N for the policy and one sequence per pair both give half the FLOPs: one shared hint
    messages = {ex.check_dpo_flops(wrong).message for wrong in FLOPS_SLIPS}
    assert len(messages) == len(FLOPS_SLIPS) - 1


def test_flops_checker_handles_stub_and_bugs(capsys):
    def stub(n_params, n_pairs, seq_tokens, epochs):
        raise NotImplementedError

    verdict = ex.check_dpo_flops(stub)
    assert not verdict.done and verdict.mistake == "not_done"
    assert capsys.readouterr().out.startswith("⏳ not done yet")
    assert ex.check_dpo_flops(lambda n, p, s, e: 1 / 0).mistake == "raised"
    assert ex.check_dpo_flops(lambda n, p, s, e: "lots").mistake == "wrong_value"
    assert ex.check_dpo_flops(right_flops).mistake == ""
