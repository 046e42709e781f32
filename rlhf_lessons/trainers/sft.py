"""Supervised fine-tuning (SFT): teach the policy to write like the demonstrations.

Introduced in 01_rlhf_pipeline. Follows Ouyang et al. 2022 (InstructGPT, stage 1): maximise
the log-likelihood of demonstration responses given their prompts. The loss covers the
*response* tokens only — prompt tokens are inputs, not targets — as in real SFT.

    loss = - Σ_t mask_t · log π(y_t | x, y_<t)  /  Σ_t mask_t
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..batching import encode_queries
from ..doctor import Doctor
from ..evaluate import evaluate_policy
from ..models import build_policy, forward_logits
from ..runtime import set_seed
from ..toy import build_tokenizer, load_records
from .common import (
    MetricsWriter,
    check_finite_loss,
    checkpoint_if_due,
    load_checkpoint,
    progress_bar,
)


@dataclass
class SFTConfig:
    """Settings of one SFT run (toy-world defaults: sensible samples after ~150 steps)."""

    seed: int = 0  # seeds the model's initialisation, batch order and evaluation samples
    steps: int = 150  # optimizer steps
    batch_size: int = 64  # demonstrations per step
    lr: float = 3e-3  # AdamW learning rate (tiny models like large rates)
    n_layer: int = 2  # GPT-2 blocks
    n_head: int = 2  # attention heads per block
    n_embd: int = 64  # hidden size
    eval_every: int = 50  # steps between gold-judge evaluations of samples (0 = only at the end)
    eval_prompts: int = 64  # held-out prompts sampled at each evaluation
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    max_grad_norm: float = 1.0  # gradient clipping

    def __post_init__(self):
        for name in ("steps", "batch_size", "n_layer", "n_head", "n_embd", "eval_prompts"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"SFTConfig.{name} must be a positive int, got {getattr(self, name)!r}"
                )
        if not self.lr > 0:
            raise ValueError(f"SFTConfig.lr must be > 0, got {self.lr}")

    @classmethod
    def toy(cls, **overrides) -> SFTConfig:
        return cls(**overrides)

    def model_size(self) -> dict:
        return {"n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd}


@dataclass
class SFTResult:
    policy: torch.nn.Module
    tokenizer: object
    config: SFTConfig
    metrics: list[dict] = field(default_factory=list)
    doctor: Doctor | None = None


def sft_loss(policy, batch) -> torch.Tensor:
    """Mean cross-entropy of the response tokens (prompt tokens are masked out)."""
    logits = forward_logits(policy, batch.input_ids, batch.attention_mask)  # (B, L, V)
    logits = logits[:, batch.prompt_len - 1 : -1]  # (B, T, V): column t predicts token t+1
    nll = F.cross_entropy(logits.transpose(1, 2), batch.response_ids, reduction="none")  # (B, T)
    mask = batch.response_mask.float()
    return (nll * mask).sum() / mask.sum()


def train_sft(
    config: SFTConfig | None = None, out_dir=None, resume: bool = False, progress: bool = True
) -> SFTResult:
    """Train the toy policy on data/toy/sft.jsonl. Writes OUT/metrics.jsonl and OUT/checkpoint."""
    config = config or SFTConfig()
    g = set_seed(config.seed)
    tokenizer = build_tokenizer()
    records = load_records("sft")
    data = encode_queries(
        tokenizer, [r["prompt"] for r in records], [r["response"] for r in records]
    )
    eval_prompts = [r["prompt"] for r in load_records("prompts_test")][: config.eval_prompts]
    policy = build_policy(tokenizer, seed=config.seed, **config.model_size())
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr)
    doctor = Doctor("sft", verbose=progress)
    start = 0
    if resume:
        start, _ = load_checkpoint(out_dir, {"policy": policy}, {"policy": optimizer}, g)
    log = MetricsWriter(out_dir, resume_step=start if resume else None)
    policy.train()
    bar = progress_bar(range(start + 1, config.steps + 1), desc="SFT", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        idx = torch.randint(len(data), (config.batch_size,), generator=g)
        loss = sft_loss(policy, data.select(idx))
        check_finite_loss(loss, step)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        row = {
            "step": step,
            "loss": loss.item(),
            "reward": None,
            "gold": None,
            "kl": None,
            "eos_rate": None,
        }
        if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
            ev = evaluate_policy(policy, tokenizer, eval_prompts, seed=config.seed + step)
            row.update(gold=ev["gold"], eos_rate=ev["eos_rate"])
            policy.train()
        row["seconds"] = time.perf_counter() - t0
        log.write(row)
        doctor.check(step, {k: v for k, v in row.items() if k != "eos_rate" or v is not None})
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        checkpoint_if_due(out_dir, step, config, policy, optimizer, g)
    policy.eval()
    return SFTResult(policy, tokenizer, config, log.rows, doctor)


def add_arguments(parser) -> None:
    parser.add_argument("--lr", type=float, help="learning rate (toy: 3e-3)")
    parser.add_argument("--batch-size", type=int, help="demonstrations per step (toy: 64)")


def run_cli(args) -> SFTResult:
    overrides = {
        k: v
        for k, v in {
            "seed": args.seed,
            "steps": args.steps,
            "lr": args.lr,
            "batch_size": args.batch_size,
        }.items()
        if v is not None
    }
    result = train_sft(SFTConfig.toy(**overrides), out_dir=args.out, resume=args.resume)
    last = [r for r in result.metrics if r["gold"] is not None][-1]
    print(
        f"SFT done: loss {result.metrics[-1]['loss']:.3f}, gold {last['gold']:.2f}, eos rate {last['eos_rate']:.2f}; saved to {args.out}/checkpoint/policy"
    )
    return result
