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
from dataclasses import asdict, dataclass, field

import torch

from ..batching import encode_queries
from ..doctor import Doctor
from ..losses import reward_model_loss
from ..models import build_reward_model, reward_scores
from ..runtime import set_seed
from ..toy import build_tokenizer, gold_score, load_records
from .common import (
    MetricsWriter,
    batches,
    check_finite_loss,
    load_checkpoint,
    progress_bar,
    save_checkpoint,
)


@dataclass
class RewardModelConfig:
    """Settings of one reward-model run (toy defaults: ~3 epochs over 2,000 pairs)."""

    seed: int = 0  # seeds initialisation and batch order
    epochs: int = 3  # passes over the training pairs
    steps: int | None = None  # stop after this many steps instead (None = epochs decide)
    batch_size: int = 64  # pairs per step
    lr: float = 1e-3  # AdamW learning rate
    margin: float = 0.0  # Bradley–Terry margin (Llama 2): chosen must win by this much
    n_layer: int = 2  # GPT-2 blocks of the backbone
    n_head: int = 2  # attention heads
    n_embd: int = 64  # hidden size
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    max_grad_norm: float = 1.0  # gradient clipping

    def __post_init__(self):
        for name in ("epochs", "batch_size", "n_layer", "n_head", "n_embd"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"RewardModelConfig.{name} must be a positive int, got {getattr(self, name)!r}"
                )
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(
                f"RewardModelConfig.steps must be a positive int or None, got {self.steps!r}"
            )
        if not self.lr > 0:
            raise ValueError(f"RewardModelConfig.lr must be > 0, got {self.lr}")

    @classmethod
    def toy(cls, **overrides) -> RewardModelConfig:
        return cls(**overrides)

    def model_size(self) -> dict:
        return {"n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd}


@dataclass
class RewardModelResult:
    reward_model: torch.nn.Module
    tokenizer: object
    config: RewardModelConfig
    metrics: list[dict] = field(default_factory=list)
    accuracy: float = float(
        "nan"
    )  # held-out: fraction of pairs where score(chosen) > score(rejected)
    ceiling: float = float("nan")  # the gold judge's own accuracy on the same noisy labels
    doctor: Doctor | None = None


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


def gold_ceiling(pairs: list[dict]) -> float:
    """The gold judge's accuracy on the noisy labels: no reward model can expect more."""
    wins = [
        1.0
        if (gc := gold_score(p["chosen"])) > (gr := gold_score(p["rejected"]))
        else 0.5
        if gc == gr
        else 0.0
        for p in pairs
    ]
    return sum(wins) / len(wins)


def train_reward_model(
    config: RewardModelConfig | None = None,
    out_dir=None,
    resume: bool = False,
    progress: bool = True,
    pairs: list[dict] | None = None,
    test_pairs: list[dict] | None = None,
) -> RewardModelResult:
    """Train the toy reward model on data/toy/pairs_train.jsonl (or `pairs`)."""
    config = config or RewardModelConfig()
    g = set_seed(config.seed)
    tokenizer = build_tokenizer()
    pairs = pairs if pairs is not None else load_records("pairs_train")
    test_pairs = test_pairs if test_pairs is not None else load_records("pairs_test")
    chosen, rejected = encode_pairs(tokenizer, pairs)
    test_chosen, test_rejected = encode_pairs(tokenizer, test_pairs)
    model = build_reward_model(tokenizer, seed=config.seed, **config.model_size())
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    doctor = Doctor("reward_model", verbose=progress)
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
    step = 0
    while step < total:
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
            check_finite_loss(loss, step)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            row = {
                "step": step,
                "loss": loss.item(),
                "accuracy": (s_chosen > s_rejected).float().mean().item(),
                "reward": None, "gold": None, "kl": None,
                "seconds": time.perf_counter() - t0,
            }  # fmt: skip
            log.write(row)
            doctor.check(step, row)
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
    return RewardModelResult(
        model, tokenizer, config, log.rows, accuracy, gold_ceiling(test_pairs), doctor
    )


def add_arguments(parser) -> None:
    parser.add_argument("--lr", type=float, help="learning rate (toy: 1e-3)")
    parser.add_argument(
        "--epochs", type=int, help="passes over the pairs (toy: 3); --steps overrides"
    )
    parser.add_argument("--margin", type=float, help="Bradley–Terry margin (default 0)")


def run_cli(args) -> RewardModelResult:
    fields = {
        "seed": args.seed,
        "steps": args.steps,
        "lr": args.lr,
        "epochs": args.epochs,
        "margin": args.margin,
    }
    result = train_reward_model(
        RewardModelConfig.toy(**{k: v for k, v in fields.items() if v is not None}),
        out_dir=args.out,
        resume=args.resume,
    )
    print(
        f"reward model done: held-out accuracy {result.accuracy:.3f} (gold-judge ceiling {result.ceiling:.3f}, "
        f"chance 0.5); saved to {args.out}/checkpoint/reward_model"
    )
    return result
