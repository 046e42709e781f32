"""Score a policy the way every lesson does: sample, then ask the gold judge and the reward model.

Introduced in 01_rlhf_pipeline (gold of samples), extended in 02 (proxy) and 04 (KL).

- gold: the hidden judge's mean score (the truth the course measures everything by)
- reward: the proxy — the reward model's score, minus `missing_eos_penalty` for a response
  that never ended (the same reward PPO, GRPO and best-of-N maximise: `task_reward`)
- kl: mean over responses of Σ_t (log π(y_t) - log π_ref(y_t)), the sequence KL estimated
  from samples (k1: unbiased)
"""

from __future__ import annotations

import torch

from .batching import QueryBatch, decode_responses, encode_prompts
from .models import reward_scores
from .rollout import generate, response_logprobs
from .toy.judge import gold_score

MISSING_EOS_PENALTY = (
    1.0  # subtracted from the RM score of a response without <eos> (Huang et al. 2023)
)


def ended_with_eos(batch: QueryBatch, eos_token_id: int) -> torch.Tensor:
    """Whether each response contains <eos>: (B,) bool."""
    return ((batch.response_ids == eos_token_id) & batch.response_mask.bool()).any(-1)


@torch.no_grad()
def task_reward(
    reward_model, batch: QueryBatch, eos_token_id: int, missing_eos_penalty=MISSING_EOS_PENALTY
):
    """r(x, y): reward-model score at the last token, minus a penalty if y has no <eos>. (B,)."""
    scores = reward_scores(reward_model, batch.input_ids, batch.attention_mask)  # (B,)
    if missing_eos_penalty:
        scores = scores - missing_eos_penalty * (~ended_with_eos(batch, eos_token_id)).float()
    return scores


@torch.no_grad()
def evaluate_policy(
    policy,
    tokenizer,
    prompts: list[str],
    *,
    reward_model=None,
    reference=None,
    samples_per_prompt: int = 1,
    max_new_tokens: int = 14,
    temperature: float = 1.0,
    seed: int = 0,
    missing_eos_penalty: float = MISSING_EOS_PENALTY,
    gold_fn=gold_score,
) -> dict:
    """Sample from `policy` on `prompts` and report gold, proxy reward, KL, EOS rate, samples.

    `gold_fn(texts) -> scores` is the true score (default: the toy world's judge, one text at a
    time); None = no gold ("gold" and "gold_scores" are None). Trainers pass their `gold_fn`.
    """
    prompts = [p for p in prompts for _ in range(samples_per_prompt)]
    device = next(policy.parameters()).device
    prompt_ids, prompt_mask = (t.to(device) for t in encode_prompts(tokenizer, prompts))
    g = torch.Generator(device=device).manual_seed(seed)
    batch = generate(
        policy, prompt_ids, prompt_mask, max_new_tokens=max_new_tokens,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        temperature=temperature, generator=g,
    )  # fmt: skip
    texts = decode_responses(tokenizer, batch.response_ids, batch.response_mask)
    if gold_fn is gold_score:
        gold = torch.tensor([gold_score(t) for t in texts])  # the toy world's judge (CPU, on text)
    elif gold_fn is not None:
        gold = torch.as_tensor(list(gold_fn(texts)), dtype=torch.float32)  # (B,)
    else:
        gold = None
    result = {
        "gold": gold.mean().item() if gold is not None else None,
        "eos_rate": ended_with_eos(batch, tokenizer.eos_token_id).float().mean().item(),
        "reward": None,
        "kl": None,
        "samples": texts,
        "prompts": prompts,
        "batch": batch,
        "gold_scores": gold,
    }
    if reward_model is not None:
        r = task_reward(reward_model, batch, tokenizer.eos_token_id, missing_eos_penalty)
        result["reward"], result["rewards"] = r.mean().item(), r
    if reference is not None:
        logp = response_logprobs(policy, batch, temperature)
        ref_logp = response_logprobs(reference, batch, temperature)
        result["kl"] = ((logp - ref_logp) * batch.response_mask).sum(-1).mean().item()
    return result
