"""Turn text into the padded tensors every stage uses.

Introduced in 01_rlhf_pipeline. One layout everywhere (as in TRL and OpenRLHF):

    query = [ left-padded prompt | right-padded response ]     # (B, P + T)
             <pad> <pad> <bos> review : the plot | was great <eos> <pad>

Prompts are left-padded so every response starts at the same column P; responses are
right-padded after their <eos>. `attention_mask` marks real tokens, `response_mask` marks the
response's real tokens (the ones that get rewards, advantages and losses).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class QueryBatch:
    """A batch of prompt + response token ids in the course's single layout."""

    input_ids: torch.Tensor  # (B, P + T) prompt left-padded, response right-padded
    attention_mask: torch.Tensor  # (B, P + T) 1 = real token
    prompt_len: int  # P: the response starts at this column
    response_mask: torch.Tensor  # (B, T) 1 = real response token (up to and including <eos>)

    @property
    def response_ids(self) -> torch.Tensor:  # (B, T)
        return self.input_ids[:, self.prompt_len :]

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def select(self, idx) -> QueryBatch:
        """The rows `idx` (a minibatch)."""
        return QueryBatch(
            self.input_ids[idx], self.attention_mask[idx], self.prompt_len, self.response_mask[idx]
        )

    def chunks(self, rows: int) -> list[QueryBatch]:
        """Consecutive pieces of at most `rows` rows (one forward pass each: bounded memory)."""
        return [self.select(slice(i, i + rows)) for i in range(0, len(self), rows)]


def pad(seqs: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad lists of ids to one length on `side` ('left' or 'right'); returns (ids, mask)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        if side == "left":
            ids[i, length - len(s) :], mask[i, length - len(s) :] = torch.tensor(s), 1
        else:
            ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    return ids, mask


def encode_prompts(tokenizer, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and mask, (B, P). The tokenizer adds <bos> (or a chat template did)."""
    seqs = [tokenizer(p)["input_ids"] for p in prompts]
    return pad(seqs, tokenizer.pad_token_id, "left")


def encode_queries(tokenizer, prompts: list[str], responses: list[str]) -> QueryBatch:
    """Prompt + response texts as a QueryBatch. Responses carry their own <eos> (or not)."""
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts ({len(prompts)}) and responses ({len(responses)}) differ in length"
        )
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts)
    resp = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    response_ids, response_mask = pad(resp, tokenizer.pad_token_id, "right")
    return QueryBatch(
        input_ids=torch.cat([prompt_ids, response_ids], dim=1),
        attention_mask=torch.cat([prompt_mask, response_mask], dim=1),
        prompt_len=prompt_ids.shape[1],
        response_mask=response_mask,
    )


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding: the first real token is position 0. (B, L) -> (B, L)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def decode_responses(
    tokenizer, response_ids: torch.Tensor, response_mask: torch.Tensor
) -> list[str]:
    """Response texts, one per row, special tokens kept (so a finished response ends in '<eos>')."""
    texts = []
    for ids, mask in zip(response_ids.tolist(), response_mask.tolist()):
        real = [i for i, m in zip(ids, mask) if m]
        texts.append(" ".join(tokenizer.convert_ids_to_tokens(real)))
    return texts
