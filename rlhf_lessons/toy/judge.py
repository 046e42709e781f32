"""The gold judge: the toy world's stand-in for true human preference.

Introduced in 01_rlhf_pipeline. Hidden from every trainer: preference *labels* are sampled
from it with noise (generate.py), a reward model learns a proxy of it from those labels, and
only the lessons' evaluation reads it directly — to show when the proxy and the truth part ways.

    gold = tanh((#positive - #negative) / 2)     sentiment, saturating: piling on praise stops paying
           - 0.3 per repeated content word        ("great great", "plot ... plot")
           - 0.3 per stuttered filler             ("and and")
           - 0.7 if the response has no <eos>     (it never finished)
           - 0.5 if it has fewer than 2 words
"""

from __future__ import annotations

import math
from collections import Counter

from .vocab import CONTENT_WORDS, EOS, NEGATIVE, PAD, POSITIVE

_POS, _NEG = set(POSITIVE), set(NEGATIVE)

REPEAT_PENALTY = 0.3
NO_EOS_PENALTY = 0.7
SHORT_PENALTY = 0.5


def response_words(response: str | list[str]) -> tuple[list[str], bool]:
    """Split a response into its words (up to <eos>, padding dropped) and whether it ended."""
    tokens = response.split() if isinstance(response, str) else list(response)
    words = []
    for tok in tokens:
        if tok == EOS:
            return words, True
        if tok != PAD:
            words.append(tok)
    return words, False


def gold_score(response: str | list[str]) -> float:
    """The gold score of one response (a string of words, or a list of tokens)."""
    words, ended = response_words(response)
    n_pos = sum(w in _POS for w in words)
    n_neg = sum(w in _NEG for w in words)
    score = math.tanh((n_pos - n_neg) / 2)
    counts = Counter(w for w in words if w in CONTENT_WORDS)
    repeats = sum(c - 1 for c in counts.values())
    stutters = sum(a == b and a not in CONTENT_WORDS for a, b in zip(words, words[1:]))
    score -= REPEAT_PENALTY * (repeats + stutters)
    if not ended:
        score -= NO_EOS_PENALTY
    if len(words) < 2:
        score -= SHORT_PENALTY
    return score


def gold_scores(responses) -> list[float]:
    """Gold scores of many responses."""
    return [gold_score(r) for r in responses]
