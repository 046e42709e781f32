"""REINFORCE leave-one-out (RLOO): k responses per prompt, each one's baseline is the other k-1.

Introduced in 09_policy_gradient. Follows Ahmadian et al. 2024 ("Back to Basics", Section 3.2;
Kool et al. 2019) and TRL 1.16's `RLOOTrainer`, whose advantage and loss it reproduces
(tests/test_trl_rloo.py checks them against TRL's code to 1e-6):

    1. sample k responses per prompt from the current policy
    2. R_i = r_i - β · Σ_t (log π_θ - log π_ref)    (KL penalty in the reward, k1 summed)
    3. A_i = R_i - (Σ_{j≠i} R_j) / (k - 1)           (leave-one-out baseline, per prompt)
       optionally whitened over the batch (TRL's normalize_advantages, off by default)
    4. loss = -mean_i min(ρ_i A_i, clip(ρ_i, 1-ε, 1+ε) A_i),  ρ_i = π_θ(y_i|x) / π_old(y_i|x)
       — one ratio per *sequence* (log-probs summed), mean over sequences. With one gradient
       step per batch ρ = 1 and this is REINFORCE's loss with the leave-one-out baseline.

The baseline of response i never sees R_i, so the gradient stays unbiased; it is as good a
baseline as a value model would give for this prompt, for free. No value model: three copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import as_float_tensor, check_finite
from ..evaluate import MISSING_EOS_PENALTY
from .contract import TrainerConfig, TrainResult
from .reinforce import _eval_prompts, _summary, toy_models, train_policy_gradient

__all__ = ["RLOOConfig", "RLOOResult", "rloo_advantages", "rloo_loss", "train_rloo", "CONFIG"]


@dataclass
class RLOOConfig(TrainerConfig):
    """Settings of one RLOO run: TRL 1.16's defaults where the toy world allows (β = 0.05)."""

    seed: int = 0  # seeds prompt order, sampling and evaluation
    steps: int = 50  # rollouts, each followed by one gradient step
    prompts_per_step: int = 16  # prompts per batch (× k = 64 responses, PPO's batch in the toy)
    k: int = 4  # responses sampled per prompt (TRL's num_generations; >= 2)
    lr: float = 1e-3  # AdamW learning rate
    beta: float = 0.05  # β >= 0: weight of the summed k1 KL to the reference, subtracted from r
    clip_eps: float = 0.2  # ε of the sequence-level clipped ratio (TRL's epsilon)
    normalize_advantages: bool = False  # whiten the advantages over the batch (TRL's option)
    max_new_tokens: int = 14  # longest response
    temperature: float = 1.0  # sampling temperature (logprobs are scored at the same one)
    missing_eos_penalty: float = MISSING_EOS_PENALTY  # subtracted from the RM score without <eos>
    max_grad_norm: float = 1.0  # gradient clipping
    eval_every: int = 10  # steps between held-out evaluations (0 = only before and after)
    eval_prompts: int = 128  # held-out prompts (data/toy/prompts_test) sampled at each evaluation
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given

    RULES = {
        "steps": ">=1",
        "prompts_per_step": ">=1",
        "k": ">=2",
        "lr": ">0",
        "beta": ">=0",
        "clip_eps": ">0",
        "max_new_tokens": ">=1",
        "temperature": ">0",
        "missing_eos_penalty": ">=0",
        "max_grad_norm": ">0",
        "eval_every": ">=0",
        "eval_prompts": ">=1",
        "checkpoint_every": ">=1",
    }
    TOY = {"steps": 30}


@dataclass(kw_only=True)
class RLOOResult(TrainResult):
    """What `train_rloo` returns (metrics rows: METRICS_KEYS + loss, kl_reward, clipfrac, ...)."""


def rloo_advantages(rewards, k: int, normalize: bool = False) -> torch.Tensor:
    """A_i = R_i - mean of the other k-1 rewards of the same prompt. (B·k,).

    Introduced in 09_policy_gradient. Follows Ahmadian et al. 2024 (eq. 6) and TRL 1.16
    `RLOOTrainer._generate_and_score_completions` (normalize: (A - mean) / (std + 1e-4)).

    Args:
        rewards: (B·k,) KL-penalised rewards R, a prompt's k responses side by side.
        k: responses per prompt, >= 2.
        normalize: whiten over the whole batch (unbiased std), as TRL's normalize_advantages.
    """
    rewards = as_float_tensor(rewards, "rewards")
    check_finite(rewards, "rewards")
    if rewards.dim() != 1:
        raise ValueError(f"rewards must have shape (B·k,), got {tuple(rewards.shape)}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ValueError(f"k must be an int >= 2 (one response has no one to leave out), got {k!r}")
    if rewards.numel() % k:
        raise ValueError(f"rewards has {rewards.numel()} values, not a multiple of k={k}")
    groups = rewards.view(-1, k)  # (B, k)
    baselines = (groups.sum(1, keepdim=True) - groups) / (k - 1)  # (B, k) the others' mean
    advantages = (groups - baselines).view(-1)  # (B·k,)
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-4)
    return advantages


def rloo_loss(seq_logprobs, old_seq_logprobs, advantages, clip_eps: float = 0.2):
    """TRL 1.16's RLOO loss: -mean over sequences of min(ρA, clip(ρ, 1-ε, 1+ε)A). (loss, stats).

    Introduced in 09_policy_gradient. ρ = exp(log π_θ(y|x) - log π_old(y|x)) with sequence
    log-probs (token log-probs summed over the mask), as `RLOOTrainer._compute_loss`.

    Args:
        seq_logprobs: (B,) with gradient. old_seq_logprobs: (B,) at sampling time.
        advantages: (B,) from `rloo_advantages`. clip_eps: ε > 0.
    """
    if not (seq_logprobs.shape == old_seq_logprobs.shape == advantages.shape):
        raise ValueError(
            f"seq_logprobs {tuple(seq_logprobs.shape)}, old_seq_logprobs "
            f"{tuple(old_seq_logprobs.shape)} and advantages {tuple(advantages.shape)} "
            "must have the same shape (B,)"
        )
    ratio = torch.exp(seq_logprobs - old_seq_logprobs)  # (B,)
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)  # (B,)
    A = advantages.detach()
    loss = -torch.min(ratio * A, clipped * A).mean()
    with torch.no_grad():
        clipfrac = ((ratio - 1).abs() > clip_eps).float().mean().item()
    return loss, {"clipfrac": clipfrac}


def train_rloo(
    config: RLOOConfig | None,
    policy,
    reference,
    reward_model,
    tokenizer,
    prompts: list[str] | None = None,
    *,
    reward_fn=None,
    gold_fn=None,
    eval_prompts: list[str] | None = None,
    out_dir=None,
    resume: bool = False,
    doctor=None,
    callback=None,
    progress: bool = True,
) -> RLOOResult:
    """Train `policy` (in place) with RLOO: k responses per prompt, leave-one-out advantages.

    Introduced in 09_policy_gradient. Arguments as the trainer contract (trainers/contract.py);
    the loop is `reinforce.train_policy_gradient`. Metrics per step: step, reward (proxy r),
    gold, kl (k1 summed per response), seconds, loss, kl_reward, advantage_std, clipfrac, ...
    """
    config = config or RLOOConfig.toy()
    if not isinstance(config, RLOOConfig):
        raise TypeError(f"config must be a RLOOConfig, got {type(config).__name__}")

    def advantage(R, state):
        return rloo_advantages(R, config.k, config.normalize_advantages)

    def loss_fn(seq_logprobs, old, advantages):
        return rloo_loss(seq_logprobs, old, advantages, config.clip_eps)

    return train_policy_gradient(
        "rloo", config, policy, reference, reward_model, tokenizer, prompts,
        samples_per_prompt=config.k, advantage_fn=advantage, loss_fn=loss_fn, state={},
        result_cls=RLOOResult, reward_fn=reward_fn, gold_fn=gold_fn,
        eval_prompts=_eval_prompts(eval_prompts, config), out_dir=out_dir, resume=resume,
        doctor=doctor, callback=callback, progress=progress,
    )  # fmt: skip


# ── command line: python -m rlhf_lessons rloo --preset toy --out DIR ──────────────────────

CONFIG = RLOOConfig


def run_cli(config, *, out_dir, resume):
    """Train the cached toy SFT policy with RLOO against the cached toy reward model."""
    policy, sft, rm, tokenizer, gold = toy_models(config.seed)
    result = train_rloo(
        config, policy, sft, rm, tokenizer, gold_fn=gold, out_dir=out_dir, resume=resume
    )
    _summary("RLOO", result, out_dir)
    return result
