"""Load the toy world's JSONL files, validated line by line.

Introduced in 01_rlhf_pipeline. Every file is checked before `datasets.load_dataset("json", ...)`
reads it, so a malformed line fails with its file and line number instead of deep inside a
trainer: bad JSON, a missing or non-string field, an empty response, an unknown word.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..runtime import repo_root
from .tokenizer import unknown_words

FIELDS = {
    "prompts": ("prompt",),
    "sft": ("prompt", "response"),
    "pairs": ("prompt", "chosen", "rejected"),
}
SPLITS = {
    "prompts_train": "prompts",
    "prompts_test": "prompts",
    "sft": "sft",
    "pairs_train": "pairs",
    "pairs_test": "pairs",
}


def toy_data_dir() -> Path:
    return repo_root() / "data" / "toy"


def validate_jsonl(path, fields: tuple[str, ...], *, vocabulary_check: bool = True) -> list[dict]:
    """Read a JSONL file; raise ValueError naming file and line for any malformed record."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (regenerate with `make data`)")
    records = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
            for field in fields:
                if field not in record:
                    raise ValueError(f"{where}: missing field {field!r} (expected {list(fields)})")
                value = record[field]
                if not isinstance(value, str):
                    raise ValueError(f"{where}: field {field!r} must be a string")
                if not value.strip():
                    raise ValueError(f"{where}: field {field!r} is empty")
                if vocabulary_check and (bad := unknown_words(value)):
                    raise ValueError(f"{where}: field {field!r} has unknown word(s) {bad[:5]}")
            records.append(record)
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def load_toy(split: str, data_dir=None):
    """A toy split as a `datasets.Dataset` (validated first). split: one of SPLITS."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    import datasets

    path = Path(data_dir or toy_data_dir()) / f"{split}.jsonl"
    validate_jsonl(path, FIELDS[SPLITS[split]])
    # The first load on a machine builds a cache and draws progress bars on stderr; a lesson's
    # output must not depend on whether the cache existed, so the bars are off while it loads.
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset("json", data_files=str(path), split="train")
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


def load_records(split: str, data_dir=None) -> list[dict]:
    """A toy split as a list of dicts (validated): the fast path the trainers use."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    path = Path(data_dir or toy_data_dir()) / f"{split}.jsonl"
    return validate_jsonl(path, FIELDS[SPLITS[split]])
