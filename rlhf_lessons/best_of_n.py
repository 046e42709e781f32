"""Best-of-N sampling: the baseline that needs no training at all.

Introduced in 06_dpo_and_grpo. For each prompt, sample n responses from the *reference*
(the SFT policy), score them with the reward model, keep the best one. Stiennon et al. 2020
and Gao et al. 2022 use it as the yardstick for RL: it optimises the same proxy reward, its
distance from the reference is known in closed form,

    KL(π_BoN ‖ π_ref) = log n - (n - 1)/n            (Gao et al. 2022, Section 2)

and its cost is paid at *inference*: n samples and n reward-model calls for every answer.
(The formula assumes the n samples are distinct; when the reference repeats a response, the
true KL is smaller, so the formula is an upper bound.)

The proxy reward is the one PPO and GRPO maximise (`evaluate.task_reward`: reward-model score
minus the missing-<eos> penalty); the gold judge scores the chosen response.
"""

from __future__ import annotations

import math
import time

import torch

from .batching import decode_responses, encode_prompts
from .evaluate import MISSING_EOS_PENALTY, ended_with_eos, task_reward
from .rollout import generate
from .toy.judge import gold_score

__all__ = ["best_of_n_kl", "best_of_n", "best_of_n_curve"]


def best_of_n_kl(n: int) -> float:
    """KL(π_BoN ‖ π_ref) = log n - (n-1)/n nats, for n >= 1 (0 at n = 1)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    return math.log(n) - (n - 1) / n


@torch.no_grad()
def _sample_and_score(
    reference, reward_model, tokenizer, prompts, n, max_new_tokens, temperature, seed, penalty
):
    """n samples per prompt from the reference: (P, n) proxy rewards, gold scores, texts, eos."""
    if not prompts:
        raise ValueError("prompts is empty: expected a list of prompt strings")
    expanded = [p for p in prompts for _ in range(n)]  # each prompt n times, side by side
    prompt_ids, prompt_mask = encode_prompts(tokenizer, expanded)
    batch = generate(
        reference,
        prompt_ids,
        prompt_mask,
        max_new_tokens=max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        temperature=temperature,
        generator=torch.Generator().manual_seed(seed),
    )  # (P·n, L)
    rewards = task_reward(reward_model, batch, tokenizer.eos_token_id, penalty)  # (P·n,)
    texts = decode_responses(tokenizer, batch.response_ids, batch.response_mask)
    gold = torch.tensor([gold_score(t) for t in texts])  # (P·n,)
    eos = ended_with_eos(batch, tokenizer.eos_token_id).float()  # (P·n,)
    P = len(prompts)
    return rewards.view(P, n), gold.view(P, n), texts, eos.view(P, n)


def _select(rewards, gold, eos, texts, n):
    """Best of the first n samples of each prompt, by proxy reward. Returns the summary dict."""
    best = rewards[:, :n].argmax(dim=1)  # (P,) index of the best of n
    rows = torch.arange(rewards.shape[0])
    N = rewards.shape[1]
    return {
        "n": n,
        "reward": rewards[rows, best].mean().item(),  # proxy of the chosen responses
        "gold": gold[rows, best].mean().item(),  # gold of the chosen responses
        "kl": best_of_n_kl(n),  # analytic, nats per response
        "eos_rate": eos[rows, best].mean().item(),
        "samples": [texts[i * N + j] for i, j in enumerate(best.tolist())],
    }


def best_of_n(
    reference,
    reward_model,
    tokenizer,
    prompts: list[str],
    n: int,
    *,
    max_new_tokens: int = 14,
    temperature: float = 1.0,
    seed: int = 0,
    missing_eos_penalty: float = MISSING_EOS_PENALTY,
) -> dict:
    """Best-of-n from the reference on `prompts`: gold, reward (proxy), kl, eos_rate, samples.

    `seconds` is the wall time of sampling and scoring all n·len(prompts) responses: the
    inference cost that replaces training.
    """
    best_of_n_kl(n)  # validates n
    t0 = time.perf_counter()
    rewards, gold, texts, eos = _sample_and_score(
        reference, reward_model, tokenizer, prompts, n, max_new_tokens, temperature, seed,
        missing_eos_penalty,
    )  # fmt: skip
    result = _select(rewards, gold, eos, texts, n)
    result["seconds"] = time.perf_counter() - t0
    return result


def best_of_n_curve(
    reference,
    reward_model,
    tokenizer,
    prompts: list[str],
    ns=(1, 2, 4, 8, 16, 32),
    *,
    max_new_tokens: int = 14,
    temperature: float = 1.0,
    seed: int = 0,
    missing_eos_penalty: float = MISSING_EOS_PENALTY,
) -> list[dict]:
    """Best-of-n for several n from one set of max(ns) samples per prompt (the first n of them).

    One dict per n, as `best_of_n` returns (without `seconds`): a frontier in one sampling pass.
    """
    ns = sorted(set(ns))
    for n in ns:
        best_of_n_kl(n)
    rewards, gold, texts, eos = _sample_and_score(
        reference, reward_model, tokenizer, prompts, ns[-1], max_new_tokens, temperature, seed,
        missing_eos_penalty,
    )  # fmt: skip
    return [_select(rewards, gold, eos, texts, n) for n in ns]
