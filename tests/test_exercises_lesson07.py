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


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda f: 2 * 16 if f is None else 2 * (2 + 16 * f), "frozen"),  # frozen copies forgotten
        (lambda f: 4 * 16 if f is None else 8 + 32 * f, "only the policy and the value model"),
        (lambda f: 2 * 4 + 2 * 2 if f is None else 8 + 32 * f, "Adam"),
        (lambda f: 36 if f is None else 2 * 16 * f + 2 * 2, "frozen base"),  # LoRA base forgotten
        (lambda f: 36 if f is None else 8 + 2 * 2 * f, "16 B each"),  # adapters without Adam
        (lambda f: 36 if f is None else 8, "adapters themselves"),
    ],
)
def test_bytes_checker_rejects_slips_with_a_hint(wrong, hint, capsys):
    verdict = ex.check_ppo_bytes_per_param(wrong)
    assert not verdict.ok
    assert hint in verdict.message
    assert "not yet" in capsys.readouterr().out


def test_bytes_checker_says_not_yet_for_a_stub_or_none():
    def stub(lora_fraction):
        raise NotImplementedError

    verdict = ex.check_ppo_bytes_per_param(stub)
    assert not verdict.ok and "NotImplementedError" in verdict.message
    assert not ex.check_ppo_bytes_per_param(None).ok
    verdict = ex.check_ppo_bytes_per_param(lambda f: None)
    assert not verdict.ok and "return" in verdict.message
    with pytest.raises(AssertionError):
        ex.check_ppo_bytes_per_param(lambda f: None, raise_on_fail=True)


# ── 2. FLOPs of a DPO run ────────────────────────────────────────────────────────────────


def right_flops(n_params, n_pairs, seq_tokens, epochs):
    tokens = epochs * n_pairs * 2 * seq_tokens
    return (6 + 2) * n_params * tokens


def test_flops_checker_accepts_the_answer():
    assert ex.check_dpo_flops(right_flops).ok
    assert ex.dpo_flops_reference(13e9, 100_000, 512, 1) == pytest.approx(1.065e19, rel=1e-3)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        # 2·N instead of 6·N for the policy
        (lambda n, p, s, e: (2 + 2) * n * e * p * 2 * s, "6·N per token"),
        # reference forgotten
        (lambda n, p, s, e: 6 * n * e * p * 2 * s, "reference model runs too"),
        # reference trained like the policy
        (lambda n, p, s, e: 12 * n * e * p * 2 * s, "reference is frozen"),
        # epochs forgotten
        (lambda n, p, s, e: 8 * n * p * 2 * s, "multiply by epochs"),
        # one sequence per pair
        (lambda n, p, s, e: 8 * n * e * p * s, "TWO sequences"),
    ],
)
def test_flops_checker_rejects_slips_with_a_hint(wrong, hint):
    verdict = ex.check_dpo_flops(wrong)
    assert not verdict.ok
    assert hint in verdict.message


def test_flops_checker_handles_stub_and_bugs():
    def stub(n_params, n_pairs, seq_tokens, epochs):
        raise NotImplementedError

    assert "NotImplementedError" in ex.check_dpo_flops(stub).message
    assert "ZeroDivisionError" in ex.check_dpo_flops(lambda n, p, s, e: 1 / 0).message
    assert "number" in ex.check_dpo_flops(lambda n, p, s, e: "lots").message
