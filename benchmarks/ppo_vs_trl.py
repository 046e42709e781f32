"""PPO benchmark: the course's loop against TRL 1.12.0's PPOTrainer, and against the exact optimum.

    .venv/bin/python benchmarks/ppo_vs_trl.py --threads 1 [--only speed|cache|optimum]

(a) speed: seconds per PPO step, ours vs TRL's, on the reference setting of
    benchmarks/_toy_setting.py (GPT-2 n_layer=2, n_head=2, n_embd=64 for all four models,
    untrained; 64 prompts of 8 tokens, 16-token responses, batch 8, 4 PPO epochs of 1
    minibatch, fp32 on the CPU). TRL's side runs in its own environment
    ($TRL_PPO_PYTHON, default /tmp/trl112env/bin/python; build it with
    benchmarks/make_trl_ppo_env.sh) as a subprocess *in the same run*, so both numbers come
    from the same machine and load. Goal: ours ≤ 0.25× TRL's time per step.
(b) optimum: the toy world's PPO (PPOConfig.toy(beta=..., anneal_lr=True), --ppo-steps steps:
    long enough to converge) on held-out prompts against the
    KL-regularised optimum J*(beta) = E_x[beta·log E_ref exp(r/beta)], estimated from
    --ref-samples reference samples per prompt (rlhf_lessons/optimum.py): gap closed
    (J_ppo - J_ref) / (J* - J_ref). Goal ≥ 95 %. At small beta the reference-only estimate is
    biased low (few effective samples), so J* is estimated a second time from as many samples
    drawn half from the reference and half from the trained PPO policy, reweighted for that
    mixture: the honest denominator.
(c) cache: rollout tokens per second with and without the KV cache.

Prints one JSON object per part and a side-by-side summary at the end.
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


def _ours_setting(seed: int):
    """The four models, tokenizer and prompts of the reference setting, built as TRL's side does."""
    import torch
    from transformers import GPT2ForSequenceClassification, GPT2LMHeadModel

    torch.manual_seed(seed)
    tokenizer, _ = toy.build_tokenizer()
    config = toy.gpt2_config(tokenizer)
    policy = GPT2LMHeadModel(config)
    reference = GPT2LMHeadModel(config)
    reference.load_state_dict(policy.state_dict())
    reward_model = GPT2ForSequenceClassification(toy.gpt2_config(tokenizer, num_labels=1))
    value_model = GPT2ForSequenceClassification(toy.gpt2_config(tokenizer, num_labels=1))
    return (
        tokenizer,
        policy,
        reference,
        reward_model,
        value_model,
        toy.prompts(tokenizer, seed=seed),
    )


def bench_ours_speed(steps: int, warmup: int, seed: int) -> dict:
    """Seconds per step of rlhf_lessons.trainers.ppo on the reference setting."""
    from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo

    tokenizer, policy, reference, reward_model, value_model, prompts = _ours_setting(seed)
    config = PPOConfig(
        seed=seed,
        steps=warmup + steps,
        batch_size=BATCH,
        ppo_epochs=4,
        num_minibatches=1,
        max_new_tokens=toy.RESPONSE_TOKENS,
        lr=3e-4,
        checkpoint_every=0,
    )
    marks = [(time.perf_counter(), time.process_time())]
    load_before = os.getloadavg()[0]
    result = train_ppo(
        config, policy, reference, reward_model, tokenizer, prompts,
        value_model=value_model, doctor=False, progress=False,
        callback=lambda row: marks.append((time.perf_counter(), time.process_time())),
    )  # fmt: skip
    wall = [b[0] - a[0] for a, b in zip(marks, marks[1:])][warmup:]
    cpu = [b[1] - a[1] for a, b in zip(marks, marks[1:])][warmup:]
    rows = result.metrics[warmup:]
    return {
        "benchmark": "ours_ppo_steps",
        "seconds_per_step": round(statistics.mean(wall), 4),
        "median_seconds_per_step": round(statistics.median(wall), 4),
        "cpu_seconds_per_step": round(statistics.mean(cpu), 4),
        "rollout_seconds": round(statistics.mean(r["rollout_seconds"] for r in rows), 4),
        "score_seconds": round(statistics.mean(r["score_seconds"] for r in rows), 4),
        "update_seconds": round(statistics.mean(r["update_seconds"] for r in rows), 4),
        "mean_response_tokens": round(statistics.mean(r["response_length"] for r in rows), 2),
        "steps": len(wall),
        "warmup_steps": warmup,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def bench_trl_speed(python: str, steps: int, warmup: int, threads: int, seed: int) -> dict:
    """Run benchmarks/trl_ppo_steps.py in the TRL 1.12.0 environment; its JSON line back."""
    if not Path(python).exists():
        return {
            "benchmark": "trl_ppo_steps",
            "skipped": f"{python} not found: build it with bash benchmarks/make_trl_ppo_env.sh",
        }
    cmd = [python, str(HERE / "trl_ppo_steps.py"), "--threads", str(threads)]
    cmd += ["--steps", str(steps), "--warmup", str(warmup), "--seed", str(seed)]
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        return {"benchmark": "trl_ppo_steps", "failed": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_cache(seed: int, batch: int = 64, repeats: int = 3) -> dict:
    """Rollout tokens per second with and without the KV cache (toy SFT policy, 14 tokens)."""
    import torch

    from rlhf_lessons.batching import encode_prompts
    from rlhf_lessons.pipeline import toy_sft_policy
    from rlhf_lessons.rollout import generate
    from rlhf_lessons.toy import load_records

    policy, tokenizer = toy_sft_policy(seed)
    prompts = [r["prompt"] for r in load_records("prompts_train")][:batch]
    ids, mask = encode_prompts(tokenizer, prompts)
    out = {"benchmark": "kv_cache", "batch": batch}
    for use_cache in (True, False):
        times, tokens = [], 0
        for r in range(repeats):
            g = torch.Generator().manual_seed(seed + r)
            t0 = time.perf_counter()
            b = generate(
                policy, ids, mask, max_new_tokens=toy.RESPONSE_TOKENS,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                generator=g, use_cache=use_cache,
            )  # fmt: skip
            times.append(time.perf_counter() - t0)
            tokens += int(b.response_mask.sum())
        key = "with_cache" if use_cache else "without_cache"
        out[f"{key}_tokens_per_second"] = round(tokens / sum(times), 1)
    out["speedup"] = round(
        out["with_cache_tokens_per_second"] / out["without_cache_tokens_per_second"], 2
    )
    return out


def bench_optimum(seed: int, ref_samples: int, steps: int, betas: list[float], n_prompts: int):
    """Train PPO at each beta on the toy world; compare with J*(beta) on held-out prompts.

    One set of reference samples serves every beta. J* is also computed from the first
    n/8, n/4, n/2 samples of each prompt: if it still rises with n, the estimate at n is a lower
    bound (then the gap closed is an upper bound), which happens at small beta (low ESS).
    """
    from rlhf_lessons import optimum
    from rlhf_lessons.pipeline import toy_reward_model, toy_sft_policy
    from rlhf_lessons.toy import load_records
    from rlhf_lessons.trainers.ppo import PPOConfig, train_ppo

    reference, tokenizer = toy_sft_policy(seed)
    reward_model = toy_reward_model(seed)
    train = [r["prompt"] for r in load_records("prompts_train")]
    test = [r["prompt"] for r in load_records("prompts_test")][:n_prompts]
    max_new_tokens = PPOConfig.toy().max_new_tokens
    t0 = time.perf_counter()
    samples = optimum.sample_reference(
        reference, reward_model, tokenizer, test, ref_samples,
        max_new_tokens=max_new_tokens, seed=seed,
    )  # fmt: skip
    t_samples = time.perf_counter() - t0
    out = []
    for beta in betas:
        star = optimum.optimum_from_samples(samples, beta)
        by_n = {}
        for n in (ref_samples // 8, ref_samples // 4, ref_samples // 2, ref_samples):
            sub = optimum.ReferenceSamples(
                samples.prompts, samples.rewards[:, :n], samples.gold[:, :n]
            )
            by_n[n] = round(optimum.optimum_from_samples(sub, beta).j_star, 4)
        policy, _ = toy_sft_policy(seed)
        config = PPOConfig.toy(seed=seed, beta=beta, steps=steps, anneal_lr=True)
        t0 = time.perf_counter()
        result = train_ppo(
            config, policy, reference, reward_model, tokenizer, train, progress=False
        )
        t_ppo = time.perf_counter() - t0
        ours = optimum.policy_objective(
            result.policy, reference, reward_model, tokenizer, test, beta=beta,
            n_samples=64, max_new_tokens=max_new_tokens, seed=seed + 1,
        )  # fmt: skip
        # J* again, from a mixture of reference and PPO samples (half each): same target, far
        # more effective samples at small beta, so the reference-only estimate's bias shows
        t0 = time.perf_counter()
        mixed = optimum.sample_mixture(
            reference, result.policy, reward_model, tokenizer, test, ref_samples // 2,
            max_new_tokens=max_new_tokens, seed=seed + 2,
        )  # fmt: skip
        star_mix = optimum.optimum_from_samples(mixed, beta)
        t_mix = time.perf_counter() - t0
        out.append(
            {
                "benchmark": "ppo_vs_optimum",
                "beta": beta,
                "prompts": len(test),
                "reference_samples_per_prompt": ref_samples,
                "ppo_steps": steps,
                "J_star": round(star.j_star, 4),
                "J_star_by_samples": by_n,
                "J_ref": round(star.j_ref, 4),
                "J_ppo": round(ours["objective"], 4),
                "gap_closed": round(
                    optimum.gap_closed(ours["objective"], star.j_ref, star.j_star), 4
                ),
                "ess_mean": round(star.ess_mean, 1),
                "ess_min": round(star.ess_min, 1),
                "J_star_mixture": round(star_mix.j_star, 4),
                "gap_closed_mixture": round(
                    optimum.gap_closed(ours["objective"], star_mix.j_ref, star_mix.j_star), 4
                ),
                "J_ref_mixture": round(star_mix.j_ref, 4),
                "ess_mean_mixture": round(star_mix.ess_mean, 1),
                "ess_min_mixture": round(star_mix.ess_min, 1),
                "gold_star_mixture": round(star_mix.gold, 4),
                "kl_star_mixture": round(star_mix.kl, 3),
                "gold_ref": round(samples.gold.mean().item(), 4),
                "gold_star": round(star.gold, 4),
                "gold_ppo": round(ours["gold"], 4),
                "kl_star": round(star.kl, 3),
                "kl_ppo": round(ours["kl"], 3),
                "seconds_reference_samples": round(t_samples, 1),
                "seconds_ppo": round(t_ppo, 1),
                "seconds_mixture": round(t_mix, 1),
            }
        )
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--only", choices=["speed", "cache", "optimum"], action="append")
    parser.add_argument("--steps", type=int, default=12, help="timed PPO steps (speed)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed PPO steps first (speed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ref-samples", type=int, default=1024, help="J*: samples per prompt")
    parser.add_argument("--prompts", type=int, default=128, help="J*: held-out prompts")
    parser.add_argument(
        "--ppo-steps", type=int, default=150, help="optimum: PPO steps (lr annealed to 0)"
    )
    parser.add_argument(
        "--betas", default="0.1", help="optimum: comma-separated KL coefficients (0.1 headline)"
    )
    parser.add_argument(
        "--trl-python",
        default=os.environ.get("TRL_PPO_PYTHON", "/tmp/trl112env/bin/python"),
        help="python of the TRL 1.12.0 environment",
    )
    args = parser.parse_args(argv)
    os.environ["RLHF_LESSONS_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    parts = args.only or ["speed", "cache", "optimum"]
    results = {}
    if "speed" in parts:
        results["ours"] = bench_ours_speed(args.steps, args.warmup, args.seed)
        print(json.dumps(results["ours"]), flush=True)
        results["trl"] = bench_trl_speed(
            args.trl_python, args.steps, args.warmup, args.threads, args.seed
        )
        print(json.dumps(results["trl"]), flush=True)
    if "cache" in parts:
        results["cache"] = bench_cache(args.seed)
        print(json.dumps(results["cache"]), flush=True)
    if "optimum" in parts:
        betas = [float(b) for b in args.betas.split(",")]
        results["optimum"] = bench_optimum(
            args.seed, args.ref_samples, args.ppo_steps, betas, args.prompts
        )
        for row in results["optimum"]:
            print(json.dumps(row), flush=True)

    print(f"\n== summary ({args.threads} thread(s), {os.cpu_count()} cores, seed {args.seed}) ==")
    if "ours" in results:
        ours, trl = results["ours"], results["trl"]
        print(f"{'seconds per PPO step':32s} {'ours':>10s} {'TRL 1.12.0':>12s} {'ratio':>8s}")
        if "seconds_per_step" in trl:
            for key, label in (
                ("seconds_per_step", "wall (mean)"),
                ("cpu_seconds_per_step", "cpu (mean)"),
            ):
                ratio = ours[key] / trl[key]
                print(f"{label:32s} {ours[key]:10.4f} {trl[key]:12.4f} {ratio:8.2f}")
            verdict = (
                "met" if ours["seconds_per_step"] <= 0.25 * trl["seconds_per_step"] else "NOT met"
            )
            print(f"goal ours ≤ 0.25 × TRL (wall): {verdict}")
        else:
            print(
                f"{'wall (mean)':32s} {ours['seconds_per_step']:10.4f}   TRL: {trl.get('skipped') or 'failed'}"
            )
    if "cache" in results:
        c = results["cache"]
        print(
            f"rollout tokens/s: {c['with_cache_tokens_per_second']} with KV cache, "
            f"{c['without_cache_tokens_per_second']} without ({c['speedup']}×)"
        )
    for o in results.get("optimum", []):
        print(
            f"beta {o['beta']}: J* {o['J_star']:.3f} (ESS mean {o['ess_mean']}, min "
            f"{o['ess_min']}; by samples/prompt {o['J_star_by_samples']}), J_ref {o['J_ref']:.3f}, "
            f"J_ppo {o['J_ppo']:.3f} → gap closed {o['gap_closed']:.1%} (goal ≥ 95 %); "
            f"gold: reference {o['gold_ref']:.3f}, optimum {o['gold_star']:.3f}, PPO "
            f"{o['gold_ppo']:.3f}; KL: optimum {o['kl_star']:.2f}, PPO {o['kl_ppo']:.2f}"
        )
        print(
            f"    J* from a reference+PPO mixture: {o['J_star_mixture']:.3f} (ESS mean "
            f"{o['ess_mean_mixture']}, min {o['ess_min_mixture']}; J_ref {o['J_ref_mixture']:.3f})"
            f" → gap closed {o['gap_closed_mixture']:.1%}; optimum's gold "
            f"{o['gold_star_mixture']:.3f} at KL {o['kl_star_mixture']:.2f}"
        )
    return results


if __name__ == "__main__":
    main()
