"""The toy world: deterministic data, a round-tripping HF tokenizer, the gold judge's exact
values, clear errors for malformed JSONL and mismatched models, and the data card's numbers."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from rlhf_lessons.models import build_policy, build_reward_model, check_compatible
from rlhf_lessons.toy import (
    build_tokenizer,
    generate,
    gold_score,
    gold_scores,
    judge,
    load_records,
    load_toy,
    toy_data_dir,
    validate_jsonl,
    vocab,
)

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ["prompts_train", "prompts_test", "sft", "pairs_train", "pairs_test"]


# ── the generator ──────────────────────────────────────────────────────────────────────────
def test_generator_rewrites_the_committed_files_byte_for_byte(tmp_path, capsys):
    generate.main(["--seed", "0", "--out", str(tmp_path)])  # what `make data` runs
    for split in SPLITS:
        committed = (toy_data_dir() / f"{split}.jsonl").read_bytes()
        assert (tmp_path / f"{split}.jsonl").read_bytes() == committed, (
            f"{split}.jsonl differs from a fresh `python -m rlhf_lessons.toy.generate --seed 0`"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{s}.jsonl" for s in SPLITS)


def test_generator_is_deterministic_in_its_seed():
    assert generate.generate(seed=3) == generate.generate(seed=3)
    assert generate.generate(seed=3)["pairs_train"] != generate.generate(seed=4)["pairs_train"]


def test_sizes_and_fields_of_the_committed_data():
    for split in SPLITS:
        records = load_records(split)
        assert len(records) == generate.SIZES[split]
    assert set(load_records("sft")[0]) == {"prompt", "response"}
    assert set(load_records("pairs_train")[0]) == {"prompt", "chosen", "rejected"}
    for r in load_records("sft"):
        assert r["response"].endswith("<eos>") and r["prompt"].startswith("review : ")
        assert len(r["response"].split()) <= generate.MAX_RESPONSE_TOKENS


# ── the tokenizer ──────────────────────────────────────────────────────────────────────────
def test_tokenizer_round_trips_every_word_and_the_data():
    tok = build_tokenizer()
    assert len(tok) == len(vocab.WORDS) == 73
    for i, word in enumerate(vocab.WORDS):
        assert tok.convert_tokens_to_ids(word) == i
    for r in load_records("sft")[:200]:
        ids = tok(r["prompt"])["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids) == "<bos> " + r["prompt"]
        resp = tok(r["response"], add_special_tokens=False)["input_ids"]
        assert resp[-1] == tok.eos_token_id
        assert tok.decode(resp) == r["response"]


def test_special_tokens_pad_is_not_eos():
    tok = build_tokenizer()
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == ("<pad>", "<bos>", "<eos>")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.pad_token_id != tok.eos_token_id
    assert tok.padding_side == "left"


# ── the gold judge ─────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "response, expected",
    [
        ("was great <eos>", math.tanh(0.5)),
        ("was dull <eos>", -math.tanh(0.5)),
        ("was great and the plot is clever <eos>", math.tanh(1.0)),
        ("was great and fun and witty and lovely <eos>", math.tanh(2.0)),
        ("was great but the ending felt slow <eos>", 0.0),
        ("was great great <eos>", math.tanh(1.0) - 0.3),  # a content word twice: one repeat
        ("was great great great <eos>", math.tanh(1.5) - 0.6),
        ("was good and the plot is the plot <eos>", math.tanh(0.5) - 0.3),  # noun repeated
        ("was great and and the music is fun <eos>", math.tanh(1.0) - 0.3),  # stuttered filler
        ("was great and the plot", math.tanh(0.5) - 0.7),  # never ended
        ("great <eos>", math.tanh(0.5) - 0.5),  # under two words
        ("<eos>", -0.5),
        ("", -0.7 - 0.5),
        ("was great <eos> awful awful awful", math.tanh(0.5)),  # nothing after <eos> counts
    ],
)
def test_gold_judge_exact_values(response, expected):
    assert gold_score(response) == pytest.approx(expected, abs=1e-12)


def test_gold_judge_reads_token_lists_with_padding():
    assert gold_score(["was", "great", "<eos>", "<pad>", "<pad>"]) == gold_score("was great <eos>")
    assert gold_score(["was", "<pad>", "great"]) == pytest.approx(math.tanh(0.5) - 0.7)
    assert gold_scores(["was great <eos>", "was dull <eos>"]) == [
        gold_score("was great <eos>"),
        gold_score("was dull <eos>"),
    ]


def test_gold_judge_constants_are_the_data_cards():
    assert (judge.REPEAT_PENALTY, judge.NO_EOS_PENALTY, judge.SHORT_PENALTY) == (0.3, 0.7, 0.5)
    assert generate.LABEL_TEMPERATURE == 0.3


# ── loading and malformed JSONL ────────────────────────────────────────────────────────────
def test_load_toy_returns_a_datasets_dataset():
    import datasets

    ds = load_toy("pairs_test")
    assert isinstance(ds, datasets.Dataset)
    assert ds.num_rows == 500
    assert sorted(ds.column_names) == ["chosen", "prompt", "rejected"]
    assert ds[0] == load_records("pairs_test")[0]


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match="split must be one of"):
        load_toy("pairs")
    with pytest.raises(ValueError, match="split must be one of"):
        load_records("train")


GOOD = '{"prompt": "review : the plot", "response": "was great <eos>"}'


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"prompt": "review : the plot", "response": "was great <eos>"', "not valid JSON"),
        ('{"prompt": "review : the plot"}', "missing field 'response'"),
        ('{"prompt": "review : the plot", "response": "  "}', "field 'response' is empty"),
        ('{"prompt": "review : the plot", "response": "was popcorn <eos>"}', "unknown word"),
        ('{"prompt": "review : the plot", "response": 3}', "must be a string"),
        ('["review : the plot", "was great <eos>"]', "expected a JSON object"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "sft.jsonl"
    path.write_text(f"{GOOD}\n\n{GOOD}\n{bad_line}\n{GOOD}\n")  # the bad record is on line 4
    with pytest.raises(ValueError, match=rf"sft\.jsonl:4: .*{re.escape(message)}"):
        validate_jsonl(path, ("prompt", "response"))
    with pytest.raises(ValueError, match=rf"sft\.jsonl:4: .*{re.escape(message)}"):
        load_toy("sft", data_dir=tmp_path)  # checked before datasets reads it


def test_empty_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "sft.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no records"):
        load_records("sft", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="make data"):
        load_records("pairs_train", data_dir=tmp_path)


# ── tokenizer / model compatibility ────────────────────────────────────────────────────────
def test_check_compatible_accepts_the_toy_models():
    tok = build_tokenizer()
    check_compatible(tok, build_policy(tok))
    check_compatible(tok, build_reward_model(tok))


def test_check_compatible_rejects_a_smaller_vocabulary():
    tok = build_tokenizer()
    model = build_policy(tok)
    model.resize_token_embeddings(len(tok) - 10)
    with pytest.raises(
        ValueError, match="tokenizer has 73 tokens but the model's embedding has 63"
    ):
        check_compatible(tok, model)


def test_check_compatible_rejects_another_pad_id():
    tok = build_tokenizer()
    model = build_policy(tok)
    model.config.pad_token_id = tok.eos_token_id
    with pytest.raises(ValueError, match="pad id 0 != model config pad_token_id 2"):
        check_compatible(tok, model)


# ── the data card (data/README.md) states numbers computed here ────────────────────────────
def data_card_numbers() -> dict[str, str]:
    """Every number data/README.md states, recomputed from the committed files."""

    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    numbers = {"vocabulary": str(len(vocab.WORDS))}
    for split in SPLITS:
        numbers[f"rows {split}"] = str(len(load_records(split)))
    sft = load_records("sft")
    lengths = [len(r["response"].split()) for r in sft]
    numbers["sft mean tokens"] = f"{sum(lengths) / len(lengths):.2f}"
    numbers["sft gold"] = f"{sum(gold_score(r['response']) for r in sft) / len(sft):+.3f}"
    for split in ("pairs_train", "pairs_test"):
        pairs = load_records(split)
        diffs = [gold_score(p["chosen"]) - gold_score(p["rejected"]) for p in pairs]
        n = len(pairs)
        agree = sum(1.0 if d > 0 else 0.5 if d == 0 else 0.0 for d in diffs) / n
        numbers[f"{split} ceiling"] = f"{agree:.3f}"
        numbers[f"{split} expected ceiling"] = (
            f"{sum(sigmoid(abs(d) / generate.LABEL_TEMPERATURE) for d in diffs) / n:.3f}"
        )
        numbers[f"{split} against gold"] = f"{sum(d < 0 for d in diffs) / n:.1%}"
        numbers[f"{split} ties"] = f"{sum(d == 0 for d in diffs) / n:.1%}"
        responses = [p[k] for p in pairs for k in ("chosen", "rejected")]
        numbers[f"{split} eos"] = f"{sum(r.endswith('<eos>') for r in responses) / (2 * n):.1%}"
        numbers[f"{split} gold chosen"] = f"{sum(gold_score(p['chosen']) for p in pairs) / n:+.3f}"
        numbers[f"{split} gold rejected"] = (
            f"{sum(gold_score(p['rejected']) for p in pairs) / n:+.3f}"
        )
    return numbers


def test_data_card_states_the_computed_numbers():
    card = (ROOT / "data" / "README.md").read_text()
    rows = dict(re.findall(r"^\| (.+?) \| `([^`]+)` \|", card, flags=re.M))
    for name, value in data_card_numbers().items():
        assert rows.get(name) == value, (
            f"data/README.md: '{name}' should read `{value}` (got {rows.get(name)!r}); "
            "rerun the numbers with `python tests/test_toy.py`"
        )


def test_scripted_labels_are_in_the_data_format(tmp_path):
    """Labels saved by 02's labeller load like data/toy/pairs_*.jsonl (same keys, same order)."""
    from rlhf_lessons.widgets.labeller import write_labels

    pairs = load_records("pairs_test")[:3]
    path = write_labels(pairs, tmp_path / "pairs_test.jsonl")
    committed = (toy_data_dir() / "pairs_test.jsonl").read_text().splitlines()[:3]
    assert path.read_text().splitlines() == committed
    assert load_toy("pairs_test", data_dir=tmp_path).num_rows == 3


def test_models_accept_the_tokenizer_batches():
    tok = build_tokenizer()
    ids = torch.tensor([tok("review : the plot")["input_ids"]])
    logits = build_policy(tok)(input_ids=ids).logits
    assert logits.shape == (1, 5, len(tok))


if __name__ == "__main__":  # print the data card's table rows
    for key, value in data_card_numbers().items():
        print(f"| {key} | `{value}` |")
    print(json.dumps(generate.SIZES))
