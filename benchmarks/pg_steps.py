"""Seconds per training step of PPO, GRPO, REINFORCE and RLOO on the toy preset (lesson 09).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/pg_steps.py [--steps 10] [--threads 1]

Same toy world (cached SFT policy and reward model), same batch: 64 sampled responses a step
(PPO 64 prompts x 1 with 4 epochs x 2 minibatches; GRPO 8 x 8; REINFORCE 64 x 1; RLOO 16 x 4).
A step = sampling + scoring + the update; held-out evaluation is not timed. Prints a Markdown
table and one JSON line per method.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)

    from rlhf_lessons.runtime import set_threads
    from rlhf_lessons.toy import gold_scores, load_records
    from rlhf_lessons.trainers.grpo import GRPOConfig, train_grpo
    from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo
    from rlhf_lessons.trainers.reinforce import REINFORCEConfig, toy_models, train_reinforce
    from rlhf_lessons.trainers.rloo import RLOOConfig, train_rloo

    set_threads(args.threads)
    _, sft, rm, tok, _ = toy_models(0)
    prompts = [r["prompt"] for r in load_records("prompts_train")]
    n = args.steps
    runs = {
        "PPO": lambda p: train_ppo(PPOConfig.toy(steps=n, eval_every=0), p, sft, rm, tok,
                                   prompts, eval_prompts=[], doctor=False, progress=False),
        "GRPO": lambda p: train_grpo(GRPOConfig.toy(steps=n, eval_every=0), p, sft, rm, tok,
                                     prompts, eval_prompts=[], doctor=False, progress=False),
        "REINFORCE": lambda p: train_reinforce(REINFORCEConfig.toy(steps=n), p, sft, rm, tok,
                                               prompts, gold_fn=gold_scores, eval_prompts=[],
                                               doctor=False, progress=False),
        "RLOO": lambda p: train_rloo(RLOOConfig.toy(steps=n), p, sft, rm, tok, prompts,
                                     gold_fn=gold_scores, eval_prompts=[], doctor=False,
                                     progress=False),
    }  # fmt: skip
    rows = []
    for name, run in runs.items():
        t0 = time.perf_counter()
        result = run(copy.deepcopy(sft))
        wall = time.perf_counter() - t0
        seconds = [r["seconds"] for r in result.metrics]
        rows.append({"benchmark": "pg_steps", "method": name, "steps": n, "threads": args.threads,
                     "seconds_per_step": statistics.median(seconds), "wall_seconds": wall})  # fmt: skip
    print("| method | s/step (median) | wall s for", n, "steps |\n|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds_per_step']:.3f} | {r['wall_seconds']:.1f} |")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
