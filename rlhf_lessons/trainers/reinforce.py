"""REINFORCE on whole responses, with the KL penalty in the reward and a moving-average baseline.

Introduced in 09_policy_gradient. Follows Williams 1992 (REINFORCE) as used for RLHF by
Ahmadian et al. 2024 ("Back to Basics", Section 3.1: the whole response is one action):

    1. sample one response y per prompt x from the current policy
    2. reward with the KL penalty in it:  R(x, y) = r(x, y) - β · Σ_t (log π_θ - log π_ref)
       (k1 summed over the response's tokens, as TRL's RLOOTrainer and the paper)
    3. advantage:  A = R - b,  b = a moving average of past batches' mean R (or b = 0)
    4. loss:  -mean over responses of  A · log π_θ(y | x),  log π_θ(y | x) = Σ_t log π_θ(y_t | ...)

The log-derivative trick makes step 4 an unbiased estimate of -∇ E[R]: ∇ E[R] = E[R ∇ log π(y|x)].
A baseline that does not depend on y leaves it unbiased (E[∇ log π] = 0) and lowers its variance.
Model copies: policy (trained), reference and reward model (frozen), no value model.

`train_policy_gradient` is the loop REINFORCE and RLOO (trainers/rloo.py) share: they differ only
in how many responses each prompt gets and in the advantage.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from .._checks import as_float_tensor, check_finite
from ..batching import decode_responses, encode_prompts
from ..evaluate import MISSING_EOS_PENALTY, ended_with_eos, evaluate_policy, task_reward
from ..models import freeze
from ..rollout import generate, response_logprobs
from ..runtime import set_seed
from ..toy import load_records
from .common import (
    MetricsWriter,
    NonFiniteLoss,
    check_finite_loss,
    load_checkpoint,
    progress_bar,
    save_checkpoint,
)
from .contract import (
    TrainerConfig,
    TrainResult,
    prepare_policy,
    resolve_doctor,
    stop_on_non_finite,
)

__all__ = [
    "REINFORCEConfig",
    "REINFORCEResult",
    "kl_penalised_rewards",
    "reinforce_loss",
    "train_reinforce",
    "train_policy_gradient",
    "CONFIG",
    "run_cli",
]


@dataclass
class REINFORCEConfig(TrainerConfig):
    """Settings of one REINFORCE run (the toy preset samples 64 responses a step, as PPO's)."""

    seed: int = 0  # seeds prompt order, sampling and evaluation
    steps: int = 50  # rollouts, each followed by one gradient step
    prompts_per_step: int = 64  # prompts per batch, one response each
    lr: float = 1e-3  # AdamW learning rate
    beta: float = 0.05  # β >= 0: weight of the summed k1 KL to the reference, subtracted from r
    baseline: Literal["ema", "none"] = "ema"  # b: moving average of the mean reward, or 0
    baseline_decay: float = 0.9  # b <- decay·b + (1 - decay)·mean(R) after each step
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
        "lr": ">0",
        "beta": ">=0",
        "baseline_decay": "[0,1)",
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
class REINFORCEResult(TrainResult):
    """What `train_reinforce` returns (metrics rows: METRICS_KEYS + loss, kl_reward, ...)."""

    baseline: float = 0.0  # the moving-average baseline at the end of the run
    baseline_steps: int = 0  # steps that updated the baseline (checkpointed with it)


def kl_penalised_rewards(rewards, logprobs, ref_logprobs, mask, beta: float) -> torch.Tensor:
    """R = r - β · Σ_t (log π - log π_ref) over each response's real tokens. (B,).

    Introduced in 09_policy_gradient. As TRL's RLOOTrainer (k1 per token, summed per sequence,
    Ahmadian et al. 2024): the KL penalty is part of the reward, not a term of the loss.

    Args:
        rewards: (B,) scores r(x, y). logprobs, ref_logprobs: (B, T) of the sampled tokens under
        the policy at sampling time and the reference. mask: (B, T) 1 = real token. beta: >= 0.
    """
    rewards = as_float_tensor(rewards, "rewards")
    check_finite(rewards, "rewards")
    if rewards.dim() != 1:
        raise ValueError(f"rewards must have shape (B,), got {tuple(rewards.shape)}")
    if logprobs.shape != mask.shape or ref_logprobs.shape != mask.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, ref_logprobs {tuple(ref_logprobs.shape)} and "
            f"mask {tuple(mask.shape)} must have the same shape (B, T)"
        )
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    kl = ((logprobs - ref_logprobs) * mask.float()).sum(-1)  # (B,) k1 summed over tokens
    return rewards - beta * kl


def reinforce_loss(seq_logprobs, advantages) -> torch.Tensor:
    """REINFORCE's loss: -mean_i A_i · log π_θ(y_i | x_i). Its gradient is -Ê[A ∇ log π].

    Introduced in 09_policy_gradient (the learner writes it as `my_reinforce_loss`).

    Args:
        seq_logprobs: (B,) log π_θ(y | x) of each whole response (token logprobs summed over
            the real tokens), with gradient.
        advantages: (B,) A = R - b, no gradient (detached here).
    """
    if seq_logprobs.shape != advantages.shape or seq_logprobs.dim() != 1:
        raise ValueError(
            f"seq_logprobs {tuple(seq_logprobs.shape)} and advantages "
            f"{tuple(advantages.shape)} must both have shape (B,)"
        )
    return -(advantages.detach() * seq_logprobs).mean()


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


def train_policy_gradient(
    name: str,
    config,
    policy,
    reference,
    reward_model,
    tokenizer,
    prompts,
    *,
    samples_per_prompt: int,
    advantage_fn,
    loss_fn,
    state: dict,
    result_cls,
    reward_fn=None,
    gold_fn=None,
    eval_prompts=None,
    out_dir=None,
    resume=False,
    doctor=None,
    callback=None,
    progress=True,
):
    """The loop REINFORCE and RLOO share: sample, score, R = r - β·KL, advantage, one step.

    advantage_fn(R, state) -> (B·k,) advantages (may update `state`, a dict of floats that
    is checkpointed); loss_fn(seq_logprobs, old_seq_logprobs, advantages) -> (loss, stats).
    """
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding the checkpoint)")
    if reward_model is None and reward_fn is None:
        raise ValueError(f"train_{name} needs a reward_model or a reward_fn")
    for arg, fn in (("reward_fn", reward_fn), ("gold_fn", gold_fn), ("callback", callback)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{arg} must be callable, got {type(fn).__name__}")
    g = set_seed(config.seed)
    if prompts is None:
        prompts = [r["prompt"] for r in load_records("prompts_train")]
    prepare_policy(policy, reference)
    doctor = resolve_doctor(doctor, name, progress)
    freeze(reference)
    if reward_model is not None:
        freeze(reward_model)
    k, eos = samples_per_prompt, tokenizer.eos_token_id

    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr)
    start = 0
    if resume:
        start, extra = load_checkpoint(out_dir, {"policy": policy}, {"policy": optimizer}, g)
        state.update(extra.get("state", {}))
    log = MetricsWriter(out_dir, resume_step=start if resume else None)
    evaluations: list[dict] = []

    def evaluate(step: int) -> None:
        if not eval_prompts:
            return
        ev = evaluate_policy(
            policy, tokenizer, eval_prompts, reward_model=reward_model, reference=reference,
            max_new_tokens=config.max_new_tokens, temperature=config.temperature,
            seed=config.seed, missing_eos_penalty=config.missing_eos_penalty,
        )  # fmt: skip
        evaluations.append({"step": step, **{key: ev[key] for key in ("gold", "reward", "kl")}})

    def save(step: int) -> None:
        if out_dir is not None:
            save_checkpoint(
                out_dir, step, {"policy": policy}, {"policy": optimizer}, g,
                {"config": asdict(config), "state": dict(state)},
            )  # fmt: skip

    if start == 0:
        evaluate(0)
    train_seconds, stopped = 0.0, None
    bar = progress_bar(range(start + 1, config.steps + 1), desc=name, disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        # 1. k responses per prompt, a prompt's k side by side
        idx = _prompt_indices(len(prompts), config.prompts_per_step, step, config.seed)
        batch_prompts = [prompts[i] for i in idx.tolist() for _ in range(k)]  # B·k prompts
        prompt_ids, prompt_mask = encode_prompts(tokenizer, batch_prompts)  # (B·k, P)
        batch = generate(
            policy, prompt_ids, prompt_mask, max_new_tokens=config.max_new_tokens,
            eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
            temperature=config.temperature, generator=g,
        )  # fmt: skip
        mask = batch.response_mask.float()  # (B·k, T)
        texts = decode_responses(tokenizer, batch.response_ids, batch.response_mask)

        # 2. r from the reward model (or reward_fn), R = r - β·KL
        if reward_fn is not None:
            rewards = torch.as_tensor(reward_fn(texts), dtype=torch.float32)  # (B·k,)
            if rewards.shape != (len(texts),):
                raise ValueError(
                    f"reward_fn returned shape {tuple(rewards.shape)}, expected ({len(texts)},)"
                )
        else:
            rewards = task_reward(reward_model, batch, eos, config.missing_eos_penalty)  # (B·k,)
        policy.train()
        logprobs = response_logprobs(policy, batch, config.temperature)  # (B·k, T), with grad
        with torch.no_grad():
            ref_logprobs = response_logprobs(reference, batch, config.temperature)  # (B·k, T)
        old_logprobs = logprobs.detach()  # π_old = π_θ at sampling time: one step per batch
        R = kl_penalised_rewards(rewards, old_logprobs, ref_logprobs, mask, config.beta)  # (B·k,)

        # 3. advantages; 4. one gradient step on the sequence-level loss
        advantages = advantage_fn(R, state)  # (B·k,)
        seq_logprobs = (logprobs * mask).sum(-1)  # (B·k,) log π_θ(y | x)
        loss, stats = loss_fn(seq_logprobs, seq_logprobs.detach(), advantages)
        try:
            check_finite_loss(loss, step)
        except NonFiniteLoss as error:
            stopped = stop_on_non_finite(error, progress)
            break
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        policy.eval()
        seconds = time.perf_counter() - t0
        train_seconds += seconds

        kl = ((old_logprobs - ref_logprobs) * mask).sum(-1)  # (B·k,)
        row = {
            "step": step,
            "reward": rewards.mean().item(),
            "gold": (sum(gold_fn(texts)) / len(texts)) if gold_fn is not None else None,
            "kl": kl.mean().item(),
            "seconds": seconds,
            "loss": loss.item(),
            "kl_reward": R.mean().item(),
            "advantage_std": advantages.std().item() if advantages.numel() > 1 else 0.0,
            "eos_rate": ended_with_eos(batch, eos).float().mean().item(),
            "grad_norm": grad_norm.item(),
            **stats,
        }
        if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
            evaluate(step)
        log.write(row)
        if doctor is not None:
            doctor.check(step, {key: v for key, v in row.items() if v is not None})
        if callback is not None:
            callback(row)
        if step % config.checkpoint_every == 0 or step == config.steps:
            save(step)
        bar.set_postfix(reward=f"{row['reward']:.2f}", refresh=False)
    policy.eval()
    return result_cls(
        policy=policy, config=config, metrics=log.rows, evaluations=evaluations,
        doctor=doctor, stopped=stopped, train_seconds=train_seconds, **state,
    )  # fmt: skip


def train_reinforce(
    config: REINFORCEConfig | None,
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
) -> REINFORCEResult:
    """Train `policy` (in place) with REINFORCE: one response per prompt, A = R - b.

    Introduced in 09_policy_gradient (Williams 1992; Ahmadian et al. 2024, Section 3.1).
    Arguments as the trainer contract (trainers/contract.py). Metrics per step: step, reward
    (proxy r), gold (gold_fn's mean, None without it), kl (k1 summed per response, mean),
    seconds, loss, kl_reward (mean R), advantage_std, eos_rate, grad_norm, baseline.
    """
    config = config or REINFORCEConfig.toy()
    if not isinstance(config, REINFORCEConfig):
        raise TypeError(f"config must be a REINFORCEConfig, got {type(config).__name__}")
    state = {"baseline": 0.0, "baseline_steps": 0}

    def advantage(R, state):
        if config.baseline == "none":
            return R
        b = state["baseline"] if state["baseline_steps"] else R.mean().item()  # first: batch mean
        state["baseline"] = (
            config.baseline_decay * b + (1 - config.baseline_decay) * R.mean().item()
        )
        state["baseline_steps"] += 1
        return R - b  # b comes from earlier batches (the first: this batch's mean)

    def loss_fn(seq_logprobs, old, advantages):
        return reinforce_loss(seq_logprobs, advantages), {"baseline": state["baseline"]}

    result = train_policy_gradient(
        "reinforce", config, policy, reference, reward_model, tokenizer, prompts,
        samples_per_prompt=1, advantage_fn=advantage, loss_fn=loss_fn, state=state,
        result_cls=REINFORCEResult, reward_fn=reward_fn, gold_fn=gold_fn,
        eval_prompts=_eval_prompts(eval_prompts, config), out_dir=out_dir, resume=resume,
        doctor=doctor, callback=callback, progress=progress,
    )  # fmt: skip
    return result


def _eval_prompts(eval_prompts, config):
    if eval_prompts is None:
        return [r["prompt"] for r in load_records("prompts_test")][: config.eval_prompts]
    return eval_prompts


# ── command line: python -m rlhf_lessons reinforce --preset toy --out DIR ─────────────────

CONFIG = REINFORCEConfig


def toy_models(seed: int):
    """The toy world's cached SFT policy (+ a copy to train), reward model, tokenizer, gold."""
    from ..toy import gold_scores
    from .toy_models import toy_reward_model, toy_sft_policy

    sft, tokenizer = toy_sft_policy(seed=seed)
    return copy.deepcopy(sft), sft, toy_reward_model(seed=seed), tokenizer, gold_scores


def run_cli(config, *, out_dir, resume):
    """Train the cached toy SFT policy with REINFORCE against the cached toy reward model."""
    policy, sft, rm, tokenizer, gold = toy_models(config.seed)
    result = train_reinforce(
        config, policy, sft, rm, tokenizer, gold_fn=gold, out_dir=out_dir, resume=resume
    )
    _summary("REINFORCE", result, out_dir)
    return result


def _summary(label, result, out_dir) -> None:
    if result.stopped:
        print(f"{label} stopped: {result.stopped}")
        return
    first, last = result.evaluations[0], result.evaluations[-1]
    print(
        f"{label} done: gold {first['gold']:.2f} -> {last['gold']:.2f}, proxy "
        f"{first['reward']:.2f} -> {last['reward']:.2f}, KL {last['kl']:.2f}; "
        f"saved to {out_dir}/checkpoint/policy"
    )


def gradient_variance(
    logits, rewards, *, k: int = 4, trials: int = 4000, seed: int = 0
) -> dict[str, tuple[torch.Tensor, float]]:
    """Mean and total variance of the score-function gradient estimate, by baseline.

    Introduced in 09_policy_gradient (Williams 1992; Ahmadian et al. 2024, Section 3.2: RLOO's
    leave-one-out baseline). A categorical policy softmax(logits) over K "responses" with fixed
    rewards: each trial samples k responses and estimates ∇_logits E[R] as
    mean_i (R_i - b_i) ∇ log π(y_i), with b = 0 ("none"), b = the mean of the k rewards
    ("mean", biased by a factor (k-1)/k since it includes R_i itself) or b_i = the mean of
    the other k-1 ("leave-one-out", unbiased).

    Args:
        logits: (K,) the policy's logits.
        rewards: (K,) the reward of each response.
    Returns: {baseline: (mean gradient (K,), total variance Σ_j Var[ĝ_j])}, plus "exact":
    (the exact gradient, 0.0).
    """
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(logits, dim=0)  # (K,)
    exact = p * (rewards - (p * rewards).sum())  # (K,) ∇ E[R] for a softmax
    y = torch.multinomial(p.expand(trials, -1), k, replacement=True, generator=g)  # (trials, k)
    R = rewards[y]  # (trials, k)
    score = torch.nn.functional.one_hot(y, len(p)).float() - p  # (trials, k, K) ∇ log π(y)
    baselines = {
        "none": torch.zeros_like(R),
        "mean": R.mean(dim=1, keepdim=True).expand_as(R),
        "leave-one-out": (R.sum(dim=1, keepdim=True) - R) / (k - 1),
    }
    out: dict[str, tuple[torch.Tensor, float]] = {"exact": (exact, 0.0)}
    for name, b in baselines.items():
        est = ((R - b).unsqueeze(-1) * score).mean(dim=1)  # (trials, K)
        out[name] = (est.mean(dim=0), float(est.var(dim=0).sum()))
    return out
