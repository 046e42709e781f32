"""Several GPUs with an existing engine: the course's DPO step under Hugging Face Accelerate.

Introduced in 08_full_scale_gpu. Data parallelism in one sentence: every process holds the
model, takes its own slice of the global batch, computes gradients, and the processes average
their gradients (an all-reduce) before the optimizer step — so N processes on B/N pairs each
take *the same step* as one process on all B pairs. Accelerate wraps the model in PyTorch's
DistributedDataParallel (configs/ddp.yaml) or shards it with FSDP (configs/fsdp.yaml) when one
card cannot hold it; this file does not change between the two. One command launches it:

    accelerate launch --config_file configs/ddp.yaml --num_processes 2 \\
        -m rlhf_lessons.distributed --preset t4-16gb --steps 50 --out runs/ddp

    torchrun --standalone --nproc_per_node 2 -m rlhf_lessons.distributed --preset smoke --cpu \\
        --steps 2 --out runs/ddp-cpu          # the same on a CPU, gloo backend (the CI test)

Why DPO: its loss is a mean over *pairs*, and every process gets the same number of pairs, so
the average of the processes' means is the global mean and the gradients match exactly (up to
float rounding). PPO's loss is a mean over *tokens*; processes hold different token counts, so
averaging per-process means weights tokens unequally — a distributed PPO must divide by the
global token count (all-reduce it first). tests/test_multi_gpu.py checks the DPO step: same
gradients, loss and accuracy with 1 and 2 processes.

Each step: the reference's logprobs come from the same policy with its adapters disabled
(no gradient), then the policy's logprobs of chosen and rejected in one forward pass, the DPO
loss (trainers/dpo.py's `dpo_loss`), `accelerator.backward` (DDP averages the gradients),
gradient clipping and an AdamW step. Rank 0 writes OUT/metrics.jsonl, OUT/grads.safetensors
(the averaged gradient of every step, flattened) and OUT/adapters.safetensors.

A stuck process (a collective one rank never reaches) waits silently; `kill -USR1 <pid>` makes
it print every thread's stack to stderr, so you can see which line it waits on.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import signal
import time
from pathlib import Path

import torch

from . import hf
from .batching import QueryBatch
from .losses import dpo_loss
from .presets import get_preset
from .rollout import sequence_logprobs
from .runtime import set_seed, set_threads

# The one documented launch command per setting (printed by 08_full_scale_gpu and docs/gpu.md).
LAUNCH = {
    "ddp": (
        "accelerate launch --config_file configs/ddp.yaml --num_processes 2 "
        "-m rlhf_lessons.distributed --preset t4-16gb --steps 50 --out runs/ddp"
    ),
    "fsdp": (
        "accelerate launch --config_file configs/fsdp.yaml --num_processes 8 "
        "-m rlhf_lessons.distributed --preset a100-80gb --steps 50 --out runs/fsdp"
    ),
    "cpu": (
        "torchrun --standalone --nproc_per_node 2 -m rlhf_lessons.distributed "
        "--preset smoke --cpu --steps 2 --out runs/ddp-cpu"
    ),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m rlhf_lessons.distributed",
        description="DPO with LoRA on a preset, data-parallel over every launched process.",
    )
    p.add_argument("--preset", default="smoke", help="smoke, t4-16gb or a100-80gb")
    p.add_argument("--steps", type=int, default=2, help="optimizer steps")
    p.add_argument("--global-batch", type=int, default=8, help="pairs per step, all processes")
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (preset's)")
    p.add_argument("--beta", type=float, default=0.1, help="DPO's beta > 0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu", action="store_true", help="run on CPU (gloo), even with GPUs")
    p.add_argument("--out", required=True, help="folder for metrics.jsonl and grads")
    args = p.parse_args(argv)
    if args.steps < 1 or args.global_batch < 1 or args.beta <= 0:
        p.error("--steps and --global-batch must be >= 1 and --beta > 0")
    return args


def local_rows(step: int, global_batch: int, rank: int, world_size: int) -> torch.Tensor:
    """The pair indices this process trains on at `step` (1-based): its slice of the batch.

    The global batch of step s is pairs (s-1)·G .. s·G - 1 (the same on every process);
    process r takes the r-th contiguous 1/world_size of it.
    """
    if global_batch % world_size:
        raise ValueError(
            f"--global-batch ({global_batch}) must be divisible by the number of processes "
            f"({world_size}): every process takes the same number of pairs"
        )
    per = global_batch // world_size
    start = (step - 1) * global_batch + rank * per
    return torch.arange(start, start + per)


def _to(batch: QueryBatch, device) -> QueryBatch:
    return QueryBatch(
        batch.input_ids.to(device),
        batch.attention_mask.to(device),
        batch.prompt_len,
        batch.response_mask.to(device),
    )


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    set_threads()
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>` prints where a stuck process is
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    from accelerate import Accelerator
    from safetensors.torch import save_file

    from .trainers.dpo import encode_pairs

    accelerator = Accelerator(cpu=args.cpu)
    rank, world = accelerator.process_index, accelerator.num_processes
    preset = get_preset(args.preset)
    if args.cpu:
        preset = preset.replace(device="cpu")
    set_seed(args.seed)

    # every process loads the same model (same seed: the same LoRA initialisation)
    with accelerator.main_process_first():  # builds the smoke world once, not N times
        policy, tokenizer = hf.load_policy_and_tokenizer(
            preset, seed=args.seed, device=accelerator.device
        )
        dataset = hf.load_preference_data(preset, preset.train_split)
    pairs = hf.dpo_pairs(
        dataset, tokenizer, args.steps * args.global_batch, preset.max_prompt_tokens
    )
    if len(pairs) < args.steps * args.global_batch:
        raise ValueError(
            f"{len(pairs)} pairs fit max_prompt_tokens; need steps x global batch = "
            f"{args.steps * args.global_batch}"
        )
    data = encode_pairs(tokenizer, pairs)  # (2N, P + T): chosen rows, then rejected rows
    n_pairs = len(pairs)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    names = [n for n, p in policy.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr or preset.lr)
    policy, optimizer = accelerator.prepare(policy, optimizer)
    model = accelerator.unwrap_model(policy)
    policy.train()

    rows, grads = [], {}
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        idx = local_rows(step, args.global_batch, rank, world)  # (b,) this process's pairs
        batch = _to(data.select(torch.cat([idx, idx + n_pairs])), accelerator.device)  # (2b, L)
        with torch.no_grad(), model.disable_adapter():  # the reference: adapters off
            ref_chosen, ref_rejected = sequence_logprobs(policy, batch).split(len(idx))
        logps = sequence_logprobs(policy, batch)  # (2b,) one forward for chosen + rejected
        policy_chosen, policy_rejected = logps.split(len(idx))
        loss = dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, args.beta)
        optimizer.zero_grad()
        accelerator.backward(loss)  # DDP: gradients averaged over processes here
        if all(p.grad is not None for p in trainable):  # (FSDP shards them: not recorded)
            grads[f"step{step}"] = torch.cat([p.grad.detach().flatten().cpu() for p in trainable])
        accelerator.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        with torch.no_grad():
            margin = args.beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
            local = torch.stack([loss.detach(), (margin > 0).float().mean(), margin.mean()])
        loss_g, acc_g, margin_g = accelerator.reduce(local, reduction="mean").tolist()
        rows.append({
            "step": step, "loss": loss_g, "accuracy": acc_g, "margin": margin_g,
            "world_size": world, "pairs_per_process": len(idx),
            "reward": None, "gold": None, "kl": None, "seconds": time.perf_counter() - t0,
        })  # fmt: skip

    if accelerator.is_main_process:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        save_file(grads, str(out / "grads.safetensors"))
        params = dict(model.named_parameters())
        save_file({n: params[n].detach().cpu().contiguous() for n in names},
                  str(out / "adapters.safetensors"))  # fmt: skip
        print(
            f"{world} process(es), {args.steps} DPO steps of {args.global_batch} pairs: "
            f"loss {rows[-1]['loss']:.4f}, accuracy {rows[-1]['accuracy']:.2f}; wrote {out}",
            flush=True,  # seen at once by a watcher (tests/test_multi_gpu.py), even if exit hangs
        )
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return rows


if __name__ == "__main__":
    main()
