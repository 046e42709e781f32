"""A verifiable task in the toy world: a program's verdict on a response, not a learned score.

Introduced in 10_verifiable_rewards (issue 14). RL with verifiable rewards (RLVR; DeepSeekMath,
Shao et al. 2024; DAPO, Yu et al. 2025) replaces the reward model by a checker: math answers,
unit tests, puzzles. There is no proxy to hack — the reward *is* the gold. The toy task:

    a response passes (reward 1.0) when it
        - ends with <eos>,
        - has between MIN_WORDS and MAX_WORDS words,
        - uses at least one positive adjective and no negative one,
        - repeats no word;
    otherwise it fails (reward 0.0).

A binary 0/1 verdict is what makes whole groups tie (all pass or all fail): GRPO's
zero-variance groups, which DAPO's dynamic sampling drops.
"""

from __future__ import annotations

from .judge import response_words
from .vocab import NEGATIVE, POSITIVE

__all__ = ["MIN_WORDS", "MAX_WORDS", "verify", "verify_all", "why_not"]

MIN_WORDS = 3
MAX_WORDS = 6
_POS, _NEG = set(POSITIVE), set(NEGATIVE)


def why_not(response: str | list[str]) -> str | None:
    """The first rule a response breaks (a short reason), or None when it passes."""
    if not isinstance(response, (str, list, tuple)):
        raise TypeError(
            f"response must be a str or a list of tokens, got {type(response).__name__}"
        )
    words, ended = response_words(response)
    if not ended:
        return "no <eos>"
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        s = "" if len(words) == 1 else "s"
        return f"{len(words)} word{s}, not {MIN_WORDS}..{MAX_WORDS}"
    if not any(w in _POS for w in words):
        return "no positive adjective"
    if any(w in _NEG for w in words):
        return "a negative adjective"
    if len(set(words)) < len(words):
        return "a repeated word"
    return None


def verify(response: str | list[str]) -> float:
    """1.0 if the response satisfies every rule of the task, else 0.0."""
    return 0.0 if why_not(response) is not None else 1.0


def verify_all(responses) -> list[float]:
    """`verify` over a batch: the `reward_fn` (and `gold_fn`) of a GRPO run on this task."""
    return [verify(r) for r in responses]
