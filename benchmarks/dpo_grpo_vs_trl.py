"""Seconds per DPO step and per GRPO step: the course's trainers against TRL's, side by side.

    .venv/bin/python benchmarks/dpo_grpo_vs_trl.py --threads 1 [--steps 20] [--warmup 3]

Both sides run on the reference setting of `_toy_setting.py` (an untrained GPT-2 with
n_layer=2, n_head=2, n_embd=64, the toy vocabulary, prompts of 8 tokens, responses of 16,
fp32, CPU):

- DPO: 64 pairs, batch 8 pairs, beta 0.1. Ours precomputes the reference's logprobs once
  (the course's design, timed separately as "setup"); TRL runs the reference every step by
  default, so ours is also timed with the reference run every step ("ours, ref each step")
  for a like-for-like number.
- GRPO: batch 8 completions = 2 prompts × 4 generations, up to 16 tokens, beta 0.04 (so the
  reference is scored every step), the same Python reward function (fraction of distinct
  words), one update per batch.

TRL's side is `trl_dpo_grpo_steps.py`, run in a subprocess (same interpreter, same threads);
its JSON lines are read back. Wall seconds are only meaningful on an idle machine: CPU seconds
per step (this process, all threads) are printed too, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _toy_setting as toy  # noqa: E402

BATCH = 8
NUM_GENERATIONS = 4


def _distinct_word_reward(texts: list[str]) -> list[float]:
    """TRL's benchmark reward, on our decoded texts (the <eos> token dropped)."""
    out = []
    for text in texts:
        words = [w for w in text.split() if w != "<eos>"]
        out.append(len(set(words)) / len(words) if words else 0.0)
    return out


def _fresh_model(tokenizer, seed: int):
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(toy.gpt2_config(tokenizer)).eval()


def _per_step(total_steps_fn, warmup: int, steps: int) -> dict:
    """Run warmup steps, then warmup + steps; per-step wall from the trainer's rows, CPU by
    difference of the two runs' process time (setup cancels out)."""
    c0 = time.process_time()
    total_steps_fn(warmup)
    c1 = time.process_time()
    rows = total_steps_fn(warmup + steps)
    c2 = time.process_time()
    wall = [r["seconds"] for r in rows if r.get("step", 0) > warmup]
    return {
        "seconds_per_step": round(statistics.mean(wall), 4),
        "median_seconds_per_step": round(statistics.median(wall), 4),
        "cpu_seconds_per_step": round(((c2 - c1) - (c1 - c0)) / steps, 4),
        "steps": steps,
    }


def bench_ours_dpo(tokenizer, args, *, reference_each_step: bool) -> dict:
    import copy

    import torch

    from rlhf_lessons.rollout import sequence_logprobs
    from rlhf_lessons.trainers import dpo as dpo_module
    from rlhf_lessons.trainers.dpo import DPOConfig, train_dpo

    prompts = toy.prompts(tokenizer, seed=args.seed)
    chosen = toy.responses(tokenizer, len(prompts), seed=args.seed + 1)
    rejected = toy.responses(tokenizer, len(prompts), seed=args.seed + 2)
    pairs = [
        {"prompt": p, "chosen": c.strip(), "rejected": r.strip()}
        for p, c, r in zip(prompts, chosen, rejected)
    ]
    model = _fresh_model(tokenizer, args.seed)
    setup = {}

    def run(steps: int):
        reference = copy.deepcopy(model)
        config = DPOConfig(steps=steps, batch_size=BATCH, lr=1e-3, beta=0.1, eval_every=0)
        if not reference_each_step:
            t0 = time.perf_counter()
            result = train_dpo(config, copy.deepcopy(model), reference, tokenizer, pairs,
                               eval_prompts=[], progress=False)  # fmt: skip
            setup["reference_seconds"] = round(result.reference_seconds, 4)
            setup["total_seconds"] = round(time.perf_counter() - t0, 4)
            return result.metrics
        # like TRL's default: the reference runs on every batch, inside the timed step
        original = dpo_module.sequence_logprobs

        def policy_and_reference(policy, batch):
            with torch.no_grad():
                sequence_logprobs(reference, batch)  # the reference's forward, each step
            return original(policy, batch)

        dpo_module.sequence_logprobs = policy_and_reference
        try:
            result = train_dpo(config, copy.deepcopy(model), reference, tokenizer, pairs,
                               eval_prompts=[], progress=False)  # fmt: skip
        finally:
            dpo_module.sequence_logprobs = original
        return result.metrics

    out = _per_step(run, args.warmup, args.steps)
    return {**out, **({"setup": setup} if setup else {})}


def bench_ours_grpo(tokenizer, args) -> dict:
    import copy

    from rlhf_lessons.trainers.grpo import GRPOConfig, train_grpo

    prompts = toy.prompts(tokenizer, seed=args.seed)
    model = _fresh_model(tokenizer, args.seed)

    def run(steps: int):
        config = GRPOConfig(
            steps=steps,
            prompts_per_step=BATCH // NUM_GENERATIONS,
            group_size=NUM_GENERATIONS,
            lr=1e-3,
            beta=0.04,
            max_new_tokens=toy.RESPONSE_TOKENS,
            eval_every=0,
        )
        result = train_grpo(
            config, copy.deepcopy(model), copy.deepcopy(model), None, tokenizer, prompts,
            reward_fn=_distinct_word_reward, eval_prompts=[], progress=False,
        )  # fmt: skip
        return result.metrics

    return _per_step(run, args.warmup, args.steps)


def run_trl(args) -> dict:
    """TRL's side: benchmarks/trl_dpo_grpo_steps.py in a subprocess; {trainer: result}."""
    cmd = [
        sys.executable, str(HERE / "trl_dpo_grpo_steps.py"), "--threads", str(args.threads),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--seed", str(args.seed),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["trainer"]: r for r in results}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per trainer")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-trl", action="store_true", help="time only the course's side")
    args = parser.parse_args(argv)
    os.environ["RLHF_LESSONS_THREADS"] = str(args.threads)

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    tokenizer, source = toy.build_tokenizer()
    load_before = os.getloadavg()[0]
    ours = {
        "DPO": bench_ours_dpo(tokenizer, args, reference_each_step=False),
        "DPO, ref each step": bench_ours_dpo(tokenizer, args, reference_each_step=True),
        "GRPO": bench_ours_grpo(tokenizer, args),
    }
    trl = {} if args.skip_trl else run_trl(args)
    load_after = os.getloadavg()[0]

    rows = []
    print(f"threads {args.threads}, tokenizer {source}, load average {load_before:.2f} -> "
          f"{load_after:.2f}, {args.steps} timed steps after {args.warmup} warm-up")  # fmt: skip
    print(f"{'trainer':<22}{'ours s/step':>12}{'ours CPU s':>12}{'TRL s/step':>12}"
          f"{'TRL CPU s':>11}{'ours/TRL':>10}")  # fmt: skip
    for name, trl_name in (("DPO", "DPOTrainer"), ("DPO, ref each step", "DPOTrainer"),
                           ("GRPO", "GRPOTrainer")):  # fmt: skip
        o, t = ours[name], trl.get(trl_name, {})
        ratio = o["seconds_per_step"] / t["seconds_per_step"] if t else float("nan")
        print(
            f"{name:<22}{o['seconds_per_step']:>12.4f}{o['cpu_seconds_per_step']:>12.4f}"
            f"{t.get('seconds_per_step', float('nan')):>12.4f}"
            f"{t.get('cpu_seconds_per_step', float('nan')):>11.4f}{ratio:>10.2f}"
        )
        rows.append({"trainer": name, "ours": o, "trl": t or None, "ours_over_trl": ratio})
    print(json.dumps({"benchmark": "dpo_grpo_vs_trl", "threads": args.threads,
                      "load_average_1min": [load_before, load_after], "rows": rows}))  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
