"""Seconds per PPO step of TRL 1.12.0's PPOTrainer on the course's reference setting.

TRL removed PPO in 1.13, so this runs in its own environment (trl==1.12.0):

    bash benchmarks/make_trl_ppo_env.sh
    /tmp/trl112env/bin/python benchmarks/trl_ppo_steps.py --threads 1

Reference setting: GPT-2 with n_layer=2, n_head=2, n_embd=64 for all four models (policy,
reference, reward model, value model; untrained, as step time barely depends on the
weights), a word-level toy vocabulary, 64 prompts of 8 tokens, responses of up to 16 tokens
(TRL truncates after <eos>), batch 8 (one PPO step = 8 rollouts), 4 PPO epochs of 1
minibatch, fp32 on the CPU. A PPO step here is TRL's "update": rollout with generate,
scoring by the reference, reward and value models, GAE, then the 4 epochs of updates. The
first `--warmup` steps are not timed.

Prints one JSON object: {"trl_version", "seconds_per_step", "steps", "threads", ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _toy_setting as toy  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=12, help="timed PPO steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed PPO steps first")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    import transformers
    from datasets import Dataset
    from transformers import GPT2ForSequenceClassification, GPT2LMHeadModel
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    transformers.logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    tokenizer, tokenizer_source = toy.build_tokenizer()
    config = toy.gpt2_config(tokenizer)
    policy = GPT2LMHeadModel(config)
    reference = GPT2LMHeadModel(config)
    reference.load_state_dict(policy.state_dict())
    reward_model = GPT2ForSequenceClassification(toy.gpt2_config(tokenizer, num_labels=1))
    value_model = GPT2ForSequenceClassification(toy.gpt2_config(tokenizer, num_labels=1))
    prompts = toy.prompts(tokenizer, seed=args.seed)
    dataset = Dataset.from_dict({"input_ids": [tokenizer(p)["input_ids"] for p in prompts]})

    batch = 8
    total_steps = args.warmup + args.steps
    timer = toy.StepTimer()

    with tempfile.TemporaryDirectory() as out:
        ppo_config = PPOConfig(
            output_dir=out,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=1,
            num_mini_batches=1,
            num_ppo_epochs=4,
            total_episodes=batch * total_steps,
            response_length=toy.RESPONSE_TOKENS,
            stop_token="eos",
            learning_rate=3e-4,
            seed=args.seed,
            use_cpu=True,
            bf16=False,  # fp32, as the course's own trainer
            gradient_checkpointing=False,  # a 100k-parameter model needs no activation savings
            report_to="none",
            save_strategy="no",
            logging_steps=10_000,
            disable_tqdm=True,
            num_sample_generations=0,
            dataloader_num_workers=0,
        )
        trainer = PPOTrainer(
            args=ppo_config,
            processing_class=tokenizer,
            model=policy,
            ref_model=reference,
            reward_model=reward_model,
            train_dataset=dataset,
            value_model=value_model,
            callbacks=[timer.callback()],
        )
        with contextlib.redirect_stdout(sys.stderr):  # TRL prints its metrics every step
            trainer.train()

    result = {
        "benchmark": "trl_ppo_steps",
        "trl_version": toy.versions()["trl"],
        **timer.summary(total_steps, args.warmup),
        "threads": args.threads,
        "setting": {
            "model": "GPT2Config(n_layer=2, n_head=2, n_embd=64) x4 (policy, reference, reward, value)",
            "vocab_size": len(tokenizer),
            "tokenizer": tokenizer_source,
            "prompts": len(prompts),
            "prompt_tokens": toy.PROMPT_TOKENS,
            "response_tokens": toy.RESPONSE_TOKENS,
            "batch": batch,
            "ppo_epochs": 4,
            "minibatches": 1,
            "dtype": "float32",
            "device": "cpu",
        },
        "versions": toy.versions(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
