"""Advantages for PPO: generalised advantage estimation and whitening.

Introduced in 04_ppo_loop. Shapes: B = sequences, T = response tokens.
"""

from __future__ import annotations

import torch

from ._checks import (
    TensorLike,
    as_float_tensor,
    as_mask,
    check_finite,
    check_same_shape,
    check_unit_interval,
)

__all__ = ["gae", "whiten"]


def gae(
    rewards: TensorLike,
    values: TensorLike,
    gamma: float = 1.0,
    lam: float = 0.95,
    mask: TensorLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation, per token, right to left.

        δ_t = r_t + γ·V_{t+1} - V_t              (V_T = 0: nothing follows the last token)
        A_t = δ_t + γ·λ·A_{t+1}
        R_t = A_t + V_t                          (the value model's regression targets)

    Introduced in 04_ppo_loop. Follows Schulman et al. 2016 ("High-Dimensional Continuous
    Control Using Generalized Advantage Estimation", eq. 16); in RLHF γ = 1, λ = 0.95
    (Ziegler et al. 2019; Huang et al. 2023).

    Args:
        rewards: (B, T) per-token rewards (KL penalty on every token, RM score on the last).
        values: (B, T) value-model predictions V_t.
        gamma: discount in [0, 1]. lam: GAE's λ in [0, 1] (0 = one-step TD, 1 = Monte Carlo).
        mask: optional (B, T) 0/1 mask; positions after EOS (0) get zero reward, zero value
            and zero advantage, so nothing leaks back from padding.

    Returns: (advantages, returns), each (B, T).
    """
    rewards = as_float_tensor(rewards, "rewards")
    values = as_float_tensor(values, "values")
    check_same_shape(rewards, "rewards", values, "values")
    if rewards.dim() != 2:
        raise ValueError(f"rewards must have shape (B, T), got {tuple(rewards.shape)}")
    check_finite(rewards, "rewards")
    check_finite(values, "values")
    check_unit_interval(gamma, "gamma")
    check_unit_interval(lam, "lam")
    m = as_mask(mask, rewards, "rewards")
    if m is not None:
        rewards, values = rewards * m, values * m
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)  # (B, T)
    next_advantage = torch.zeros_like(rewards[:, 0])  # (B,) A_{t+1}
    next_value = torch.zeros_like(rewards[:, 0])  # (B,) V_{t+1}
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # δ_t
        next_advantage = delta + gamma * lam * next_advantage  # A_t
        advantages[:, t] = next_advantage
        next_value = values[:, t]
    returns = advantages + values  # R_t = A_t + V_t
    if m is not None:
        advantages, returns = advantages * m, returns * m
    return advantages, returns


def whiten(x: TensorLike, mask: TensorLike | None = None, shift_mean: bool = True) -> torch.Tensor:
    """Normalise to mean 0 and variance 1 over the real tokens: (x - mean) / sqrt(var + 1e-8).

    Introduced in 04_ppo_loop. With shift_mean=False the mean is added back (only the scale
    changes), as for rewards in Huang et al. 2023. The variance is the unbiased one
    (Bessel's correction) and 1e-8 guards against zero variance, as in TRL.

    Args:
        x: tensor of any shape (usually (B, T) advantages).
        mask: optional 0/1 tensor of the same shape; statistics use only entries with 1.
    Returns: tensor of the same shape as x (masked-out entries are whitened too, but
        did not contribute to the statistics).
    """
    x = as_float_tensor(x, "x")
    check_finite(x, "x")
    m = as_mask(mask, x, "x")
    if m is None:
        if x.numel() < 2:
            raise ValueError("whiten needs at least 2 values to estimate a variance")
        var, mean = torch.var_mean(x)
    else:
        n = m.sum()
        if n < 2:
            raise ValueError("whiten needs at least 2 real (mask = 1) values")
        mean = (x * m).sum() / n
        var = (((x - mean) ** 2) * m).sum() / n * (n / (n - 1))  # unbiased
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened
