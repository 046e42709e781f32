"""The `smoke` world: tiny real-architecture models and a tiny chat preference set, built locally.

Introduced in 08_full_scale_gpu. The GPU presets load Qwen2.5 and hub reward models with
`from_pretrained`; to test *that* code on a CPU (and in CI, with no network), this module
builds miniature versions of the same kinds of files and saves them with `save_pretrained`:

    <cache>/smoke-v1/
      policy/         Qwen2ForCausalLM, 2 blocks, hidden 64 + a byte-level BPE tokenizer with a
                      Qwen-style chat template (<|im_start|> ... <|im_end|>, pad <|endoftext|>)
      reward_model/   LlamaForSequenceClassification (one label) with its *own* BPE tokenizer
                      and chat template: like a hub reward model, it does not share the
                      policy's tokenizer, so responses must be decoded and re-tokenized
      gold_model/     another Llama classifier, no chat template: it reads (prompt, response)
                      as a text pair, like OpenAssistant's DeBERTa reward models
      data/           train_prefs.jsonl, test_prefs.jsonl: the toy world's preference pairs in
                      HuggingFaceH4/ultrafeedback_binarized's format (prompt, prompt_id,
                      chosen/rejected as chat messages, score_chosen/score_rejected)

Everything is then loaded back through `rlhf_lessons.hf` — the functions the GPU presets use.
The models are briefly trained (SFT for the policy, Bradley–Terry for the reward models) so
that a CPU run shows the same curves as a GPU run, qualitatively: the smoke world is the toy
world of lessons 01-06 in chat clothing. Building takes a few seconds, once; the folder is
written atomically (a temp folder renamed into place), so parallel test workers are safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    LlamaConfig,
    LlamaForSequenceClassification,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from .presets import SMOKE_VERSION as VERSION  # the folder's name
from .presets import smoke_dir
from .runtime import cache_dir
from .toy import gold_score, load_records
from .toy.vocab import WORDS

# Sizes: small enough to build and train in seconds on one CPU thread.
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2)
TINY_HEADS = dict(num_attention_heads=4, num_key_value_heads=2)  # grouped-query, like Qwen2.5
N_TRAIN_PAIRS, N_TEST_PAIRS, N_SFT = 512, 64, 1024
SFT_STEPS, RM_STEPS, BATCH, LR = 40, 20, 32, 3e-3

# Qwen2.5's chat markup, without its default system prompt (short prompts keep CPU runs fast).
POLICY_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# A different markup for the reward model (as Qwen3's or Llama 3's differ from Qwen2.5's).
REWARD_CHAT_TEMPLATE = (
    "{{ '<s>' }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + "
    "'</s>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def build_key(train: bool = True) -> str:
    """A hash of everything the build depends on: sizes, steps, templates, the toy data files.

    A folder built with other settings (or from other data) is rebuilt, not silently reused.
    """
    from .toy import toy_data_dir

    h = hashlib.sha256(
        json.dumps(
            [VERSION, TINY, TINY_HEADS, N_TRAIN_PAIRS, N_TEST_PAIRS, N_SFT, SFT_STEPS, RM_STEPS,
             BATCH, LR, POLICY_CHAT_TEMPLATE, REWARD_CHAT_TEMPLATE, train],
        ).encode()
    )  # fmt: skip
    for path in sorted(toy_data_dir().glob("*.jsonl")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def is_built(root: Path | None = None, train: bool = True) -> bool:
    """Whether `root` holds a finished build of the current settings."""
    marker = (root or smoke_dir()) / "BUILT.json"
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("key") == build_key(train)
    except (OSError, ValueError):
        return False


# ── tokenizers ─────────────────────────────────────────────────────────────────────────────


def _corpus() -> list[str]:
    """Texts the BPE tokenizers are trained on: the toy world's sentences and chat roles."""
    texts = [f"{r['prompt']} {r['response']}" for r in load_records("sft")]
    return texts + [" ".join(WORDS), "system user assistant"] * 5


def _bpe(vocab_size: int, specials: list[str]) -> Tokenizer:
    """A byte-level BPE (GPT-2/Qwen style: any text is encodable) trained on the corpus."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_corpus(), trainer)
    return core


def build_policy_tokenizer() -> PreTrainedTokenizerFast:
    """Qwen-like: pad <|endoftext|> (not EOS), EOS <|im_end|>, no BOS, a chat template."""
    core = _bpe(512, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    tok.padding_side = "left"
    tok.chat_template = POLICY_CHAT_TEMPLATE
    return tok


def build_reward_tokenizer() -> PreTrainedTokenizerFast:
    """A different vocabulary and chat markup: the reward model's own tokenizer."""
    core = _bpe(400, ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tok.padding_side = "right"
    tok.chat_template = REWARD_CHAT_TEMPLATE
    return tok


def build_gold_tokenizer() -> PreTrainedTokenizerFast:
    """No chat template; `tok(prompt, response)` gives [CLS] prompt [SEP] response [SEP]."""
    core = _bpe(320, ["[PAD]", "[CLS]", "[SEP]"])
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    tok.padding_side = "right"
    return tok


# ── models ─────────────────────────────────────────────────────────────────────────────────


def build_policy(tokenizer, seed: int = 0) -> Qwen2ForCausalLM:
    """A 2-block Qwen2 causal LM (the real Qwen2 code), dropout off, tied embeddings."""
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=128,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **TINY,
        **TINY_HEADS,
    )
    return Qwen2ForCausalLM(config)


def build_classifier(tokenizer, seed: int) -> LlamaForSequenceClassification:
    """A 2-block Llama with a one-label score head: a reward model before training."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=128,
        num_labels=1,
        attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **TINY,
        **TINY_HEADS,
    )
    return LlamaForSequenceClassification(config)


# ── data ───────────────────────────────────────────────────────────────────────────────────


def _chat(prompt: str, response: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def _strip_eos(text: str) -> str:
    return text.replace("<eos>", "").strip()


def preference_record(pair: dict) -> dict:
    """One toy pair in ultrafeedback_binarized's format (scores: the toy gold judge's)."""
    prompt = pair["prompt"]
    return {
        "prompt": prompt,
        "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
        "chosen": _chat(prompt, _strip_eos(pair["chosen"])),
        "rejected": _chat(prompt, _strip_eos(pair["rejected"])),
        "score_chosen": gold_score(pair["chosen"]),
        "score_rejected": gold_score(pair["rejected"]),
    }


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


# ── brief training, so that the CPU run behaves like a real one ────────────────────────────


def _batches(n: int, steps: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield torch.randint(0, n, (BATCH,), generator=g)


def _train_policy(policy, tokenizer, seed: int) -> None:
    """SFT on the toy demonstrations, as chat: loss on the response tokens (+ <|im_end|>)."""
    from .batching import encode_queries
    from .chat import format_prompt
    from .trainers.sft import sft_loss

    records = load_records("sft")[:N_SFT]
    prompts = [
        format_prompt(tokenizer, [{"role": "user", "content": r["prompt"]}]) for r in records
    ]
    responses = [_strip_eos(r["response"]) + tokenizer.eos_token for r in records]
    data = encode_queries(tokenizer, prompts, responses)  # tokenized once: (N, P + T)
    opt = torch.optim.AdamW(policy.parameters(), lr=LR)
    policy.train()
    for idx in _batches(len(records), SFT_STEPS, seed):
        loss = sft_loss(policy, _trim(data.select(idx)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()


def _trim(batch):
    """Drop the columns that are padding in every row of this batch (shorter sequences)."""
    from .batching import QueryBatch

    keep = batch.attention_mask.sum(0) > 0  # (L,)
    first = int(keep[: batch.prompt_len].nonzero()[0])
    last = int(keep.nonzero()[-1]) + 1
    return QueryBatch(
        batch.input_ids[:, first:last],
        batch.attention_mask[:, first:last],
        batch.prompt_len - first,
        batch.response_mask[:, : last - batch.prompt_len],
    )


def _train_classifier(model, tokenizer, input_format: str, pairs: list[dict], seed: int) -> None:
    """Bradley–Terry on (chosen, rejected) pairs, tokenized once through hf.reward_inputs."""
    from .chat import reward_inputs
    from .losses import reward_model_loss

    enc = reward_inputs(tokenizer, [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs],
                        input_format)  # fmt: skip  # (2N, L) right-padded
    n = len(pairs)
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    model.train()
    for idx in _batches(n, RM_STEPS, seed):
        rows = torch.cat([idx, idx + n])  # chosen rows, then their rejected rows
        mask = enc["attention_mask"][rows]
        width = int(mask.sum(1).max())
        batch = {k: v[rows][:, :width] for k, v in enc.items()}
        scores = model(**batch).logits[:, 0]  # (2B,) the model's own pooling (last real token)
        loss = reward_model_loss(scores[: len(idx)], scores[len(idx) :])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


# ── build ──────────────────────────────────────────────────────────────────────────────────


def build_smoke_world(seed: int = 0, force: bool = False, train: bool = True) -> Path:
    """Build (once) and return the smoke folder: three models with tokenizers, and the data.

    The policy is SFT-trained on the toy demonstrations; the reward model on the toy world's
    noisy preference labels; the gold model on the same pairs relabelled by the toy world's
    gold judge (cleaner labels, another tokenizer, another seed): a held-out stand-in for a
    stronger judge. `train=False` skips training (untrained models, for plumbing tests).
    """
    root = smoke_dir() if train else cache_dir() / f"smoke-v{VERSION}-untrained"
    if is_built(root, train) and not force:
        return root
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    try:
        _build_into(tmp, seed, train)
        if root.exists():  # stale (other settings) or forced: move it aside first
            os.replace(root, old)
        try:
            os.rename(tmp, root)
        except OSError:  # another process built it first: use theirs
            if not is_built(root, train):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return root


def _build_into(root: Path, seed: int, train: bool) -> None:
    data = root / "data"
    data.mkdir(parents=True)
    train_pairs = [preference_record(p) for p in load_records("pairs_train")[:N_TRAIN_PAIRS]]
    test_pairs = [preference_record(p) for p in load_records("pairs_test")[:N_TEST_PAIRS]]
    _write_jsonl(data / "train_prefs.jsonl", train_pairs)
    _write_jsonl(data / "test_prefs.jsonl", test_pairs)

    policy_tok = build_policy_tokenizer()
    policy = build_policy(policy_tok, seed)
    reward_tok, gold_tok = build_reward_tokenizer(), build_gold_tokenizer()
    reward_model = build_classifier(reward_tok, seed + 1)
    gold_model = build_classifier(gold_tok, seed + 2)
    if train:
        _train_policy(policy, policy_tok, seed)
        _train_classifier(reward_model, reward_tok, "chat", train_pairs, seed)
        clean = [  # the gold judge's own labels: chosen = the higher gold score
            p if p["score_chosen"] >= p["score_rejected"]
            else {**p, "chosen": p["rejected"], "rejected": p["chosen"]}
            for p in train_pairs
        ]  # fmt: skip
        _train_classifier(gold_model, gold_tok, "pair", clean, seed + 1)
    from .chat import _quiet_transformers

    for name, model, tok in (
        ("policy", policy, policy_tok),
        ("reward_model", reward_model, reward_tok),
        ("gold_model", gold_model, gold_tok),
    ):
        with _quiet_transformers():
            model.save_pretrained(root / name, safe_serialization=True)
            tok.save_pretrained(root / name)
    marker = {"version": VERSION, "key": build_key(train), "seed": seed, "trained": train}
    (root / "BUILT.json").write_text(json.dumps(marker))
