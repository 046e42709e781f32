"""Make the toy world's data files, byte for byte the same for the same seed.

Introduced in 01_rlhf_pipeline. Run `python -m rlhf_lessons.toy.generate --seed 0 --out data/toy`
(or `make data`); data/README.md is the data card.

- prompts: "review : the plot" — a topic for a short movie review (2-4 words after "review :")
- sft demonstrations: clean reviews of 1-3 clauses, mixed polarity, ending in <eos>
- preference pairs: two responses to one prompt from a *noisy writer* (demonstrations with
  typical flaws: gushing, repeated words, stutters, no <eos>, too short); which one is
  `chosen` is sampled from the gold judge with Bradley–Terry noise:
  p(a preferred to b) = sigmoid((gold(a) - gold(b)) / LABEL_TEMPERATURE)
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from .judge import gold_score
from .vocab import EOS, NEGATIVE, NEUTRAL, NOUNS, POSITIVE

LABEL_TEMPERATURE = 0.3  # Bradley–Terry noise of the simulated labellers
MAX_RESPONSE_TOKENS = 14  # including <eos>
SIZES = {
    "prompts_train": 512,
    "prompts_test": 128,
    "sft": 2000,
    "pairs_train": 2000,
    "pairs_test": 500,
}


def make_prompt(rng: random.Random) -> str:
    noun = rng.choice(NOUNS)
    det = rng.choice(["the", "its"])
    shape = rng.randrange(3)
    if shape == 0:
        words = [det, noun]
    elif shape == 1:
        words = ["overall", det, noun]
    else:
        words = [det, noun, "and", rng.choice([n for n in NOUNS if n != noun])]
    return "review : " + " ".join(words)


def _adjective(rng: random.Random, used: set[str], polarity: str | None = None) -> str:
    polarity = polarity or rng.choices(["pos", "neg", "neu"], weights=[0.4, 0.4, 0.2])[0]
    pool = {"pos": POSITIVE, "neg": NEGATIVE, "neu": NEUTRAL}[polarity]
    choice = rng.choice([a for a in pool if a not in used])
    used.add(choice)
    return choice


def make_demonstration(rng: random.Random) -> list[str]:
    """A clean review: 1-3 clauses, no repeated content word, ends with <eos>."""
    n_clauses = rng.choices([1, 2, 3], weights=[0.3, 0.45, 0.25])[0]
    used: set[str] = set()
    words = [rng.choice(["was", "is"])] + (
        [rng.choice(["very", "quite", "so"])] if rng.random() < 0.3 else []
    )
    words.append(_adjective(rng, used))
    for _ in range(n_clauses - 1):
        noun = rng.choice([n for n in NOUNS if n not in used])
        used.add(noun)
        clause = [
            rng.choice(["and", "but"]),
            rng.choice(["the", "its"]),
            noun,
            rng.choice(["was", "is", "felt"]),
        ]
        clause.append(_adjective(rng, used))
        words += clause
    return words + [EOS]


def make_noisy_response(rng: random.Random) -> list[str]:
    """A demonstration with the flaws real responses have (the reward model must learn them)."""
    words = make_demonstration(rng)[:-1]
    roll = rng.random()
    if roll < 0.2:  # gushing: stack extra positive adjectives ("great and fun and witty")
        used = set(words)
        for _ in range(rng.randint(1, 3)):
            words += ["and", _adjective(rng, used, "pos")]
    elif roll < 0.4:  # repeated content word ("great great", or a clause about the plot twice)
        content = [w for w in words if w in set(POSITIVE + NEGATIVE + NEUTRAL + NOUNS)]
        i = words.index(rng.choice(content))
        words = words[: i + 1] + [words[i]] * rng.randint(1, 2) + words[i + 1 :]
    elif roll < 0.5:  # stuttered filler ("and and")
        i = rng.randrange(len(words))
        words.insert(i, words[i])
    elif roll < 0.55:  # too short
        words = words[:1]
    words = words[: MAX_RESPONSE_TOKENS - 1] + [EOS]
    if rng.random() < 0.1:  # never finished: no <eos>
        words = words[:-1]
    return words


def make_pair(rng: random.Random, prompt: str) -> dict:
    a, b = make_noisy_response(rng), make_noisy_response(rng)
    while a == b:
        b = make_noisy_response(rng)
    p_a = 1 / (1 + math.exp(-(gold_score(a) - gold_score(b)) / LABEL_TEMPERATURE))
    chosen, rejected = (a, b) if rng.random() < p_a else (b, a)
    return {"prompt": prompt, "chosen": " ".join(chosen), "rejected": " ".join(rejected)}


def generate(seed: int = 0) -> dict[str, list[dict]]:
    """All toy data sets as lists of records (deterministic in `seed`)."""
    rng = random.Random(seed)
    files: dict[str, list[dict]] = {}
    files["prompts_train"] = [{"prompt": make_prompt(rng)} for _ in range(SIZES["prompts_train"])]
    files["prompts_test"] = [{"prompt": make_prompt(rng)} for _ in range(SIZES["prompts_test"])]
    files["sft"] = [
        {"prompt": make_prompt(rng), "response": " ".join(make_demonstration(rng))}
        for _ in range(SIZES["sft"])
    ]
    for split in ("pairs_train", "pairs_test"):
        files[split] = [make_pair(rng, make_prompt(rng)) for _ in range(SIZES[split])]
    return files


def write(out: Path, seed: int = 0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in generate(seed).items():
        path = out / f"{name}.jsonl"
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the toy world's JSONL files.")
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (the committed files use 0)"
    )
    parser.add_argument("--out", type=Path, default=Path("data/toy"), help="output folder")
    args = parser.parse_args(argv)
    for path in write(args.out, args.seed):
        print(path)


if __name__ == "__main__":
    main()
