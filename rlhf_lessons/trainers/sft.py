"""Supervised fine-tuning (SFT): teach the policy to write like the demonstrations.

Introduced in 01_rlhf_pipeline. Follows Ouyang et al. 2022 (InstructGPT, stage 1): maximise
the log-likelihood of demonstration responses given their prompts. The loss covers the
*response* tokens only — prompt tokens are inputs, not targets — as in real SFT.

    loss = - Σ_t mask_t · log π(y_t | x, y_<t)  /  Σ_t mask_t
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..batching import encode_queries
from ..evaluate import evaluate_policy
from ..models import build_policy, forward_logits
from ..runtime import set_seed
from ..toy import build_tokenizer, load_records
from .common import (
    MetricsWriter,
    NonFiniteLoss,
    check_finite_loss,
    checkpoint_if_due,
    load_checkpoint,
    progress_bar,
)
from .contract import TrainerConfig, TrainResult, resolve_doctor, stop_on_non_finite

__all__ = ["SFTConfig", "SFTResult", "sft_loss", "train_sft", "CONFIG", "run_cli"]


@dataclass
class SFTConfig(TrainerConfig):
    """Settings of one SFT run (toy-world defaults: sensible samples after ~150 steps)."""

    seed: int = 0  # seeds the model's initialisation, batch order and evaluation samples
    steps: int = 150  # optimizer steps (SFT has no epochs: each step samples a random batch)
    batch_size: int = 64  # demonstrations per step
    lr: float = 3e-3  # AdamW learning rate (tiny models like large rates)
    n_layer: int = 2  # GPT-2 blocks
    n_head: int = 2  # attention heads per block
    n_embd: int = 64  # hidden size
    eval_every: int = 50  # steps between held-out evaluations of samples (0 = only at the end)
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    max_grad_norm: float = 1.0  # gradient clipping

    RULES = {
        "steps": ">=1", "batch_size": ">=1", "lr": ">0", "n_layer": ">=1", "n_head": ">=1",
        "n_embd": ">=1", "eval_every": ">=0", "checkpoint_every": ">=1", "max_grad_norm": ">0",
    }  # fmt: skip
    TOY = {}  # the toy preset is the defaults

    def check(self) -> None:
        if self.n_embd % self.n_head:
            raise self.fail("n_embd", f"a multiple of n_head ({self.n_head})")

    def model_size(self) -> dict:
        return {"n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd}


@dataclass(kw_only=True)
class SFTResult(TrainResult):
    """What `train_sft` returns (the contract's TrainResult) and the toy tokenizer."""

    tokenizer: Any = None  # the toy tokenizer the policy was trained with


def sft_loss(policy, batch) -> torch.Tensor:
    """Mean cross-entropy of the response tokens (prompt tokens are masked out)."""
    logits = forward_logits(policy, batch.input_ids, batch.attention_mask)  # (B, L, V)
    logits = logits[:, batch.prompt_len - 1 : -1]  # (B, T, V): column t predicts token t+1
    nll = F.cross_entropy(logits.transpose(1, 2), batch.response_ids, reduction="none")  # (B, T)
    mask = batch.response_mask.float()
    return (nll * mask).sum() / mask.sum()


def toy_eval_prompts(n: int = 64) -> list[str]:
    """The first `n` held-out prompts of the toy world (data/toy/prompts_test.jsonl)."""
    return [r["prompt"] for r in load_records("prompts_test")][:n]


def train_sft(
    config: SFTConfig | None = None,
    *,
    gold_fn=None,
    eval_prompts: list[str] | None = None,
    out_dir=None,
    resume: bool = False,
    doctor=None,
    callback=None,
    progress: bool = True,
) -> SFTResult:
    """Train the toy policy on data/toy/sft.jsonl (01_rlhf_pipeline; Ouyang et al. 2022, stage 1).

    SFT builds its own policy, so it takes none of the contract's models; the other arguments
    mean what trainers/contract.py says. Held-out samples of `eval_prompts` (None = no
    evaluation) are scored with `gold_fn` at step 0, every `config.eval_every` steps and at
    the end; the step rows carry that gold and eos_rate (None between evaluations).
    """
    config = config if config is not None else SFTConfig.toy()
    if not isinstance(config, SFTConfig):
        raise TypeError(f"config must be an SFTConfig, got {type(config).__name__}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding checkpoint/)")
    g = set_seed(config.seed)
    tokenizer = build_tokenizer()
    records = load_records("sft")
    data = encode_queries(
        tokenizer, [r["prompt"] for r in records], [r["response"] for r in records]
    )
    policy = build_policy(tokenizer, seed=config.seed, **config.model_size())
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr)
    doctor = resolve_doctor(doctor, "sft", progress)
    start = 0
    if resume:
        start, _ = load_checkpoint(out_dir, {"policy": policy}, {"policy": optimizer}, g)
    log = MetricsWriter(out_dir, resume_step=start if resume else None)
    evaluations: list[dict] = []

    def evaluate(step: int) -> dict:
        ev = evaluate_policy(policy, tokenizer, eval_prompts, seed=config.seed + step,
                             gold_fn=gold_fn)  # fmt: skip
        policy.train()
        evaluations.append({"step": step, "gold": ev["gold"], "eos_rate": ev["eos_rate"]})
        return ev

    if eval_prompts and start == 0:
        evaluate(0)
    stopped, train_seconds = None, 0.0
    policy.train()
    bar = progress_bar(range(start + 1, config.steps + 1), desc="SFT", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        idx = torch.randint(len(data), (config.batch_size,), generator=g)
        loss = sft_loss(policy, data.select(idx))
        try:
            check_finite_loss(loss, step)
        except NonFiniteLoss as exc:
            stopped = stop_on_non_finite(exc, progress)
            if doctor is not None:
                doctor.check(step, {"loss": float("nan")})
            break
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        train_seconds += time.perf_counter() - t0
        row = {
            "step": step,
            "loss": loss.item(),
            "reward": None,
            "gold": None,
            "kl": None,
            "eos_rate": None,
        }
        due = (config.eval_every and step % config.eval_every == 0) or step == config.steps
        if eval_prompts and due:
            ev = evaluate(step)
            row.update(gold=ev["gold"], eos_rate=ev["eos_rate"])
        row["seconds"] = time.perf_counter() - t0
        log.write(row)
        if doctor is not None:
            doctor.check(step, {k: v for k, v in row.items() if k != "eos_rate" or v is not None})
        if callback is not None:
            callback(row)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        checkpoint_if_due(out_dir, step, config, policy, optimizer, g)
    policy.eval()
    return SFTResult(
        policy=policy, config=config, metrics=log.rows, evaluations=evaluations, doctor=doctor,
        stopped=stopped, train_seconds=train_seconds, tokenizer=tokenizer,
    )  # fmt: skip


# ── the command line: python -m rlhf_lessons sft --steps N --out DIR (flags from SFTConfig) ──
CONFIG = SFTConfig


def run_cli(config: SFTConfig, *, out_dir, resume: bool) -> SFTResult:
    """`python -m rlhf_lessons sft`: train the toy policy, print one summary line."""
    from ..toy import gold_scores

    result = train_sft(config, gold_fn=gold_scores, eval_prompts=toy_eval_prompts(),
                       out_dir=out_dir, resume=resume)  # fmt: skip
    if result.stopped:
        raise SystemExit(f"error: sft stopped: {result.stopped}")
    last = [r for r in result.metrics if r["gold"] is not None][-1]
    print(
        f"SFT done: loss {result.metrics[-1]['loss']:.3f}, gold {last['gold']:.2f}, "
        f"eos rate {last['eos_rate']:.2f}; saved to {out_dir}/checkpoint/policy"
    )
    return result
