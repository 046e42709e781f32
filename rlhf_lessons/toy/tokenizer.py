"""A word-level tokenizer for the toy world, wrapped as a Hugging Face tokenizer.

Introduced in 01_rlhf_pipeline. Built with `tokenizers` (WordLevel model, whitespace
pre-tokenizer) and wrapped in `PreTrainedTokenizerFast`, so every later piece of code
calls it exactly as it would call a real model's tokenizer.

Prompts get `<bos>` prepended by the tokenizer (`tokenizer("review : the plot")`); responses
are encoded with `add_special_tokens=False` and carry their own `<eos>` when they ended.
`<pad>` is distinct from `<eos>` (Huang et al. 2023: padding with EOS hides where a response
ended from the reward model).
"""

from __future__ import annotations

from functools import lru_cache

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from .vocab import BOS, EOS, PAD, WORDS


@lru_cache(maxsize=1)
def build_tokenizer() -> PreTrainedTokenizerFast:
    """The toy tokenizer: one id per word of `vocab.WORDS` (id 0 = <pad>, 1 = <bos>, 2 = <eos>)."""
    vocab = {word: i for i, word in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, bos_token=BOS, eos_token=EOS, padding_side="left"
    )
    tok.model_input_names = ["input_ids", "attention_mask"]
    return tok


def unknown_words(text: str) -> list[str]:
    """Words of `text` that are not in the toy vocabulary (empty list if all are known)."""
    known = set(WORDS)
    return [w for w in text.split() if w not in known]
