"""The capstone checker (write PPO's update yourself) accepts right answers, names each typical
mistake, says "not yet" (without raising) to the stub, and runs in well under 5 s. The learner
functions below are written out independently, the way a learner would write them — not
through the checker's own mistake catalogue."""

from __future__ import annotations

import time

import pytest
import torch

from rlhf_lessons import whiten
from rlhf_lessons.exercises import NOT_DONE, mistake_id
from rlhf_lessons.exercises.capstone import (
    MISTAKES,
    check_ppo_update,
    make_case,
    reference_ppo_update,
)
from rlhf_lessons.rollout import response_logprobs
from rlhf_lessons.trainers.ppo import response_values


def learner(policy, value_model, optimizer, rollout, config, generator, *, clip="ratio",
            clip_values=True, whiten_advantages=True, clip_grad=True, step=True, loop="minibatch",
            whiten_where="batch"):  # fmt: skip
    """A learner's update, knobs for the slips (defaults: right)."""
    full_m = rollout.mask
    if whiten_advantages and whiten_where == "batch":
        all_adv = whiten(rollout.advantages, full_m) * full_m
    else:
        all_adv = rollout.advantages
    B = rollout.mask.shape[0]
    n_epochs = config.ppo_epochs if loop != "whole" else 1
    size = config.minibatch_size if loop != "whole" else B
    perm = torch.randperm(B, generator=generator)
    for epoch in range(n_epochs):
        if epoch and loop != "reuse":
            perm = torch.randperm(B, generator=generator)
        for chunk in perm.split(size):
            m = full_m[chunk]
            n = m.sum()
            adv = all_adv[chunk]
            if whiten_advantages and whiten_where == "minibatch":
                adv = whiten(adv, m) * m
            sub = rollout.batch.select(chunk)
            new_logp = response_logprobs(policy, sub, config.temperature)
            ratio = torch.exp((new_logp - rollout.logprobs[chunk]) * m)
            eps = config.clip_eps
            if clip == "ratio":
                surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv)
            elif clip == "product":
                surrogate = torch.minimum(ratio * adv, torch.clamp(ratio * adv, 1 - eps, 1 + eps))
            else:
                surrogate = ratio * adv
            pg_loss = -(surrogate * m).sum() / n
            v = response_values(value_model, sub)
            ret, v_old = rollout.returns[chunk], rollout.values[chunk]
            err = (v - ret) ** 2
            if clip_values:
                v_clip = torch.clamp(v, v_old - config.vf_clip, v_old + config.vf_clip)
                err = torch.maximum(err, (v_clip - ret) ** 2)
            vf_loss = 0.5 * (err * m).sum() / n
            optimizer.zero_grad()
            (pg_loss + config.vf_coef * vf_loss).backward()
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(
                    list(policy.parameters()) + list(value_model.parameters()),
                    config.max_grad_norm,
                )
            if step:
                optimizer.step()


def stub(policy, value_model, optimizer, rollout, config, generator):
    # YOUR CODE HERE
    raise NotImplementedError


WRONG = {
    "no clip": dict(clip="none"),
    "clip on the product": dict(clip="product"),
    "value loss unclipped": dict(clip_values=False),
    "advantages not whitened": dict(whiten_advantages=False),
    "no gradient clipping": dict(clip_grad=False),
    "no optimizer step": dict(step=False),
    "one step on the whole batch": dict(loop="whole"),
    "advantages whitened per minibatch": dict(whiten_where="minibatch"),
    "one shuffle for all epochs": dict(loop="reuse"),
}


def test_every_mistake_has_a_learner_version():
    assert set(WRONG) == set(MISTAKES)


@pytest.mark.parametrize("fn", [learner, reference_ppo_update], ids=["learner", "reference"])
def test_right_answers_pass(fn):
    verdict = check_ppo_update(fn)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_mistake_is_named(name):
    def wrong(*args):
        learner(*args, **WRONG[name])

    verdict = check_ppo_update(wrong)
    assert not verdict.ok
    assert verdict.mistake == mistake_id(name), verdict.message


def test_stub_is_not_done_and_does_not_raise(capsys):
    verdict = check_ppo_update(stub)
    assert verdict.mistake == NOT_DONE and not verdict.done
    assert "not done yet" in capsys.readouterr().out


def test_an_unnamed_slip_gets_the_generic_hint():
    def sign_error(policy, value_model, optimizer, rollout, config, generator):
        rollout.advantages = -rollout.advantages  # pushes the wrong way
        learner(policy, value_model, optimizer, rollout, config, generator)

    verdict = check_ppo_update(sign_error)
    assert not verdict.ok and verdict.mistake == "wrong_value"
    assert "policy" in verdict.message


def test_a_crash_is_reported_not_raised():
    def crash(policy, value_model, optimizer, rollout, config, generator):
        return rollout.no_such_field

    assert check_ppo_update(crash).mistake == "raised"


def test_raise_on_fail():
    with pytest.raises(AssertionError):
        check_ppo_update(stub, raise_on_fail=True)


def test_the_case_makes_every_piece_matter():
    """Both clips bind, the gradient norm is above max_grad_norm, the advantages are far from
    whitened and some responses are padded: otherwise a mistake could pass."""
    policy, value_model, ro, config = make_case()
    m = ro.mask.bool()
    log_ratio = response_logprobs(policy, ro.batch, config.temperature) - ro.logprobs
    assert ((log_ratio.exp() - 1).abs() > config.clip_eps)[m].float().mean() > 0.3
    moved = (response_values(value_model, ro.batch) - ro.values).abs() > config.vf_clip
    assert moved[m].float().mean() > 0.3
    assert abs(ro.advantages[m].mean()) > 0.5
    assert (ro.mask.sum(1) < ro.mask.shape[1]).any()
    params = [*policy.parameters(), *value_model.parameters()]
    optimizer = torch.optim.SGD(params, lr=1.0)
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(p, max_norm, *args, **kwargs):
        norms.append(float(original(p, max_norm, *args, **kwargs)))
        return torch.tensor(norms[-1])

    torch.nn.utils.clip_grad_norm_ = spy
    try:
        reference_ppo_update(policy, value_model, optimizer, ro, config, torch.Generator())
    finally:
        torch.nn.utils.clip_grad_norm_ = original
    assert norms and norms[0] > 4 * config.max_grad_norm


def test_the_global_rng_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_ppo_update(learner)
    assert torch.equal(torch.rand(3), expected)


def test_fast():
    check_ppo_update(learner)  # warm
    t0 = time.perf_counter()
    check_ppo_update(learner)
    assert time.perf_counter() - t0 < 5
