"""Group relative policy optimisation (GRPO): PPO's clipped loss with no value model.

Introduced in 06_dpo_and_grpo. Follows Shao et al. 2024 (DeepSeekMath, Section 4.1): for each
prompt, sample a *group* of G responses; the group is its own baseline.

    1. sample G responses per prompt from the current policy
    2. score them with the frozen reward model (minus the missing-<eos> penalty, as in PPO)
    3. advantages per group:  A_i = (r_i - mean(r_group)) / (std(r_group) + eps)
       — every token of response i gets A_i; no critic, no GAE
    4. loss per token: -[ min(ρ·A, clip(ρ, 1-ε, 1+ε)·A) - β·k3 ],  ρ = π_θ/π_old,
       k3 = π_ref/π_θ - 1 - log(π_ref/π_θ)  (the KL is in the loss, not in the reward)
       averaged over each response's tokens, then over responses (DeepSeekMath eq. 3)

Model copies: policy (trained), reference and reward model (frozen): three, against PPO's four.
The price: G samples per prompt, and a group whose G rewards are all equal teaches nothing
(its advantages are all 0) — the doctor counts those groups (`zero_std_groups`).

The std is the unbiased one and eps = 1e-4, as in TRL's GRPOTrainer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import torch

from .._checks import as_float_tensor, check_finite
from ..batching import decode_responses, encode_prompts
from ..evaluate import MISSING_EOS_PENALTY, ended_with_eos, evaluate_policy, task_reward
from ..losses import kl_k3
from ..models import freeze
from ..rollout import generate, response_logprobs
from ..runtime import set_seed
from ..toy import load_records
from .common import (
    MetricsWriter,
    NonFiniteLoss,
    check_finite_loss,
    checkpoint_if_due,
    load_checkpoint,
    progress_bar,
)
from .contract import (
    TrainerConfig,
    TrainResult,
    prepare_policy,
    resolve_doctor,
    stop_on_non_finite,
)

__all__ = [
    "GRPOConfig",
    "GRPOResult",
    "group_advantages",
    "varied_groups",
    "aggregate_loss",
    "grpo_loss",
    "sample_groups",
    "score_groups",
    "grpo_update",
    "grpo_step",
    "train_grpo",
    "CONFIG",
    "run_cli",
]


LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")  # TRL 1.16's names
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")  # "sequence": GSPO (Zheng et al. 2025)
SCALE_REWARDS = ("group", "batch", "none")  # TRL 1.16's scale_rewards values


@dataclass
class GRPOConfig(TrainerConfig):
    """Settings of one GRPO run: the toy world's sizes, DeepSeekMath's beta (`toy()` sets 0.2).

    TOY's beta = 0.2 instead of DeepSeekMath's 0.04: measured over 50 steps (seed 0), gold ends
    about the same (≈ 0.63-0.66) at beta 0.04, 0.1 and 0.2, but at 0.2 it gets there with less
    than half the KL (≈ 3.5 nats, against ≈ 8 at 0.04); at 0.5 gold stalls near 0.5.
    """

    seed: int = 0  # seeds prompt order, sampling and evaluation
    steps: int = 50  # batches of groups (one rollout + `epochs` updates each)
    prompts_per_step: int = 8  # prompts per batch (B·G = 64 responses, PPO's batch in the toy)
    group_size: int = 8  # G >= 2: responses sampled per prompt (DeepSeekMath: 64)
    lr: float = 1e-3  # AdamW learning rate
    beta: float = 0.04  # β >= 0: weight of the k3 KL to the reference in the loss (DeepSeekMath)
    clip_eps: float = 0.2  # ε of the clipped ratio, TRL's epsilon (acts only when epochs > 1)
    epochs: int = 1  # μ: gradient steps on each batch, TRL's num_iterations (1: the ratio is 1)
    adv_eps: float = 1e-4  # added to the group std, so a zero-variance group gives A = 0, not nan
    max_new_tokens: int = 14  # longest response (dr_grpo's max_completion_length)
    temperature: float = 1.0  # sampling temperature (logprobs are scored at the same one)
    missing_eos_penalty: float = MISSING_EOS_PENALTY  # subtracted from the RM score without <eos>
    max_grad_norm: float = 1.0  # gradient clipping
    eval_every: int = 10  # steps between held-out evaluations (0 = only before and after)
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    loss_type: str = "grpo"  # TRL 1.16's names: "grpo", "bnpo", "dr_grpo" or "dapo"
    epsilon_high: float | None = None  # DAPO's clip-higher bound, >= clip_eps (None: = clip_eps)
    importance_sampling_level: str = "token"  # "token", or "sequence" (GSPO, Zheng et al. 2025)
    scale_rewards: str = "group"  # divide advantages by the "group" / "batch" std, or "none"
    dynamic_sampling: bool = False  # DAPO (Yu et al. 2025): drop equal-reward groups

    RULES: ClassVar[dict[str, str]] = {
        "steps": ">=1", "prompts_per_step": ">=1", "group_size": ">=2", "lr": ">0",
        "beta": ">=0", "clip_eps": ">0", "epochs": ">=1", "adv_eps": ">0",
        "max_new_tokens": ">=1", "temperature": ">0", "missing_eos_penalty": ">=0",
        "max_grad_norm": ">0", "eval_every": ">=0", "checkpoint_every": ">=1",
        "epsilon_high": ">0",
    }  # fmt: skip
    TOY: ClassVar[dict] = {"beta": 0.2}

    def check(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise self.fail("loss_type", "one of " + ", ".join(map(repr, LOSS_TYPES)))
        if self.importance_sampling_level not in IMPORTANCE_SAMPLING_LEVELS:
            choices = ", ".join(map(repr, IMPORTANCE_SAMPLING_LEVELS))
            raise self.fail("importance_sampling_level", "one of " + choices)
        if self.scale_rewards not in SCALE_REWARDS:
            raise self.fail("scale_rewards", "one of " + ", ".join(map(repr, SCALE_REWARDS)))
        if self.epsilon_high is not None and self.epsilon_high < self.clip_eps:
            raise self.fail("epsilon_high", f">= clip_eps ({self.clip_eps}) or None")


@dataclass(kw_only=True)
class GRPOResult(TrainResult):
    """What `train_grpo` returns. `metrics`: one row per step (METRICS_KEYS + GRPO's keys)."""


def group_advantages(
    rewards, group_size: int, eps: float = 1e-4, *, scale_rewards: str = "group"
) -> torch.Tensor:
    """GRPO's advantages: each reward normalised within its own group of G responses.

        A_i = (r_i - mean(r_group)) / (std(r_group) + eps)

    Introduced in 06_dpo_and_grpo. Follows Shao et al. 2024 (DeepSeekMath, Section 4.1.2).

    Args:
        rewards: (B·G,) rewards, the G responses of each prompt next to each other
            ([p0 s0, p0 s1, ..., p0 s(G-1), p1 s0, ...], as `repeat_interleave` lays them out).
        group_size: G >= 2.
        eps: > 0, added to the std (unbiased, as in TRL): a group with equal rewards gets
            advantages 0 instead of 0/0.
        scale_rewards: as TRL 1.16: "group" divides by each group's std (DeepSeekMath),
            "batch" by the whole batch's std, "none" not at all (Dr. GRPO, Liu et al. 2025).

    Returns: (B·G,) advantages; each group has mean 0 (and std ≈ 1 unless all equal).
    """
    rewards = as_float_tensor(rewards, "rewards")
    check_finite(rewards, "rewards")
    if rewards.dim() != 1:
        raise ValueError(f"rewards must have shape (B·G,), got {tuple(rewards.shape)}")
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 2:
        raise ValueError(f"group_size must be an int >= 2, got {group_size!r}")
    if rewards.numel() % group_size:
        raise ValueError(
            f"rewards has {rewards.numel()} values, not a multiple of group_size={group_size}"
        )
    if not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    groups = rewards.view(-1, group_size)  # (B, G)
    mean = groups.mean(dim=1, keepdim=True)  # (B, 1)
    centred = groups - mean  # (B, G)
    if scale_rewards == "none":
        return centred.view(-1)  # (B·G,)
    std = groups.std(dim=1, keepdim=True) if scale_rewards == "group" else rewards.std()  # unbiased
    return (centred / (std + eps)).view(-1)  # (B·G,)


def varied_groups(rewards, group_size: int, tol: float = 1e-6) -> torch.Tensor:
    """DAPO's dynamic-sampling filter: which responses belong to a group whose rewards differ.

    Introduced in 10_verifiable_rewards. Follows Yu et al. 2025 (DAPO, Section 3.2): a group
    whose G rewards are all equal has advantages 0 and only dilutes the batch; drop it.

    Args:
        rewards: (B·G,) rewards, each group's G responses side by side.
        group_size: G >= 2.
    Returns: (B·G,) bool, True = keep (the response's group has reward std > tol).
    """
    rewards = as_float_tensor(rewards, "rewards")
    groups = rewards.view(-1, group_size)  # (B, G)
    keep = groups.std(dim=1) > tol  # (B,)
    return keep.repeat_interleave(group_size)  # (B·G,)


def aggregate_loss(
    per_token_loss, mask, loss_type="grpo", *, max_completion_length=None, num_items_in_batch=None
) -> torch.Tensor:
    """One number from a (B, T) per-token loss: the one place GRPO's loss types differ.

    Introduced in 10_verifiable_rewards (its exercise); `grpo_loss` ends with it. TRL 1.16's
    normalisations, with L_it the loss of token t of response i and |o_i| its length:

        "grpo"     (1/B) Σ_i (1/|o_i|) Σ_t L_it   a long response's tokens weigh less (length bias)
        "bnpo"     Σ_it L_it / Σ_i |o_i|            every token of this batch alike
        "dr_grpo"  Σ_it L_it / (B · T_max)          a constant divisor (Liu et al. 2025)
        "dapo"     Σ_it L_it / num_items_in_batch   the tokens of the whole generation batch

    Args:
        per_token_loss: (B, T) loss per token (padding positions may hold anything).
        mask: (B, T) 1 = real response token, 0 = padding.
        max_completion_length: T_max for "dr_grpo" (None: T, the mask's width).
        num_items_in_batch: token count for "dapo" (None: mask.sum(), this batch's tokens).
    Returns: a scalar tensor.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    mask = mask.float()  # (B, T)
    if loss_type == "grpo":
        per_response = (per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (B,)
        return per_response.mean()
    if loss_type == "bnpo":
        return (per_token_loss * mask).sum() / mask.sum().clamp(min=1)
    if loss_type == "dr_grpo":
        t_max = mask.shape[1] if max_completion_length is None else max_completion_length
        return (per_token_loss * mask).sum() / (mask.shape[0] * t_max)
    # "dapo"
    n_items = mask.sum() if num_items_in_batch is None else torch.as_tensor(num_items_in_batch)
    return (per_token_loss * mask).sum() / n_items.float().clamp(min=1)


def grpo_loss(
    logprobs,
    old_logprobs,
    ref_logprobs,
    advantages,
    mask,
    clip_eps=0.2,
    beta=0.04,
    *,
    loss_type="grpo",
    epsilon_high=None,
    importance_sampling_level="token",
    max_completion_length=None,
    num_items_in_batch=None,
) -> tuple[torch.Tensor, dict]:
    """GRPO's loss: clipped surrogate minus β·k3 KL, mean over each response, then over responses.

    Introduced in 06_dpo_and_grpo. Follows Shao et al. 2024 (DeepSeekMath, eq. 3), as TRL's
    `loss_type="grpo"`.

    Args:
        logprobs: (B, T) log π_θ of the sampled tokens (with gradient).
        old_logprobs: (B, T) log π_old at sampling time (no gradient).
        ref_logprobs: (B, T) log π_ref (no gradient).
        advantages: (B,) one advantage per response (from `group_advantages`).
        mask: (B, T) 1 = real response token.
        clip_eps: TRL's `epsilon` (the lower clip, and the upper one unless `epsilon_high`).
        loss_type (TRL 1.16's names and normalisations):
            "grpo"    mean over each response's tokens, then over responses (DeepSeekMath eq. 3)
            "bnpo"    sum over every token of the batch / number of tokens
            "dr_grpo" sum / (B · max_completion_length): no length bias (Liu et al. 2025)
            "dapo"    sum / num_items_in_batch, the tokens of the whole generation batch (Yu et al. 2025)
        epsilon_high: DAPO's clip-higher upper bound (None: = clip_eps).
        importance_sampling_level: "token", or "sequence" (GSPO: one ratio per response, the
            exp of the mean token log ratio).
        max_completion_length: T_max for "dr_grpo" (None: the mask's width T).
        num_items_in_batch: token count for "dapo" (None: mask.sum()).
    Returns: (loss, stats) with stats' clipfrac and kl_k3 (per-token means, floats).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if importance_sampling_level not in IMPORTANCE_SAMPLING_LEVELS:
        raise ValueError(
            f"importance_sampling_level must be one of {IMPORTANCE_SAMPLING_LEVELS}, "
            f"got {importance_sampling_level!r}"
        )
    eps_high = clip_eps if epsilon_high is None else epsilon_high
    if eps_high < clip_eps:
        raise ValueError(f"epsilon_high ({eps_high}) must be >= clip_eps ({clip_eps})")
    mask = mask.float()
    A = advantages[:, None]  # (B, 1): every token of response i gets A_i
    log_ratio = logprobs - old_logprobs  # (B, T)
    if importance_sampling_level == "sequence":  # GSPO: one ratio per response
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1))[:, None]  # (B, 1)
    ratio = log_ratio.exp()  # (B, T) or (B, 1): ρ = π_θ / π_old
    clipped = ratio.clamp(1 - clip_eps, 1 + eps_high)
    surrogate = torch.min(ratio * A, clipped * A)  # pessimistic bound, as PPO
    kl = kl_k3(ref_logprobs - logprobs)  # (B, T) k3 with log r = log π_ref - log π_θ
    per_token = surrogate - beta * kl  # (B, T) the objective to maximise
    loss = aggregate_loss(
        -per_token, mask, loss_type, max_completion_length=max_completion_length,
        num_items_in_batch=num_items_in_batch,
    )  # fmt: skip
    ratio = ratio.expand_as(mask)  # (B, T) for the clip statistics
    with torch.no_grad():
        n = mask.sum()
        stats = {
            "clipfrac": (((ratio < 1 - clip_eps) | (ratio > 1 + eps_high)).float() * mask)
            .sum()
            .item()
            / n.item(),
            "kl_k3": (kl * mask).sum().item() / n.item(),
        }
    return loss, stats


def _prompt_indices(n_prompts: int, per_step: int, step: int, seed: int) -> torch.Tensor:
    """A step's prompts: epochs of shuffled prompts, each shuffle a function of (seed, epoch)."""
    per_epoch = n_prompts // per_step
    if per_epoch == 0:
        raise ValueError(
            f"prompts_per_step ({per_step}) is larger than the number of prompts ({n_prompts})"
        )
    epoch, i = divmod(step - 1, per_epoch)
    order = torch.randperm(
        n_prompts, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)
    )
    return order[i * per_step : (i + 1) * per_step]


# ── one GRPO step, as lesson 06's pseudocode: sample -> score -> advantages -> update ────────


def sample_groups(policy, tokenizer, prompts, config: GRPOConfig, generator):
    """1. G responses for each of the batch's prompts, each group's responses side by side.

    Returns the rollout batch: (B·G, P + T) sequences, `response_mask` (B·G, T).
    """
    batch_prompts = [p for p in prompts for _ in range(config.group_size)]  # B·G prompts
    prompt_ids, prompt_mask = encode_prompts(tokenizer, batch_prompts)  # (B·G, P)
    return generate(
        policy,
        prompt_ids,
        prompt_mask,
        max_new_tokens=config.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        temperature=config.temperature,
        generator=generator,
    )  # (B·G, P + T)


def score_groups(batch, texts, reward_model, reward_fn, config: GRPOConfig, eos: int):
    """2. One reward per response: `reward_fn(texts)`, else the frozen RM - missing-<eos> penalty.

    Returns (B·G,) rewards.
    """
    if reward_fn is None:
        return task_reward(reward_model, batch, eos, config.missing_eos_penalty)  # (B·G,)
    rewards = torch.as_tensor(reward_fn(texts), dtype=torch.float32)  # (B·G,)
    if rewards.shape != (len(texts),):
        raise ValueError(
            f"reward_fn returned shape {tuple(rewards.shape)}, expected ({len(texts)},)"
        )
    return rewards


def grpo_update(policy, optimizer, batch, advantages, old_logprobs, ref_logprobs, config, step):
    """4. `config.epochs` gradient steps on the clipped loss with the k3 KL to the reference.

    old_logprobs / ref_logprobs: (B·G, T), or None (epochs = 1: π_old = π_θ; beta = 0: no KL).
    Returns (loss, stats, logprobs, entropy, grad_norm) with the first pass's (B·G, T) logprobs
    and entropy (the batch as sampled). Raises NonFiniteLoss before a non-finite step.
    """
    policy.train()
    for epoch in range(config.epochs):
        logprobs, entropy = response_logprobs(
            policy, batch, config.temperature, with_entropy=True
        )  # (B·G, T) each
        old = old_logprobs if old_logprobs is not None else logprobs.detach()
        ref = ref_logprobs if ref_logprobs is not None else logprobs.detach()
        loss, stats = grpo_loss(
            logprobs, old, ref, advantages, batch.response_mask, config.clip_eps, config.beta,
            loss_type=config.loss_type, epsilon_high=config.epsilon_high,
            importance_sampling_level=config.importance_sampling_level,
            max_completion_length=config.max_new_tokens,
        )  # fmt: skip
        if epoch == 0:  # diagnostics of the batch as sampled
            first_logprobs, first_entropy = logprobs.detach(), entropy.detach()
        check_finite_loss(loss, step)
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
    policy.eval()
    return loss, stats, first_logprobs, first_entropy, grad_norm


def grpo_step(policy, reference, reward_model, tokenizer, prompts, optimizer, config, step,
              generator, *, reward_fn=None, gold_fn=None) -> dict:  # fmt: skip
    """One GRPO step on `prompts` (B texts): sample, score, group advantages, update, metrics.

    Returns the step's metrics row (without "seconds"). Raises NonFiniteLoss (nothing updated).
    """
    G, eos = config.group_size, tokenizer.eos_token_id
    # 1. G responses per prompt
    batch = sample_groups(policy, tokenizer, prompts, config, generator)  # (B·G, P + T)
    mask = batch.response_mask  # (B·G, T)
    texts = decode_responses(tokenizer, batch.response_ids, mask)
    # 2. rewards; 3. advantages within each group
    rewards = score_groups(batch, texts, reward_model, reward_fn, config, eos)  # (B·G,)
    advantages = group_advantages(
        rewards, G, config.adv_eps, scale_rewards=config.scale_rewards
    )  # (B·G,)
    # 3b. DAPO's dynamic sampling: the update sees only the groups whose rewards differ
    keep = varied_groups(rewards, G) if config.dynamic_sampling else torch.ones_like(mask[:, 0])
    keep = keep.bool()  # (B·G,)
    dropped_groups = int((~keep).sum().item()) // G
    update_batch = batch if keep.all() else batch.select(keep)
    if keep.any():
        with torch.no_grad():
            ref_logprobs = (
                response_logprobs(reference, update_batch, config.temperature)
                if config.beta > 0
                else None
            )  # (B'·G, T)
            old_logprobs = (
                response_logprobs(policy, update_batch, config.temperature)
                if config.epochs > 1
                else None
            )  # (B'·G, T)
        # 4. `epochs` passes of the clipped loss
        loss, stats, logprobs, entropy, grad_norm = grpo_update(
            policy, optimizer, update_batch, advantages[keep], old_logprobs, ref_logprobs,
            config, step,
        )  # fmt: skip
    else:  # every group tied: nothing to learn from, skip the update (logged: update_skipped)
        loss, grad_norm = torch.zeros(()), torch.zeros(())
        stats = {"clipfrac": 0.0, "kl_k3": 0.0}
        ref_logprobs = None
    if update_batch is not batch:  # metrics describe the whole batch as sampled
        with torch.no_grad():
            logprobs, entropy = response_logprobs(
                policy, batch, config.temperature, with_entropy=True
            )  # (B·G, T) each
        ref_logprobs = None
    # 5. metrics of the batch as sampled
    with torch.no_grad():
        group_std = rewards.view(-1, G).std(dim=1)  # (B,)
        zero_variance = (group_std < 1e-6).float().mean().item()
        n_tokens = mask.sum().clamp(min=1)
        if ref_logprobs is None:  # beta = 0: the loss skipped the reference; the log doesn't
            ref_logprobs = response_logprobs(reference, batch, config.temperature)
        sample_kl = ((logprobs - ref_logprobs) * mask).sum(-1).mean().item()  # k1
    return {
        "step": step,
        "loss": loss.item(),
        "reward": rewards.mean().item(),
        "gold": (sum(gold_fn(texts)) / len(texts)) if gold_fn is not None else None,
        "kl": sample_kl,
        "reward_std": group_std.mean().item(),
        "zero_std_groups": zero_variance,
        "zero_variance_groups": zero_variance,  # issue 14's name
        "response_length": mask.sum(-1).float().mean().item(),  # tokens per response
        "clipfrac": stats["clipfrac"],
        "kl_k3": stats["kl_k3"],
        "entropy": ((entropy * mask).sum() / n_tokens).item(),
        "eos_rate": ended_with_eos(batch, eos).float().mean().item(),
        "grad_norm": grad_norm.item(),
        "dropped_groups": dropped_groups,  # groups left out by dynamic sampling
        "update_skipped": not keep.any().item(),  # dynamic sampling dropped every group
    }


def train_grpo(
    config: GRPOConfig | None,
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
) -> GRPOResult:
    """Train `policy` (in place: pass a copy to keep the SFT policy) with GRPO.

    Introduced in 06_dpo_and_grpo. Arguments as the trainer contract (trainers/contract.py):
    reference is the frozen SFT policy (the k3 KL; unused when beta = 0); reward_model the
    frozen RM (r = its score - missing-<eos> penalty), may be None when `reward_fn` scores
    instead (a verifiable reward; no penalty added); gold_fn None = gold logged as None;
    eval_prompts None or [] = no held-out evaluation; doctor None = a new Doctor, False = none;
    a non-finite loss stops the run (`result.stopped`, the last good checkpoint kept).

    Metrics per step (means over the batch's B·G sampled responses): step, reward, gold,
    kl (k1, summed over tokens), seconds, loss, reward_std (mean within-group std),
    zero_std_groups = zero_variance_groups (fraction of groups with equal rewards),
    response_length, clipfrac, kl_k3 (per token), entropy, eos_rate, grad_norm.
    Held-out evaluations (step 0, every eval_every steps, the last step) go to
    `result.evaluations`: gold, reward, kl, eos_rate from `evaluate_policy`, same seed each time.
    """
    config = config or GRPOConfig.toy()
    if not isinstance(config, GRPOConfig):
        raise TypeError(f"config must be a GRPOConfig, got {type(config).__name__}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding the checkpoint)")
    for arg, fn in (("reward_fn", reward_fn), ("gold_fn", gold_fn), ("callback", callback)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{arg} must be callable, got {type(fn).__name__}")
    if reward_model is None and reward_fn is None:
        raise ValueError("train_grpo needs a reward_model or a reward_fn")
    g = set_seed(config.seed)
    if prompts is None:
        prompts = [r["prompt"] for r in load_records("prompts_train")]
    prepare_policy(policy, reference)
    doctor = resolve_doctor(doctor, "grpo", progress)
    freeze(reference)
    if reward_model is not None:
        freeze(reward_model)

    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr)
    start = 0
    if resume:
        start, _ = load_checkpoint(out_dir, {"policy": policy}, {"policy": optimizer}, g)
    log = MetricsWriter(out_dir, resume_step=start if resume else None)

    evaluations: list[dict] = []

    def evaluate(step: int) -> None:
        if not eval_prompts:
            return
        ev = evaluate_policy(
            policy, tokenizer, eval_prompts, reward_model=reward_model, reference=reference,
            max_new_tokens=config.max_new_tokens, temperature=config.temperature,
            seed=config.seed, missing_eos_penalty=config.missing_eos_penalty, gold_fn=gold_fn,
        )  # fmt: skip
        evaluations.append(
            {"step": step, **{k: ev[k] for k in ("gold", "reward", "kl", "eos_rate")}}
        )

    if start == 0:  # the starting point (the SFT policy), before any update
        evaluate(0)
    train_seconds, stopped = 0.0, None
    bar = progress_bar(range(start + 1, config.steps + 1), desc="GRPO", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        idx = _prompt_indices(len(prompts), config.prompts_per_step, step, config.seed)
        try:
            row = grpo_step(
                policy, reference, reward_model, tokenizer, [prompts[i] for i in idx.tolist()],
                optimizer, config, step, g, reward_fn=reward_fn, gold_fn=gold_fn,
            )  # fmt: skip
        except NonFiniteLoss as error:
            policy.eval()
            stopped = stop_on_non_finite(error, progress)
            break
        row["seconds"] = seconds = time.perf_counter() - t0
        train_seconds += seconds
        if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
            evaluate(step)
        log.write(row)
        if doctor is not None:
            doctor.check(step, {k: v for k, v in row.items() if v is not None})
        bar.set_postfix(reward=f"{row['reward']:.2f}", refresh=False)
        checkpoint_if_due(out_dir, step, config, policy, optimizer, g)
        if callback is not None:
            callback(row)
    policy.eval()
    return GRPOResult(
        policy=policy, config=config, metrics=log.rows, evaluations=evaluations, doctor=doctor,
        stopped=stopped, train_seconds=train_seconds,
    )  # fmt: skip


# ── command line: python -m rlhf_lessons grpo --preset toy --loss-type dr_grpo --out DIR ────

CONFIG = GRPOConfig


def run_cli(config, *, out_dir, resume):
    """Train the cached toy SFT policy with GRPO against the cached toy reward model."""
    import copy

    from ..toy import gold_scores
    from .toy_models import toy_reward_model, toy_sft_policy

    sft_policy, tokenizer = toy_sft_policy(seed=config.seed)
    reward_model = toy_reward_model(seed=config.seed)
    eval_prompts = [r["prompt"] for r in load_records("prompts_test")][:128]
    result = train_grpo(
        config, copy.deepcopy(sft_policy), sft_policy, reward_model, tokenizer,
        gold_fn=gold_scores, eval_prompts=eval_prompts, out_dir=out_dir, resume=resume,
    )  # fmt: skip
    if result.stopped:
        print(f"GRPO stopped: {result.stopped}")
        return result
    first, last = result.evaluations[0], result.evaluations[-1]
    print(
        f"GRPO done: gold {first['gold']:.2f} -> {last['gold']:.2f}, proxy "
        f"{first['reward']:.2f} -> {last['reward']:.2f}, KL {last['kl']:.2f}, "
        f"zero-std groups {result.metrics[-1]['zero_std_groups']:.0%}; "
        f"saved to {out_dir}/checkpoint/policy"
    )
    return result
