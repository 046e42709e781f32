"""Direct preference optimisation (DPO): learn from preference pairs with no reward model and no RL.

Introduced in 06_dpo_and_grpo. Follows Rafailov et al. 2023 ("Direct Preference Optimization:
Your Language Model is Secretly a Reward Model"). The lesson derives it in four lines:

    1. the KL-regularised objective  max_π E[r(x,y)] - β·KL(π ‖ π_ref)  has the optimum
           π*(y|x) = π_ref(y|x) · exp(r(x,y)/β) / Z(x)
    2. solve for the reward:  r(x,y) = β·log π*(y|x)/π_ref(y|x) + β·log Z(x)
    3. put it into Bradley–Terry, p(y_w ≻ y_l) = σ(r_w - r_l): β·log Z(x) cancels
    4. so the policy itself is trained with the reward model's loss:
           loss = -log σ( β·[(log π_w - log π_ref,w) - (log π_l - log π_ref,l)] )

It trains on the *same* preference pairs the reward model saw (data/toy/pairs_train.jsonl).
The reference's logprobs never change, so they are computed once before training
(`reference_logprobs`) and the reference is not called again during training: one model copy
in memory while training, where PPO holds four.

Metrics per step (OUT/metrics.jsonl, from step 1): loss; accuracy (fraction of pairs whose
implicit reward margin is > 0); chosen_reward and rejected_reward, the implicit rewards
β·(log π - log π_ref) (Rafailov et al. 2023, Section 5); margin; seconds (the training step
alone). With `eval_prompts`, at step 0 (before training, in `result.evaluations` only), every
`eval_every` steps and at the end: gold (from `gold_fn`), reward (proxy) and kl from
`evaluate_policy` on those held-out prompts, with the same seed each time, so that changes come
from the policy and not from the sampling noise.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch

from ..batching import QueryBatch, encode_queries
from ..evaluate import MISSING_EOS_PENALTY, evaluate_policy
from ..losses import dpo_loss
from ..models import freeze
from ..rollout import sequence_logprobs
from ..runtime import set_seed
from ..toy import load_records
from .common import (
    MetricsWriter,
    NonFiniteLoss,
    check_finite_loss,
    checkpoint_if_due,
    load_checkpoint,
    progress_bar,
)
from .contract import (
    TrainerConfig,
    TrainResult,
    prepare_policy,
    resolve_doctor,
    stop_on_non_finite,
)

__all__ = ["DPOConfig", "DPOResult", "reference_logprobs", "train_dpo", "CONFIG", "run_cli"]


@dataclass
class DPOConfig(TrainerConfig):
    """Settings of one DPO run (toy defaults: gold rises clearly within 50 steps, ~2 s)."""

    seed: int = 0  # seeds the batch order and the evaluation samples
    steps: int = 50  # optimizer steps (the pairs are reshuffled after each pass over them)
    batch_size: int = 64  # preference pairs per step (each pair = 2 sequences)
    lr: float = 1e-3  # AdamW learning rate (tiny models like large rates)
    beta: float = 0.1  # β > 0: strength of the implicit KL leash to the reference
    # (Rafailov et al.: 0.1; with β = 0 every pair's loss is log 2 and nothing is learned)
    max_grad_norm: float = 1.0  # gradient clipping
    reference_batch_size: int = 512  # sequences per forward pass when precomputing reference
    # logprobs
    eval_every: int = 10  # steps between held-out evaluations (0 = only before and after training)
    max_new_tokens: int = 14  # longest response sampled at evaluation
    temperature: float = 1.0  # sampling temperature at evaluation
    missing_eos_penalty: float = MISSING_EOS_PENALTY  # proxy reward's penalty for no <eos>
    # (evaluation only)
    checkpoint_every: int = 50  # steps between atomic checkpoints when an out dir is given
    micro_batch_size: int = 0  # pairs per forward/backward, gradients accumulated over the
    # batch (0 = the whole batch at once): the same step with less memory (GPU presets)

    RULES = {
        "steps": ">=1", "batch_size": ">=1", "lr": ">0", "max_grad_norm": ">0",
        "reference_batch_size": ">=1", "eval_every": ">=0", "max_new_tokens": ">=1",
        "temperature": ">0", "missing_eos_penalty": ">=0", "checkpoint_every": ">=1",
        "micro_batch_size": ">=0",
    }  # fmt: skip
    TOY = {}  # the toy preset is the defaults

    def check(self) -> None:
        if not self.beta > 0:
            raise self.fail("beta", "> 0 (with beta = 0 every pair's loss is log 2 and nothing "
                                    "is learned; DPO needs beta > 0, typically 0.1)")  # fmt: skip


@dataclass(kw_only=True)
class DPOResult(TrainResult):
    """What `train_dpo` returns: the contract's TrainResult and the reference's one-off cost."""

    reference_seconds: float = 0.0  # time to precompute the reference logprobs (once)


def encode_pairs(tokenizer, pairs: list[dict]) -> QueryBatch:
    """All pairs as one QueryBatch of 2N rows: rows 0..N-1 chosen, rows N..2N-1 rejected.

    Chosen and rejected share one prompt width P, so a training step feeds both halves of its
    pairs through the policy in a single forward pass.
    """
    if not pairs:
        raise ValueError("pairs is empty: expected a list of {'prompt', 'chosen', 'rejected'}")
    for i, p in enumerate(pairs):
        if not isinstance(p, dict) or not {"prompt", "chosen", "rejected"} <= p.keys():
            raise ValueError(f"pairs[{i}] must be a dict with 'prompt', 'chosen', 'rejected'")
    prompts = [p["prompt"] for p in pairs]
    responses = [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs]
    return encode_queries(tokenizer, prompts + prompts, responses)


@torch.no_grad()
def reference_logprobs(reference, data: QueryBatch, batch_size: int = 512) -> torch.Tensor:
    """log π_ref(y|x) of every row of `data`, summed over response tokens: (N,).

    Computed once before training: the reference is frozen, so these numbers never change
    and the reference need not stay in memory (or be run) while the policy trains.
    """
    return torch.cat([sequence_logprobs(reference, rows) for rows in data.chunks(batch_size)])


def _pair_indices(n_pairs: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """The pairs of a step: epochs of shuffled pairs, each shuffle a function of (seed, epoch).

    A pure function of the step, so a resumed run sees exactly the batches it would have seen.
    """
    per_epoch = n_pairs // batch_size
    if per_epoch == 0:
        raise ValueError(
            f"batch_size ({batch_size}) is larger than the number of pairs ({n_pairs})"
        )
    epoch, i = divmod(step - 1, per_epoch)
    order = torch.randperm(n_pairs, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[i * batch_size : (i + 1) * batch_size]


def train_dpo(
    config: DPOConfig | None,
    policy,
    reference,
    tokenizer,
    pairs: list[dict] | QueryBatch | None = None,
    *,
    reference_logps: torch.Tensor | None = None,
    reward_model=None,
    gold_fn=None,
    eval_prompts: list[str] | None = None,
    out_dir=None,
    resume: bool = False,
    doctor=None,
    callback=None,
    progress: bool = True,
) -> DPOResult:
    """Train `policy` (in place: pass a copy to keep the SFT policy) with the DPO loss.

    Introduced in 06_dpo_and_grpo (Rafailov et al. 2023). DPO learns from pairs, not prompts and
    rewards, so its positional arguments are (config, policy, reference, tokenizer, pairs); the
    keyword arguments mean what trainers/contract.py says.

    Args:
        config: DPOConfig (None = the toy preset).
        policy: causal LM to train, usually a copy of the SFT policy.
        reference: the frozen SFT policy. Used once, before training, for its logprobs (and by
            the held-out evaluation, for the KL).
        tokenizer: the toy tokenizer (or the policy's tokenizer).
        pairs: list of {'prompt', 'chosen', 'rejected'} (None = data/toy/pairs_train.jsonl),
            or the QueryBatch `encode_pairs` made of them (to skip tokenising again).
        reference_logps: (2N,) log π_ref of the encoded pairs from `reference_logprobs`, to
            reuse across runs on the same pairs and reference (None = computed now, once).
        reward_model: optional; only to report the proxy reward at evaluation. DPO never
            trains against it.
        gold_fn: the true score of responses, reported at evaluation (None = no gold).
        eval_prompts: held-out prompts evaluated at step 0, every `config.eval_every` steps and
            at the end (None or [] = no held-out evaluation).
        out_dir, resume, doctor, callback, progress: as in the contract.
    """
    config = config if config is not None else DPOConfig.toy()
    if not isinstance(config, DPOConfig):
        raise TypeError(f"config must be a DPOConfig, got {type(config).__name__}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder holding the checkpoint)")
    g = set_seed(config.seed)
    if pairs is None:
        pairs = load_records("pairs_train")
    prepare_policy(policy, reference)
    doctor = resolve_doctor(doctor, "dpo", progress)
    freeze(reference)

    # 1. tokenise every pair once, and score it once under the frozen reference
    data = pairs if isinstance(pairs, QueryBatch) else encode_pairs(tokenizer, pairs)  # (2N, L)
    if len(data) % 2:
        raise ValueError(
            f"pairs as a QueryBatch must have 2N rows (chosen, rejected), got {len(data)}"
        )
    n_pairs = len(data) // 2
    t0 = time.perf_counter()
    if reference_logps is None:
        ref_logps = reference_logprobs(reference, data, config.reference_batch_size)  # (2N,)
    elif not isinstance(reference_logps, torch.Tensor) or reference_logps.shape != (len(data),):
        raise ValueError(
            f"reference_logps must be a tensor of shape ({len(data)},) (one per chosen and "
            f"rejected row), got {getattr(reference_logps, 'shape', type(reference_logps))}"
        )
    else:
        ref_logps = reference_logps
    reference_seconds = time.perf_counter() - t0

    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr)
    start = 0
    if resume:
        start, _ = load_checkpoint(out_dir, {"policy": policy}, {"policy": optimizer}, g)
    log = MetricsWriter(out_dir, resume_step=start if resume else None)
    evaluations: list[dict] = []

    def evaluate(row: dict) -> dict:
        if not eval_prompts:
            return row
        ev = evaluate_policy(
            policy,
            tokenizer,
            eval_prompts,
            reward_model=reward_model,
            reference=reference,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            seed=config.seed,
            missing_eos_penalty=config.missing_eos_penalty,
            gold_fn=gold_fn,
        )
        row.update(gold=ev["gold"], reward=ev["reward"], kl=ev["kl"], eos_rate=ev["eos_rate"])
        evaluations.append({k: row[k] for k in ("step", "gold", "reward", "kl", "eos_rate")})
        return row

    if start == 0 and eval_prompts:  # step 0: the starting point (the SFT policy)
        evaluate({"step": 0})
    train_seconds, stopped = 0.0, None
    policy.train()
    bar = progress_bar(range(start + 1, config.steps + 1), desc="DPO", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        idx = _pair_indices(n_pairs, config.batch_size, step, config.seed)  # (B,)
        optimizer.zero_grad()
        policy_logps = []
        for chunk in idx.split(config.micro_batch_size or len(idx)):  # (b,) one chunk by default
            # 2. chosen rows chunk, rejected rows chunk + N, in one forward pass
            rows = torch.cat([chunk, chunk + n_pairs])  # (2b,)
            logps = sequence_logprobs(policy, data.select(rows))  # (2b,) log π_θ(y|x)
            policy_chosen, policy_rejected = logps.split(len(chunk))  # (b,), (b,)
            ref_chosen, ref_rejected = ref_logps[chunk], ref_logps[chunk + n_pairs]  # (b,), (b,)

            # 3. the DPO loss: Bradley–Terry on implicit rewards β·log π_θ/π_ref
            loss = dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, config.beta)
            try:
                check_finite_loss(loss, step)
            except NonFiniteLoss as exc:
                stopped = stop_on_non_finite(exc, progress)
                break
            (loss * (len(chunk) / len(idx))).backward()  # accumulates: Σ (b/B)·mean_b = mean_B
            policy_logps.append(logps.detach().view(2, -1))  # (2, b)
        if stopped is not None:  # nothing of this step is applied or written
            optimizer.zero_grad()
            if doctor is not None:
                doctor.check(step, {"loss": float("nan")})
            break
        policy_chosen, policy_rejected = torch.cat(policy_logps, dim=1)  # (B,), (B,)
        ref_chosen, ref_rejected = ref_logps[idx], ref_logps[idx + n_pairs]  # (B,), (B,)
        if len(policy_logps) > 1:  # the batch's loss, for the log
            loss = dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, config.beta)
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        seconds = time.perf_counter() - t0
        train_seconds += seconds

        # 4. what to watch: implicit rewards of chosen and rejected, and how often they order right
        with torch.no_grad():
            chosen_reward = config.beta * (policy_chosen - ref_chosen)  # (B,)
            rejected_reward = config.beta * (policy_rejected - ref_rejected)  # (B,)
            margin = chosen_reward - rejected_reward  # (B,)
        row = {
            "step": step,
            "loss": loss.item(),
            "accuracy": (margin > 0).float().mean().item(),
            "chosen_reward": chosen_reward.mean().item(),
            "rejected_reward": rejected_reward.mean().item(),
            "margin": margin.mean().item(),
            "grad_norm": grad_norm.item(),
            "reward": None,
            "gold": None,
            "kl": None,
            "seconds": seconds,
        }
        if (config.eval_every and step % config.eval_every == 0) or step == config.steps:
            evaluate(row)
            policy.train()
        log.write(row)
        if doctor is not None:
            doctor.check(step, {k: v for k, v in row.items() if v is not None})
        if callback is not None:
            callback(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}", refresh=False)
        checkpoint_if_due(out_dir, step, config, policy, optimizer, g)
    policy.eval()
    return DPOResult(
        policy=policy, config=config, metrics=log.rows, evaluations=evaluations, doctor=doctor,
        stopped=stopped, train_seconds=train_seconds, reference_seconds=reference_seconds,
    )  # fmt: skip


# ── the command line: python -m rlhf_lessons dpo --steps N --out DIR (flags from DPOConfig) ──
CONFIG = DPOConfig


def run_cli(config: DPOConfig, *, out_dir, resume: bool) -> DPOResult:
    """`python -m rlhf_lessons dpo`: the cached toy SFT policy trained with DPO on the toy pairs."""
    from ..toy import gold_scores
    from .toy_models import toy_reward_model, toy_sft_policy

    sft_policy, tokenizer = toy_sft_policy(seed=config.seed)
    reward_model = toy_reward_model(seed=config.seed)
    eval_prompts = [r["prompt"] for r in load_records("prompts_test")][:128]
    result = train_dpo(
        config, copy.deepcopy(sft_policy), sft_policy, tokenizer, reward_model=reward_model,
        gold_fn=gold_scores, eval_prompts=eval_prompts, out_dir=out_dir, resume=resume,
    )  # fmt: skip
    if result.stopped:
        raise SystemExit(f"error: dpo stopped: {result.stopped}")
    first, last = result.evaluations[0], result.evaluations[-1]
    print(
        f"DPO done: loss {result.metrics[-1]['loss']:.3f}, accuracy "
        f"{result.metrics[-1]['accuracy']:.2f}; gold {first['gold']:.2f} -> {last['gold']:.2f}, "
        f"KL {last['kl']:.2f}; saved to {out_dir}/checkpoint/policy"
    )
    return result
