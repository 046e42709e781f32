"""Rollouts: sample responses with a KV cache, and score them token by token.

Introduced in 04_ppo_loop (used from 01_rlhf_pipeline on to show samples).

With a KV cache (`past_key_values`) each new token costs one forward pass over *one* token;
without it, every step re-reads the whole sequence. Position ids come from the attention mask,
so left padding does not shift positions — and the same positions are used when the
response is scored again for training (otherwise PPO's first ratio is not 1).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from .batching import QueryBatch, position_ids_from_mask
from .models import forward_logits


def _cache_name(model) -> str:
    """The KV-cache keyword: `past_key_values`, renamed `cache` in recent transformers 5.x."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


@torch.no_grad()
def generate(
    policy,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> QueryBatch:
    """Sample one response per prompt. prompt_ids/mask: (B, P), left-padded.

    Returns a QueryBatch: (B, P + T) with T <= max_new_tokens; after <eos> a row is padded.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    was_training = policy.training
    policy.eval()
    B, P = prompt_ids.shape
    ids, mask = prompt_ids, prompt_mask  # (B, L) growing by one column per step
    positions = position_ids_from_mask(mask)  # (B, L)
    finished = torch.zeros(B, dtype=torch.bool, device=ids.device)
    cache_name = _cache_name(policy)
    past = None  # the KV cache: keys and values of every layer for every token so far
    for _ in range(max_new_tokens):
        if use_cache and past is not None:  # feed only the newest token; the cache holds the rest
            out = policy(
                input_ids=ids[:, -1:],
                attention_mask=mask,
                position_ids=positions[:, -1:],
                use_cache=True,
                **{cache_name: past},
            )
        else:  # first step with a cache, or every step without one: the whole sequence
            out = policy(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=use_cache
            )
        past = getattr(out, cache_name) if use_cache else None
        logits = out.logits[:, -1].float() / temperature  # (B, V)
        next_token = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)
        next_token = torch.where(finished, torch.full_like(next_token, pad_token_id), next_token)
        ids = torch.cat([ids, next_token[:, None]], dim=1)
        mask = torch.cat([mask, (~finished).long()[:, None]], dim=1)
        positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
        finished |= next_token == eos_token_id
        if finished.all():
            break
    policy.train(was_training)
    return QueryBatch(ids, mask, P, mask[:, P:])


def response_logprobs(
    model, batch: QueryBatch, temperature: float = 1.0, with_entropy: bool = False
):
    """Per-token log-probabilities of the response tokens under `model`.

    Logits at column t predict token t+1, so the response's logprobs come from columns
    P-1 .. L-2. Logits are divided by the sampling temperature, as at rollout time.

    Returns logprobs (B, T), and entropy (B, T) of the full next-token distribution if asked.
    """
    logits = forward_logits(model, batch.input_ids, batch.attention_mask)  # (B, L, V)
    logits = logits[:, batch.prompt_len - 1 : -1].float() / temperature  # (B, T, V)
    logp_all = F.log_softmax(logits, dim=-1)  # (B, T, V)
    logprobs = logp_all.gather(-1, batch.response_ids[..., None]).squeeze(-1)  # (B, T)
    logprobs = logprobs * batch.response_mask  # padding contributes 0
    if not with_entropy:
        return logprobs
    entropy = -(logp_all.exp() * logp_all).sum(-1)  # (B, T)
    return logprobs, entropy


def sequence_logprobs(model, batch: QueryBatch, temperature: float = 1.0) -> torch.Tensor:
    """Summed logprob of each response: log π(y|x) = Σ_t log π(y_t|x, y_<t). (B,)."""
    return response_logprobs(model, batch, temperature).sum(-1)
