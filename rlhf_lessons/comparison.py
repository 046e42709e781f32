"""PPO, DPO, GRPO and best-of-N on the same toy world, the same budget, the same yardstick.

Introduced in 06_dpo_and_grpo. Every method starts from the same cached SFT policy (the
reference) and is judged by the same held-out evaluation (`evaluate_policy` on the same
prompts with the same sampling seed): gold (the hidden judge), reward (the proxy: reward model
minus the missing-<eos> penalty), kl (Σ_t log π/π_ref on the samples, nats per response),
plus the wall time of training and the model copies each method keeps in memory.

One budget: every trained method gets the same number of steps of 64 training sequences
each — PPO 64 rollouts, GRPO 8 prompts × 8 rollouts, DPO 64 preference pairs (read from
the data set, nothing generated). Best-of-N trains nothing: it pays at inference time, n
samples and n reward-model calls for each answer. `frontier` repeats a method over a sweep of
beta to trace reward–KL and gold–KL curves; `optimum_curve` gives the exact optimum π* ∝
π_ref·exp(r/β) over the same betas (Monte Carlo, rlhf_lessons.optimum).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from .best_of_n import best_of_n_curve
from .evaluate import evaluate_policy
from .optimum import optimum_from_samples, sample_reference
from .toy import gold_scores, load_records

__all__ = [
    "MODEL_COPIES",
    "PG_COPIES",
    "PG_METHODS",
    "ToyWorld",
    "load_world",
    "run_method",
    "reference_row",
    "compare",
    "frontier",
    "optimum_curve",
    "optimum_gap",
    "format_table",
    "PUBLISHED",
    "published_table",
]

METHODS = ("PPO", "DPO", "GRPO", "best-of-N")
PG_METHODS = (
    "REINFORCE",
    "RLOO",
)  # lesson 09's simpler policy gradients (not in `compare`'s default)

# Model copies in memory while the method runs (trained + frozen), with what they are.
MODEL_COPIES: dict[str, tuple[int, int, str]] = {
    "PPO": (4, 2, "policy + value model trained; reference + reward model frozen"),
    "DPO": (1, 1, "policy trained; the reference ran once, before training, for its logprobs"),
    "GRPO": (3, 1, "policy trained; reference + reward model frozen; no value model"),
    "best-of-N": (2, 0, "nothing trained; reference samples n times, reward model scores each"),
}
PG_COPIES: dict[str, tuple[int, int, str]] = {  # lesson 09 (kept apart: lesson 06 lists the above)
    "REINFORCE": (3, 1, "policy trained; reference + reward model frozen; no value model"),
    "RLOO": (3, 1, "policy trained; reference + reward model frozen; no value model"),
}


@dataclass
class ToyWorld:
    """What every method shares: the SFT policy (= reference), reward model, prompts, pairs."""

    reference: object  # the SFT policy, frozen; every method starts from a copy
    reward_model: object  # the frozen reward model (lesson 02)
    tokenizer: object
    prompts: list[str]  # training prompts (PPO, GRPO)
    pairs: list[dict]  # training preference pairs (DPO; the reward model learned from these)
    eval_prompts: list[str]  # held-out prompts: the one yardstick for every method
    seed: int = 0
    cache: dict = field(default_factory=dict)  # DPO's encoded pairs and reference logprobs


def load_world(seed: int = 0, eval_prompts: int = 128) -> ToyWorld:
    """The cached toy SFT policy and reward model, and the toy data (seconds; trains if missing)."""
    from .models import freeze, quiet_transformers
    from .trainers.toy_models import toy_reward_model, toy_sft_policy

    with quiet_transformers():  # no "Loading weights" bars for two tiny checkpoints
        policy, tokenizer = toy_sft_policy(seed=seed)
        reward_model = toy_reward_model(seed=seed)
    return ToyWorld(
        reference=freeze(policy),
        reward_model=reward_model,
        tokenizer=tokenizer,
        prompts=[r["prompt"] for r in load_records("prompts_train")],
        pairs=load_records("pairs_train"),
        eval_prompts=[r["prompt"] for r in load_records("prompts_test")][:eval_prompts],
        seed=seed,
    )


def _evaluate(world: ToyWorld, policy) -> dict:
    ev = evaluate_policy(
        policy,
        world.tokenizer,
        world.eval_prompts,
        reward_model=world.reward_model,
        reference=world.reference,
        seed=world.seed + 7,
    )
    return {k: ev[k] for k in ("gold", "reward", "kl", "eos_rate", "samples")}


def run_method(
    world: ToyWorld, method: str, *, beta: float | None = None, steps: int = 30, n: int = 16
) -> dict:
    """Train (or, for best-of-N, sample) one method from the reference and evaluate it.

    Args:
        method: "PPO", "DPO", "GRPO", "best-of-N", "REINFORCE" or "RLOO" (lesson 09: 64
            prompts x 1 response, and 16 prompts x 4 responses, per step).
        beta: the method's KL coefficient (None = its toy preset); ignored by best-of-N.
        steps: training steps of 64 sequences each (PPO, DPO, GRPO).
        n: samples per prompt for best-of-N.
    Returns: {"method", "beta", "n", "gold", "reward", "kl", "eos_rate", "seconds",
    "cpu_seconds", "copies", "trained_copies", "samples", "doctor", "metrics"}; seconds = wall
    time of the training call, setup included (DPO's tokenised pairs and reference logprobs,
    paid by the first DPO run on a world and reused by later ones; for best-of-N:
    sampling and scoring n responses for every held-out prompt), cpu_seconds = this process's
    CPU time for the same (steadier than wall time on a busy machine); metrics = the trainer's
    rows (for best-of-N: its curve for n = 1, 2, 4, ... up to n, from the same samples);
    doctor = the run's Doctor. PPO reuses a run saved by `pipeline.remember_ppo_run` (lesson
    04's, with the same config, models and prompts) instead of training it again: then
    loaded = True and seconds / cpu_seconds are the saved run's own training time; a run PPO
    trains here is saved the same way.
    """
    if method not in METHODS + PG_METHODS:
        raise ValueError(f"method must be one of {METHODS + PG_METHODS}, got {method!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    overrides = {"seed": world.seed} | ({"beta": beta} if beta is not None else {})
    policy = copy.deepcopy(world.reference).requires_grad_(True)
    doctor, metrics, loaded = None, None, False
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "PPO":
        from .trainers.ppo import PPOConfig, train_ppo
        from .trainers.run_cache import recall_ppo_run, remember_ppo_run

        config = PPOConfig.toy(steps=steps, batch_size=64, eval_every=0, **overrides)
        inputs = (world.reference, world.reward_model, world.prompts)
        result = recall_ppo_run(config, *inputs)  # lesson 04's run, if it was saved
        loaded = result is not None
        if not loaded:
            result = train_ppo(
                config, policy, world.reference, world.reward_model, world.tokenizer,
                world.prompts, gold_fn=gold_scores, doctor=True, progress=False,
            )  # fmt: skip
            remember_ppo_run(result, *inputs)
        policy, doctor, metrics = result.policy, result.doctor, result.metrics
    elif method == "DPO":
        from .trainers.dpo import DPOConfig, encode_pairs, reference_logprobs, train_dpo

        config = DPOConfig.toy(steps=steps, batch_size=64, eval_every=0, **overrides)
        if "dpo_pairs" not in world.cache:  # the first DPO run pays for these; later ones reuse
            data = encode_pairs(world.tokenizer, world.pairs)
            world.cache["dpo_pairs"] = data
            world.cache["dpo_reference_logps"] = reference_logprobs(world.reference, data)
        result = train_dpo(
            config, policy, world.reference, world.tokenizer, world.cache["dpo_pairs"],
            reference_logps=world.cache["dpo_reference_logps"], eval_prompts=[], progress=False,
        )  # fmt: skip
        doctor, metrics = result.doctor, result.metrics
    elif method == "GRPO":
        from .trainers.grpo import GRPOConfig, train_grpo

        config = GRPOConfig.toy(
            steps=steps, prompts_per_step=8, group_size=8, eval_every=0, **overrides
        )
        result = train_grpo(
            config, policy, world.reference, world.reward_model, world.tokenizer, world.prompts,
            gold_fn=gold_scores, eval_prompts=[], progress=False,
        )  # fmt: skip
        doctor, metrics = result.doctor, result.metrics
    elif method in PG_METHODS:
        if method == "REINFORCE":
            from .trainers.reinforce import REINFORCEConfig as Config
            from .trainers.reinforce import train_reinforce as train

            config = Config.toy(steps=steps, prompts_per_step=64, eval_every=0, **overrides)
        else:
            from .trainers.rloo import RLOOConfig as Config
            from .trainers.rloo import train_rloo as train

            config = Config.toy(steps=steps, prompts_per_step=16, k=4, eval_every=0, **overrides)
        result = train(
            config, policy, world.reference, world.reward_model, world.tokenizer, world.prompts,
            gold_fn=gold_scores, eval_prompts=[], progress=False,
        )  # fmt: skip
        doctor, metrics = result.doctor, result.metrics
    else:  # best-of-N: no training; the cost is n samples + n scores per answer
        ns = sorted({2**k for k in range(n.bit_length()) if 2**k < n} | {n})  # 1, 2, 4, ..., n
        curve = best_of_n_curve(
            world.reference, world.reward_model, world.tokenizer, world.eval_prompts, ns=ns,
            seed=world.seed + 7,
        )  # fmt: skip
        ev = {k: curve[-1][k] for k in ("gold", "reward", "kl", "eos_rate", "samples")}
        metrics = [{"method": method, "beta": None, **r} for r in curve]  # the whole curve
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if loaded:  # the time the saved run took when it was trained, not the time to load it
        seconds = sum(r["seconds"] for r in metrics)
        cpu_seconds = sum(r["cpu_seconds"] for r in metrics)
    if method != "best-of-N":
        policy.eval()
        ev = _evaluate(world, policy)
        beta = config.beta
    copies, trained, _ = {**MODEL_COPIES, **PG_COPIES}[method]
    return {
        "method": method,
        "beta": beta if method != "best-of-N" else None,
        "n": n if method == "best-of-N" else None,
        **ev,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "copies": copies,
        "trained_copies": trained,
        "doctor": doctor,
        "metrics": metrics,
        "loaded": loaded,
    }


def reference_row(world: ToyWorld) -> dict:
    """The starting point every method is measured from: the reference (SFT policy) itself."""
    return {
        "method": "reference (SFT)", "beta": None, "n": None, **_evaluate(world, world.reference),
        "seconds": 0.0, "cpu_seconds": 0.0, "copies": 1, "trained_copies": 0, "doctor": None, "metrics": None,
        "loaded": False,
    }  # fmt: skip


def compare(
    world: ToyWorld, *, steps: int = 30, n: int = 16, betas: dict | None = None, methods=METHODS
) -> list[dict]:
    """One row per method (plus the reference itself first), all on the same budget."""
    betas = betas or {}
    rows = [reference_row(world)]
    for method in methods:
        rows.append(run_method(world, method, beta=betas.get(method), steps=steps, n=n))
    return rows


def frontier(world: ToyWorld, method: str, betas, *, steps: int = 30) -> list[dict]:
    """The method once per beta (or, for best-of-N, once per n in `betas`): a reward–KL curve."""
    if method == "best-of-N":
        rows = best_of_n_curve(
            world.reference, world.reward_model, world.tokenizer, world.eval_prompts,
            ns=tuple(betas), seed=world.seed + 7,
        )  # fmt: skip
        return [{"method": method, "beta": None, **r} for r in rows]  # same samples as run_method
    return [run_method(world, method, beta=b, steps=steps) for b in betas]


def optimum_curve(
    world: ToyWorld, betas, *, n_prompts: int = 32, n_samples: int = 512
) -> list[dict]:
    """π* ∝ π_ref·exp(r/β) for each beta, by Monte Carlo on n_samples reference samples per
    prompt: its reward, KL and gold, and the effective sample size (a small ESS = a lower bound).
    """
    samples = sample_reference(
        world.reference, world.reward_model, world.tokenizer, world.eval_prompts[:n_prompts],
        n_samples, seed=world.seed + 11,
    )  # fmt: skip
    rows = []
    for beta in betas:
        est = optimum_from_samples(samples, beta)
        rows.append(
            {"method": "optimum π*", "beta": beta, "reward": est.reward, "kl": est.kl,
             "gold": est.gold, "j_star": est.j_star, "ess_mean": est.ess_mean}
        )  # fmt: skip
    return rows


def optimum_gap(point: dict, optimum: list[dict]) -> float | None:
    """How far a point's proxy reward is below the optimum's at the same KL (linear
    interpolation along the optimum curve); None when its KL is outside the curve's range."""
    curve = sorted(optimum, key=lambda r: r["kl"])
    kl = point["kl"]
    for lo, hi in zip(curve, curve[1:]):
        if lo["kl"] <= kl <= hi["kl"]:
            t = (kl - lo["kl"]) / (hi["kl"] - lo["kl"])
            return lo["reward"] + t * (hi["reward"] - lo["reward"]) - point["reward"]
    return None


def format_table(rows: list[dict]) -> str:
    """A markdown table of `compare`'s rows; with a "gap" column when a row has one (the proxy
    reward below the exact optimum's at the same KL, `optimum_gap`; "—" where None)."""
    gaps = any("gap" in r for r in rows)
    lines = [
        "| method | beta / n | gold | proxy reward | KL to reference (nats) "
        + ("| below π* at that KL " if gaps else "")
        + "| time (s): wall / CPU | model copies (trained) |",
        "|---|---|---|---|---|" + ("---|" if gaps else "") + "---|---|",
    ]
    for r in rows:
        knob = f"n = {r['n']}" if r.get("n") else (f"β = {r['beta']:g}" if r.get("beta") else "")
        gap = ""
        if gaps:
            gap = "| — " if r.get("gap") is None else f"| {r['gap']:.2f} "
        lines.append(
            f"| {r['method']} | {knob} | {r['gold']:.2f} | {r['reward']:.2f} | {r['kl']:.2f} "
            + gap
            + f"| {r['seconds']:.1f} / {r.get('cpu_seconds', float('nan')):.1f} "
            f"| {r['copies']} ({r['trained_copies']}) |"
        )
    return "\n".join(lines)


# What published work found at scale: only facts from the course's reference list
# (shared/REFERENCES.md), as the papers report them. Printed by lesson 06 from a code cell, so
# that prose never types a number in.
PUBLISHED: list[tuple[str, str]] = [
    (
        "Rafailov et al. 2023 (DPO), Figure 2 left: IMDb sentiment, GPT-2-large, "
        "reward against sequence KL",
        "DPO's frontier dominates PPO's, even PPO with the ground-truth reward (PPO-GT): DPO "
        "reaches a reward of about 0.9 at a KL of 1-2 nats, PPO about 0.85-0.9 only near KL "
        "10-12 (read off the figure). TL;DR summarisation: win rate 61% for DPO, 57% for PPO.",
    ),
    (
        "Ivison et al. 2024",
        "PPO beats DPO by up to 2.5% on math and 1.2% in general domains; the preference data "
        "matters most.",
    ),
    (
        "Xu et al. 2024",
        "a well-tuned PPO beats DPO; what it takes: advantage normalisation, a large batch, an "
        "exponential moving average of the reference.",
    ),
    (
        "Tulu 2, DPO on top of SFT",
        "MT-Bench 6.70 → 7.00 at 13B and 7.49 → 7.89 at 70B: DPO works at scale.",
    ),
    (
        "Gao et al. 2022, reward-model over-optimisation",
        "the proxy reward keeps rising while the gold reward peaks and then falls; best-of-N "
        "and RL follow different curves in d = √KL (R = d(a - b·d) and R = d(a - b·log d)).",
    ),
    (
        "missing: PPO vs DPO at equal compute on MT-Bench",
        "no published comparison at equal compute on MT-Bench exists for a 13B model and 100K "
        "pairs (the seed's quiz 3): any number for it is a reasoned estimate, not a measurement.",
    ),
]


def published_table() -> str:
    """`PUBLISHED` as a markdown table."""
    lines = ["| source | finding |", "|---|---|"]
    lines += [f"| {who} | {what} |" for who, what in PUBLISHED]
    return "\n".join(lines)
