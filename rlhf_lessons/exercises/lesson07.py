"""Checkers for 07_planning_a_real_run.

1. `check_ppo_bytes_per_param(fn)`: fn(lora_fraction) -> bytes per base parameter of a PPO
   run (policy, value_model trained; reference, reward_model frozen; all the same size).
2. `check_dpo_flops(fn)`: fn(n_params, n_pairs, seq_tokens, epochs) -> FLOPs of a DPO run
   whose reference logprobs are computed every epoch.

Each recognises the usual slips (frozen copies forgotten, Adam forgotten, 2·N instead of
6·N, one sequence per pair instead of two) and answers with a hint.
"""

from __future__ import annotations

import math

from . import Verdict, report, run_candidate

# ── 1. bytes per parameter for PPO ───────────────────────────────────────────────────────

TRAINED = 16  # bf16 mixed precision + Adam: 2 weights + 2 grads + 12 fp32 (master, m, v)
FROZEN = 2  # bf16 weights only


def ppo_bytes_per_param_reference(lora_fraction: float | None) -> float:
    """The answer: 2 trained copies + 2 frozen copies, per parameter of the base model."""
    if lora_fraction is None:
        return 2 * TRAINED + 2 * FROZEN  # 36
    return 2 * (FROZEN + TRAINED * lora_fraction) + 2 * FROZEN  # frozen bases + adapters


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _as_number(value, what: str) -> tuple[float | None, Verdict | None]:
    if value is None:
        return None, Verdict(
            False, f"{what} returned None: did you forget `return`?", "returned_none"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # a 0-d tensor or numpy number is fine
        except (TypeError, ValueError):
            return None, Verdict(
                False, f"{what} should return a number, got {type(value).__name__}"
            )
    return float(value), None


def check_ppo_bytes_per_param(fn, raise_on_fail: bool = False) -> Verdict:
    """Check fn(lora_fraction) -> bytes per parameter of PPO (None = full fine-tune)."""
    got = {}
    for f in (None, 0.01, 0.005):
        value, failure = run_candidate(fn, f)
        if failure is None:
            value, failure = _as_number(value, f"ppo_bytes_per_param({f})")
        if failure is not None:
            return report(failure, raise_on_fail)
        got[f] = value

    full = got[None]
    if not _close(full, 36):
        hints = {
            32: "you counted the two trained copies (policy, value model: 16 B each) but not "
            "the frozen ones: the reference and the reward model are in memory too, 2 B each",
            64: "only the policy and the value model are trained; the reference and the "
            "reward model are frozen: weights only, 2 B each in bf16",
            12: "a trained parameter also carries Adam: fp32 master weights + m + v = 12 B, "
            "so 16 B in all, not 4",
            8: "with lora_fraction=None the policy and value model are fully trained (16 B)",
        }
        hint = hints.get(round(full), "count 4 copies: 2 trained at 16 B, 2 frozen at 2 B")
        return report(
            Verdict(False, f"full fine-tune: got {full:g} B/param. Hint: {hint}", "full_fine_tune"),
            raise_on_fail,
        )

    for f in (0.01, 0.005):
        want = ppo_bytes_per_param_reference(f)
        value = got[f]
        if _close(value, want):
            continue
        if _close(value, 4 + 32 * f):
            hint = (
                "a LoRA copy still holds its whole frozen base (2 B/param) under the "
                "adapters; with the frozen reference and reward model that is 4 frozen bases"
            )
        elif _close(value, 8 + 4 * f) or _close(value, 8 + 2 * f):
            hint = "adapter parameters are trained: 16 B each (weights, grads, Adam), not 2-4"
        elif _close(value, 8):
            hint = "you forgot the adapters themselves: 2 trained copies x fraction x 16 B"
        elif _close(value, 36 * f) or _close(value, 32 * f):
            hint = "LoRA trains only a fraction, but the frozen bases are still in memory"
        else:
            hint = "per copy: frozen base 2 B + lora_fraction x 16 B for the trained copies"
        return report(
            Verdict(
                False,
                f"lora_fraction={f}: got {value:g}, expected {want:g}. Hint: {hint}",
                "lora_fraction",
            ),
            raise_on_fail,
        )
    return report(
        Verdict(
            True,
            "36 B/param full (468 GB at 13B); with LoRA the four frozen bases (8 B) dominate "
            "and the adapters add only 32 x fraction",
        ),
        raise_on_fail,
    )


# ── 2. FLOPs of a DPO run ────────────────────────────────────────────────────────────────


def dpo_flops_reference(n_params: float, n_pairs: int, seq_tokens: int, epochs: float) -> float:
    """The answer: per pair 2 sequences; policy trains (6·N), reference forwards (2·N)."""
    tokens = epochs * n_pairs * 2 * seq_tokens  # chosen + rejected, every epoch
    return 6 * n_params * tokens + 2 * n_params * tokens


_DPO_SLIPS = {
    0.75: "the reference model runs too: a forward pass (2·N per token) on chosen and rejected",
    0.5: "two things to check: each pair is TWO sequences (chosen and rejected), and training "
    "is forward + backward = 6·N per token (2·N is a forward pass only)",
    0.375: "each pair is two sequences, and the reference's forward (2·N) counts too",
    0.25: "training costs 6·N per token, forward only 2·N; and each pair is two sequences",
    1.5: "the reference is frozen: a forward pass (2·N per token), not a training pass (6·N)",
    2.0: "each pair has 2 sequences of seq_tokens tokens: count them once each",
}


def check_dpo_flops(fn, raise_on_fail: bool = False) -> Verdict:
    """Check fn(n_params, n_pairs, seq_tokens, epochs) -> FLOPs of a DPO run."""
    cases = [(13e9, 100_000, 512, 1), (7e9, 50_000, 300, 3), (1e9, 1_000, 128, 2)]
    for args in cases:
        value, failure = run_candidate(fn, *args)
        if failure is None:
            value, failure = _as_number(value, "dpo_flops")
        if failure is not None:
            return report(failure, raise_on_fail)
        want = dpo_flops_reference(*args)
        if _close(value, want):
            continue
        ratio = value / want
        epochs = args[3]
        hint = None
        for slip, text in _DPO_SLIPS.items():
            if _close(ratio, slip):
                hint = text
            elif epochs != 1 and _close(ratio, slip / epochs):
                hint = f"multiply by epochs (every epoch repeats every pass). Also: {text}"
        if _close(ratio, 1 / epochs):
            hint = "multiply by epochs: every epoch repeats every pass"
        if hint is None:
            hint = "tokens = epochs x pairs x 2 x seq_tokens; FLOPs = (6·N + 2·N) x tokens"
        return report(
            Verdict(
                False,
                f"dpo_flops{args} = {value:.3e}, expected {want:.3e}. Hint: {hint}",
                "dpo_flops",
            ),
            raise_on_fail,
        )
    return report(
        Verdict(True, "8·N per token over 2 sequences per pair: 1.06e19 FLOPs for 13B x 100K"),
        raise_on_fail,
    )
