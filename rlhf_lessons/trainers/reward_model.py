"""Reward model: learn a scalar score from preference pairs with the Bradley–Terry loss.

Introduced in 02_reward_model. Follows Ouyang et al. 2022 (InstructGPT, stage 2): a language
model with a scalar head reads prompt + response and outputs one number at the last token;
training pushes score(chosen) above score(rejected):

    loss = mean( -log σ(r(x, y_chosen) - r(x, y_rejected) - margin) )

Only score *differences* are trained, so the model's scores have no fixed zero: it is not a
regression onto known targets, whatever the word "regression head" suggests.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..batching import encode_queries
from ..losses import reward_model_loss
from ..models import build_reward_model, reward_scores
from ..runtime import set_seed
from ..toy import build_tokenizer, load_records
from .common import (
    MetricsWriter,
    NonFiniteLoss,
    batches,
    check_finite_loss,
    load_checkpoint,
    progress_bar,
    save_checkpoint,
)
from .contract import TrainerConfig, TrainResult, resolve_doctor, stop_on_non_finite

__all__ = [
    "RewardModelConfig", "RewardModelResult", "encode_pairs", "score_queries",
    "preference_accuracy", "gold_ceiling", "train_reward_model", "CONFIG", "run_cli",
]  # fmt: skip


@dataclass
class RewardModelConfig(TrainerConfig):
    """Settings of one reward-model run (toy defaults: ~3 epochs over 2,000 pairs)."""

    seed: int = 0  # seeds initialisation and batch order
    epochs: int = 3  # passes over the whole training set (each pair once per epoch, shuffled)
    steps: int | None = None  # stop after this many steps instead (None = epochs decide)
    batch_size: int = 64  # pairs per step
    lr: float = 1e-3  # AdamW learning rate
    margin: float = 0.0  # Bradley–Terry margin (Llama 2): chosen must win by this much
    n_layer: int = 2  # GPT-2 blocks of the backbone
    n_head: int = 2  # attention heads
    n_embd: int = 64  # hidden size
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    max_grad_norm: float = 1.0  # gradient clipping

    RULES = {
        "epochs": ">=1", "steps": ">=1", "batch_size": ">=1", "lr": ">0", "n_layer": ">=1",
        "n_head": ">=1", "n_embd": ">=1", "checkpoint_every": ">=1", "max_grad_norm": ">0",
    }  # fmt: skip
    TOY = {}  # the toy preset is the defaults

    def check(self) -> None:
        if self.n_embd % self.n_head:
            raise self.fail("n_embd", f"a multiple of n_head ({self.n_head})")

    def model_size(self) -> dict:
        return {"n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd}


@dataclass(kw_only=True)
class RewardModelResult(TrainResult):
    """What `train_reward_model` returns. `policy` is None: this trainer trains `reward_model`."""

    reward_model: Any = None  # the trained reward model
    tokenizer: Any = None  # the toy tokenizer
    accuracy: float = float(
        "nan"
    )  # held-out: fraction of pairs where score(chosen) > score(rejected)
    ceiling: float = float("nan")  # the gold judge's own accuracy on the same noisy labels
    # (nan without a gold_fn)


def encode_pairs(tokenizer, pairs: list[dict]):
    """Chosen and rejected queries of preference pairs, as two QueryBatches."""
    prompts = [p["prompt"] for p in pairs]
    return (
        encode_queries(tokenizer, prompts, [p["chosen"] for p in pairs]),
        encode_queries(tokenizer, prompts, [p["rejected"] for p in pairs]),
    )


@torch.no_grad()
def score_queries(reward_model, batch, chunk: int = 512) -> torch.Tensor:
    """Reward-model scores of a (large) QueryBatch, in chunks: (B,)."""
    out = [
        reward_scores(
            reward_model, batch.input_ids[i : i + chunk], batch.attention_mask[i : i + chunk]
        )
        for i in range(0, len(batch), chunk)
    ]
    return torch.cat(out)


@torch.no_grad()
def preference_accuracy(reward_model, chosen, rejected) -> float:
    """Fraction of pairs where the model scores chosen above rejected."""
    return (
        (score_queries(reward_model, chosen) > score_queries(reward_model, rejected))
        .float()
        .mean()
        .item()
    )


def gold_ceiling(pairs: list[dict], gold_fn) -> float:
    """The gold judge's accuracy on the noisy labels: no reward model can expect more.

    `gold_fn(texts) -> scores` is the judge (the toy world's: `rlhf_lessons.toy.gold_scores`).
    """
    chosen = list(gold_fn([p["chosen"] for p in pairs]))
    rejected = list(gold_fn([p["rejected"] for p in pairs]))
    wins = [1.0 if gc > gr else 0.5 if gc == gr else 0.0 for gc, gr in zip(chosen, rejected)]
    return sum(wins) / len(wins)


def train_reward_model(
    config: RewardModelConfig | None = None,
    pairs: list[dict] | None = None,
    test_pairs: list[dict] | None = None,
    *,
    gold_fn=None,
    out_dir=None,
    resume: bool = False,
    doctor=None,
    callback=None,
    progress: bool = True,
) -> RewardModelResult:
    """Train the toy reward model on data/toy/pairs_train.jsonl (or `pairs`).

    Introduced in 02_reward_model (Ouyang et al. 2022, stage 2). It builds its own model, so it
    takes none of the contract's models; `pairs`/`test_pairs` None = the toy world's. The other
    arguments mean what trainers/contract.py says; `gold_fn` gives `result.ceiling` (the
    judge's accuracy on the held-out labels; nan without one).
    """
    config = config if config is not None else RewardModelConfig.toy()
    if not isinstance(config, RewardModelConfig):
        raise TypeError(f"config must be a RewardModelConfig, got {type(config).__name__}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding checkpoint/)")
    g = set_seed(config.seed)
    tokenizer = build_tokenizer()
    pairs = pairs if pairs is not None else load_records("pairs_train")
    test_pairs = test_pairs if test_pairs is not None else load_records("pairs_test")
    chosen, rejected = encode_pairs(tokenizer, pairs)
    test_chosen, test_rejected = encode_pairs(tokenizer, test_pairs)
    model = build_reward_model(tokenizer, seed=config.seed, **config.model_size())
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    doctor = resolve_doctor(doctor, "reward_model", progress)
    batch_size = min(config.batch_size, len(pairs))
    steps_per_epoch = len(pairs) // batch_size
    total = config.steps or config.epochs * steps_per_epoch
    start = 0
    if resume:
        # The generator is *not* restored: the loop below replays the batch order from the seed
        # and skips the `start` steps already taken, so a resumed run sees the same batches.
        start, _ = load_checkpoint(out_dir, {"reward_model": model}, {"reward_model": optimizer})
    log = MetricsWriter(out_dir, resume_step=start if resume else None)
    model.train()
    bar = progress_bar(total=total, initial=start, desc="reward model", disable=not progress)
    step, stopped, train_seconds = 0, None, 0.0
    while step < total and stopped is None:
        for idx in batches(len(pairs), batch_size, g):
            step += 1
            if step <= start:
                continue  # fast-forward through the batches seen before the checkpoint
            t0 = time.perf_counter()
            s_chosen = reward_scores(
                model, chosen.input_ids[idx], chosen.attention_mask[idx]
            )  # (B,)
            s_rejected = reward_scores(
                model, rejected.input_ids[idx], rejected.attention_mask[idx]
            )  # (B,)
            loss = reward_model_loss(s_chosen, s_rejected, config.margin)
            try:
                check_finite_loss(loss, step)
            except NonFiniteLoss as exc:
                stopped = stop_on_non_finite(exc, progress)
                if doctor is not None:
                    doctor.check(step, {"loss": float("nan")})
                break
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            row = {
                "step": step,
                "loss": loss.item(),
                "accuracy": (s_chosen > s_rejected).float().mean().item(),
                "reward": None, "gold": None, "kl": None,
                "seconds": seconds,
            }  # fmt: skip
            log.write(row)
            if doctor is not None:
                doctor.check(step, row)
            if callback is not None:
                callback(row)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if out_dir is not None and (step % config.checkpoint_every == 0 or step == total):
                save_checkpoint(
                    out_dir,
                    step,
                    {"reward_model": model},
                    {"reward_model": optimizer},
                    g,
                    {"config": asdict(config)},
                )
            if step >= total:
                break
    bar.close()
    model.eval()
    accuracy = preference_accuracy(model, test_chosen, test_rejected)
    ceiling = gold_ceiling(test_pairs, gold_fn) if gold_fn is not None else float("nan")
    return RewardModelResult(
        policy=None, config=config, metrics=log.rows, doctor=doctor, stopped=stopped,
        train_seconds=train_seconds, reward_model=model, tokenizer=tokenizer,
        accuracy=accuracy, ceiling=ceiling,
    )  # fmt: skip


# ── the command line: python -m rlhf_lessons reward-model --out DIR (flags from the config) ──
CONFIG = RewardModelConfig


def run_cli(config: RewardModelConfig, *, out_dir, resume: bool) -> RewardModelResult:
    """`python -m rlhf_lessons reward-model`: train the toy reward model, print one line."""
    from ..toy import gold_scores

    result = train_reward_model(config, gold_fn=gold_scores, out_dir=out_dir, resume=resume)
    if result.stopped:
        raise SystemExit(f"error: reward-model stopped: {result.stopped}")
    print(
        f"reward model done: held-out accuracy {result.accuracy:.3f} (gold-judge ceiling "
        f"{result.ceiling:.3f}, chance 0.5); saved to {out_dir}/checkpoint/reward_model"
    )
    return result
