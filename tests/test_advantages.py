"""gae and whiten (rlhf_lessons.advantages) against references written here from the formulas,
with plain Python loops over floats, and their bad-input errors."""

from __future__ import annotations

import random

import pytest
import torch

from rlhf_lessons import gae, whiten


def reference_gae(rewards, values, gamma, lam, lengths=None):
    """GAE from its definition, one sequence at a time, in plain Python floats.

    A_t = sum_{l >= 0} (γλ)^l δ_{t+l},  δ_t = r_t + γ V_{t+1} - V_t,  V_L = 0 after the last
    real token (position L - 1); padding positions get advantage 0 and return 0.
    Written as the forward sum (not the backward recursion the package uses), so the two
    implementations do not share a mistake.
    """
    advantages, returns = [], []
    for b, (r, v) in enumerate(zip(rewards, values)):
        T = len(r)
        L = T if lengths is None else lengths[b]
        deltas = [r[t] + gamma * (v[t + 1] if t + 1 < L else 0.0) - v[t] for t in range(L)]
        adv = []
        for t in range(L):
            total, weight = 0.0, 1.0
            for k in range(t, L):
                total += weight * deltas[k]
                weight *= gamma * lam
            adv.append(total)
        advantages.append(adv + [0.0] * (T - L))
        returns.append([a + v[t] for t, a in enumerate(adv)] + [0.0] * (T - L))
    return advantages, returns


def random_batch(seed, B=4, T=7):
    rng = random.Random(seed)
    rewards = [[rng.gauss(0, 1) for _ in range(T)] for _ in range(B)]
    values = [[rng.gauss(0, 1) for _ in range(T)] for _ in range(B)]
    lengths = [rng.randint(1, T) for _ in range(B)]
    lengths[0] = T  # one sequence without padding
    return rewards, values, lengths


GAMMA_LAM = [(1.0, 0.95), (1.0, 1.0), (1.0, 0.0), (0.0, 0.95), (0.0, 0.0), (0.9, 0.5), (0.99, 1.0)]


@pytest.mark.parametrize("gamma, lam", GAMMA_LAM)
@pytest.mark.parametrize("seed", [0, 1])
def test_gae_matches_reference_without_mask(seed, gamma, lam):
    rewards, values, _ = random_batch(seed)
    adv, ret = gae(torch.tensor(rewards), torch.tensor(values), gamma=gamma, lam=lam)
    ref_adv, ref_ret = reference_gae(rewards, values, gamma, lam)
    assert torch.allclose(adv, torch.tensor(ref_adv), atol=1e-6)
    assert torch.allclose(ret, torch.tensor(ref_ret), atol=1e-6)


@pytest.mark.parametrize("gamma, lam", GAMMA_LAM)
@pytest.mark.parametrize("seed", [2, 3])
def test_gae_matches_reference_with_mask(seed, gamma, lam):
    rewards, values, lengths = random_batch(seed)
    T = len(rewards[0])
    mask = torch.tensor([[1] * L + [0] * (T - L) for L in lengths])
    # junk in the padding must not leak into the real tokens
    r = torch.tensor(rewards)
    v = torch.tensor(values)
    r_junk = torch.where(mask.bool(), r, torch.full_like(r, 100.0))
    v_junk = torch.where(mask.bool(), v, torch.full_like(v, -100.0))
    adv, ret = gae(r_junk, v_junk, gamma=gamma, lam=lam, mask=mask)
    ref_adv, ref_ret = reference_gae(rewards, values, gamma, lam, lengths)
    assert torch.allclose(adv, torch.tensor(ref_adv), atol=1e-6)
    assert torch.allclose(ret, torch.tensor(ref_ret), atol=1e-6)


def test_gae_special_cases_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.2, 0.5, 0.7]])
    # λ = 1, γ = 1: A_t = (sum of future rewards) - V_t, returns = Monte-Carlo returns
    adv, ret = gae(rewards, values, gamma=1.0, lam=1.0)
    assert torch.allclose(adv, torch.tensor([[0.8, 0.5, 0.3]]))
    assert torch.allclose(ret, torch.tensor([[1.0, 1.0, 1.0]]))
    # λ = 0: one-step TD error δ_t = r_t + V_{t+1} - V_t
    adv, _ = gae(rewards, values, gamma=1.0, lam=0.0)
    assert torch.allclose(adv, torch.tensor([[0.3, 0.2, 0.3]]))


def test_whiten_masked_entries_have_mean_0_and_variance_1():
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 2.0 * torch.randn(5, 9, generator=g)  # (B, T)
    mask = torch.ones(5, 9)
    mask[1, 6:] = 0
    mask[3, 2:] = 0
    x_junk = torch.where(mask.bool(), x, torch.full_like(x, 1e4))  # padding must not matter
    w = whiten(x_junk, mask=mask)
    real = w[mask.bool()]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert real.var().item() == pytest.approx(1.0, abs=1e-4)  # unbiased variance, as TRL


def test_whiten_without_mask_and_without_mean_shift():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 10.0]])
    w = whiten(x)
    assert w.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert w.var().item() == pytest.approx(1.0, abs=1e-5)
    kept = whiten(x, shift_mean=False)
    assert kept.mean().item() == pytest.approx(x.mean().item(), abs=1e-5)
    assert kept.var().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(kept - x.mean(), w, atol=1e-6)  # only the scale changed


def test_whiten_shift_mean_false_with_mask_keeps_the_masked_mean():
    x = torch.tensor([[1.0, 2.0, 3.0, 99.0], [4.0, 5.0, 6.0, -99.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0]])
    kept = whiten(x, mask=mask, shift_mean=False)
    real = kept[mask.bool()]
    assert real.mean().item() == pytest.approx(3.5, abs=1e-5)
    assert real.var().item() == pytest.approx(1.0, abs=1e-5)


F23 = torch.zeros(2, 3)


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: gae(F23, torch.zeros(2, 4)), ValueError, "values"),
        (lambda: gae(torch.zeros(3), torch.zeros(3)), ValueError, "rewards"),  # not (B, T)
        (lambda: gae(torch.full((2, 3), float("nan")), F23), ValueError, "rewards"),
        (lambda: gae(F23, torch.full((2, 3), float("inf"))), ValueError, "values"),
        (lambda: gae(torch.zeros(2, 3, dtype=torch.long), F23), TypeError, "rewards"),
        (lambda: gae(F23, F23, gamma=1.5), ValueError, "gamma"),
        (lambda: gae(F23, F23, gamma=-0.1), ValueError, "gamma"),
        (lambda: gae(F23, F23, lam=1.01), ValueError, "lam"),
        (lambda: gae(F23, F23, lam=-1.0), ValueError, "lam"),
        (lambda: gae(F23, F23, lam=float("nan")), ValueError, "lam"),
        (lambda: gae(F23, F23, gamma="1"), TypeError, "gamma"),
        (lambda: gae(F23, F23, mask=torch.ones(3, 2)), ValueError, "mask"),
        (lambda: gae(F23, F23, mask=torch.zeros(2, 3)), ValueError, "mask"),
        (lambda: whiten(torch.tensor([1, 2, 3])), TypeError, r"^x "),
        (lambda: whiten(torch.tensor([1.0, float("nan")])), ValueError, r"^x "),
        (lambda: whiten(F23, mask=torch.ones(3)), ValueError, "mask"),
        (lambda: whiten(torch.tensor([1.0])), ValueError, "at least 2"),
        (
            lambda: whiten(torch.tensor([1.0, 2.0]), mask=torch.tensor([1, 0])),
            ValueError,
            "at least 2",
        ),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
