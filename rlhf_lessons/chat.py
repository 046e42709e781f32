"""Chat templates and reward-model inputs: conversations as the text a real model reads.

Introduced in 08_full_scale_gpu. Split out of hf.py so that smoke.py (which builds the tiny
local models hf.py loads) can format conversations without importing hf.py: the layers stay
one-way (chat <- smoke <- hf).
"""

from __future__ import annotations

import contextlib
import warnings

from . import presets as presets_module

__all__ = [
    "MissingChatTemplate", "PLAIN_TEMPLATE", "require_chat_template", "format_prompt",
    "reward_inputs",
]  # fmt: skip


class MissingChatTemplate(ValueError):
    """A tokenizer without a chat template was asked to format a conversation."""


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load-time chatter (it prints local paths, e.g. fresh heads)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


# ── chat templates and reward-model inputs ─────────────────────────────────────────────────

PLAIN_TEMPLATE = "plain"  # the fallback format: "User: ...\nAssistant:"


def _name(tokenizer_or_id) -> str:
    """A model's name for messages: its hub id, or <cache>/... for a local smoke folder."""
    name = tokenizer_or_id
    if not isinstance(name, str):
        name = getattr(tokenizer_or_id, "name_or_path", "") or "this model"
    return presets_module._show(name)


def require_chat_template(tokenizer, model_id: str | None = None) -> None:
    if getattr(tokenizer, "chat_template", None) is None:
        model_id = _name(model_id or tokenizer)
        raise MissingChatTemplate(
            f"the tokenizer of {model_id!r} has no chat template, so a conversation cannot be "
            "turned into the text the model was tuned on. Use an instruct/chat checkpoint "
            "(e.g. Qwen/Qwen2.5-0.5B-Instruct), set tokenizer.chat_template yourself, or pass "
            f"fallback={PLAIN_TEMPLATE!r} to format_prompt for a plain 'User: ... Assistant:' "
            "format (a base model has never seen it, so expect weaker answers)."
        )


def format_prompt(tokenizer, messages: list[dict], *, fallback: str | None = None) -> str:
    """A conversation as the prompt text the policy continues (chat template + 'assistant')."""
    if getattr(tokenizer, "chat_template", None) is None:
        if fallback != PLAIN_TEMPLATE:
            require_chat_template(tokenizer)
        turns = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages)
        return turns + "Assistant:"
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def reward_inputs(tokenizer, conversations: list[list[dict]], input_format: str,
                  max_length: int | None = None) -> dict:  # fmt: skip
    """Tokenize full conversations (…, assistant answer) for a reward model. Right-padded.

    input_format "chat": the reward model's own chat template (Skywork-style reward models);
    "pair": tokenizer(prompt, answer) as a text pair (OpenAssistant's DeBERTa reward models,
    which have no chat template).
    """
    if input_format == "chat":
        require_chat_template(tokenizer)
        texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
        args, kw = (texts,), {"add_special_tokens": False}
    elif input_format == "pair":
        prompts = ["\n".join(m["content"] for m in c[:-1]) for c in conversations]
        args, kw = (prompts, [c[-1]["content"] for c in conversations]), {}
    else:
        raise ValueError(f"input_format must be 'chat' or 'pair', got {input_format!r}")
    limit = getattr(tokenizer, "model_max_length", None) or 0
    if max_length is not None and 0 < limit < 1_000_000:  # (unset limits are huge sentinels)
        max_length = min(max_length, limit)
    side, trunc = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "left"  # cut the start, never the answer's end (the score)
    try:
        enc = tokenizer(*args, padding=True, truncation=max_length is not None,
                        max_length=max_length, return_tensors="pt", **kw)  # fmt: skip
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = side, trunc
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
