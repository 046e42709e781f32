"""The losses of rlhf_lessons.losses: the seed lesson's numbers, its try-its, gradients, bad input,
and the KL estimators' bias and spread against closed-form values."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf_lessons import (
    dpo_loss,
    kl_k1,
    kl_k2,
    kl_k3,
    ppo_clip_loss,
    reward_model_loss,
    value_loss,
)
from rlhf_lessons.plots.clip import clip_table, clipped_objective

# The seed lesson's batches (Part 1 and Part 2).
SCORES_C = torch.tensor([1.5, 2.0, 1.8])
SCORES_R = torch.tensor([0.5, 0.8, 0.3])
LOG_RATIOS = torch.tensor([0.1, 0.3, -0.1, 0.5])
ADVANTAGES = torch.tensor([1.0, 0.5, 0.8, 2.0])


def r4(x) -> float:
    return round(float(x), 4)


# ── the seed's printed numbers ────────────────────────────────────────────────


def test_seed_reward_model_losses():
    assert f"{reward_model_loss(SCORES_C, SCORES_R):.4f}" == "0.2593"
    assert f"{reward_model_loss(SCORES_R, SCORES_C):.4f}" == "1.4927"


def test_seed_ppo_clip_loss_and_ratios_print_as_the_seed_prints_them():
    assert f"{ppo_clip_loss(LOG_RATIOS, ADVANTAGES):.4f}" == "-1.2073"
    unclipped = f"{LOG_RATIOS.exp().round(decimals=3)}"
    clipped = f"{LOG_RATIOS.exp().clamp(0.8, 1.2).round(decimals=3)}"
    assert unclipped == "tensor([1.1050, 1.3500, 0.9050, 1.6490])"
    assert clipped == "tensor([1.1050, 1.2000, 0.9050, 1.2000])"


def test_seed_ppo_clip_loss_matches_the_seed_formula_line_by_line():
    ratio = LOG_RATIOS.exp()
    seed = -torch.min(ratio * ADVANTAGES, ratio.clamp(0.8, 1.2) * ADVANTAGES).mean()
    assert torch.equal(ppo_clip_loss(LOG_RATIOS, ADVANTAGES), seed)


# ── the seed's try-its (values also printed by 03_ppo_clip) ────────────────────


def test_try_it_1_log_ratios_two_clip_every_sample():
    log_ratios = torch.full((4,), 2.0)
    # every ratio is e^2 = 7.389 > 1.2 with A > 0: each term is clipped to 1.2·A
    assert r4(ppo_clip_loss(log_ratios, ADVANTAGES)) == -1.29
    assert r4(ppo_clip_loss(log_ratios, ADVANTAGES)) == r4(-1.2 * ADVANTAGES.mean())
    assert r4(-(log_ratios.exp() * ADVANTAGES).mean()) == -7.9432  # what no clip would say


def test_try_it_2_negative_advantages_raise_the_loss_and_nothing_clips():
    negative = -ADVANTAGES
    loss = ppo_clip_loss(LOG_RATIOS, negative)
    assert r4(loss) == 1.4504
    assert loss > ppo_clip_loss(LOG_RATIOS, ADVANTAGES)
    # with A < 0 only ratios below 0.8 clip: none here, so the loss is -mean(ρ·A) exactly
    assert r4(loss) == r4(-(LOG_RATIOS.exp() * negative).mean())
    assert clip_table(LOG_RATIOS, negative)["clipped"] == [False] * 4


def test_asymmetry_big_ratio_with_negative_advantage_is_not_clipped():
    log_ratios = torch.full((4,), 2.0)
    assert r4(ppo_clip_loss(log_ratios, -ADVANTAGES)) == 7.9432  # unbounded side: no clip
    assert r4(ppo_clip_loss(-log_ratios, -ADVANTAGES)) == r4(0.8 * ADVANTAGES.mean())  # 0.86
    assert r4(ppo_clip_loss(-log_ratios, ADVANTAGES)) == -0.1455  # ratio e^-2, A > 0: no clip


# ── gradients: the clip switches the gradient off exactly where the objective is flat ───


@pytest.mark.parametrize(
    "log_ratios, advantages, expect_zero",
    [
        (LOG_RATIOS, ADVANTAGES, [False, True, False, True]),  # seed: 1.35 and 1.649 > 1.2
        (  # A < 0: only ratios below 0.8 are clipped; 1.649 and 7.389 are not
            torch.tensor([-0.5, -0.1, 0.5, 2.0]),
            torch.tensor([-1.0, -0.5, -0.8, -2.0]),
            [True, False, False, False],
        ),
        (  # A > 0 with a small ratio (0.607) is not clipped either: the min keeps ρ·A
            torch.tensor([-0.5, 0.0, 0.15, 0.25]),
            torch.tensor([1.0, 1.0, -1.0, 1.0]),
            [False, False, False, True],
        ),
    ],
)
def test_samples_outside_the_clip_range_get_exactly_zero_gradient(
    log_ratios, advantages, expect_zero
):
    log_ratios = log_ratios.clone().requires_grad_(True)
    ppo_clip_loss(log_ratios, advantages).backward()
    grad = log_ratios.grad
    assert [g == 0.0 for g in grad.tolist()] == expect_zero
    # where the gradient flows it is that of -mean(ρ·A): -ρ·A / N
    active = ~torch.tensor(expect_zero)
    expected = -(log_ratios.detach().exp() * advantages) / len(advantages)
    assert torch.allclose(grad[active], expected[active])
    assert (grad[active] != 0).all()
    # clip_table (what the widget shows) says the same thing
    table = clip_table(log_ratios.detach(), advantages)
    assert table["clipped"] == expect_zero
    assert torch.allclose(torch.tensor(table["grad"]), grad)


def test_clip_table_and_clipped_objective_agree_with_ppo_clip_loss():
    g = torch.Generator().manual_seed(0)
    log_ratios, advantages = 0.6 * torch.randn(50, generator=g), torch.randn(50, generator=g)
    table = clip_table(log_ratios, advantages, eps=0.15)
    assert table["loss"] == pytest.approx(ppo_clip_loss(log_ratios, advantages, 0.15).item())
    objective = clipped_objective(log_ratios.exp(), advantages, 0.15)
    assert torch.allclose(torch.tensor(table["objective"]), objective)
    assert table["unclipped_loss"] == pytest.approx(-(log_ratios.exp() * advantages).mean().item())
    zero_grad = [g == 0.0 for g in table["grad"]]
    assert zero_grad == table["clipped"]
    assert 5 < sum(table["clipped"]) < 45  # the random batch exercises both cases


def test_eps_1000_is_the_plain_policy_gradient_surrogate_in_value_and_gradient():
    g = torch.Generator().manual_seed(1)
    log_ratios = (1.5 * torch.randn(6, 10, generator=g)).requires_grad_(True)  # ratios to ~e^5
    advantages = torch.randn(6, 10, generator=g)
    surrogate = -(log_ratios.exp() * advantages).mean()
    (grad_surrogate,) = torch.autograd.grad(surrogate, log_ratios)
    loss = ppo_clip_loss(log_ratios, advantages, eps=1000.0)
    (grad_loss,) = torch.autograd.grad(loss, log_ratios)
    assert torch.allclose(loss, surrogate, rtol=1e-6, atol=1e-7)
    assert torch.allclose(grad_loss, grad_surrogate, rtol=1e-6, atol=1e-9)
    # and eps=0.2 differs on the same batch: the test is not vacuous
    assert not torch.allclose(ppo_clip_loss(log_ratios, advantages, eps=0.2), surrogate)


def test_ppo_clip_loss_mask_averages_only_real_tokens():
    log_ratio = torch.tensor([[0.1, 0.3, 9.0], [-0.1, 0.5, -9.0]])  # (B, T), junk in padding
    advantages = torch.tensor([[1.0, 0.5, 5.0], [0.8, 2.0, -5.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    assert r4(ppo_clip_loss(log_ratio, advantages, mask=mask)) == -1.2073
    assert r4(ppo_clip_loss(log_ratio, advantages, mask=mask.bool())) == -1.2073


# ── reward model loss: margins ────────────────────────────────────────────────


def test_reward_model_loss_float_margin():
    # -mean log σ(Δ - m) with Δ = [1.0, 1.2, 1.5], m = 0.5
    deltas = [1.0, 1.2, 1.5]
    expected = sum(math.log1p(math.exp(-(d - 0.5))) for d in deltas) / 3
    assert reward_model_loss(SCORES_C, SCORES_R, margin=0.5).item() == pytest.approx(expected)
    assert r4(reward_model_loss(SCORES_C, SCORES_R, margin=0.5)) == r4(expected)
    assert reward_model_loss(SCORES_C, SCORES_R, margin=0.5) > reward_model_loss(SCORES_C, SCORES_R)


def test_reward_model_loss_per_pair_margin():
    margin = torch.tensor([0.0, 1.2, 3.0])
    deltas, margins = [1.0, 1.2, 1.5], [0.0, 1.2, 3.0]
    expected = sum(math.log1p(math.exp(-(d - m))) for d, m in zip(deltas, margins)) / 3
    assert reward_model_loss(SCORES_C, SCORES_R, margin=margin).item() == pytest.approx(expected)
    # the per-pair margin really is per pair: the middle pair sits at Δ = m, log 2 exactly
    per_pair = [reward_model_loss(SCORES_C[i : i + 1], SCORES_R[i : i + 1], margin[i]) for i in range(3)]  # fmt: skip
    assert per_pair[1].item() == pytest.approx(math.log(2))
    assert reward_model_loss(SCORES_C, SCORES_R, margin=0.0).item() == pytest.approx(
        0.2593, abs=5e-5
    )


# ── DPO and the value loss: a value each, computed by hand ────────────────────


def test_dpo_loss_by_hand():
    pc, pr = torch.tensor([-5.0, -7.0]), torch.tensor([-6.0, -6.5])
    rc, rr = torch.tensor([-5.5, -7.0]), torch.tensor([-5.5, -6.0])
    # per pair z = β·[(log π_w - log π_ref,w) - (log π_l - log π_ref,l)]: 0.1 and 0.05
    z = [0.1 * ((-5.0 + 5.5) - (-6.0 + 5.5)), 0.1 * ((-7.0 + 7.0) - (-6.5 + 6.0))]
    expected = sum(math.log1p(math.exp(-v)) for v in z) / 2
    assert dpo_loss(pc, pr, rc, rr, beta=0.1).item() == pytest.approx(expected)
    # equal policy and reference: loss is log 2 for any beta
    assert dpo_loss(rc, rr, rc, rr, beta=0.5).item() == pytest.approx(math.log(2))


def test_value_loss_takes_the_larger_of_clipped_and_unclipped_error():
    values = torch.tensor([1.0, 0.0, 0.5])
    old_values = torch.tensor([0.5, 0.0, 0.5])
    returns = torch.tensor([0.0, 1.0, 0.5])
    # sample 0: V moved 0.5 (clip to 0.7): max((1-0)^2, (0.7-0)^2) = 1; sample 1: 1; sample 2: 0
    assert value_loss(values, old_values, returns, vf_clip=0.2).item() == pytest.approx(
        0.5 * (1.0 + 1.0 + 0.0) / 3
    )
    # clipping can only make the loss larger: V moved toward the target past the clip
    values = torch.tensor([0.0])
    old_values, returns = torch.tensor([1.0]), torch.tensor([0.0])
    assert value_loss(values, old_values, returns, vf_clip=0.2).item() == pytest.approx(
        0.5 * 0.8**2
    )


# ── bad input: every function names the argument ─────────────────────────────

F4 = torch.tensor([0.1, 0.2, 0.3, 0.4])
F3 = torch.tensor([0.1, 0.2, 0.3])
NAN4 = torch.tensor([0.1, float("nan"), 0.3, 0.4])
INF4 = torch.tensor([0.1, float("inf"), 0.3, 0.4])
INT4 = torch.tensor([1, 2, 3, 4])


@pytest.mark.parametrize(
    "call, error, name",
    [
        # reward_model_loss
        (lambda: reward_model_loss(F4, F3), ValueError, "score_rejected"),
        (lambda: reward_model_loss(NAN4, F4), ValueError, "score_chosen"),
        (lambda: reward_model_loss(F4, INF4), ValueError, "score_rejected"),
        (lambda: reward_model_loss(INT4, F4), TypeError, "score_chosen"),
        (lambda: reward_model_loss(F4, F4, margin=F3), ValueError, "margin"),
        (lambda: reward_model_loss(F4, F4, margin=float("nan")), ValueError, "margin"),
        (lambda: reward_model_loss(F4, F4, margin=INT4), TypeError, "margin"),
        (lambda: reward_model_loss([1.0, 2.0], F4), TypeError, "score_chosen"),
        # ppo_clip_loss
        (lambda: ppo_clip_loss(F4, F3), ValueError, "advantages"),
        (lambda: ppo_clip_loss(NAN4, F4), ValueError, "log_ratio"),
        (lambda: ppo_clip_loss(F4, INF4), ValueError, "advantages"),
        (lambda: ppo_clip_loss(INT4, F4), TypeError, "log_ratio"),
        (lambda: ppo_clip_loss(F4, INT4), TypeError, "advantages"),
        (lambda: ppo_clip_loss(F4, F4, eps=0.0), ValueError, "eps"),
        (lambda: ppo_clip_loss(F4, F4, eps=-0.2), ValueError, "eps"),
        (lambda: ppo_clip_loss(F4, F4, eps=float("nan")), ValueError, "eps"),
        (lambda: ppo_clip_loss(F4, F4, eps="0.2"), TypeError, "eps"),
        (lambda: ppo_clip_loss(F4, F4, mask=torch.ones(3)), ValueError, "mask"),
        (lambda: ppo_clip_loss(F4, F4, mask=[1, 1, 1, 1]), TypeError, "mask"),
        (lambda: ppo_clip_loss(F4, F4, mask=torch.tensor([1, 2, 0, 1])), ValueError, "mask"),
        (lambda: ppo_clip_loss(F4, F4, mask=torch.zeros(4)), ValueError, "mask"),
        # value_loss
        (lambda: value_loss(F4, F3, F4), ValueError, "old_values"),
        (lambda: value_loss(F4, F4, F3), ValueError, "returns"),
        (lambda: value_loss(INT4, F4, F4), TypeError, "values"),
        (lambda: value_loss(F4, F4, F4, vf_clip=0.0), ValueError, "vf_clip"),
        (lambda: value_loss(F4, F4, F4, mask=torch.ones(2, 2)), ValueError, "mask"),
        (lambda: value_loss(NAN4, F4, F4), ValueError, "values"),
        (lambda: value_loss(F4, F4, INF4), ValueError, "returns"),
        # dpo_loss
        (lambda: dpo_loss(F4, F4, F4, F3), ValueError, "ref_rejected_logps"),
        (lambda: dpo_loss(F4, NAN4, F4, F4), ValueError, "policy_rejected_logps"),
        (lambda: dpo_loss(F4, F4, INT4, F4), TypeError, "ref_chosen_logps"),
        (lambda: dpo_loss(F4, F4, F4, F4, beta=0.0), ValueError, "beta"),
        (lambda: dpo_loss(F4, F4, F4, F4, beta=-0.1), ValueError, "beta"),
        (lambda: dpo_loss(F4, F4, F4, F4, beta=float("inf")), ValueError, "beta"),
        # KL estimators
        (lambda: kl_k1(NAN4), ValueError, "log_ratio"),
        (lambda: kl_k2(INT4), TypeError, "log_ratio"),
        (lambda: kl_k3(INF4), ValueError, "log_ratio"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ── KL estimators (Schulman, "Approximating KL Divergence", 2020) ─────────────


def test_k3_is_never_negative_and_k2_never_negative():
    # wide range, and a dense grid near 0 where exp(x) - 1 - x is a tiny difference of
    # numbers near 1 (in float32 it rounds below zero unless computed as expm1(x) - x)
    grid = torch.cat([torch.linspace(-30, 30, 20001), torch.linspace(-1e-3, 1e-3, 20001)])
    assert (kl_k3(grid) >= 0).all()
    assert (kl_k3(grid.double()) >= 0).all()
    assert (kl_k2(grid) >= 0).all()
    assert (kl_k1(torch.tensor([0.5])) < 0).all()  # k1 alone can be negative


def test_k3_is_zero_only_where_the_ratio_is_one():
    assert kl_k3(torch.tensor([0.0])).item() == 0.0
    assert (kl_k3(torch.tensor([-2.0, -0.5, 0.5, 2.0])) > 0).all()
    # closed form at log r = 1: e - 2
    assert kl_k3(torch.tensor([1.0])).item() == pytest.approx(math.e - 2)


# p = N(0, 1) is sampled; q = N(1, 1). log r = log q(x) - log p(x) = x - 1/2, KL(p‖q) = 1/2.
# Closed forms (x ~ N(0,1)):
#   k1 = 1/2 - x:              mean 1/2,   std 1                     -> bias/KL 0,   std/KL 2
#   k2 = (x - 1/2)^2 / 2:      mean 5/8,   std sqrt(3)/2             -> bias/KL 1/4, std/KL sqrt(3)
#   k3 = e^(x-1/2) - 1/2 - x:  mean 1/2,   var (e - 1) + 1 - 2 = e - 2 -> bias 0,  std/KL 2 sqrt(e-2)
TRUE_KL = 0.5
CLOSED_FORM = {
    "k1": (0.5, 1.0),
    "k2": (0.625, math.sqrt(3) / 2),
    "k3": (0.5, math.sqrt(math.e - 2)),
}
# REFERENCES.md's table (Schulman 2020): bias/KL and std/KL for this pair
REFERENCE_TABLE = {"k1": (0.0, 2.0), "k2": (0.25, 1.74), "k3": (0.0, 1.68)}


@pytest.fixture(scope="module")
def gaussian_samples():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400_000, generator=g, dtype=torch.float64)  # x ~ p = N(0, 1)
    log_p = -0.5 * x**2
    log_q = -0.5 * (x - 1.0) ** 2
    log_ratio = log_q - log_p  # (N,) = x - 1/2
    return {"k1": kl_k1(log_ratio), "k2": kl_k2(log_ratio), "k3": kl_k3(log_ratio)}


@pytest.mark.parametrize("name", ["k1", "k2", "k3"])
def test_kl_estimators_mean_and_std_match_closed_form(gaussian_samples, name):
    samples = gaussian_samples[name]
    mean, std = CLOSED_FORM[name]
    # Monte-Carlo error of the mean: std / sqrt(4e5) < 0.002; tolerance is ~5 of those
    assert samples.mean().item() == pytest.approx(mean, abs=0.01)
    assert samples.std().item() == pytest.approx(std, rel=0.02)


def test_k1_and_k3_unbiased_k2_biased(gaussian_samples):
    assert gaussian_samples["k1"].mean().item() == pytest.approx(TRUE_KL, abs=0.01)
    assert gaussian_samples["k3"].mean().item() == pytest.approx(TRUE_KL, abs=0.01)
    assert gaussian_samples["k2"].mean().item() - TRUE_KL == pytest.approx(0.125, abs=0.01)


@pytest.mark.parametrize("name", ["k1", "k2", "k3"])
def test_kl_estimators_reproduce_the_reference_table(gaussian_samples, name):
    samples = gaussian_samples[name]
    bias_ratio = (samples.mean().item() - TRUE_KL) / TRUE_KL
    std_ratio = samples.std().item() / TRUE_KL
    ref_bias, ref_std = REFERENCE_TABLE[name]
    assert bias_ratio == pytest.approx(ref_bias, abs=0.03)
    # the table rounds (k3's exact value is 2·sqrt(e-2) = 1.695, k2's is sqrt(3) = 1.732)
    assert std_ratio == pytest.approx(ref_std, abs=0.03)
    # k3 has the lowest spread of the unbiased estimators
    if name == "k3":
        assert std_ratio < gaussian_samples["k1"].std().item() / TRUE_KL


# ── k1/k2/k3 in a loss: their expected gradients (issue 12, item 2) ──────────────────────────


@pytest.mark.parametrize("seed", range(5))
def test_kl_estimator_gradients_identities(seed):
    """E∇k1 = 0, E∇k2 = ∇KL(π‖π_ref), E∇k3 = ∇KL(π_ref‖π), on random categoricals."""
    from rlhf_lessons.losses import kl_estimator_gradients

    gen = torch.Generator().manual_seed(seed)
    K = 3 + seed
    theta, ref = torch.randn(K, generator=gen) * 2, torch.randn(K, generator=gen) * 2
    g = kl_estimator_gradients(theta, ref)
    assert torch.allclose(g["k1"], torch.zeros(K, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(g["k2"], g["kl_policy_ref"], atol=1e-10)
    assert torch.allclose(g["k3"], g["kl_ref_policy"], atol=1e-10)
    # the two directions really differ here, so the k3 identity is not the k2 one again
    assert (g["kl_policy_ref"] - g["kl_ref_policy"]).abs().max() > 1e-3


def test_kl_estimator_gradients_by_hand():
    """Independent closed forms: ∇_θ KL(π‖q) = π ⊙ (d - E_π d), d = log π - log q; ∇ KL(q‖π) = π - q."""
    from rlhf_lessons.losses import kl_estimator_gradients

    theta = torch.tensor([0.3, -1.2, 2.0, 0.0], dtype=torch.float64)
    ref = torch.tensor([1.0, 0.5, -0.5, 0.2], dtype=torch.float64)
    pi, q = theta.softmax(0), ref.softmax(0)
    d = pi.log() - q.log()
    g = kl_estimator_gradients(theta, ref)
    assert torch.allclose(g["k2"], pi * (d - (pi * d).sum()), atol=1e-12)
    assert torch.allclose(g["k3"], pi - q, atol=1e-12)


def test_kl_estimator_gradients_bad_input():
    from rlhf_lessons.losses import kl_estimator_gradients

    with pytest.raises(ValueError, match="ref_logits"):
        kl_estimator_gradients(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="policy_logits"):
        kl_estimator_gradients(torch.zeros(2, 3), torch.zeros(2, 3))
