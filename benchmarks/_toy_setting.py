"""The reference setting shared by the TRL step-time benchmarks (tiny GPT-2, word-level vocab).

GPT2Config(n_layer=2, n_head=2, n_embd=64); prompts of 8 tokens; responses of 16 tokens.
The tokenizer is the course's toy tokenizer (`rlhf_lessons.toy.build_tokenizer`) when this
checkout's package imports; otherwise a ~100-word WordLevel tokenizer built here, so the
benchmark also runs from an environment without the course installed.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

PROMPT_TOKENS = 8
RESPONSE_TOKENS = 16
N_PROMPTS = 64

_FALLBACK_WORDS = (
    "good great fine nice superb fun clever lovely bright warm bad dull slow weak poor "
    "flat bland cheap silly messy long short loud quiet dark odd plain calm cold hot plot "
    "cast script music ending story film pace scenes camera humor actors visuals sound "
    "tone score set the and but was is very quite its a too so really also overall felt "
    "it this that with of in on at for not just more most less some all one two then "
    "when while as by from an my our their his her"
).split()


def build_tokenizer():
    """The course's toy tokenizer if importable, else an equivalent WordLevel one (~100 words)."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        from rlhf_lessons.toy import build_tokenizer as toy_tokenizer

        return toy_tokenizer(), "rlhf_lessons.toy"
    except Exception:  # an older checkout, or a missing dependency: build our own
        pass
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<bos>", "<eos>", "review", ":"] + _FALLBACK_WORDS
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        padding_side="left",
    )
    tok.model_input_names = ["input_ids", "attention_mask"]
    return tok, "benchmarks/_toy_setting.py (WordLevel fallback)"


def content_words(tokenizer) -> list[str]:
    """Vocabulary words that are not special tokens or the prompt prefix."""
    special = set(tokenizer.all_special_tokens) | {"review", ":"}
    return sorted(w for w in tokenizer.get_vocab() if w not in special)


def prompts(tokenizer, n: int = N_PROMPTS, seed: int = 0) -> list[str]:
    """`n` prompts of exactly PROMPT_TOKENS tokens: '<bos> review :' + 5 random words."""
    rng = random.Random(seed)
    words = content_words(tokenizer)
    texts = ["review : " + " ".join(rng.choices(words, k=PROMPT_TOKENS - 3)) for _ in range(n)]
    for text in texts:
        assert len(tokenizer(text)["input_ids"]) == PROMPT_TOKENS, text
    return texts


def responses(tokenizer, n: int, seed: int) -> list[str]:
    """`n` responses of RESPONSE_TOKENS tokens: random words, the last one <eos>.

    Each starts with a space: TRL joins prompt and response as strings (prompt + chosen).
    """
    rng = random.Random(seed)
    words = content_words(tokenizer)
    return [
        " " + " ".join(rng.choices(words, k=RESPONSE_TOKENS - 1)) + " " + tokenizer.eos_token
        for _ in range(n)
    ]


def gpt2_config(tokenizer, **overrides):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_layer=2,
        n_head=2,
        n_embd=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **overrides,
    )


def versions() -> dict:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for pkg in ("trl", "transformers", "torch", "accelerate", "datasets"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


class StepTimer:
    """Wall-clock and CPU seconds of each trainer step, from a transformers TrainerCallback.

    CPU seconds (this process, all threads) change far less than wall-clock seconds when other
    processes share the cores, so both are reported, with the load average before and after.
    """

    def __init__(self):
        self.marks: list[tuple[float, float]] = []
        self.load_before = os.getloadavg()[0]

    def _mark(self, *args, **kwargs):
        self.marks.append((time.perf_counter(), time.process_time()))

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, *args, **kwargs):
                timer._mark()

            def on_step_end(self, *args, **kwargs):
                timer._mark()

        return _Callback()

    def summary(self, total_steps: int, warmup: int) -> dict:
        wall = [b[0] - a[0] for a, b in zip(self.marks, self.marks[1:])]
        cpu = [b[1] - a[1] for a, b in zip(self.marks, self.marks[1:])]
        if len(wall) != total_steps:
            raise RuntimeError(f"expected {total_steps} trainer steps, timed {len(wall)}")
        wall, cpu = wall[warmup:], cpu[warmup:]
        return {
            "seconds_per_step": round(statistics.mean(wall), 4),
            "median_seconds_per_step": round(statistics.median(wall), 4),
            "cpu_seconds_per_step": round(statistics.mean(cpu), 4),
            "steps": len(wall),
            "warmup_steps": warmup,
            "load_average_1min": [round(self.load_before, 2), round(os.getloadavg()[0], 2)],
        }
