"""Be the human (02_reward_model): label preference pairs yourself, train a reward model on
your own labels, and see whom it agrees with — you, or the gold judge.

    from rlhf_lessons.widgets import preference_labeller

    labeller = preference_labeller(n_labels=30, save_path="my_labels.jsonl")
    labeller                      # click A / B / skip; after 30 labels a reward model trains

    # the same buttons, pressed by a function (what the committed notebook does, so that
    # nbval stays deterministic):
    labeller.run_script(noisy_gold_labeller(seed=0))

The pairs to label are fresh ones from the toy world's noisy writer (`toy.generate`), not the
data set's. After `n_labels` labels (A or B; skips do not count), `train()` runs
`train_reward_model(pairs=...)` on your labels — alone, or mixed with data/toy/pairs_train.jsonl
— holding a fifth of your labels out, and reports how often the reward model agrees with you
(on the labels it trained on, and on the ones it did not see) and with the gold judge (on the
held-out data set pairs). Your labels are saved as JSONL in the format of
data/toy/pairs_*.jsonl (one {"chosen", "prompt", "rejected"} object per line), so a later
lesson can train on them: `train_reward_model(pairs=read_labels("my_labels.jsonl"))`.
"""

from __future__ import annotations

import html
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ipywidgets as widgets
import torch
from IPython.display import Markdown, display

from ..toy import gold_score, gold_scores, load_records, validate_jsonl
from ..toy.generate import LABEL_TEMPERATURE, make_noisy_response, make_prompt

__all__ = [
    "preference_labeller",
    "PreferenceLabeller",
    "LabellerReport",
    "noisy_gold_labeller",
    "candidate_pairs",
    "agreement_with_gold",
    "read_labels",
    "CHOICES",
]

CHOICES = ("A", "B", "skip")
PAIR_FIELDS = ("prompt", "chosen", "rejected")

# A labeller is a function (prompt, response_a, response_b) -> "A", "B" or "skip".
Labeller = Callable[[str, str, str], str]


def candidate_pairs(n: int, seed: int = 0) -> list[dict]:
    """`n` fresh pairs to label: {"prompt", "a", "b"}, two different noisy-writer responses.

    Drawn from their own random stream (not the data set's), deterministic in `seed`.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = random.Random(f"labeller-{seed}")
    pairs = []
    while len(pairs) < n:
        prompt, a, b = make_prompt(rng), make_noisy_response(rng), make_noisy_response(rng)
        if a != b:
            pairs.append({"prompt": prompt, "a": " ".join(a), "b": " ".join(b)})
    return pairs


def noisy_gold_labeller(
    temperature: float = LABEL_TEMPERATURE, seed: int = 0, skip_ties: bool = True
) -> Labeller:
    """A scripted human: prefers A with probability σ((gold(A) - gold(B)) / temperature).

    The same Bradley–Terry noise that labelled data/toy/ (temperature 0.3). It presses
    "skip" when the gold judge scores both responses the same (`skip_ties`), as a person
    who cannot tell might. Deterministic in `seed`.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = random.Random(seed)

    def label(prompt: str, a: str, b: str) -> str:
        diff = gold_score(a) - gold_score(b)
        if skip_ties and diff == 0:
            return "skip"
        z = diff / temperature
        p_a = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))  # σ(z), stable
        return "A" if rng.random() < p_a else "B"

    return label


def read_labels(path) -> list[dict]:
    """Labels saved by the labeller (or any pairs file), validated line by line."""
    return validate_jsonl(path, PAIR_FIELDS)


def write_labels(labels: list[dict], path) -> Path:
    """Write pairs as JSONL exactly as data/toy/ does (sorted keys, one object per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        json.dumps({k: r[k] for k in PAIR_FIELDS}, sort_keys=True) + "\n" for r in labels
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class LabellerReport:
    """What a reward model trained on your labels agrees with. Agreements are fractions."""

    n_labels: int  # pairs you labelled A or B
    n_skipped: int  # pairs you skipped
    n_train: int  # your labels the reward model trained on
    n_heldout: int  # your labels held out (not trained on)
    mixed_with_dataset: bool  # trained on your labels + data/toy/pairs_train.jsonl
    train_agreement: float  # reward model vs your labels it trained on
    heldout_agreement: float  # reward model vs your held-out labels (nan if none)
    gold_agreement: float  # reward model vs the gold judge's ranking, held-out data set pairs
    you_vs_gold: float  # your labels vs the gold judge's ranking (ties dropped)
    test_accuracy: float  # reward model vs the held-out data set's noisy labels
    ceiling: float  # the gold judge's own accuracy on those noisy labels
    path: Path | None = field(default=None, repr=False)  # where your labels were saved
    reward_model: torch.nn.Module | None = field(default=None, repr=False)

    def summary(self) -> str:
        data = " mixed with the data set's pairs" if self.mixed_with_dataset else " alone"
        held = (
            f"{self.heldout_agreement:.2f} on the {self.n_heldout} you held out"
            if self.n_heldout
            else "no labels held out"
        )
        saved = f" Your labels are saved in `{self.path.name}`." if self.path else ""
        return (
            f"**{self.n_labels} labels** ({self.n_skipped} skipped); you agree with the gold "
            f"judge on **{self.you_vs_gold:.2f}** of them. A reward model trained on "
            f"{self.n_train} of your labels{data} agrees with you on "
            f"**{self.train_agreement:.2f}** of the labels it trained on and {held}; it agrees "
            f"with the gold judge's ranking on **{self.gold_agreement:.2f}** of the held-out "
            f"data set pairs (accuracy on their noisy labels {self.test_accuracy:.2f}, gold "
            f"ceiling {self.ceiling:.2f}, chance 0.5).{saved}"
        )

    def _repr_markdown_(self) -> str:
        return self.summary()


def agreement_with_gold(reward_model, tokenizer, pairs: list[dict]) -> float:
    """Fraction of pairs (gold ties dropped) the reward model ranks as the gold judge does."""
    from ..trainers.reward_model import encode_pairs, score_queries

    chosen, rejected = encode_pairs(tokenizer, pairs)
    rm_diff = score_queries(reward_model, chosen) - score_queries(reward_model, rejected)  # (N,)
    gold_diff = torch.tensor([gold_score(p["chosen"]) - gold_score(p["rejected"]) for p in pairs])
    decided = gold_diff != 0
    return ((rm_diff > 0) == (gold_diff > 0))[decided].float().mean().item()


def _html_response(text: str) -> str:
    return html.escape(text).replace("&lt;eos&gt;", '<span style="color:#888">&lt;eos&gt;</span>')


class PreferenceLabeller:
    """The "be the human" panel. Buttons A / B / skip; a reward model trains on your labels.

    Introduced in 02_reward_model. Display it (it is the last line of a cell, or
    `display(labeller)`), or drive it from code: `run_script(labeller_fn)` presses the same
    buttons a person would. After `n_labels` labels it trains automatically (`auto_train`);
    the "train" button retrains any time after `min_labels`.
    """

    def __init__(
        self,
        n_labels: int = 30,
        *,
        mix_with_dataset: bool = False,
        save_path: str | Path | None = "my_labels.jsonl",
        seed: int = 0,
        candidates: list[dict] | None = None,
        holdout: float = 0.2,
        steps: int | None = None,
        auto_train: bool = True,
        min_labels: int = 10,
    ):
        if not isinstance(n_labels, int) or n_labels < 2:
            raise ValueError(f"n_labels must be an int >= 2, got {n_labels!r}")
        if not 0 <= holdout < 1:
            raise ValueError(f"holdout must be in [0, 1), got {holdout}")
        self.n_labels = n_labels
        self.seed = seed
        self.holdout = holdout
        self.steps = steps
        self.auto_train = auto_train
        self.min_labels = min(min_labels, n_labels)
        self.candidates = (
            candidates if candidates is not None else candidate_pairs(3 * n_labels, seed)
        )
        for i, c in enumerate(self.candidates):
            if not all(isinstance(c.get(k), str) and c[k].strip() for k in ("prompt", "a", "b")):
                raise ValueError(f"candidates[{i}] needs non-empty strings 'prompt', 'a', 'b'")
        self.position = 0  # index of the pair on screen
        self.labels: list[dict] = []  # {"prompt", "chosen", "rejected"}, in labelling order
        self.skipped = 0
        self.report: LabellerReport | None = None
        self._build(mix_with_dataset, save_path)

    # ── the panel ─────────────────────────────────────────────────────────────────────────
    def _build(self, mix_with_dataset: bool, save_path) -> None:
        self.progress = widgets.HTML()
        self.prompt_html = widgets.HTML()
        box = widgets.Layout(width="48%", border="1px solid #ccc", padding="4px 8px")
        self.response_html = {"A": widgets.HTML(layout=box), "B": widgets.HTML(layout=box)}
        self.buttons = {
            "A": widgets.Button(description="A is better", button_style="info"),
            "B": widgets.Button(description="B is better", button_style="info"),
            "skip": widgets.Button(description="skip (can't tell)"),
            "train": widgets.Button(description="train a reward model on my labels"),
            "save": widgets.Button(description="save my labels"),
        }
        for choice in CHOICES:
            self.buttons[choice].on_click(lambda _, choice=choice: self._on_choice(choice))
        self.buttons["train"].on_click(lambda _: self.train())
        self.buttons["save"].on_click(lambda _: self._on_save())
        self.mix = widgets.Checkbox(
            value=mix_with_dataset,
            description="mix my labels with the data set's pairs",
            indent=False,
        )
        self.path_text = widgets.Text(
            value="" if save_path is None else str(save_path),
            description="save to",
            placeholder="my_labels.jsonl (empty: don't save)",
        )
        self.output = widgets.Output()
        self.panel = widgets.VBox(
            [
                self.progress,
                self.prompt_html,
                widgets.HBox([self.response_html["A"], self.response_html["B"]]),
                widgets.HBox([self.buttons[c] for c in CHOICES]),
                widgets.HBox([self.mix, self.path_text]),
                widgets.HBox([self.buttons["train"], self.buttons["save"]]),
                self.output,
            ]
        )
        self.panel.add_class("rlhf-labeller")
        self._refresh()

    def _refresh(self) -> None:
        n = len(self.labels)
        self.progress.value = (
            f'<b class="rlhf-label-count">{n}</b> / {self.n_labels} labels ({self.skipped} skipped)'
        )
        pair = self.current()
        if pair is None:
            self.prompt_html.value = "<i>no more pairs: train on your labels, or save them</i>"
            for side in ("A", "B"):
                self.response_html[side].value = ""
        else:
            self.prompt_html.value = (
                f"Which response is the better review? prompt: <code>{html.escape(pair['prompt'])}"
                "</code>"
            )
            for side, key in (("A", "a"), ("B", "b")):
                self.response_html[side].value = f"<b>{side}</b>: {_html_response(pair[key])}"
        for choice in CHOICES:
            self.buttons[choice].disabled = pair is None
        self.buttons["train"].disabled = n < self.min_labels

    def _ipython_display_(self) -> None:
        display(self.panel)

    # ── labelling ─────────────────────────────────────────────────────────────────────────
    def current(self) -> dict | None:
        """The pair on screen ({"prompt", "a", "b"}), or None when all have been shown."""
        return self.candidates[self.position] if self.position < len(self.candidates) else None

    def _on_choice(self, choice: str) -> None:
        """What the A / B / skip buttons do."""
        pair = self.current()
        if pair is None:
            return
        if choice == "skip":
            self.skipped += 1
        else:
            a, b = (pair["a"], pair["b"]) if choice == "A" else (pair["b"], pair["a"])
            self.labels.append({"prompt": pair["prompt"], "chosen": a, "rejected": b})
        self.position += 1
        self._refresh()
        if self.auto_train and self.report is None and len(self.labels) == self.n_labels:
            self.train()

    def run_script(self, labeller: Labeller, n: int | None = None) -> LabellerReport | None:
        """Let a function do the labelling: it sees each pair and the panel presses the button
        it names ("A", "B" or "skip"), until `n` labels (default `n_labels`) or no more pairs.
        Returns the report once a reward model has trained (auto_train), else None."""
        target = self.n_labels if n is None else n
        while len(self.labels) < target and (pair := self.current()) is not None:
            choice = labeller(pair["prompt"], pair["a"], pair["b"])
            if choice not in CHOICES:
                raise ValueError(f"a labeller must return one of {CHOICES}, got {choice!r}")
            self.buttons[choice].click()
        return self.report

    # ── training and saving ───────────────────────────────────────────────────────────────
    def split(self) -> tuple[list[dict], list[dict]]:
        """Your labels, split (deterministically) into the ones to train on and held-out ones."""
        n_held = round(self.holdout * len(self.labels)) if len(self.labels) >= 10 else 0
        order = list(range(len(self.labels)))
        random.Random(self.seed).shuffle(order)
        held = sorted(order[:n_held])
        return (
            [self.labels[i] for i in range(len(self.labels)) if i not in held],
            [self.labels[i] for i in held],
        )

    def train(self) -> LabellerReport:
        """Train a reward model on your labels (alone or mixed), report, save the labels."""
        from ..trainers.reward_model import (
            RewardModelConfig,
            encode_pairs,
            gold_ceiling,
            preference_accuracy,
            train_reward_model,
        )

        if len(self.labels) < 2:
            raise ValueError(f"label at least 2 pairs before training (have {len(self.labels)})")
        own_train, own_held = self.split()
        mixed = self.mix.value
        pairs = own_train + (load_records("pairs_train") if mixed else [])
        steps = self.steps if self.steps is not None else (None if mixed else 100)
        config = RewardModelConfig.toy(seed=self.seed, steps=steps)
        test_pairs = load_records("pairs_test")
        result = train_reward_model(
            config, pairs=pairs, test_pairs=own_held or test_pairs, progress=False
        )
        model, tokenizer = result.reward_model, result.tokenizer
        gold = [gold_score(p["chosen"]) - gold_score(p["rejected"]) for p in self.labels]
        decided = [d for d in gold if d != 0]
        self.report = LabellerReport(
            n_labels=len(self.labels),
            n_skipped=self.skipped,
            n_train=len(own_train),
            n_heldout=len(own_held),
            mixed_with_dataset=mixed,
            train_agreement=preference_accuracy(model, *encode_pairs(tokenizer, own_train)),
            heldout_agreement=result.accuracy if own_held else float("nan"),
            gold_agreement=agreement_with_gold(model, tokenizer, test_pairs),
            you_vs_gold=sum(d > 0 for d in decided) / len(decided) if decided else float("nan"),
            test_accuracy=preference_accuracy(model, *encode_pairs(tokenizer, test_pairs)),
            ceiling=gold_ceiling(test_pairs, gold_scores),
            path=self.save(),
            reward_model=model,
        )
        self.output.clear_output()
        with self.output:
            display(Markdown(self.report.summary()))
        return self.report

    def save(self, path=None) -> Path | None:
        """Write your labels as JSONL (data/toy/ format) to `path` or the panel's path."""
        path = path if path is not None else self.path_text.value.strip()
        if not path or not self.labels:
            return None
        return write_labels(self.labels, path)

    def _on_save(self) -> None:
        path = self.save()
        with self.output:
            print(f"saved {len(self.labels)} labels to {path}" if path else "nothing to save")


def preference_labeller(n_labels: int = 30, **kwargs) -> PreferenceLabeller:
    """Open the "be the human" panel of 02_reward_model (see PreferenceLabeller for options:
    mix_with_dataset, save_path, seed, holdout, steps, auto_train)."""
    return PreferenceLabeller(n_labels, **kwargs)
