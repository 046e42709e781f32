"""The toy world: vocabulary, tokenizer, gold judge, data generation and loading.

Introduced in 01_rlhf_pipeline.
"""

from .data import load_records, load_toy, toy_data_dir, validate_jsonl
from .judge import gold_score, gold_scores
from .tokenizer import build_tokenizer

__all__ = [
    "build_tokenizer",
    "gold_score",
    "gold_scores",
    "load_toy",
    "load_records",
    "validate_jsonl",
    "toy_data_dir",
]
