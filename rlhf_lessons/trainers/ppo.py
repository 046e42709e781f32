"""PPO for language models: the complete four-model loop of RLHF's third stage.

Introduced in 04_ppo_loop (and broken on purpose in 05_when_rlhf_breaks). Follows Ziegler et al.
2019 and Stiennon et al. 2020 as reconstructed in Huang et al. 2023 ("The N implementation
details of RLHF with PPO") and Huang et al. 2024 ("The N+ implementation details of RLHF with
PPO: a case study on TL;DR summarization"); PPO itself is Schulman et al. 2017.

The four models:

    policy        the causal LM being trained (starts as the SFT policy)
    reference     a frozen copy of the SFT policy: the KL penalty keeps the policy near it
    reward_model  frozen (lesson 02): one score per response, read at its last token
    value_model   trained: the reward model's architecture read at *every* token, one value
                  per response position; it starts as a copy of the reward model

The loop, numbered like the pseudocode that lesson 04 prints (Spinning Up style); the same
numbers mark the code below:

    for step = 1 .. steps:
      1. rollout      draw batch_size prompts; sample one response each with the policy (KV cache)
      2. score        per-token logprobs of policy and reference; reward-model score of each
                      response (minus missing_eos_penalty without <eos>); values per token
      3. rewards      r_t = -beta·(logp_t - logp_ref_t) on every response token,
                      + the score on the last token
      4. advantages   GAE(gamma, lam) -> advantages and returns; whiten the advantages
      5. update       ppo_epochs × num_minibatches: ppo_clip_loss + vf_coef·value_loss (clipped);
                      clip the gradient norm; Adam step
      6. diagnostics  reward, gold, kl, entropy, approx_kl, clipfrac, explained variance, ...;
                      the training doctor reads them

Shapes: B = responses in the batch, P = prompt columns, T = response columns, L = P + T,
V = vocabulary.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from ..advantages import gae, whiten
from ..batching import QueryBatch, decode_responses, encode_prompts
from ..evaluate import MISSING_EOS_PENALTY, ended_with_eos, evaluate_policy
from ..losses import kl_k3, ppo_clip_loss, value_loss
from ..models import forward_logits, freeze, reward_scores, scalar_outputs
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
    "PPOConfig",
    "PPOResult",
    "Rollout",
    "AdaptiveKLController",
    "value_model_from_reward_model",
    "rollout",
    "score",
    "kl_penalised_rewards",
    "compute_advantages",
    "ppo_update",
    "explained_variance",
    "exact_token_kl",
    "ppo_step",
    "train_ppo",
    "CONFIG",
    "run_cli",
]


# ── the settings ─────────────────────────────────────────────────────────────────────────────
@dataclass
class PPOConfig(TrainerConfig):
    """Settings of one PPO run (toy-world defaults, measured: gold of the SFT policy's samples
    rises from about 0 to about 0.7 in 30 steps; beta 0.1 closes most of the gap to J*(0.1))."""

    seed: int = 0  # seeds the prompts drawn, the sampled responses and the minibatch order
    steps: int = 40  # PPO steps; each is one rollout batch and its update
    batch_size: int = 64  # prompts per rollout batch (one response each)
    ppo_epochs: int = 4  # passes of the update over each rollout batch
    num_minibatches: int = 2  # minibatches per epoch (batch_size / num_minibatches rows each)
    lr: float = 3e-4  # Adam learning rate of the policy and the value model
    anneal_lr: bool = False  # decay lr linearly to 0 over the run (cleanrl; N+ details)
    adam_eps: float = 1e-5  # Adam's epsilon: 1e-5 as in the N implementation details, not 1e-8
    max_grad_norm: float = 1.0  # clip the global gradient norm (policy + value model) to this
    beta: float = 0.1  # KL coefficient: penalty beta·(logp - logp_ref) per token; 0 = no KL
    adaptive_kl: bool = False  # adapt beta towards kl_target (Ziegler et al. 2019)
    kl_target: float = 6.0  # adaptive KL: the KL (nats per response) beta is steered towards
    kl_horizon: int = 10_000  # adaptive KL: responses over which beta may change by e^±0.2
    gamma: float = 1.0  # discount: 1 in RLHF (the reward comes once, at the end)
    lam: float = 0.95  # GAE's lambda: bias (0, one-step TD) against variance (1, Monte Carlo)
    clip_eps: float = 0.2  # PPO's clip range: the ratio is clipped to [1 - eps, 1 + eps]
    vf_clip: float = 0.2  # value clipping: V may move at most this far from V_old per batch
    vf_coef: float = 0.1  # weight of the value loss in loss = pg_loss + vf_coef · vf_loss
    whiten_rewards: bool = False  # rescale per-token rewards to unit variance before GAE
    normalize_reward: bool = False  # shift/scale the RM score to mean 0, std 1 on the
    # reference's samples, measured once before training (Ziegler et al. 2019; Huang et al. 2023)
    reward_norm_samples: int = 256  # reference samples (one per training prompt) measuring it
    max_new_tokens: int = 14  # longest response; one without <eos> by then is penalised
    temperature: float = 1.0  # sampling temperature (logprobs are scored at the same one)
    missing_eos_penalty: float = MISSING_EOS_PENALTY  # subtracted from the score without <eos>
    eval_every: int = 0  # steps between held-out evaluations (0 = none; needs eval_prompts)
    checkpoint_every: int = 10  # steps between atomic checkpoints when an out_dir is given
    forward_batch_size: int = 0  # rows per no-grad scoring pass (0 = the whole batch at once);
    # TRL's local_rollout_forward_batch_size. The GPU presets score a mini-batch at a time: each
    # pass holds its rows' logits, rows x tokens x vocabulary (151,936 columns for Qwen2.5)

    RULES = {
        "steps": ">=1", "batch_size": ">=1", "ppo_epochs": ">=1", "num_minibatches": ">=1",
        "max_new_tokens": ">=1", "eval_every": ">=0", "checkpoint_every": ">=0",
        "kl_horizon": ">=0", "forward_batch_size": ">=0", "reward_norm_samples": ">=2", "lr": ">0", "adam_eps": ">0",
        "max_grad_norm": ">0", "clip_eps": ">0", "vf_clip": ">0", "temperature": ">0",
        "beta": ">=0", "vf_coef": ">=0", "missing_eos_penalty": ">=0", "kl_target": ">=0",
        "gamma": "[0,1]", "lam": "[0,1]",
    }  # fmt: skip
    TOY = {}  # the toy preset is the defaults

    def check(self) -> None:
        if self.batch_size % self.num_minibatches:
            raise self.fail("num_minibatches", f"a divisor of batch_size ({self.batch_size})")
        if self.batch_size // self.num_minibatches < 2:
            raise self.fail(
                "num_minibatches",
                f"at most batch_size / 2 ({self.batch_size // 2}): a minibatch needs 2 responses "
                "to whiten its advantages",
            )
        if self.adaptive_kl and not (self.beta > 0 and self.kl_target > 0 and self.kl_horizon > 0):
            raise self.fail(
                "adaptive_kl",
                "False unless beta > 0 (its starting value), kl_target > 0 and kl_horizon > 0 "
                f"(beta={self.beta}, kl_target={self.kl_target}, kl_horizon={self.kl_horizon})",
            )

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


# ── the four models ──────────────────────────────────────────────────────────────────────────
def value_model_from_reward_model(reward_model):
    """A trainable copy of the reward model, read at every token: the value model.

    Introduced in 04_ppo_loop. Why start from the reward model: it already reads a
    (prompt, partial response) and knows what scores well, so its first value estimates are
    informative and the advantages are useful from step 1; a fresh head would spend the first
    steps fitting noise (Stiennon et al. 2020, section 3.4 and Huang et al. 2024, "value model
    initialised from the reward model").
    """
    value_model = copy.deepcopy(reward_model)
    value_model.requires_grad_(True)
    value_model.train()
    _disable_dropout(value_model)
    return value_model


def _disable_dropout(model) -> None:
    """Dropout makes the logprobs of rollout and update differ: PPO's first ratio is not 1."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _device(model) -> torch.device:
    return next(model.parameters()).device


# ── 1. rollout ───────────────────────────────────────────────────────────────────────────────
def rollout(
    policy,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    tokenizer,
    config: PPOConfig,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> QueryBatch:
    """1. Sample one response per prompt with the policy (KV cache). (B, P) -> QueryBatch (B, L)."""
    return generate(
        policy,
        prompt_ids,
        prompt_mask,
        max_new_tokens=config.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        temperature=config.temperature,
        generator=generator,
        use_cache=use_cache,
    )


# ── 2. score ─────────────────────────────────────────────────────────────────────────────────
@dataclass
class Rollout:
    """One rollout batch and everything computed from it before the update. Shapes in comments."""

    batch: QueryBatch  # (B, L) prompt | response, response_mask (B, T)
    logprobs: torch.Tensor  # (B, T) log π_old(y_t): the policy at rollout time
    ref_logprobs: torch.Tensor  # (B, T) log π_ref(y_t)
    entropy: torch.Tensor  # (B, T) entropy of π_old's next-token distribution
    values: torch.Tensor  # (B, T) V_old(s_t): the value model at rollout time
    scores: torch.Tensor  # (B,) reward-model score (minus missing_eos_penalty without <eos>)
    ended: torch.Tensor  # (B,) bool: the response contains <eos>
    rewards: torch.Tensor | None = None  # (B, T) step 3
    advantages: torch.Tensor | None = None  # (B, T) step 4 (whitened)
    returns: torch.Tensor | None = None  # (B, T) step 4: value targets

    @property
    def mask(self) -> torch.Tensor:  # (B, T) float: 1 = real response token
        return self.batch.response_mask.float()


def response_values(value_model, batch: QueryBatch) -> torch.Tensor:
    """V(s_t) for each response token: the value model's scalar at the column *before* it. (B, T).

    Column t of the query predicts token t+1, so the value of "the state before response token
    t" sits at the same columns P-1 .. L-2 as the logits that produce it (as in TRL).
    """
    v = scalar_outputs(value_model, batch.input_ids, batch.attention_mask)  # (B, L)
    return v[:, batch.prompt_len - 1 : -1] * batch.response_mask  # (B, T)


@torch.no_grad()
def score(
    policy, reference, reward_model, value_model, batch: QueryBatch, tokenizer, config: PPOConfig,
    reward_norm: tuple[float, float] = (0.0, 1.0),
) -> Rollout:  # fmt: skip
    """2. Per-token logprobs (policy, reference), the reward-model score, per-token values.

    `reward_norm` = (mean, std): the score is (score - mean) / std (`reward_normalization`;
    (0, 1) leaves it raw). `config.forward_batch_size` rows at a time (0 = all B at once): the
    same numbers, less memory at a time — a forward pass holds the logits of its rows, (rows, L, V).
    """
    parts = [
        _score_rows(
            policy, reference, reward_model, value_model, rows, tokenizer, config, reward_norm
        )  # fmt: skip
        for rows in batch.chunks(config.forward_batch_size or len(batch))
    ]
    logprobs, ref_logprobs, entropy, values, scores, ended = (torch.cat(x) for x in zip(*parts))
    return Rollout(batch, logprobs, ref_logprobs, entropy, values, scores, ended)


def _score_rows(policy, reference, reward_model, value_model, batch, tokenizer, config,
                reward_norm=(0.0, 1.0)):  # fmt: skip
    logprobs, entropy = response_logprobs(policy, batch, config.temperature, with_entropy=True)
    ref_logprobs = response_logprobs(reference, batch, config.temperature)  # (b, T)
    scores = reward_scores(reward_model, batch.input_ids, batch.attention_mask)  # (b,)
    mean, std = reward_norm
    scores = (scores - mean) / std  # (b,) normalised on reference samples (or left raw)
    ended = ended_with_eos(batch, tokenizer.eos_token_id)  # (b,)
    scores = scores - config.missing_eos_penalty * (~ended).float()  # (b,) the missing-EOS trick
    values = response_values(value_model, batch)  # (b, T)
    return logprobs, ref_logprobs, entropy, values, scores, ended


@torch.no_grad()
def reward_normalization(
    reward_model, reference, tokenizer, prompt_ids, prompt_mask, config: PPOConfig
) -> tuple[float, float]:
    """(mean, std) of the raw reward-model score on the reference's own samples.

    Introduced in 04_ppo_loop. A reward model's offset is arbitrary (lesson 02) and its scale is
    whatever training left; Ziegler et al. 2019 (and the "N implementation details of RLHF with
    PPO", Huang et al. 2023) normalise it once, before RL, so that responses of the starting
    policy score mean 0 and std 1. Samples `config.reward_norm_samples` responses from the
    reference, one per training prompt (cycled), with a generator of its own (seed + 17), so
    it draws no number from the run's generator and a resumed run measures the same.
    """
    n = config.reward_norm_samples
    g = torch.Generator(device=prompt_ids.device).manual_seed(config.seed + 17)
    idx = torch.arange(n, device=prompt_ids.device) % len(prompt_ids)
    scores = []
    for rows in idx.split(config.batch_size):
        ids, mask = _trim_left(prompt_ids[rows], prompt_mask[rows])  # (b, P)
        batch = rollout(reference, ids, mask, tokenizer, config, g)  # (b, L)
        scores.append(reward_scores(reward_model, batch.input_ids, batch.attention_mask))
    scores = torch.cat(scores)  # (n,)
    return scores.mean().item(), max(scores.std().item(), 1e-6)


# ── 3. rewards ───────────────────────────────────────────────────────────────────────────────
def kl_penalised_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """3. Per-token rewards: -beta·(logp_t - logp_ref_t) on every real token, + score on the last.

    Introduced in 04_ppo_loop. Ziegler et al. 2019, eq. 2; Stiennon et al. 2020, eq. 1:
    R(x, y) = r(x, y) - beta·log(π(y|x)/π_ref(y|x)), spread over tokens so each token pays its
    own share of the KL (the k1 estimator, summed it is the sequence log-ratio).

    Args:
        scores: (B,) reward-model score of each response.
        logprobs, ref_logprobs: (B, T) per-token logprobs under the policy and the reference.
        mask: (B, T) 1 = real response token. beta: KL coefficient >= 0.
    Returns: (B, T) rewards, zero on padding.
    """
    mask = mask.float()
    rewards = -beta * (logprobs - ref_logprobs) * mask  # (B, T) the KL penalty, every token
    last = (mask.sum(1).long() - 1).clamp(min=0)  # (B,) index of the last real token
    rows = torch.arange(len(scores), device=scores.device)  # (B,)
    rewards[rows, last] += scores  # the score arrives once, at the end
    return rewards


# ── 4. advantages ────────────────────────────────────────────────────────────────────────────
def compute_advantages(rollout: Rollout, config: PPOConfig) -> Rollout:
    """4. GAE advantages and returns from the rollout's rewards and values; whiten advantages."""
    mask = rollout.mask
    rewards = rollout.rewards
    if config.whiten_rewards:  # scale only (the mean carries the signal): Huang et al. 2023
        rewards = whiten(rewards, mask, shift_mean=False) * mask
    advantages, returns = gae(rewards, rollout.values, config.gamma, config.lam, mask)  # (B, T)
    rollout.advantages = whiten(advantages, mask) * mask  # (B, T) mean 0, std 1 on real tokens
    rollout.returns = returns  # (B, T) targets of the value model: A_t + V_t (unwhitened)
    return rollout


# ── 5. update ────────────────────────────────────────────────────────────────────────────────
def _check_finite(x: torch.Tensor, step: int, what: str) -> None:
    if not torch.isfinite(x).all():
        check_finite_loss(torch.tensor(float("nan")), step, what)


def ppo_update(
    policy,
    value_model,
    optimizer,
    rollout: Rollout,
    config: PPOConfig,
    generator: torch.Generator | None = None,
    step: int = 0,
) -> dict:
    """5. ppo_epochs × num_minibatches gradient steps on one rollout batch. Returns statistics.

    loss = ppo_clip_loss(log_ratio, advantages, clip_eps) + vf_coef · value_loss(V, V_old, returns)

    Policy and value model are separate networks updated by one Adam over both; with Adam,
    vf_coef mostly sets how much of the shared gradient-norm budget the value loss may use.
    """
    B = len(rollout.batch)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    stats = {k: [] for k in ("pg_loss", "vf_loss", "approx_kl", "clipfrac", "value_clipfrac")}
    first_log_ratio = None
    for _epoch in range(config.ppo_epochs):
        order = torch.randperm(
            B, generator=generator, device=generator.device if generator else None
        )
        for start in range(0, B, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]  # (b,)
            mb = rollout.batch.select(idx)  # (b, L)
            mask = mb.response_mask.float()  # (b, T)
            logprobs = response_logprobs(policy, mb, config.temperature)  # (b, T) log π_θ
            log_ratio = (logprobs - rollout.logprobs[idx]) * mask  # (b, T) log π_θ - log π_old
            values = response_values(value_model, mb)  # (b, T) V_θ
            _check_finite(log_ratio, step, "log_ratio")
            _check_finite(values, step, "values")
            if first_log_ratio is None:  # the very first minibatch: π_θ == π_old, ratio == 1
                first_log_ratio = log_ratio.abs().max().item()
            pg_loss = ppo_clip_loss(log_ratio, rollout.advantages[idx], config.clip_eps, mask)
            vf_loss = value_loss(
                values, rollout.values[idx], rollout.returns[idx], config.vf_clip, mask
            )
            loss = pg_loss + config.vf_coef * vf_loss
            check_finite_loss(loss, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            check_finite_loss(grad_norm, step, "gradient norm")  # never step into nan weights
            optimizer.step()
            with torch.no_grad():  # cleanrl's debug variables
                ratio = log_ratio.exp()
                n = mask.sum()
                stats["pg_loss"].append(pg_loss.item())
                stats["vf_loss"].append(vf_loss.item())
                stats["approx_kl"].append(((kl_k3(log_ratio) * mask).sum() / n).item())
                stats["clipfrac"].append(
                    ((((ratio - 1).abs() > config.clip_eps).float() * mask).sum() / n).item()
                )
                moved = (values - rollout.values[idx]).abs() > config.vf_clip
                stats["value_clipfrac"].append(((moved.float() * mask).sum() / n).item())
    out = {k: sum(v) / len(v) for k, v in stats.items()}
    out["first_log_ratio"] = first_log_ratio  # must be ~0 (< 1e-5): see tests/test_ppo.py
    return out


# ── adaptive KL ──────────────────────────────────────────────────────────────────────────────
@dataclass
class AdaptiveKLController:
    """Ziegler et al. 2019, section 2.2: steer beta so the KL stays near a target.

        error = clip(KL / target - 1, -0.2, 0.2)
        beta ← beta · (1 + error · n_steps / horizon)

    Introduced in 05_when_rlhf_breaks. `n_steps` is the number of responses seen in the batch.
    Defaults as in Ziegler et al. (target 6 nats, horizon 10,000); the N implementation details
    list init 0.15.
    """

    beta: float
    target: float = 6.0
    horizon: int = 10_000

    def update(self, kl: float, n_steps: int) -> float:
        error = min(max(kl / self.target - 1, -0.2), 0.2)  # proportional error, clipped
        self.beta *= 1 + error * n_steps / self.horizon
        return self.beta


# ── one PPO step: 1 → 6 ─────────────────────────────────────────────────────────────────────
def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    return ((x * mask).sum() / mask.sum()).item()


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over real tokens: 1 = perfect, ≤ 0 = useless."""
    n = mask.sum()
    mean_r = (returns * mask).sum() / n
    var_r = (((returns - mean_r) ** 2) * mask).sum() / n
    diff = (returns - values) * mask
    var_d = (((diff - diff.sum() / n) ** 2) * mask).sum() / n
    return float("nan") if var_r.item() == 0 else (1 - var_d / var_r).item()


@torch.no_grad()
def exact_token_kl(policy, reference, batch: QueryBatch, temperature: float = 1.0) -> torch.Tensor:
    """KL(π(·|s_t) ‖ π_ref(·|s_t)) at every response position, summed over the vocabulary. (B, T).

    Introduced in 05_when_rlhf_breaks: the exact per-token KL that the sampled estimators
    k1, k2, k3 (losses.kl_k1/2/3) approximate from the one token that was sampled. Summed over a
    response it has the same expectation as the sequence KL (it is its Rao-Blackwellisation).
    """
    P = batch.prompt_len
    logp = F.log_softmax(
        forward_logits(policy, batch.input_ids, batch.attention_mask)[:, P - 1 : -1].float()
        / temperature,
        dim=-1,
    )  # (B, T, V)
    logq = F.log_softmax(
        forward_logits(reference, batch.input_ids, batch.attention_mask)[:, P - 1 : -1].float()
        / temperature,
        dim=-1,
    )  # (B, T, V)
    return (logp.exp() * (logp - logq)).sum(-1) * batch.response_mask  # (B, T)


def ppo_step(
    policy,
    reference,
    reward_model,
    value_model,
    optimizer,
    tokenizer,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    config: PPOConfig,
    beta: float,
    generator: torch.Generator | None = None,
    step: int = 0,
    gold_fn=None,
    reward_norm: tuple[float, float] = (0.0, 1.0),
) -> tuple[dict, Rollout]:
    """One PPO step on one batch of prompts (B, P): steps 1-6. Returns (metrics row, rollout).

    `gold_fn(texts) -> scores`: the true score of the responses, logged as "gold" (None = no gold).
    `reward_norm` = (mean, std) of the score on reference samples (`reward_normalization`).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    # 1. rollout
    batch = rollout(policy, prompt_ids, prompt_mask, tokenizer, config, generator)  # (B, L)
    t1 = time.perf_counter()
    # 2. score: logprobs of policy and reference, reward-model score, values
    ro = score(policy, reference, reward_model, value_model, batch, tokenizer, config, reward_norm)
    for name in ("logprobs", "ref_logprobs", "values", "scores"):
        _check_finite(getattr(ro, name), step, name)
    # 3. rewards: -beta·(logp − logp_ref) per token + score at the last token
    ro.rewards = kl_penalised_rewards(ro.scores, ro.logprobs, ro.ref_logprobs, ro.mask, beta)
    # 4. advantages with GAE, whitened
    compute_advantages(ro, config)
    t2 = time.perf_counter()
    # 5. PPO epochs × minibatches: clipped policy loss + clipped value loss, gradient clipping
    update = ppo_update(policy, value_model, optimizer, ro, config, generator, step)
    t3 = time.perf_counter()
    # 6. diagnostics
    mask = ro.mask
    texts = decode_responses(tokenizer, batch.response_ids, batch.response_mask)
    kl_per_response = ((ro.logprobs - ro.ref_logprobs) * mask).sum(1)  # (B,) k1, summed
    row = {
        "step": step,
        "reward": ro.scores.mean().item(),  # proxy: what PPO maximises (RM score, EOS penalty;
        # normalised when config.normalize_reward — the evaluations' "reward" stays raw)
        "gold": _mean(gold_fn(texts)) if gold_fn is not None else None,  # the hidden judge
        "kl": kl_per_response.mean().item(),  # nats per response, sequence KL to the reference
        "objective": (ro.scores - beta * kl_per_response).mean().item(),  # r - beta·KL
        "beta": beta,
        "lr": optimizer.param_groups[0]["lr"],
        "entropy": _masked_mean(ro.entropy, mask),  # nats per token
        "approx_kl": update["approx_kl"],  # per token, π_old → π_θ, mean over minibatches
        "clipfrac": update["clipfrac"],
        "value_clipfrac": update["value_clipfrac"],
        "explained_variance": explained_variance(ro.values, ro.returns, mask),
        "pg_loss": update["pg_loss"],
        "vf_loss": update["vf_loss"],
        "first_log_ratio": update["first_log_ratio"],
        "reward_std": ro.scores.std().item(),
        "eos_rate": ro.ended.float().mean().item(),
        "response_length": mask.sum(1).mean().item(),
        "rollout_seconds": t1 - t0,
        "score_seconds": t2 - t1,
        "update_seconds": t3 - t2,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time()
        - c0,  # this process's CPU time (steadier on a busy machine)
    }
    return row, ro


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


# ── the whole run ────────────────────────────────────────────────────────────────────────────
@dataclass(kw_only=True)
class PPOResult(TrainResult):
    """What `train_ppo` returns: the contract's TrainResult, the value model, the last samples."""

    value_model: torch.nn.Module | None = None  # the trained value model
    samples: list[str] = field(default_factory=list)  # the last rollout's responses
    rollout: Rollout | None = None  # the last rollout, steps 1-4 done (lesson 09 looks inside)
    reward_norm: tuple[float, float] = (0.0, 1.0)  # (mean, std) the score was normalised by


def _adam(params, config: PPOConfig) -> torch.optim.Optimizer:
    """Adam over policy and value model. The fused kernel (one call for all tensors) is several
    times faster than a loop over many small tensors; fall back where a device lacks it."""
    try:
        return torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps)


def _trim_left(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop columns that are padding in every row (prompts were padded to the longest of all)."""
    first = int((mask.sum(0) > 0).nonzero()[0])
    return ids[:, first:], mask[:, first:]


def train_ppo(
    config: PPOConfig | None,
    policy,
    reference,
    reward_model,
    tokenizer,
    prompts: list[str] | None = None,
    *,
    value_model=None,
    gold_fn=None,
    eval_prompts: list[str] | None = None,
    out_dir=None,
    resume: bool = False,
    doctor=None,
    callback=None,
    progress: bool = True,
) -> PPOResult:
    """Train `policy` with PPO against `reward_model`, kept near `reference` by the KL penalty.

    Introduced in 04_ppo_loop. The arguments mean what trainers/contract.py says. The policy
    and the value model are trained in place; the reference and the reward model are frozen.
    `reference=None` freezes a copy of the policy; `value_model=None` copies the reward model
    (see `value_model_from_reward_model`).

    Args:
        prompts: training prompts (texts); each step draws `batch_size` of them at random
            (None = the toy world's prompts_train).
        gold_fn: the true score of each response, logged as "gold" (None = no gold).
        eval_prompts: held-out prompts scored at step 0, every `config.eval_every` steps and
            at the end (None = none).
        doctor: a `Doctor`; None = a new one (printing when progress is on); False = no checks.
        callback: called as callback(row) after every step (e.g. a `plots.training.LivePlot`).
    Returns: PPOResult. A non-finite loss stops the run (result.stopped says why); the last
    good checkpoint in out_dir is kept.
    """
    config = config if config is not None else PPOConfig.toy()
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig, got {type(config).__name__}")
    if prompts is None:
        prompts = [r["prompt"] for r in load_records("prompts_train")]
    if not prompts:
        raise ValueError("prompts must be a non-empty list of prompt texts")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding checkpoint/)")
    g = set_seed(config.seed)
    device = _device(policy)
    if device.type != "cpu":
        g = torch.Generator(device=device).manual_seed(config.seed)
    prepare_policy(policy, reference)
    doctor = resolve_doctor(doctor, "ppo", progress)

    # The four models: policy (trained), reference (frozen), reward model (frozen), value model.
    _disable_dropout(policy)
    reference = freeze(reference if reference is not None else copy.deepcopy(policy))
    reward_model = freeze(reward_model)
    if value_model is None:
        value_model = value_model_from_reward_model(reward_model)
    _disable_dropout(value_model)
    policy.train()
    value_model.train()
    optimizer = _adam([*policy.parameters(), *value_model.parameters()], config)
    kl_ctl = AdaptiveKLController(config.beta, config.kl_target, config.kl_horizon)

    prompt_ids, prompt_mask = encode_prompts(tokenizer, list(prompts))  # (N, P) left-padded
    prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)

    start = 0
    if resume:
        start, extra = load_checkpoint(
            out_dir, {"policy": policy, "value_model": value_model}, {"optimizer": optimizer}, g
        )
        kl_ctl.beta = extra.get("beta", config.beta)
    reward_norm = (0.0, 1.0)
    if config.normalize_reward:  # once, on the frozen reference: a resume measures the same
        reward_norm = reward_normalization(
            reward_model, reference, tokenizer, prompt_ids, prompt_mask, config
        )
    log = MetricsWriter(out_dir, resume_step=start if resume else None)
    evaluations: list[dict] = []
    stopped, last_rollout, train_seconds = None, None, 0.0

    def evaluate(step):
        evaluations.append(_evaluate(policy, reference, reward_model, tokenizer, eval_prompts,
                                     config, step, gold_fn))  # fmt: skip

    def checkpoint(step):
        save_checkpoint(
            out_dir,
            step,
            {"policy": policy, "value_model": value_model},
            {"optimizer": optimizer},
            g,
            {"beta": kl_ctl.beta, "config": asdict(config)},
        )

    if eval_prompts and start == 0:
        evaluate(0)
    bar = progress_bar(range(start + 1, config.steps + 1), desc="PPO", disable=not progress)
    for step in bar:
        if config.anneal_lr:  # lr falls from config.lr at step 1 towards 0 after the last step
            for group in optimizer.param_groups:
                group["lr"] = config.lr * (1 - (step - 1) / config.steps)
        idx = torch.randint(len(prompts), (config.batch_size,), generator=g, device=g.device)
        ids, mask = _trim_left(prompt_ids[idx], prompt_mask[idx])  # (B, P)
        try:
            row, last_rollout = ppo_step(
                policy, reference, reward_model, value_model, optimizer, tokenizer,
                ids, mask, config, kl_ctl.beta, g, step, gold_fn, reward_norm,
            )  # fmt: skip
        except NonFiniteLoss as exc:
            stopped = stop_on_non_finite(exc, progress)
            if doctor is not None:
                doctor.check(step, {"loss": float("nan")})
            break
        train_seconds += row["seconds"]
        if config.adaptive_kl:
            kl_ctl.update(row["kl"], config.batch_size)
        due = (config.eval_every and step % config.eval_every == 0) or step == config.steps
        if eval_prompts and due:
            evaluate(step)
        log.write(row)
        if doctor is not None:
            doctor.check(step, row)
        if callback is not None:
            callback(row)
        bar.set_postfix(
            reward=f"{row['reward']:.2f}",
            kl=f"{row['kl']:.1f}",
            refresh=False,
        )
        if out_dir is not None and (
            (config.checkpoint_every and step % config.checkpoint_every == 0)
            or step == config.steps
        ):
            checkpoint(step)
    policy.eval()
    samples = []
    if last_rollout is not None:
        b = last_rollout.batch
        samples = decode_responses(tokenizer, b.response_ids, b.response_mask)
    return PPOResult(
        policy=policy, config=config, metrics=log.rows, evaluations=evaluations, doctor=doctor,
        stopped=stopped, train_seconds=train_seconds, value_model=value_model, samples=samples,
        reward_norm=reward_norm, rollout=last_rollout,
    )  # fmt: skip


def _evaluate(policy, reference, reward_model, tokenizer, prompts, config, step, gold_fn) -> dict:
    ev = evaluate_policy(
        policy, tokenizer, prompts, reward_model=reward_model, reference=reference,
        max_new_tokens=config.max_new_tokens, temperature=config.temperature,
        seed=config.seed + 1_000_003, missing_eos_penalty=config.missing_eos_penalty,
        gold_fn=gold_fn,
    )  # fmt: skip
    policy.train()
    return {"step": step, **{k: ev[k] for k in ("reward", "gold", "kl", "eos_rate")}}


# ── the command line: python -m rlhf_lessons ppo --steps N --out DIR (flags from PPOConfig) ──
CONFIG = PPOConfig


def run_cli(config: PPOConfig, *, out_dir, resume: bool) -> PPOResult:
    """`python -m rlhf_lessons ppo`: load (or train) the toy SFT policy and reward model, run PPO."""
    from ..models import save_model
    from ..toy import gold_scores
    from .toy_models import toy_reward_model, toy_sft_policy

    policy, tokenizer = toy_sft_policy(seed=config.seed)
    reference, _ = toy_sft_policy(seed=config.seed)
    reward_model = toy_reward_model(seed=config.seed)
    prompts = [r["prompt"] for r in load_records("prompts_train")]
    eval_prompts = [r["prompt"] for r in load_records("prompts_test")]
    before = _evaluate(policy, reference, reward_model, tokenizer, eval_prompts, config, 0,
                       gold_scores)  # fmt: skip
    result = train_ppo(
        config, policy, reference, reward_model, tokenizer, prompts, gold_fn=gold_scores,
        out_dir=out_dir, resume=resume,
    )  # fmt: skip
    if result.stopped:
        raise SystemExit(f"error: ppo stopped: {result.stopped}")
    after = _evaluate(result.policy, reference, reward_model, tokenizer, eval_prompts, config, 0,
                      gold_scores)  # fmt: skip
    save_model(result.policy, f"{out_dir}/policy", tokenizer)
    print(
        f"PPO done ({config.steps} steps). Held-out prompts, SFT → PPO: "
        f"gold {before['gold']:.2f} → {after['gold']:.2f}, proxy reward {before['reward']:.2f} → "
        f"{after['reward']:.2f}, KL {after['kl']:.2f} nats. Saved to {out_dir}/policy; "
        f"metrics in {out_dir}/metrics.jsonl"
    )
    if result.doctor is not None:
        print(result.doctor.summary())
    return result
