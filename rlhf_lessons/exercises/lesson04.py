"""Checker for 04_ppo_loop's exercise: write generalised advantage estimation (GAE) yourself.

    def my_gae(rewards, values, gamma, lam, mask): ...   # -> (advantages, returns), each (B, T)

`check_gae` runs the learner's function on seeded random batches — right-padded responses of
different lengths (the mask), value-model outputs that are *not* zero on the padding (as a
real value model's are), and several (gamma, lam) — compares it with the package's `gae`, and
when it differs says *which* typical mistake it matches: a forward loop, a missing gamma·lam
(or only one of them), a TD error without gamma, an off-by-one V_t instead of V_{t+1},
bootstrapping from the padding after <eos>, returns that forget the values, advantages left
non-zero on the padding.
"""

from __future__ import annotations

import torch

from ..advantages import gae
from . import Verdict, mistake_id, report, run_candidate

__all__ = ["check_gae", "MISTAKES"]


def _backward(rewards, values, gamma, lam, mask, *, decay=None, td_gamma=None, shift=1,
              mask_values=True, forward=False):  # fmt: skip
    """GAE with one knob per typical mistake (the defaults give the right answer)."""
    m = mask.to(rewards.dtype)
    decay = gamma * lam if decay is None else decay
    td_gamma = gamma if td_gamma is None else td_gamma
    r = rewards * m
    v = values * m if mask_values else values
    B, T = r.shape
    adv = torch.zeros_like(r)
    running = torch.zeros(B, dtype=r.dtype)
    steps = range(T) if forward else reversed(range(T))
    for t in steps:
        if shift == 1:
            nxt = v[:, t + 1] if t + 1 < T else torch.zeros(B, dtype=r.dtype)
        else:  # off by one: V_t where V_{t+1} belongs
            nxt = v[:, t]
        delta = r[:, t] + td_gamma * nxt - v[:, t]
        running = delta + decay * running
        adv[:, t] = running
    ret = adv + v
    return adv * m, ret * m


# Typical wrong answers, each a function of (rewards, values, gamma, lam, mask), with what to say.
MISTAKES = {
    "forward loop": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, forward=True),
        "your loop runs forwards (t = 0, 1, ...). A_t = δ_t + γλ·A_{t+1} needs A_{t+1} first, so "
        "the loop must run backwards from the last token: for t in reversed(range(T)).",
    ),
    "missing gamma·lam": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, decay=1.0),
        "you add A_{t+1} undiscounted: A_t = δ_t + γ·λ·A_{t+1} (λ trades bias for variance; "
        "with λ = 0.95 far tokens count less).",
    ),
    "lam without gamma": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, decay=lam),
        "the recursion multiplies A_{t+1} by λ only; it is γ·λ: A_t = δ_t + γ·λ·A_{t+1} "
        "(it only shows when γ < 1).",
    ),
    "gamma without lam": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, decay=g),
        "the recursion multiplies A_{t+1} by γ only; it is γ·λ: A_t = δ_t + γ·λ·A_{t+1}.",
    ),
    "TD error without gamma": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, td_gamma=1.0),
        "your TD error forgets γ: δ_t = r_t + γ·V_{t+1} − V_t.",
    ),
    "V_t instead of V_{t+1}": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, shift=0),
        "your TD error uses V_t where V_{t+1} belongs (off by one): δ_t = r_t + γ·V_{t+1} − V_t, "
        "with V_T = 0 after the last token.",
    ),
    "bootstrapping from padding": (
        lambda r, v, g, lam, m: _backward(r, v, g, lam, m, mask_values=False),
        "you bootstrap from the padding: at the last real token (the <eos>) δ must use "
        "V_{t+1} = 0, because nothing follows the end of the response — but you read the value "
        "model's output at the padding position after it. Zero the values (and rewards) where "
        "mask = 0 first: values = values * mask.",
    ),
    "returns without values": (
        lambda r, v, g, lam, m: (_backward(r, v, g, lam, m)[0],) * 2,
        "your advantages are right but returns = advantages; the value targets are "
        "R_t = A_t + V_t (returns = advantages + values).",
    ),
}

_PADDING = (
    "the real tokens are right but the padding after <eos> has non-zero advantages or "
    "returns; multiply both by the mask so padding adds nothing to the losses."
)
_HINT = (
    "hint: zero rewards and values where mask = 0; then for t in reversed(range(T)): "
    "δ_t = r_t + γ·V_{t+1} − V_t (V_T = 0), A_t = δ_t + γ·λ·A_{t+1}; returns = A + V; "
    "multiply both by the mask"
)


def _cases() -> list[tuple]:
    """Seeded batches: right-padded masks of mixed lengths (one full row, one of length 1),
    values non-zero on the padding, and (gamma, lam) that tell each mistake apart."""
    g = torch.Generator().manual_seed(4)
    cases = []
    for (gamma, lam), (B, T) in zip(
        ((1.0, 0.95), (0.9, 0.8), (0.99, 1.0), (0.8, 0.0)), ((4, 6), (5, 7), (3, 5), (6, 4))
    ):
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        lengths[0], lengths[-1] = T, 1
        mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
        rewards = torch.randn(B, T, generator=g) * mask  # (B, T) zero on padding, as in PPO
        values = torch.randn(B, T, generator=g)  # (B, T) a value model's output everywhere
        cases.append((rewards, values, gamma, lam, mask))
    return cases


def _close(x: torch.Tensor, y: torch.Tensor) -> bool:
    return bool(torch.allclose(x.double(), y.double(), rtol=1e-4, atol=1e-5))


def check_gae(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(rewards, values, gamma, lam, mask) -> (advantages, returns)`.

    Introduced in 04_ppo_loop. Compares with the package's `gae` on seeded random batches;
    prints and returns a Verdict (raises AssertionError only with raise_on_fail=True). A wrong
    answer is named only when it matches that mistake on *every* test batch.
    """
    results = []  # (case, learner's (A, R), gae's (A, R))
    for case in _cases():
        rewards, values, gamma, lam, mask = case
        got, failed = run_candidate(
            fn, rewards.clone(), values.clone(), gamma, lam, mask.clone(), stub_hint=_HINT
        )
        if failed is not None:
            return report(failed, raise_on_fail)
        if not (isinstance(got, tuple) and len(got) == 2):
            return report(
                Verdict(
                    False, "return a pair (advantages, returns), each a (B, T) tensor", "not_a_pair"
                ),
                raise_on_fail,
            )
        if not all(isinstance(x, torch.Tensor) and x.shape == rewards.shape for x in got):
            shapes = [
                tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__ for x in got
            ]
            return report(
                Verdict(
                    False,
                    f"advantages and returns must be tensors of the rewards' shape "
                    f"{tuple(rewards.shape)}; got {shapes}",
                    "wrong_shape",
                ),
                raise_on_fail,
            )
        results.append((case, got, gae(rewards, values, gamma, lam, mask)))

    wrong = [r for r in results if not (_close(r[1][0], r[2][0]) and _close(r[1][1], r[2][1]))]
    if not wrong:
        return report(
            Verdict(
                True,
                "your GAE matches the package's gae on padded batches with several (gamma, lam), "
                "including gamma·lam < 1, lam = 0 (one-step TD) and responses of a single token",
            ),
            raise_on_fail,
        )
    on_real = all(
        _close(a * m, a_ok) and _close(r * m, r_ok)
        for (_, _, _, _, m), (a, r), (a_ok, r_ok) in results
    )
    if on_real:  # right on every real token: only the padding is wrong
        return report(Verdict(False, _PADDING, "padding_not_zero"), raise_on_fail)
    for name, (mistake, message) in MISTAKES.items():
        if all(
            _close(r[1][0], mistake(*r[0])[0]) and _close(r[1][1], mistake(*r[0])[1])
            for r in results
        ):
            return report(Verdict(False, message, mistake_id(name)), raise_on_fail)
    (rewards, values, gamma, lam, mask), (adv, ret), (adv_ok, ret_ok) = wrong[0]
    which = "advantages" if not _close(adv, adv_ok) else "returns"
    return report(
        Verdict(
            False,
            f"your {which} differ from gae's on a batch of shape {tuple(rewards.shape)} with "
            f"gamma={gamma}, lam={lam} (largest difference "
            f"{(adv - adv_ok).abs().max().item() if which == 'advantages' else (ret - ret_ok).abs().max().item():.4f}). "
            f"{_HINT}",
        ),
        raise_on_fail,
    )
