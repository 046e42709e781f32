"""The losses of RLHF, written the way the lessons write them.

Every body follows the formula printed in the notebook that introduces it, line by line.
Shapes: B = batch (pairs or sequences), T = response tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._checks import (
    TensorLike,
    as_float_tensor,
    as_mask,
    check_finite,
    check_positive,
    check_same_shape,
    masked_mean,
)

__all__ = [
    "reward_model_loss",
    "ppo_clip_loss",
    "value_loss",
    "dpo_loss",
    "kl_k1",
    "kl_k2",
    "kl_k3",
    "kl_estimator_gradients",
]


def reward_model_loss(
    score_chosen: TensorLike, score_rejected: TensorLike, margin: TensorLike = 0.0
) -> torch.Tensor:
    """Bradley–Terry preference loss: mean of -log σ(s_chosen - s_rejected - margin).

    Introduced in 02_reward_model. Follows Ouyang et al. 2022 (InstructGPT, eq. 1) and,
    for the margin, Touvron et al. 2023 (Llama 2, eq. 2).

    Args:
        score_chosen: (B,) scalar reward-model scores of the preferred responses.
        score_rejected: (B,) scores of the dispreferred responses (same shape).
        margin: float, or (B,) tensor: how much higher the chosen score must be before
            the loss stops pushing (Llama 2 uses larger margins for clearer preferences).

    Returns: scalar tensor.
    """
    score_chosen = as_float_tensor(score_chosen, "score_chosen")
    score_rejected = as_float_tensor(score_rejected, "score_rejected")
    check_same_shape(score_chosen, "score_chosen", score_rejected, "score_rejected")
    margin = as_float_tensor(margin, "margin")
    if margin.dim() > 0:
        check_same_shape(score_chosen, "score_chosen", margin, "margin")
    for t, name in ((score_chosen, "score_chosen"), (score_rejected, "score_rejected")):
        check_finite(t, name)
    check_finite(margin, "margin")
    # -log σ(s_c - s_r - m), averaged over pairs
    return -F.logsigmoid(score_chosen - score_rejected - margin).mean()


def ppo_clip_loss(
    log_ratio: TensorLike,
    advantages: TensorLike,
    eps: float = 0.2,
    mask: TensorLike | None = None,
) -> torch.Tensor:
    """PPO's clipped surrogate loss: -mean( min(ρ·A, clip(ρ, 1-ε, 1+ε)·A) ), ρ = exp(log_ratio).

    Introduced in 03_ppo_clip. Follows Schulman et al. 2017, eq. 7 (negated: we minimise).

    Args:
        log_ratio: (B, T) or any shape: log π_θ(a|s) - log π_old(a|s) per token.
        advantages: same shape as log_ratio.
        eps: clip_eps > 0. A huge eps (e.g. 1000) switches clipping off: the loss becomes
            the plain policy-gradient surrogate -mean(ρ·A).
        mask: optional 0/1 tensor of the same shape; 1 marks real tokens, 0 padding after EOS.

    Returns: scalar tensor (mean over the masked entries).
    """
    log_ratio = as_float_tensor(log_ratio, "log_ratio")
    advantages = as_float_tensor(advantages, "advantages")
    check_same_shape(log_ratio, "log_ratio", advantages, "advantages")
    check_finite(log_ratio, "log_ratio")
    check_finite(advantages, "advantages")
    check_positive(eps, "eps")
    mask = as_mask(mask, log_ratio, "log_ratio")
    ratio = log_ratio.exp()  # ρ = π_θ / π_old
    clipped = ratio.clamp(1 - eps, 1 + eps)  # clip(ρ, 1-ε, 1+ε)
    objective = torch.min(ratio * advantages, clipped * advantages)  # pessimistic bound
    return -masked_mean(objective, mask)


def value_loss(
    values: TensorLike,
    old_values: TensorLike,
    returns: TensorLike,
    vf_clip: float = 0.2,
    mask: TensorLike | None = None,
) -> torch.Tensor:
    """Clipped value loss: 0.5·mean( max((V - R)², (clip(V, V_old ± c) - R)²) ).

    Introduced in 04_ppo_loop. As in OpenAI's baselines PPO2 and Huang et al. 2023
    ("The N implementation details of RLHF with PPO", detail: value function clipping).

    Args:
        values: (B, T) new value predictions V.
        old_values: (B, T) values at rollout time V_old.
        returns: (B, T) GAE returns R (targets).
        vf_clip: clip range c > 0 for the value's move away from V_old.
        mask: optional (B, T) 0/1 mask of real response tokens.
    """
    values = as_float_tensor(values, "values")
    old_values = as_float_tensor(old_values, "old_values")
    returns = as_float_tensor(returns, "returns")
    check_same_shape(values, "values", old_values, "old_values")
    check_same_shape(values, "values", returns, "returns")
    for t, name in ((values, "values"), (old_values, "old_values"), (returns, "returns")):
        check_finite(t, name)
    check_positive(vf_clip, "vf_clip")
    mask = as_mask(mask, values, "values")
    clipped_values = old_values + (values - old_values).clamp(-vf_clip, vf_clip)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.max(loss_unclipped, loss_clipped), mask)


def dpo_loss(
    policy_chosen_logps: TensorLike,
    policy_rejected_logps: TensorLike,
    ref_chosen_logps: TensorLike,
    ref_rejected_logps: TensorLike,
    beta: float = 0.1,
) -> torch.Tensor:
    """DPO's sigmoid loss: -mean log σ( β·[(log π_w - log π_ref,w) - (log π_l - log π_ref,l)] ).

    Introduced in 06_dpo_and_grpo. Follows Rafailov et al. 2023, eq. 7.

    Args:
        policy_chosen_logps: (B,) summed log-probabilities of the chosen responses under π_θ.
        policy_rejected_logps: (B,) the same for the rejected responses.
        ref_chosen_logps, ref_rejected_logps: (B,) the same under the frozen reference.
        beta: KL coefficient β > 0 (β = 0 makes the loss a constant log 2: meaningless).
    """
    names = (
        "policy_chosen_logps",
        "policy_rejected_logps",
        "ref_chosen_logps",
        "ref_rejected_logps",
    )
    tensors = [
        as_float_tensor(t, n)
        for t, n in zip(
            (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps),
            names,
        )
    ]
    for t, n in zip(tensors, names):
        check_same_shape(tensors[0], names[0], t, n)
        check_finite(t, n)
    check_positive(beta, "beta")
    pi_w, pi_l, ref_w, ref_l = tensors
    chosen_logratio = pi_w - ref_w  # log π_θ(y_w|x) - log π_ref(y_w|x)
    rejected_logratio = pi_l - ref_l  # log π_θ(y_l|x) - log π_ref(y_l|x)
    return -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()


def _log_ratio_arg(log_ratio: TensorLike) -> torch.Tensor:
    log_ratio = as_float_tensor(log_ratio, "log_ratio")
    check_finite(log_ratio, "log_ratio")
    return log_ratio


def kl_k1(log_ratio: TensorLike) -> torch.Tensor:
    """k1 = -log r, with log r = log q(x) - log p(x) for x ~ p: unbiased for KL(p‖q), high variance, can be < 0.

    Introduced in 05_when_rlhf_breaks. Follows Schulman, "Approximating KL Divergence" (2020).
    In RLHF, p = π_θ (we sample from it), q = π_ref, so pass log_ratio = logp_ref - logp.
    Elementwise; same shape as `log_ratio`.
    """
    log_ratio = _log_ratio_arg(log_ratio)
    return -log_ratio


def kl_k2(log_ratio: TensorLike) -> torch.Tensor:
    """k2 = ½ (log r)²: biased but low variance, always ≥ 0. Elementwise. See `kl_k1`."""
    log_ratio = _log_ratio_arg(log_ratio)
    return 0.5 * log_ratio**2


def kl_k3(log_ratio: TensorLike) -> torch.Tensor:
    """k3 = (r - 1) - log r: unbiased, low variance, always ≥ 0 (GRPO's choice). Elementwise. See `kl_k1`."""
    log_ratio = _log_ratio_arg(log_ratio)
    # (r - 1) - log r, with r - 1 = expm1(log r) computed without cancellation; float rounding
    # can still leave -1e-8 where the true value is ~0, so clamp to the math's k3 >= 0.
    return (torch.expm1(log_ratio) - log_ratio).clamp(min=0)


def kl_estimator_gradients(
    policy_logits: TensorLike, ref_logits: TensorLike
) -> dict[str, torch.Tensor]:
    """What k1, k2 and k3 do *in a loss*: their expected gradients, exactly, on one categorical.

    Introduced in 05_when_rlhf_breaks (used again in 06 and 10). A KL term in a loss is the mean
    of k(x) over samples x ~ π_θ that are not differentiated through (the sampling is fixed), so
    the step follows E_{x~π}[∇_θ k(x)]. With π = softmax(policy_logits), π_ref = softmax(ref_logits)
    and log r = log π_ref(x) - log π(x), the expectation is the sum Σ_x π(x) ∇_θ k(x) (π(x) held
    fixed), computed here by autograd. The known answers (Schulman 2020; Tang & Munos 2025):

        E ∇k1 = E[-∇ log π] = 0                        (k1 in a loss pushes nothing, on average)
        E ∇k2 = E[-log r · ∇ log π] = ∇ KL(π‖π_ref)     (the KL that RLHF's objective penalises)
        E ∇k3 = E[(1 - r) ∇ log π]   = ∇ KL(π_ref‖π)    (the other direction)

    Returns a dict of (K,) gradients with respect to policy_logits: "k1", "k2", "k3",
    "kl_policy_ref" = ∇ KL(π‖π_ref) and "kl_ref_policy" = ∇ KL(π_ref‖π), in float64.
    """
    theta = as_float_tensor(policy_logits, "policy_logits").detach().double()
    ref = as_float_tensor(ref_logits, "ref_logits").detach().double()
    check_finite(theta, "policy_logits")
    check_finite(ref, "ref_logits")
    check_same_shape(theta, "policy_logits", ref, "ref_logits")
    if theta.dim() != 1 or theta.numel() < 2:
        raise ValueError(
            f"policy_logits must be one categorical's logits, shape (K,) with K >= 2, "
            f"got shape {tuple(theta.shape)}"
        )
    log_ref = torch.log_softmax(ref, dim=0)  # (K,)

    def grad_of(objective: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        logits = theta.clone().requires_grad_(True)
        logp = torch.log_softmax(logits, dim=0)  # (K,)
        (g,) = torch.autograd.grad(objective(logp), logits)
        return g  # (K,)

    def in_a_loss(
        k: Callable[[torch.Tensor], torch.Tensor],
    ) -> Callable[
        [torch.Tensor], torch.Tensor
    ]:  # Σ_x π(x) k(log r(x)), with π(x) fixed: the expected loss of a sample
        return lambda logp: (logp.exp().detach() * k(log_ref - logp)).sum()

    return {
        "k1": grad_of(in_a_loss(kl_k1)),
        "k2": grad_of(in_a_loss(kl_k2)),
        "k3": grad_of(in_a_loss(kl_k3)),
        "kl_policy_ref": grad_of(lambda logp: (logp.exp() * (logp - log_ref)).sum()),
        "kl_ref_policy": grad_of(lambda logp: (log_ref.exp() * (log_ref - logp)).sum()),
    }
