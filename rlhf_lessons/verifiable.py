"""RL with a verifiable reward: GRPO and its variants on the toy verifier, on one budget.

Introduced in 10_verifiable_rewards (issue 14). The reward is a program's 0/1 verdict
(`toy.verifier.verify_all`), so the reward the policy maximises *is* the gold: there is no reward
model to hack, and beta = 0 (no reference in the loss) is the default, as in TRL 1.16's
GRPOConfig and DAPO (Yu et al. 2025). Every variant starts from the same cached toy SFT policy,
trains for the same steps with the same seed (so the same prompts in the same order), and is
judged on the same held-out prompts with the same sampling seed:

    GRPO      loss_type="grpo": mean over each response's tokens, then over responses
    Dr. GRPO  loss_type="dr_grpo", scale_rewards="none" (Liu et al. 2025): no length or std bias
    DAPO      loss_type="dapo" (token mean over the batch), epsilon_high=0.28 (clip-higher)
    GSPO      importance_sampling_level="sequence" (Zheng et al. 2025): one ratio per response

All with epochs = 2 (TRL's num_iterations), so that π_θ moves away from π_old within a batch
and the clip acts (with epochs = 1 the ratio is exactly 1 and clipfrac is 0).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from .evaluate import evaluate_policy
from .toy import load_records
from .toy.verifier import verify_all
from .trainers.grpo import GRPOConfig, GRPOResult, train_grpo

__all__ = [
    "RLVR_SETTINGS",
    "VARIANTS",
    "VerifiableWorld",
    "load_verifiable_world",
    "pass_rate",
    "rlvr_config",
    "run_variant",
    "format_variant_table",
]

# What every lesson-10 run shares: no KL (beta = 0), two gradient steps per batch (the clip acts).
RLVR_SETTINGS: dict = {"beta": 0.0, "epochs": 2, "prompts_per_step": 8, "group_size": 8}

# variant name -> the GRPOConfig fields that make it (TRL 1.16's names and values)
VARIANTS: dict[str, dict] = {
    "GRPO": {"loss_type": "grpo"},
    "Dr. GRPO": {"loss_type": "dr_grpo", "scale_rewards": "none"},
    "DAPO": {"loss_type": "dapo", "epsilon_high": 0.28},
    "GSPO": {"loss_type": "grpo", "importance_sampling_level": "sequence"},
}


@dataclass
class VerifiableWorld:
    """The toy SFT policy (the starting point, frozen) and the prompts every variant shares."""

    reference: object  # the toy SFT policy, frozen; every run trains a copy
    tokenizer: object
    prompts: list[str]  # training prompts
    eval_prompts: list[str]  # held-out prompts: the one yardstick
    seed: int = 0


def load_verifiable_world(seed: int = 0, eval_prompts: int = 128) -> VerifiableWorld:
    """The cached toy SFT policy (trained now if missing) and the toy prompts. No reward model."""
    from .models import freeze, quiet_transformers
    from .trainers.toy_models import toy_sft_policy

    with quiet_transformers():  # no "Loading weights" bar for a tiny checkpoint
        policy, tokenizer = toy_sft_policy(seed=seed)
    return VerifiableWorld(
        reference=freeze(policy),
        tokenizer=tokenizer,
        prompts=[r["prompt"] for r in load_records("prompts_train")],
        eval_prompts=[r["prompt"] for r in load_records("prompts_test")][:eval_prompts],
        seed=seed,
    )


def pass_rate(world: VerifiableWorld, policy=None, *, verifier=verify_all, **sampling) -> dict:
    """Sample one response per held-out prompt and verify it: {"pass_rate", "samples", ...}.

    policy None = the SFT policy. The sampling seed is the world's (as `train_grpo`'s held-out
    evaluation), so before/after numbers compare like with like. verifier: texts -> 0/1 scores
    (a learner's stricter task, say); `sampling` goes to `evaluate_policy` (temperature, ...).
    """
    ev = evaluate_policy(
        world.reference if policy is None else policy, world.tokenizer, world.eval_prompts,
        seed=world.seed, gold_fn=verifier, **sampling,
    )  # fmt: skip
    return {"pass_rate": ev["gold"], "samples": ev["samples"], "prompts": ev["prompts"]}


def rlvr_config(variant: str = "GRPO", steps: int = 30, seed: int = 0, **overrides) -> GRPOConfig:
    """The GRPOConfig of one variant: RLVR_SETTINGS + VARIANTS[variant] + overrides."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    fields = RLVR_SETTINGS | VARIANTS[variant] | {"steps": steps, "seed": seed, "eval_every": 0}
    return GRPOConfig(**(fields | overrides))


def run_variant(
    world: VerifiableWorld,
    variant: str = "GRPO",
    *,
    steps: int = 30,
    doctor=False,
    verifier=verify_all,
    **overrides,
) -> dict:
    """Train a copy of the SFT policy with one variant on the verifier; evaluate before and after.

    reward_fn = gold_fn = verifier (texts -> 0/1 scores; default the toy task's `verify_all`): the
    reward is the gold. doctor: as `train_grpo`'s (False: none). `overrides` are GRPOConfig fields
    (e.g. dynamic_sampling=True, temperature=...). Returns {"variant", "pass_before",
    "pass_after" (held-out pass rates, the same prompts and sampling seed), "response_length"
    (tokens per response) and "entropy" (nats per token), both means of the training batches of
    the last 5 steps, "clipfrac" and "zero_variance_groups" (means over every step),
    "dropped_groups" (summed over steps; 0 without dynamic sampling), "seconds" (wall),
    "cpu_seconds" (this process's CPU time of the training call), "metrics" (the trainer's rows,
    each with "pass_rate" = its "reward", the training batch's pass rate), "result" (the
    GRPOResult)}.
    """
    config = rlvr_config(variant, steps=steps, seed=world.seed, **overrides)
    policy = copy.deepcopy(world.reference).requires_grad_(True)
    t0, c0 = time.perf_counter(), time.process_time()
    result: GRPOResult = train_grpo(
        config, policy, world.reference, None, world.tokenizer, world.prompts,
        reward_fn=verifier, gold_fn=verifier, eval_prompts=world.eval_prompts,
        doctor=doctor, progress=False,
    )  # fmt: skip
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    rows = result.metrics
    last = rows[-5:]

    def mean(key: str, of=rows) -> float:
        return sum(r[key] for r in of) / max(len(of), 1)

    return {
        "variant": variant,
        "pass_before": result.evaluations[0]["gold"],
        "pass_after": result.evaluations[-1]["gold"],
        "response_length": mean("response_length", last),
        "entropy": mean("entropy", last),
        "clipfrac": mean("clipfrac"),
        "zero_variance_groups": mean("zero_variance_groups"),
        "dropped_groups": sum(r["dropped_groups"] for r in rows),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "metrics": [r | {"pass_rate": r["reward"]} for r in rows],  # reward = the verifier's
        "result": result,
    }


def format_variant_table(rows: list[dict]) -> str:
    """A markdown table of `run_variant` results (lesson 10's comparison)."""
    lines = [
        "| variant | pass rate before → after | response length (tokens) | entropy (nats/token) "
        "| clipfrac | zero-variance groups | CPU s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['pass_before']:.2f} → **{r['pass_after']:.2f}** "
            f"| {r['response_length']:.1f} | {r['entropy']:.2f} | {r['clipfrac']:.3f} "
            f"| {r['zero_variance_groups']:.0%} | {r['cpu_seconds']:.1f} |"
        )
    return "\n".join(lines)
