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

import copy
import time
from dataclasses import dataclass, field

import torch

from .._checks import as_float_tensor, check_finite
from ..batching import decode_responses, encode_prompts
from ..doctor import Doctor
from ..evaluate import MISSING_EOS_PENALTY, ended_with_eos, evaluate_policy, task_reward
from ..losses import kl_k3
from ..models import freeze
from ..rollout import generate, response_logprobs
from ..runtime import set_seed
from ..toy import gold_score, load_records
from .common import (
    MetricsWriter,
    check_finite_loss,
    checkpoint_if_due,
    load_checkpoint,
    progress_bar,
)

__all__ = [
    "GRPOConfig",
    "GRPOResult",
    "group_advantages",
    "grpo_loss",
    "train_grpo",
    "add_arguments",
    "run_cli",
]


LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")  # TRL 1.16's names
IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence")  # "sequence": GSPO (Zheng et al. 2025)
SCALE_REWARDS = ("group", "batch", "none")  # TRL 1.16's scale_rewards values


@dataclass
class GRPOConfig:
    """Settings of one GRPO run: the toy world's sizes, DeepSeekMath's beta (`toy()` sets 0.2)."""

    seed: int = 0  # seeds prompt order, sampling and evaluation
    steps: int = 50  # batches of groups (one rollout + `epochs` updates each)
    prompts_per_step: int = 8  # prompts per batch (B·G = 64 responses, PPO's batch in the toy)
    group_size: int = 8  # G: responses sampled per prompt (DeepSeekMath: 64)
    lr: float = 1e-3  # AdamW learning rate
    beta: float = 0.04  # β >= 0: weight of the k3 KL to the reference in the loss (DeepSeekMath)
    clip_eps: float = 0.2  # ε of the clipped ratio (matters only when epochs > 1)
    epochs: int = 1  # μ: gradient steps on each batch (1: the ratio is 1, as TRL's default)
    adv_eps: float = 1e-4  # added to the group std, so a zero-variance group gives A = 0, not nan
    max_new_tokens: int = 14  # longest response
    temperature: float = 1.0  # sampling temperature (logprobs are scored at the same one)
    missing_eos_penalty: float = MISSING_EOS_PENALTY  # subtracted from the RM score without <eos>
    max_grad_norm: float = 1.0  # gradient clipping
    eval_every: int = 10  # steps between held-out evaluations (0 = only before and after)
    eval_prompts: int = 128  # held-out prompts (data/toy/prompts_test) sampled at each evaluation
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    loss_type: str = "grpo"  # TRL 1.16's names: "grpo", "bnpo", "dr_grpo" or "dapo"
    epsilon_high: float | None = None  # DAPO's clip-higher upper bound (None: = clip_eps)
    importance_sampling_level: str = "token"  # "token", or "sequence" (GSPO)
    scale_rewards: str = "group"  # divide advantages by the "group" / "batch" std, or "none"

    def __post_init__(self):
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(
                f"GRPOConfig.loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}"
            )
        if self.importance_sampling_level not in IMPORTANCE_SAMPLING_LEVELS:
            raise ValueError(
                f"GRPOConfig.importance_sampling_level must be one of "
                f"{IMPORTANCE_SAMPLING_LEVELS}, got {self.importance_sampling_level!r}"
            )
        if self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(
                f"GRPOConfig.scale_rewards must be one of {SCALE_REWARDS}, got {self.scale_rewards!r}"
            )
        if self.epsilon_high is not None and not (
            isinstance(self.epsilon_high, (int, float)) and self.epsilon_high >= self.clip_eps
        ):
            raise ValueError(
                f"GRPOConfig.epsilon_high must be >= clip_eps ({self.clip_eps}), got {self.epsilon_high!r}"
            )
        positive_ints = (
            "steps",
            "prompts_per_step",
            "epochs",
            "max_new_tokens",
            "eval_prompts",
            "checkpoint_every",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GRPOConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.group_size, int) or self.group_size < 2:
            raise ValueError(
                f"GRPOConfig.group_size must be an int >= 2 (a group of one has no variance "
                f"to learn from), got {self.group_size!r}"
            )
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"GRPOConfig.eval_every must be an int >= 0, got {self.eval_every!r}")
        for name in ("lr", "clip_eps", "adv_eps", "temperature", "max_grad_norm"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"GRPOConfig.{name} must be > 0, got {value!r}")
        for name in ("beta", "missing_eos_penalty"):  # 0 is allowed: no KL term / no penalty
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"GRPOConfig.{name} must be >= 0, got {value!r}")

    @classmethod
    def toy(cls, **overrides) -> GRPOConfig:
        """The toy world's preset, with any field overridden.

        beta = 0.2 instead of DeepSeekMath's 0.04: measured over 50 steps (seed 0), gold ends
        about the same (≈ 0.63-0.66) at beta 0.04, 0.1 and 0.2, but at 0.2 it gets there with
        less than half the KL (≈ 3.5 nats, against ≈ 8 at 0.04); at 0.5 gold stalls near 0.5.
        """
        return cls(**{"beta": 0.2, **overrides})


@dataclass
class GRPOResult:
    """What `train_grpo` returns. `metrics` holds one dict per step (row 0 = before training)."""

    policy: torch.nn.Module
    config: GRPOConfig
    metrics: list[dict] = field(default_factory=list)
    doctor: Doctor | None = None
    evaluations: list[dict] = field(default_factory=list)  # held-out rows, step 0 = before
    train_seconds: float = 0.0  # time in training steps: sampling, scoring, updates (no eval)


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
    if loss_type == "grpo":
        per_response = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (B,)
        loss = -per_response.mean()
    elif loss_type == "bnpo":
        loss = -(per_token * mask).sum() / mask.sum().clamp(min=1)
    elif loss_type == "dr_grpo":
        t_max = mask.shape[1] if max_completion_length is None else max_completion_length
        loss = -(per_token * mask).sum() / (mask.shape[0] * t_max)
    else:  # "dapo"
        n_items = mask.sum() if num_items_in_batch is None else torch.as_tensor(num_items_in_batch)
        loss = -(per_token * mask).sum() / n_items.float().clamp(min=1)
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


def train_grpo(
    config: GRPOConfig | None,
    policy,
    reference,
    reward_model,
    tokenizer,
    prompts: list[str] | None = None,
    *,
    reward_fn=None,
    eval_prompts: list[str] | None = None,
    out_dir=None,
    resume: bool = False,
    doctor: Doctor | None = None,
    progress: bool = True,
) -> GRPOResult:
    """Train `policy` (in place: pass a copy to keep the SFT policy) with GRPO.

    Args:
        config: GRPOConfig (None = the toy preset).
        policy: causal LM to train, usually a copy of the SFT policy.
        reference: the frozen SFT policy (for the k3 KL in the loss; unused when beta = 0).
        reward_model: the frozen reward model: r = its score - missing-<eos> penalty.
            May be None when `reward_fn` is given.
        tokenizer: the toy tokenizer.
        prompts: training prompts (None = data/toy/prompts_train.jsonl).
        reward_fn: optional callable(list of response texts) -> list of floats, used instead
            of the reward model: a rule-based ("verifiable") reward, as in DeepSeek-R1-style
            training. The missing-<eos> penalty is not added to it.
        eval_prompts: held-out prompts (None = the first config.eval_prompts of prompts_test;
            [] = no held-out evaluation at all, e.g. when the caller evaluates).
        out_dir, resume, doctor, progress: as in `train_dpo`.

    Metrics per step, as PPO's (means over the batch's B·G sampled responses): reward (proxy),
    gold, kl (k1, summed over tokens), reward_std (mean within-group std), zero_std_groups
    (fraction of groups with equal rewards), clipfrac, kl_k3 (per token), entropy, eos_rate,
    loss, seconds. Held-out evaluations (step 0, every eval_every steps, the last step) go to
    `result.evaluations`: gold, reward, kl, eos_rate from `evaluate_policy`, same seed each time.
    """
    config = config or GRPOConfig.toy()
    if not isinstance(config, GRPOConfig):
        raise TypeError(f"config must be a GRPOConfig, got {type(config).__name__}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding the checkpoint)")
    g = set_seed(config.seed)
    if prompts is None:
        prompts = [r["prompt"] for r in load_records("prompts_train")]
    if eval_prompts is None:
        eval_prompts = [r["prompt"] for r in load_records("prompts_test")][: config.eval_prompts]
    doctor = doctor or Doctor("grpo", verbose=progress)
    if policy is reference:
        raise ValueError("policy and reference are the same object: pass a copy of the SFT policy")
    freeze(reference)
    if not any(p.requires_grad for p in policy.parameters()):
        policy.requires_grad_(True)  # a deep copy of a frozen reference arrives frozen
    if reward_model is None and reward_fn is None:
        raise ValueError("train_grpo needs a reward_model or a reward_fn")
    if reward_fn is not None and not callable(reward_fn):
        raise TypeError(
            f"reward_fn must be callable(texts) -> rewards, got {type(reward_fn).__name__}"
        )
    if reward_model is not None:
        freeze(reward_model)
    G, eos = config.group_size, tokenizer.eos_token_id

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
            policy,
            tokenizer,
            eval_prompts,
            reward_model=reward_model,
            reference=reference,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            seed=config.seed,
            missing_eos_penalty=config.missing_eos_penalty,
        )
        evaluations.append(
            {"step": step, **{k: ev[k] for k in ("gold", "reward", "kl", "eos_rate")}}
        )

    if start == 0:  # the starting point (the SFT policy), before any update
        evaluate(0)
    train_seconds = 0.0
    bar = progress_bar(range(start + 1, config.steps + 1), desc="GRPO", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        # 1. G responses for each prompt, groups side by side
        idx = _prompt_indices(len(prompts), config.prompts_per_step, step, config.seed)
        batch_prompts = [prompts[i] for i in idx.tolist() for _ in range(G)]  # B·G prompts
        prompt_ids, prompt_mask = encode_prompts(tokenizer, batch_prompts)  # (B·G, P)
        batch = generate(
            policy,
            prompt_ids,
            prompt_mask,
            max_new_tokens=config.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
            temperature=config.temperature,
            generator=g,
        )  # (B·G, P + T)
        mask = batch.response_mask  # (B·G, T)

        # 2. rewards from the frozen reward model; 3. advantages within each group
        texts = decode_responses(tokenizer, batch.response_ids, mask)
        if reward_fn is not None:
            rewards = torch.as_tensor(reward_fn(texts), dtype=torch.float32)  # (B·G,)
            if rewards.shape != (len(texts),):
                raise ValueError(
                    f"reward_fn returned shape {tuple(rewards.shape)}, expected ({len(texts)},)"
                )
        else:
            rewards = task_reward(reward_model, batch, eos, config.missing_eos_penalty)  # (B·G,)
        advantages = group_advantages(
            rewards, G, config.adv_eps, scale_rewards=config.scale_rewards
        )  # (B·G,)
        with torch.no_grad():
            ref_logprobs = (
                response_logprobs(reference, batch, config.temperature) if config.beta > 0 else None
            )  # (B·G, T)
            old_logprobs = (
                response_logprobs(policy, batch, config.temperature) if config.epochs > 1 else None
            )  # (B·G, T)

        # 4. `epochs` gradient steps on the clipped loss with the k3 KL to the reference
        policy.train()
        for epoch in range(config.epochs):
            logprobs, entropy = response_logprobs(
                policy, batch, config.temperature, with_entropy=True
            )  # (B·G, T) each
            old = old_logprobs if old_logprobs is not None else logprobs.detach()
            ref = ref_logprobs if ref_logprobs is not None else logprobs.detach()
            loss, stats = grpo_loss(
                logprobs, old, ref, advantages, mask, config.clip_eps, config.beta,
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
        seconds = time.perf_counter() - t0
        train_seconds += seconds

        with torch.no_grad():
            groups = rewards.view(-1, G)  # (B, G)
            group_std = groups.std(dim=1)  # (B,)
            n_tokens = mask.sum().clamp(min=1)
            if ref_logprobs is None:  # beta = 0: the loss skipped the reference; the log doesn't
                ref_logprobs = response_logprobs(reference, batch, config.temperature)
            sample_kl = ((first_logprobs - ref_logprobs) * mask).sum(-1).mean().item()  # k1
        row = {
            "step": step,
            "loss": loss.item(),
            "reward": rewards.mean().item(),
            "gold": sum(gold_score(t) for t in texts) / len(texts),
            "kl": sample_kl,
            "reward_std": group_std.mean().item(),
            "zero_std_groups": (group_std < 1e-6).float().mean().item(),
            "zero_variance_groups": (group_std < 1e-6).float().mean().item(),  # issue 14's name
            "response_length": mask.sum(-1).float().mean().item(),  # tokens per response
            "clipfrac": stats["clipfrac"],
            "kl_k3": stats["kl_k3"],
            "entropy": ((first_entropy * mask).sum() / n_tokens).item(),
            "eos_rate": ended_with_eos(batch, eos).float().mean().item(),
            "grad_norm": grad_norm.item(),
            "seconds": seconds,
        }
        if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
            evaluate(step)
        log.write(row)
        doctor.check(step, {k: v for k, v in row.items() if v is not None})
        bar.set_postfix(reward=f"{row['reward']:.2f}", gold=f"{row['gold']:.2f}", refresh=False)
        checkpoint_if_due(out_dir, step, config, policy, optimizer, g)
    policy.eval()
    return GRPOResult(policy, config, log.rows, doctor, evaluations, train_seconds)


# ── command line: python -m rlhf_lessons grpo --preset toy --seed S --steps N --out DIR ─────


def add_arguments(parser) -> None:
    """GRPO's flags beyond the common ones (--preset, --seed, --steps, --out, --resume)."""
    parser.add_argument("--beta", type=float, help="k3 KL weight in the loss, >= 0 (toy: 0.2)")
    parser.add_argument("--lr", type=float, help="learning rate (toy: 1e-3)")
    parser.add_argument("--group-size", type=int, help="responses per prompt G (toy: 8)")
    parser.add_argument("--prompts-per-step", type=int, help="prompts per batch (toy: 8)")
    parser.add_argument("--epochs", type=int, help="gradient steps per batch (toy: 1)")
    parser.add_argument("--eval-every", type=int, help="steps between evaluations (toy: 10)")
    parser.add_argument("--loss-type", choices=LOSS_TYPES, help="TRL's loss_type (default grpo)")
    parser.add_argument("--epsilon-high", type=float, help="clip-higher upper bound (DAPO)")
    parser.add_argument(
        "--importance-sampling-level", choices=IMPORTANCE_SAMPLING_LEVELS, help="sequence: GSPO"
    )
    parser.add_argument("--scale-rewards", choices=SCALE_REWARDS, help="advantage std: group")


def run_cli(args) -> GRPOResult:
    """Train the cached toy SFT policy with GRPO against the cached toy reward model."""
    from .pipeline import toy_reward_model, toy_sft_policy

    preset = getattr(args, "preset", "toy") or "toy"
    if preset != "toy":
        raise ValueError(f"grpo: unknown --preset {preset!r}; this command knows 'toy'")
    overrides = {
        "seed": args.seed,
        "steps": args.steps,
        "beta": getattr(args, "beta", None),
        "lr": getattr(args, "lr", None),
        "group_size": getattr(args, "group_size", None),
        "prompts_per_step": getattr(args, "prompts_per_step", None),
        "epochs": getattr(args, "epochs", None),
        "eval_every": getattr(args, "eval_every", None),
        "loss_type": getattr(args, "loss_type", None),
        "epsilon_high": getattr(args, "epsilon_high", None),
        "importance_sampling_level": getattr(args, "importance_sampling_level", None),
        "scale_rewards": getattr(args, "scale_rewards", None),
    }
    config = GRPOConfig.toy(**{k: v for k, v in overrides.items() if v is not None})
    sft_policy, tokenizer = toy_sft_policy(seed=config.seed)
    reward_model = toy_reward_model(seed=config.seed)
    policy = copy.deepcopy(sft_policy)
    result = train_grpo(
        config, policy, sft_policy, reward_model, tokenizer, out_dir=args.out, resume=args.resume
    )
    first, last = result.evaluations[0], result.evaluations[-1]
    print(
        f"GRPO done: gold {first['gold']:.2f} -> {last['gold']:.2f}, proxy "
        f"{first['reward']:.2f} -> {last['reward']:.2f}, KL {last['kl']:.2f}, "
        f"zero-std groups {result.metrics[-1]['zero_std_groups']:.0%}; "
        f"saved to {args.out}/checkpoint/policy"
    )
    return result
