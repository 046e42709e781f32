"""Checker for the capstone exercise: write PPO's update step yourself (step 5 of lesson 04's loop).

Introduced at the end of 09_policy_gradient (issue 13). The learner writes PPO's update on one
rollout batch, with this signature:

    def my_ppo_update(policy, value_model, optimizer, rollout, config, generator) -> None

    policy       a causal LM (trained): log π_θ(y_t) = response_logprobs(policy, batch,
                 config.temperature), (b, T) for a minibatch `batch`
    value_model  a scalar-head model (trained): V_θ(s_t) = response_values(value_model, batch)
    optimizer    one optimizer over the parameters of both models
    rollout      a trainers.ppo.Rollout: .batch (QueryBatch; .select(idx) takes rows),
                 .mask (B, T) float, .logprobs (B, T) log π_old, .values (B, T) V_old,
                 .returns (B, T) R, .advantages (B, T) GAE's advantages *not yet whitened*
    config       a trainers.ppo.PPOConfig: ppo_epochs, minibatch_size, clip_eps, vf_clip,
                 vf_coef, max_grad_norm, temperature
    generator    a torch.Generator for the minibatch shuffles

    It updates both models in place and returns nothing:

      1. whiten the advantages over the real tokens of the whole batch (rlhf_lessons.whiten,
         then × mask), once
      2. for each of config.ppo_epochs epochs: order = torch.randperm(B, generator=generator);
         for each minibatch idx = order[start : start + config.minibatch_size]:
      3.   ρ = exp(log π_θ − log π_old) on the minibatch's real tokens
      4.   pg_loss = −mean( min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) ) over the real tokens
      5.   vf_loss = ½·mean( max((V−R)², (clip(V, V_old ± c) − R)²) ) over the real tokens
      6.   loss = pg_loss + vf_coef·vf_loss; zero the gradients; backward
      7.   clip the global gradient norm of both models to max_grad_norm; optimizer.step()

`check_ppo_update(fn)` builds two tiny seeded GPT-2 models (a policy and a value model, random
init), samples a seeded rollout from the policy, and runs the learner's `fn` and the package's
`trainers.ppo.ppo_update` (2 epochs × 2 minibatches, on the same rollout with its advantages
whitened, as `compute_advantages` leaves them, and the same seeded generator) on identical
copies; it compares every parameter of both models after the update (to 1e-5). Two things
make the case sharp:

- π_old and V_old are not the models' at the start (seeded noise on the rollout's logprobs
  and values, as once π_θ has moved): at π_θ = π_old the ratio is exactly 1 and V = V_old, so
  neither clip would bind in the first minibatch and leaving one out could pass.
- the optimizer is plain SGD, and the gradient norm is well above max_grad_norm: Adam's first
  step is ≈ lr·sign(g), blind to a global rescaling such as gradient clipping.

When the learner's parameters differ it says which typical mistake they match: no clip, the
clip on the product clip(ρ·A) instead of clip(ρ)·A, an unclipped value loss, advantages not
whitened (or whitened per minibatch), no gradient clipping, no optimizer step, one step on the
whole batch, one shuffle reused in every epoch. `reference_ppo_update` is a written-out right
answer (the notebook's solution cell). Follows Schulman et al. 2017 (PPO, eq. 7) and Huang et
al. 2023 ("The N implementation details of RLHF with PPO": advantage whitening, value
clipping, gradient clipping).
"""

from __future__ import annotations

import copy

import torch

from ..advantages import gae, whiten
from ..batching import encode_prompts
from ..models import build_policy, build_reward_model
from ..rollout import response_logprobs
from ..toy import build_tokenizer, load_records
from ..trainers.ppo import (
    PPOConfig,
    Rollout,
    kl_penalised_rewards,
    ppo_update,
    response_values,
    score,
    value_model_from_reward_model,
)
from ..trainers.ppo import rollout as sample_responses
from . import Verdict, mistake_id, report, run_candidate

__all__ = ["check_ppo_update", "reference_ppo_update", "MISTAKES", "make_case"]

_SIZE = {"n_layer": 1, "n_head": 2, "n_embd": 32}  # tiny: one update in milliseconds
_B = 8  # responses in the rollout
_LR = 1.0  # SGD's learning rate: large enough that each mistake moves the weights visibly


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum()


def reference_ppo_update(policy, value_model, optimizer, rollout, config, generator) -> None:
    """PPO's update on one rollout batch: a right answer to the capstone exercise, written out.

    Lesson 04's step 5 (ppo_epochs × num_minibatches gradient steps) with step 4's whitening
    moved in; the package's version is `trainers.ppo.ppo_update`.
    """
    B = len(rollout.batch)
    advantages = whiten(rollout.advantages, rollout.mask) * rollout.mask  # (B, T) once, whole batch
    params = [*policy.parameters(), *value_model.parameters()]
    for _epoch in range(config.ppo_epochs):
        order = torch.randperm(B, generator=generator)  # (B,) a new shuffle every epoch
        for start in range(0, B, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]  # (b,) this minibatch's rows
            mb = rollout.batch.select(idx)  # (b, L)
            mask = rollout.mask[idx]  # (b, T) 1 = real response token
            adv = advantages[idx]  # (b, T)
            # policy loss: PPO's clipped surrogate
            logprobs = response_logprobs(policy, mb, config.temperature)  # (b, T) log π_θ
            ratio = ((logprobs - rollout.logprobs[idx]) * mask).exp()  # (b, T) ρ = π_θ / π_old
            clipped = ratio.clamp(1 - config.clip_eps, 1 + config.clip_eps)  # (b, T) clip(ρ, 1±ε)
            pg_loss = -_masked_mean(torch.min(ratio * adv, clipped * adv), mask)
            # value loss: V may move at most vf_clip from V_old; the worse of the two errors counts
            values = response_values(value_model, mb)  # (b, T) V_θ
            v_old, returns = rollout.values[idx], rollout.returns[idx]  # (b, T)
            v_clipped = v_old + (values - v_old).clamp(-config.vf_clip, config.vf_clip)
            vf_loss = 0.5 * _masked_mean(
                torch.max((values - returns) ** 2, (v_clipped - returns) ** 2), mask
            )
            # one gradient step on both models, the global gradient norm clipped
            loss = pg_loss + config.vf_coef * vf_loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()


def _update(policy, value_model, optimizer, rollout, config, generator, *, clip=True,
            clip_product=False, clip_values=True, whiten_advantages=True, clip_grad=True,
            step=True, minibatches=True, whiten_per_minibatch=False,
            shuffle_once=False) -> None:  # fmt: skip
    """The update with one knob per typical mistake (the defaults give the right answer)."""
    B = len(rollout.batch)
    advantages = rollout.advantages * rollout.mask
    if whiten_advantages and not whiten_per_minibatch:
        advantages = whiten(rollout.advantages, rollout.mask) * rollout.mask
    epochs, size = (config.ppo_epochs, config.minibatch_size) if minibatches else (1, B)
    lo, hi = 1 - config.clip_eps, 1 + config.clip_eps
    order = torch.randperm(B, generator=generator)
    for _epoch in range(epochs):
        if not shuffle_once and _epoch > 0:
            order = torch.randperm(B, generator=generator)
        for start in range(0, B, size):
            idx = order[start : start + size]
            mb, mask, adv = rollout.batch.select(idx), rollout.mask[idx], advantages[idx]
            if whiten_per_minibatch:
                adv = whiten(rollout.advantages[idx], mask) * mask
            logprobs = response_logprobs(policy, mb, config.temperature)
            ratio = ((logprobs - rollout.logprobs[idx]) * mask).exp()
            if not clip:
                objective = ratio * adv
            elif clip_product:
                objective = torch.min(ratio * adv, (ratio * adv).clamp(lo, hi))
            else:
                objective = torch.min(ratio * adv, ratio.clamp(lo, hi) * adv)
            pg_loss = -_masked_mean(objective, mask)
            values = response_values(value_model, mb)
            v_old, returns = rollout.values[idx], rollout.returns[idx]
            error = (values - returns) ** 2
            if clip_values:
                v_clipped = v_old + (values - v_old).clamp(-config.vf_clip, config.vf_clip)
                error = torch.max(error, (v_clipped - returns) ** 2)
            vf_loss = 0.5 * _masked_mean(error, mask)
            optimizer.zero_grad()
            (pg_loss + config.vf_coef * vf_loss).backward()
            if clip_grad:
                params = [*policy.parameters(), *value_model.parameters()]
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            if step:
                optimizer.step()


# Typical wrong answers, each an update function like the learner's, with what to say.
MISTAKES = {
    "no clip": (
        lambda *a: _update(*a, clip=False),
        "your policy loss is the plain surrogate −mean(ρ·A): the clip is missing. PPO takes the "
        "pessimistic min(ρ·A, clip(ρ, 1−ε, 1+ε)·A), so a token whose ratio has already left "
        "[1−ε, 1+ε] in the direction its advantage pushes gets no further gradient.",
    ),
    "clip on the product": (
        lambda *a: _update(*a, clip_product=True),
        "you clip the product, clip(ρ·A, 1−ε, 1+ε); the clip belongs on the ratio alone: "
        "min(ρ·A, clip(ρ, 1−ε, 1+ε)·A). Clipping ρ·A clips the advantage's size, not how far "
        "the policy has moved.",
    ),
    "value loss unclipped": (
        lambda *a: _update(*a, clip_values=False),
        "your value loss is the plain ½·(V−R)². PPO's (as in the N implementation details) "
        "also computes V_clip = V_old + clip(V − V_old, −c, c) and takes the worse error: "
        "½·max((V−R)², (V_clip−R)²), so V cannot move far from V_old in one batch.",
    ),
    "advantages not whitened": (
        lambda *a: _update(*a, whiten_advantages=False),
        "you use rollout.advantages as they come from GAE; whiten them first over the real "
        "tokens: advantages = whiten(rollout.advantages, mask) * mask (mean 0, std 1), so the "
        "policy loss has the same scale at every step and half the tokens are pushed down.",
    ),
    "no gradient clipping": (
        lambda *a: _update(*a, clip_grad=False),
        "your step uses the raw gradient. Between loss.backward() and optimizer.step() clip "
        "the global gradient norm of both models: torch.nn.utils.clip_grad_norm_("
        "[*policy.parameters(), *value_model.parameters()], config.max_grad_norm).",
    ),
    "no optimizer step": (
        lambda *a: _update(*a, step=False),
        "the parameters did not change: after loss.backward() (and the gradient clipping) "
        "call optimizer.step().",
    ),
    "one step on the whole batch": (
        lambda *a: _update(*a, minibatches=False),
        "you take one gradient step on the whole batch. PPO reuses each rollout: for each of "
        "config.ppo_epochs epochs, shuffle (order = torch.randperm(B, generator=generator)) and "
        "take one step per minibatch of config.minibatch_size rows (idx = order[start : start "
        "+ config.minibatch_size]; rollout.batch.select(idx); every (B, T) tensor [idx]).",
    ),
    "advantages whitened per minibatch": (
        lambda *a: _update(*a, whiten_per_minibatch=True),
        "you whiten the advantages inside the minibatch loop, so each minibatch gets its own "
        "mean and std; whiten them once, over the whole batch, before the loop (as step 4 of "
        "lesson 04 does), then index the whitened tensor with [idx].",
    ),
    "one shuffle for all epochs": (
        lambda *a: _update(*a, shuffle_once=True),
        "you shuffle once and reuse that order in every epoch; draw a new order = "
        "torch.randperm(B, generator=generator) at the start of each epoch, so the minibatches "
        "differ from epoch to epoch.",
    ),
}

_HINT = (
    "hint: whiten the advantages; ρ = exp(log π_θ − log π_old); pg_loss = −mean(min(ρ·A, "
    "clip(ρ, 1±ε)·A)); vf_loss = ½·mean(max((V−R)², (clip(V, V_old±c)−R)²)); loss = pg_loss + "
    "vf_coef·vf_loss; zero_grad, backward, clip_grad_norm_, step — means over real tokens "
    "(rollout.mask); advantages whitened once, then per epoch a new randperm(B, generator=generator) "
    "and one step per minibatch of config.minibatch_size rows"
)


def make_case(seed: int = 0):
    """A seeded capstone case: (policy, value_model, rollout, config), the rollout's advantages
    not yet whitened. The global RNG is left as it was."""
    with torch.random.fork_rng():
        tokenizer = build_tokenizer()
        policy = build_policy(tokenizer, seed=seed, **_SIZE)
        reference = copy.deepcopy(policy)
        reward_model = build_reward_model(tokenizer, seed=seed + 1, **_SIZE)
        value_model = value_model_from_reward_model(reward_model)
        config = PPOConfig(
            batch_size=_B, ppo_epochs=2, num_minibatches=2, max_new_tokens=6, beta=0.1,
            clip_eps=0.2, vf_clip=0.2, vf_coef=0.5, max_grad_norm=0.5,
        )  # fmt: skip
        prompts = [r["prompt"] for r in load_records("prompts_train")[:_B]]
        ids, mask = encode_prompts(tokenizer, prompts)  # (B, P)
        g = torch.Generator().manual_seed(seed)
        policy.eval()
        batch = sample_responses(policy, ids, mask, tokenizer, config, g)  # (B, L)
        # responses of different lengths (a random policy never says <eos>): pad after a cut
        T = batch.response_mask.shape[1]
        lengths = torch.randint(2, T + 1, (_B,), generator=g)  # (B,)
        lengths[0] = T
        cut = torch.arange(T)[None, :] >= lengths[:, None]  # (B, T) True = padding
        batch.response_mask[cut] = 0
        batch.input_ids[:, batch.prompt_len :][cut] = tokenizer.pad_token_id
        batch.attention_mask[:, batch.prompt_len :][cut] = 0
        ro = score(policy, reference, reward_model, value_model, batch, tokenizer, config)
        ro.rewards = kl_penalised_rewards(ro.scores, ro.logprobs, ro.ref_logprobs, ro.mask, 0.1)
        ro.advantages, ro.returns = gae(ro.rewards, ro.values, config.gamma, config.lam, ro.mask)
        # π_old and V_old as in a later minibatch: the models have moved since the rollout
        m = ro.mask
        ro.logprobs = (ro.logprobs + 0.4 * torch.randn(ro.logprobs.shape, generator=g)) * m
        ro.values = (ro.values + 0.5 * torch.randn(ro.values.shape, generator=g)) * m
        ro.advantages = ro.advantages * 3.0 + 1.0  # GAE's scale and offset, far from whitened
        policy.train()
    return policy, value_model, ro, config


def _run(fn, policy, value_model, ro: Rollout, config):
    """Run `fn` on fresh copies (and a fresh seeded generator); return (the parameters after,
    None or the failure)."""
    policy, value_model, ro = copy.deepcopy(policy), copy.deepcopy(value_model), copy.deepcopy(ro)
    optimizer = torch.optim.SGD([*policy.parameters(), *value_model.parameters()], lr=_LR)
    g = torch.Generator().manual_seed(0)
    _, failed = run_candidate(fn, policy, value_model, optimizer, ro, config, g, stub_hint=_HINT)
    params = [p.detach().clone() for p in (*policy.parameters(), *value_model.parameters())]
    return params, failed


def _package_update(policy, value_model, optimizer, ro, config, generator) -> None:
    """The package's step 5 (trainers.ppo.ppo_update) after step 4's whitening."""
    ro.advantages = whiten(ro.advantages, ro.mask) * ro.mask
    ppo_update(policy, value_model, optimizer, ro, config, generator)


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, rtol=0, atol=1e-5) for x, y in zip(a, b))


def check_ppo_update(fn, raise_on_fail: bool = False) -> Verdict:
    """Check a learner's `fn(policy, value_model, optimizer, rollout, config, generator)`
    (see the module).

    Compares every parameter of policy and value model after the learner's step with the
    package's `ppo_update` on identical copies; prints and returns a Verdict (raises
    AssertionError only with raise_on_fail=True).
    """
    case = make_case()
    got, failed = _run(fn, *case)
    if failed is not None:
        return report(failed, raise_on_fail)
    want, _ = _run(_package_update, *case)
    if _same(got, want):
        return report(
            Verdict(
                True,
                "after your step every parameter of the policy and the value model matches the "
                "package's ppo_update (to 1e-5), on a rollout where both clips bind and the "
                "gradient norm is above max_grad_norm",
            ),
            raise_on_fail,
        )
    for name, (mistake, message) in MISTAKES.items():
        if _same(got, _run(mistake, *case)[0]):
            return report(Verdict(False, message, mistake_id(name)), raise_on_fail)
    n_policy = len(list(case[0].parameters()))
    off_policy = not _same(got[:n_policy], want[:n_policy])
    off_value = not _same(got[n_policy:], want[n_policy:])
    which = " and ".join(
        w for w, off in (("policy", off_policy), ("value model", off_value)) if off
    )
    diff = max((x - y).abs().max().item() for x, y in zip(got, want))
    return report(
        Verdict(
            False,
            f"after your step the {which} parameters differ from the package's ppo_update "
            f"(largest difference {diff:.2g}). {_HINT}",
        ),
        raise_on_fail,
    )
