"""The training doctor: watch a run's diagnostics and say, by name, what looks wrong.

Introduced in 04_ppo_loop (and 05_when_rlhf_breaks, where the warnings fire on purpose).
Learners' most common complaint about RLHF code is silent failure; the doctor turns the
debug metrics that cleanrl and "The N implementation details of RLHF with PPO" tell you to
watch into named warnings with a likely cause and what to try. Every trainer calls
`doctor.check(step, metrics)` once per step; each symptom is reported once per run (the first
step it appears), and all of them stay in `doctor.findings`.

Thresholds are rules of thumb for the toy world and for typical LM runs, not laws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LOG2 = math.log(2)


@dataclass
class Symptom:
    """One named finding: what was seen, the likely cause, what to try."""

    name: str
    step: int
    seen: str
    cause: str
    fix: str

    def __str__(self) -> str:
        return f"⚠ doctor [{self.name}] at step {self.step}: {self.seen}\n    likely cause: {self.cause}\n    try: {self.fix}"


@dataclass
class Thresholds:
    """When a diagnostic counts as a symptom (per step). One comment per field."""

    kl_max: float = 15.0  # nats per response: far from the reference (reward hacking?)
    kl_min: float = -0.5  # an estimated KL this negative means a sampling/scoring mismatch
    first_log_ratio_max: float = 1e-4  # PPO: |log ratio| before any update must be ~0
    approx_kl_max: float = 0.1  # per-token KL between old and new policy within one PPO step
    clipfrac_max: float = 0.3  # fraction of tokens whose ratio left [1-eps, 1+eps]
    explained_variance_min: float = 0.0  # value model no better than predicting the mean
    explained_variance_after: int = 10  # ...judged only after this many steps of warm-up
    explained_variance_patience: int = 3  # ...and for this many consecutive steps: one noisy
    # batch of 32 responses can score ≤ 0 in a healthy run (lesson 05's beta = 0.1 run did)
    entropy_min: float = 0.1  # nats per token: the policy has become (nearly) deterministic
    reward_std_min: float = 1e-6  # every response in a batch scored the same
    zero_std_groups_max: float = 0.5  # GRPO: fraction of groups with identical rewards
    grad_norm_min: float = 1e-12  # a gradient norm at or below this: the update did nothing
    eos_rate_min: float = 0.5  # fraction of responses that end with <eos>
    preference_loss_tolerance: float = 0.01  # |loss - log 2| below this counts as "stuck"
    preference_loss_patience: int = 20  # ...for this many consecutive steps


CATALOGUE = {
    "non-finite": (
        "a value became nan or inf",
        "learning rate too high, no gradient clipping, or a division by a zero std",
        "lower the learning rate, keep max_grad_norm, resume from the last checkpoint",
    ),
    "kl-blow-up": (
        "KL to the reference is very large",
        "the policy found a way to score high that the reference never does (reward hacking), or beta is too small",
        "raise beta (or use the adaptive KL controller), lower the lr, check samples for degenerate text",
    ),
    "kl-negative": (
        "the estimated KL is clearly negative",
        "the logprobs used for rollouts and for scoring differ (temperature, dropout, padding or position ids), or too few samples",
        "score with the same temperature and positions as sampling, turn dropout off, use a larger batch",
    ),
    "ratio-not-one": (
        "rollout and training logprobs differ before any update (the first ratio is not 1)",
        "a temperature, dropout, padding or position-id mismatch between sampling and scoring",
        "score with the same temperature and positions as sampling, with dropout off",
    ),
    "approx-kl-high": (
        "the policy moved a lot within one PPO step (approx_kl)",
        "learning rate too high, too many epochs per batch, or clipping switched off",
        "lower lr or ppo_epochs, keep clip_eps ≈ 0.2, stop the epoch early past a target KL",
    ),
    "clipfrac-high": (
        "many tokens were clipped",
        "the update overshoots the trust region every step",
        "lower the learning rate or the number of epochs/minibatches per batch",
    ),
    "value-not-learning": (
        "value model's explained variance is ≤ 0",
        "value lr too low/high, returns not whitened, or value loss weight too small",
        "check vf_coef and value clipping, initialise the value model from the reward model",
    ),
    "entropy-collapse": (
        "entropy is near zero: the policy always writes the same thing",
        "over-optimisation of the reward (mode collapse) or too small beta",
        "raise beta, lower the lr, stop earlier, look at the samples",
    ),
    "zero-reward-variance": (
        "every response in the batch got the same reward",
        "the reward signal is saturated or broken; advantages are all zero and nothing is learned",
        "check the reward model on a few samples, sample with temperature 1, use larger groups",
    ),
    "zero-gradient": (
        "the gradient norm is 0: this step changed nothing, and no error was raised",
        "every advantage is 0 (GRPO: identical rollouts in each group from the same seed per sample "
        "or greedy decoding, or a saturated verifier) and beta = 0, so the loss is exactly 0",
        "sample the group with different seeds at temperature 1, use larger groups, drop or "
        "resample zero-variance groups (DAPO's dynamic sampling)",
    ),
    "no-eos": (
        "many responses never end with <eos>",
        "max_new_tokens too small or the policy learned to ramble",
        "raise max_new_tokens, penalise responses without <eos> (missing_eos_penalty)",
    ),
    "preference-loss-stuck": (
        "the preference loss sits at log 2 ≈ 0.693",
        "chosen and rejected are indistinguishable to the model: identical inputs, a broken head, lr too low, or beta = 0",
        "check that chosen ≠ rejected after tokenisation, raise the lr, check the score head and padding",
    ),
}


@dataclass
class Doctor:
    """Watches one run. stage: 'sft', 'reward_model', 'ppo', 'dpo' or 'grpo'."""

    stage: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    verbose: bool = True
    findings: list[Symptom] = field(default_factory=list)
    _stuck_steps: int = 0
    _value_bad_steps: int = 0

    def _flag(self, name: str, step: int, detail: str, out: list[Symptom]) -> None:
        if any(f.name == name for f in self.findings):
            return  # each symptom is reported once per run
        seen, cause, fix = CATALOGUE[name]
        symptom = Symptom(name, step, f"{seen} ({detail})", cause, fix)
        self.findings.append(symptom)
        out.append(symptom)
        if self.verbose:
            print(symptom)

    def check(self, step: int, metrics: dict) -> list[Symptom]:
        """Look at one step's metrics; return (and print) the symptoms new in this step."""
        t, new = self.thresholds, []
        for key, value in metrics.items():
            if isinstance(value, float) and not math.isfinite(value):
                self._flag("non-finite", step, f"{key} = {value}", new)
        get = lambda k: metrics.get(k) if isinstance(metrics.get(k), (int, float)) else None  # noqa: E731
        if (kl := get("kl")) is not None and math.isfinite(kl):
            if kl > t.kl_max:
                self._flag("kl-blow-up", step, f"kl = {kl:.2f} > {t.kl_max}", new)
            if kl < t.kl_min:
                self._flag("kl-negative", step, f"kl = {kl:.2f} < {t.kl_min}", new)
        if (v := get("first_log_ratio")) is not None and abs(v) > t.first_log_ratio_max:
            self._flag("ratio-not-one", step, f"first |log ratio| = {abs(v):.2g}", new)
        if (v := get("approx_kl")) is not None and v > t.approx_kl_max:
            self._flag("approx-kl-high", step, f"approx_kl = {v:.3f} > {t.approx_kl_max}", new)
        if (v := get("clipfrac")) is not None and v > t.clipfrac_max:
            self._flag("clipfrac-high", step, f"clipfrac = {v:.2f} > {t.clipfrac_max}", new)
        ev = get("explained_variance")
        if ev is not None and step >= t.explained_variance_after:
            bad = ev <= t.explained_variance_min
            self._value_bad_steps = self._value_bad_steps + 1 if bad else 0
            if self._value_bad_steps >= t.explained_variance_patience:
                self._flag(
                    "value-not-learning",
                    step,
                    f"explained_variance = {ev:.2f}, ≤ {t.explained_variance_min:g} for "
                    f"{self._value_bad_steps} steps",
                    new,
                )
        if (v := get("entropy")) is not None and v < t.entropy_min:
            self._flag("entropy-collapse", step, f"entropy = {v:.3f} nats/token", new)
        if (v := get("reward_std")) is not None and v < t.reward_std_min:
            self._flag("zero-reward-variance", step, f"reward_std = {v:.2g}", new)
        if (v := get("zero_std_groups")) is not None and v > t.zero_std_groups_max:
            self._flag(
                "zero-reward-variance", step, f"{v:.0%} of groups have identical rewards", new
            )
        if (v := get("zero_variance_groups")) is not None and v > t.zero_std_groups_max:
            self._flag(
                "zero-reward-variance", step, f"{v:.0%} of groups have identical rewards", new
            )
        if (v := get("grad_norm")) is not None and math.isfinite(v) and v <= t.grad_norm_min:
            groups = get("zero_variance_groups")
            groups = get("zero_std_groups") if groups is None else groups
            extra = f", {groups:.0%} of groups with identical rewards" if groups is not None else ""
            self._flag("zero-gradient", step, f"grad_norm = {v:.2g}{extra}", new)
        if (v := get("eos_rate")) is not None and v < t.eos_rate_min:
            self._flag("no-eos", step, f"eos_rate = {v:.2f}", new)
        if self.stage in ("reward_model", "dpo") and (loss := get("loss")) is not None:
            stuck = abs(loss - LOG2) < t.preference_loss_tolerance
            self._stuck_steps = self._stuck_steps + 1 if stuck else 0
            if self._stuck_steps >= t.preference_loss_patience:
                self._flag(
                    "preference-loss-stuck",
                    step,
                    f"loss = {loss:.4f} for {self._stuck_steps} steps",
                    new,
                )
        return new

    def summary(self) -> str:
        if not self.findings:
            return f"doctor ({self.stage}): no symptoms"
        return f"doctor ({self.stage}): " + ", ".join(f"{f.name}@{f.step}" for f in self.findings)
