"""Seconds per step of TRL's DPOTrainer and GRPOTrainer (the course's trl 1.16) on the toy setting.

    .venv/bin/python benchmarks/trl_dpo_grpo_steps.py --threads 1 [--only dpo|grpo]

Reference setting: GPT-2 with n_layer=2, n_head=2, n_embd=64 (untrained, as step time barely
depends on the weights), the course's word-level toy vocabulary, prompts of 8 tokens,
responses of 16 tokens, fp32 on the CPU.

- DPO: 64 (prompt, chosen, rejected) pairs, batch 8 pairs, beta 0.1, a frozen copy of the
  policy as reference, run every step (TRL's default, precompute_ref_log_probs=False).
- GRPO: 64 prompts, batch 8 completions = 2 prompts x 4 generations (TRL counts the batch
  in completions), completions of up to 16 tokens (sampling stops at <eos>), beta 0.04
  (DeepSeekMath), so a reference model is kept; with beta > 0 TRL builds it from the
  model's path, which is why the model is saved with `save_pretrained` and passed as a
  path. The reward is a plain Python function. One step = generation + reward + one update
  (num_iterations=1).

The first `--warmup` steps are not timed. Prints one JSON object per trainer:
{"benchmark", "trainer", "trl_version", "seconds_per_step", "steps", "threads", ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _toy_setting as toy  # noqa: E402

BATCH = 8
NUM_GENERATIONS = 4


def _common_args(out: str, seed: int, max_steps: int) -> dict:
    return dict(
        output_dir=out,
        per_device_train_batch_size=BATCH,
        gradient_accumulation_steps=1,
        max_steps=max_steps,
        learning_rate=1e-3,
        seed=seed,
        use_cpu=True,
        bf16=False,  # fp32, as the course's own trainers
        gradient_checkpointing=False,  # a 100k-parameter model needs no activation savings
        report_to="none",
        save_strategy="no",
        logging_steps=10_000,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def bench_dpo(tokenizer, model, args) -> dict:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    prompts = toy.prompts(tokenizer, seed=args.seed)
    dataset = Dataset.from_dict(
        {
            "prompt": prompts,
            "chosen": toy.responses(tokenizer, len(prompts), seed=args.seed + 1),
            "rejected": toy.responses(tokenizer, len(prompts), seed=args.seed + 2),
        }
    )
    total = args.warmup + args.steps
    timer = toy.StepTimer()
    with tempfile.TemporaryDirectory() as out:
        config = DPOConfig(**_common_args(out, args.seed, total), beta=0.1, max_length=64)
        reference = copy.deepcopy(model)  # without it TRL would reload the model from its path
        trainer = DPOTrainer(
            model=model,
            ref_model=reference,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[timer.callback()],
        )
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()
    return {
        **timer.summary(total, args.warmup),
        "setting": {"pairs": len(prompts), "batch_pairs": BATCH, "beta": 0.1},
    }


def distinct_word_reward(completions, **kwargs) -> list[float]:
    """A toy reward: the fraction of distinct words in the completion (penalises repetition)."""
    out = []
    for text in completions:
        words = text.split()
        out.append(len(set(words)) / len(words) if words else 0.0)
    return out


def bench_grpo(tokenizer, model, args) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    prompts = toy.prompts(tokenizer, seed=args.seed)
    dataset = Dataset.from_dict({"prompt": prompts})
    total = args.warmup + args.steps
    timer = toy.StepTimer()
    with tempfile.TemporaryDirectory() as out:
        # GRPO with beta > 0 loads its reference from the model's path: save it first.
        model_dir = Path(out) / "policy"
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        config = GRPOConfig(
            **_common_args(str(Path(out) / "run"), args.seed, total),
            num_generations=NUM_GENERATIONS,
            max_completion_length=toy.RESPONSE_TOKENS,
            beta=0.04,
        )
        trainer = GRPOTrainer(
            model=str(model_dir),
            reward_funcs=distinct_word_reward,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[timer.callback()],
        )
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()
    return {
        **timer.summary(total, args.warmup),
        "setting": {
            "prompts": len(prompts),
            "batch_completions": BATCH,
            "prompts_per_step": BATCH // NUM_GENERATIONS,
            "num_generations": NUM_GENERATIONS,
            "completion_tokens": toy.RESPONSE_TOKENS,
            "beta": 0.04,
        },
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per trainer")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--only", choices=("dpo", "grpo"), default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    import transformers
    from transformers import GPT2LMHeadModel

    transformers.logging.set_verbosity_error()
    tokenizer, tokenizer_source = toy.build_tokenizer()
    results = []
    for name, bench in (("dpo", bench_dpo), ("grpo", bench_grpo)):
        if args.only not in (None, name):
            continue
        torch.manual_seed(args.seed)
        model = GPT2LMHeadModel(toy.gpt2_config(tokenizer))
        measured = bench(tokenizer, model, args)
        setting = {
            "model": "GPT2Config(n_layer=2, n_head=2, n_embd=64)",
            "vocab_size": len(tokenizer),
            "tokenizer": tokenizer_source,
            "prompt_tokens": toy.PROMPT_TOKENS,
            "response_tokens": toy.RESPONSE_TOKENS,
            "dtype": "float32",
            "device": "cpu",
            **measured.pop("setting"),
        }
        result = {
            "benchmark": "trl_dpo_grpo_steps",
            "trainer": f"{name.upper()}Trainer",
            "trl_version": toy.versions()["trl"],
            **measured,
            "threads": args.threads,
            "setting": setting,
            "versions": toy.versions(),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


if __name__ == "__main__":
    main()
