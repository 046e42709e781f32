"""The best any RLHF method can do: a Monte-Carlo estimate of the KL-regularised optimum.

Introduced in 04_ppo_loop (the ceiling PPO is measured against) and used again in
05_when_rlhf_breaks and 06_dpo_and_grpo. RLHF maximises, for each prompt x,

    J(π) = E_{y~π}[ r(x, y) ] - beta · KL( π(·|x) ‖ π_ref(·|x) )

whose maximiser is known in closed form (Ziegler et al. 2019; Rafailov et al. 2023, eq. 4):

    π*(y|x) = π_ref(y|x) · exp(r(x, y) / beta) / Z(x),    Z(x) = E_{y~π_ref}[ exp(r/beta) ]
    J*      = E_x[ beta · log Z(x) ]

In the toy world Z(x) is estimated from n samples of the reference per prompt,
beta·log mean_i exp(r_i/beta). Everything else about π* follows by self-normalised importance
weights w_i ∝ exp(r_i/beta) on the same samples: its gold score Σ w_i·gold_i, its reward and
its KL = E_{π*}[r]/beta - log Z. The estimate of log Z is biased low (Jensen) when few samples
carry the weight: the effective sample size (Σw)²/Σw² says how many do. At small beta the
weights pile onto a handful of samples and J* is only a lower bound. `sample_mixture` fixes
most of that by also sampling from a policy near π* (a PPO policy trained at that beta) and
reweighting both halves for the mixture ½π_ref + ½π_PPO: a consistent estimate of the same J*
with far more effective samples (benchmarks/ppo_vs_trl.py reports both).

r is exactly the reward PPO maximises: the reward-model score minus `missing_eos_penalty`
for a response without <eos> (evaluate.task_reward), with the same max_new_tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .batching import decode_responses, encode_prompts
from .evaluate import MISSING_EOS_PENALTY, task_reward
from .rollout import generate, sequence_logprobs
from .toy.judge import gold_score

__all__ = [
    "ReferenceSamples",
    "OptimumEstimate",
    "sample_reference",
    "sample_mixture",
    "optimum_from_samples",
    "estimate_optimum",
    "policy_objective",
    "gap_closed",
]


@dataclass
class ReferenceSamples:
    """n samples for each of N prompts, scored. Shapes (N, n).

    Drawn from the reference (log_ratio None), or from another proposal distribution m, with
    log_ratio = log π_ref(y|x) - log m(y|x) so that every expectation under π_ref (and π*) can
    be reweighted (`sample_mixture`).
    """

    prompts: list[str]
    rewards: torch.Tensor  # (N, n) r(x, y) = RM score - penalty without <eos>
    gold: torch.Tensor  # (N, n) the hidden judge's score of each sample
    texts: list[list[str]] | None = None  # (N, n) response texts, if kept
    log_ratio: torch.Tensor | None = None  # (N, n) log π_ref - log m; None: m = π_ref


@dataclass
class OptimumEstimate:
    """J*(beta) and what the optimal policy π* ∝ π_ref·exp(r/beta) would achieve."""

    beta: float
    j_star: float  # E_x[beta·log mean exp(r/beta)]: the best achievable objective
    j_ref: float  # the reference's own objective: E[r] (its KL to itself is 0)
    reward: float  # E_{π*}[r]: the proxy reward of the optimal policy
    kl: float  # KL(π*‖π_ref) in nats per response
    gold: float  # E_{π*}[gold]: the hidden judge's score of the optimal policy
    ess_mean: float  # effective sample size (Σw)²/Σw², mean over prompts (of n samples)
    ess_min: float  # ... its smallest value over prompts
    n_prompts: int
    n_samples: int  # reference samples per prompt

    def __str__(self) -> str:
        return (
            f"beta {self.beta:g}: J* {self.j_star:.3f} (J_ref {self.j_ref:.3f}), optimal policy: "
            f"reward {self.reward:.3f}, KL {self.kl:.2f}, gold {self.gold:.3f}; "
            f"ESS {self.ess_mean:.0f} (min {self.ess_min:.0f}) of {self.n_samples}"
        )


def _prepare(model, prompts: list[str], n_samples: int, seed: int):
    """Check the arguments; the sampling generator and every prompt repeated n_samples times
    (prompt i's samples contiguous)."""
    if not prompts:
        raise ValueError("prompts must be a non-empty list of prompt texts")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    return g, [p for p in prompts for _ in range(n_samples)]


def _sample_in_chunks(model, tokenizer, flat, chunk, g, max_new_tokens, temperature):
    """Yield (batch, response texts) for `chunk` prompts of `flat` at a time."""
    device = g.device
    for start in range(0, len(flat), chunk):
        ids, mask = encode_prompts(tokenizer, flat[start : start + chunk])  # (c, P)
        batch = generate(
            model, ids.to(device), mask.to(device), max_new_tokens=max_new_tokens,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            temperature=temperature, generator=g,
        )  # fmt: skip
        yield batch, decode_responses(tokenizer, batch.response_ids, batch.response_mask)


@torch.no_grad()
def sample_reference(
    reference,
    reward_model,
    tokenizer,
    prompts: list[str],
    n_samples: int = 1024,
    *,
    max_new_tokens: int = 14,
    temperature: float = 1.0,
    missing_eos_penalty: float = MISSING_EOS_PENALTY,
    seed: int = 0,
    chunk: int = 2048,
    keep_texts: bool = False,
) -> ReferenceSamples:
    """Draw `n_samples` responses per prompt from the reference; score them with r and gold."""
    g, flat = _prepare(reference, prompts, n_samples, seed)
    rewards, gold, texts = [], [], []
    for batch, chunk_texts in _sample_in_chunks(
        reference, tokenizer, flat, chunk, g, max_new_tokens, temperature
    ):
        rewards.append(
            task_reward(reward_model, batch, tokenizer.eos_token_id, missing_eos_penalty)
        )
        gold.append(torch.tensor([gold_score(t) for t in chunk_texts]))
        if keep_texts:
            texts += chunk_texts
    shape = (len(prompts), n_samples)
    return ReferenceSamples(
        list(prompts),
        torch.cat([r.cpu() for r in rewards]).view(shape).double(),
        torch.cat(gold).view(shape).double(),
        [texts[i : i + n_samples] for i in range(0, len(texts), n_samples)] if keep_texts else None,
    )


@torch.no_grad()
def sample_mixture(
    reference,
    proposal,
    reward_model,
    tokenizer,
    prompts: list[str],
    n_samples: int = 1024,
    *,
    max_new_tokens: int = 14,
    temperature: float = 1.0,
    missing_eos_penalty: float = MISSING_EOS_PENALTY,
    seed: int = 0,
    chunk: int = 2048,
) -> ReferenceSamples:
    """n_samples from the reference *and* n_samples from `proposal` (e.g. a trained policy) per
    prompt, weighted for the mixture m = ½π_ref + ½π_proposal. (N, 2n).

    At small beta π* sits where the reference rarely samples, so reweighting reference samples
    alone leaves few effective samples and estimates J* too low. A proposal near π* (a policy
    trained at that beta) puts samples there; keeping the reference in the mixture keeps every
    response the reference can write covered. Any proposal gives a consistent estimate.
    """
    g, flat = _prepare(reference, prompts, n_samples, seed)
    parts = []  # per sampler: rewards, gold, log_ratio, each (N, n)
    for sampler in (reference, proposal):
        rewards, gold, log_ratio = [], [], []
        for batch, texts in _sample_in_chunks(
            sampler, tokenizer, flat, chunk, g, max_new_tokens, temperature
        ):
            rewards.append(
                task_reward(reward_model, batch, tokenizer.eos_token_id, missing_eos_penalty)
            )
            gold.append(torch.tensor([gold_score(t) for t in texts]))
            logp_ref = sequence_logprobs(reference, batch, temperature)  # (c,)
            logp_q = sequence_logprobs(proposal, batch, temperature)  # (c,)
            log_m = torch.logaddexp(logp_ref, logp_q) - math.log(2)  # (c,) log ½(π_ref + π_q)
            log_ratio.append(logp_ref - log_m)
        shape = (len(prompts), n_samples)
        parts.append(
            [
                torch.cat([t.cpu() for t in x]).view(shape).double()
                for x in (rewards, gold, log_ratio)
            ]
        )
    r, gold, log_ratio = (torch.cat([a, b], dim=1) for a, b in zip(*parts))
    return ReferenceSamples(list(prompts), r, gold, None, log_ratio)


def optimum_from_samples(samples: ReferenceSamples, beta: float) -> OptimumEstimate:
    """J*(beta), and π*'s reward, KL and gold, by reweighting the reference samples."""
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not beta > 0:
        raise ValueError(f"beta must be a number > 0 (J* at beta = 0 is max r), got {beta!r}")
    r, gold = samples.rewards, samples.gold  # (N, n)
    n = r.shape[1]
    log_ratio = samples.log_ratio if samples.log_ratio is not None else torch.zeros_like(r)
    logits = r / beta + log_ratio  # (N, n) log of the unnormalised weights π_ref·exp(r/beta)/m
    log_z = torch.logsumexp(logits, dim=1) - math.log(n)  # (N,) log mean: log E_ref exp(r/beta)
    w = torch.softmax(logits, dim=1)  # (N, n) self-normalised weights of π*
    w_ref = torch.softmax(log_ratio, dim=1)  # (N, n) weights of π_ref itself (1/n from π_ref)
    reward_star = (w * r).sum(1)  # (N,) E_{π*}[r]
    kl_star = reward_star / beta - log_z  # (N,) KL(π*‖π_ref) = E_{π*}[r]/beta - log Z
    ess = 1.0 / (w**2).sum(1)  # (N,) (Σw)²/Σw² with Σw = 1
    return OptimumEstimate(
        beta=float(beta),
        j_star=(beta * log_z).mean().item(),
        j_ref=(w_ref * r).sum(1).mean().item(),
        reward=reward_star.mean().item(),
        kl=kl_star.mean().item(),
        gold=(w * gold).sum(1).mean().item(),
        ess_mean=ess.mean().item(),
        ess_min=ess.min().item(),
        n_prompts=r.shape[0],
        n_samples=n,
    )


def estimate_optimum(
    reference,
    reward_model,
    tokenizer,
    prompts: list[str],
    betas=(0.1,),
    n_samples: int = 1024,
    **sample_kwargs,
) -> dict[float, OptimumEstimate]:
    """Sample the reference once, then J*(beta) for every beta: {beta: OptimumEstimate}."""
    samples = sample_reference(
        reference, reward_model, tokenizer, prompts, n_samples, **sample_kwargs
    )
    return {beta: optimum_from_samples(samples, beta) for beta in betas}


@torch.no_grad()
def policy_objective(
    policy,
    reference,
    reward_model,
    tokenizer,
    prompts: list[str],
    beta: float,
    n_samples: int = 16,
    *,
    max_new_tokens: int = 14,
    temperature: float = 1.0,
    missing_eos_penalty: float = MISSING_EOS_PENALTY,
    seed: int = 0,
) -> dict:
    """J(π) = E_x[ E_y~π[r] - beta·KL(π‖π_ref) ] from n_samples responses of π per prompt.

    The KL is estimated per response by log π(y|x) - log π_ref(y|x) (k1, summed over tokens:
    unbiased). Returns {"objective", "reward", "kl", "gold", "eos_rate"}.
    """
    device = next(policy.parameters()).device
    flat = [p for p in prompts for _ in range(n_samples)]
    ids, mask = encode_prompts(tokenizer, flat)
    ids, mask = ids.to(device), mask.to(device)
    g = torch.Generator(device=device).manual_seed(seed)
    batch = generate(
        policy, ids, mask, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, temperature=temperature, generator=g,
    )  # fmt: skip
    r = task_reward(reward_model, batch, tokenizer.eos_token_id, missing_eos_penalty)  # (B,)
    kl = sequence_logprobs(policy, batch, temperature) - sequence_logprobs(
        reference, batch, temperature
    )  # (B,) log π(y|x) - log π_ref(y|x)
    texts = decode_responses(tokenizer, batch.response_ids, batch.response_mask)
    ended = ((batch.response_ids == tokenizer.eos_token_id) & batch.response_mask.bool()).any(-1)
    return {
        "objective": (r - beta * kl).mean().item(),
        "reward": r.mean().item(),
        "kl": kl.mean().item(),
        "gold": sum(gold_score(t) for t in texts) / len(texts),
        "eos_rate": ended.float().mean().item(),
    }


def gap_closed(j_policy: float, j_ref: float, j_star: float) -> float:
    """(J_policy - J_ref) / (J* - J_ref): 0 = no better than the reference, 1 = optimal."""
    if not j_star > j_ref:
        raise ValueError(f"J* ({j_star}) must exceed J_ref ({j_ref}) for a gap to close")
    return (j_policy - j_ref) / (j_star - j_ref)
