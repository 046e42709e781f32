"""Cross-checks of the course's math against TRL, on seeded random inputs, to 1e-6.

- `reward_model_loss` (with a per-pair margin) and `dpo_loss` against TRL 1.16.0 (the version
  pinned in pyproject's [dev] extra): we *call* TRL's own `RewardTrainer.compute_loss` and
  `DPOTrainer._compute_loss` as unbound functions, with a stub `self` that carries only the
  attributes those methods read, and a stub model that returns the scores / log-probabilities
  we choose. So the formula under test is TRL's code, not a copy of it.
- `ppo_clip_loss`, `value_loss`, `whiten` and `gae` against PPO in TRL 1.12.0
  (`trl/experimental/ppo/ppo_trainer.py`), the last release with PPO: TRL 1.13 removed it, so
  it cannot be imported next to TRL 1.16. Its code is transcribed below, each piece with the
  file and line it comes from. When a Python with trl==1.12.0 is available (the environment
  that `benchmarks/make_trl_ppo_env.sh` builds; point TRL_PPO_PYTHON at its python, default
  /tmp/trl112env/bin/python), two extra tests check that every cited line is verbatim TRL
  1.12.0 source and that the transcribed helpers return what TRL's own functions return.

What the PPO cross-check found: the clipped loss, the clipped value loss and masked
whitening agree exactly. GAE agrees exactly on responses without padding. With padding
after EOS, TRL 1.12 puts the reward model's score one token *after* EOS and keeps that
position's value (its `padding_mask_p1`), so GAE bootstraps once more through V there;
the course puts the score on the EOS token and stops there (nothing comes after EOS). Same
numbers when λ = 1 and γ = 1; otherwise they differ by exactly (1-λ)(V_after_eos - score)
at EOS, discounted by (γλ)^k k tokens earlier (tested below). Calling our `gae` with
TRL's rewards and the mask widened by one token (`~padding_mask_p1`) reproduces TRL exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rlhf_lessons import dpo_loss, gae, ppo_clip_loss, reward_model_loss, value_loss, whiten

ATOL = 1e-6

trl = pytest.importorskip("trl")


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    torch.testing.assert_close(ours, theirs, rtol=0.0, atol=ATOL)


# ── TRL 1.16.0: reward model loss and DPO, called through TRL's own methods ─────────────────


def _accelerator_stub():
    """What TRL's loss methods use of `self.accelerator` on one process: identity gathers."""
    return SimpleNamespace(
        device=torch.device("cpu"), gather=lambda t: t, gather_for_metrics=lambda t: t
    )


def test_trl_version_is_the_pinned_one():
    assert trl.__version__ == "1.16.0", "the cross-checks below cite TRL 1.16.0's source"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_margin", [True, False])
def test_reward_model_loss_matches_trl_reward_trainer(seed, with_margin):
    from trl import RewardTrainer

    g = _gen(seed)
    B = 16
    score_chosen = torch.randn(B, generator=g) * 2  # (B,)
    score_rejected = torch.randn(B, generator=g) * 2  # (B,)
    margin = torch.rand(B, generator=g) * 3  # (B,) one margin per pair, as in Llama 2

    # RewardTrainer.compute_loss (trl/trainer/reward_trainer.py:778) runs the model on a batch of
    # [chosen; rejected] and splits the (2B, 1) logits in two; our stub model returns our scores.
    logits = torch.cat([score_chosen, score_rejected])[:, None]  # (2B, 1)
    stub = SimpleNamespace(
        model=SimpleNamespace(training=False),  # "eval" mode: no token counting
        args=SimpleNamespace(center_rewards_coefficient=None),
        accelerator=_accelerator_stub(),
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
    )
    inputs = {"input_ids": torch.zeros(2 * B, 1, dtype=torch.long)}
    if with_margin:
        inputs["margin"] = margin
    theirs = RewardTrainer.compute_loss(stub, lambda **kw: SimpleNamespace(logits=logits), inputs)
    ours = reward_model_loss(score_chosen, score_rejected, margin=margin if with_margin else 0.0)
    _close(ours, theirs)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_loss_matches_trl_dpo_trainer_sigmoid(seed, beta):
    from trl import DPOTrainer

    g = _gen(seed)
    B = 8
    # Summed response log-probabilities, as a sequence of a few dozen tokens would give.
    pi_w, pi_l, ref_w, ref_l = (-torch.rand(B, generator=g) * 30 for _ in range(4))  # (B,) each

    # DPOTrainer._compute_loss (trl/trainer/dpo_trainer.py:1285) sums `outputs.log_probs` over
    # the completion (line 1304) and splits [chosen; rejected] (line 1316); with
    # precompute_ref_log_probs the reference log-probs come from the batch (lines 1318-1319).
    # The stub model returns one "token" per sequence whose log-prob is our summed log-prob.
    log_probs = torch.cat([pi_w, pi_l])[:, None]  # (2B, 1)

    def model(**kwargs):
        return SimpleNamespace(
            log_probs=log_probs,
            entropy=torch.zeros_like(log_probs),
            mean_logits=torch.zeros_like(log_probs),
            is_top1=torch.zeros_like(log_probs, dtype=torch.bool),
        )

    stub = SimpleNamespace(
        model=SimpleNamespace(training=False),
        accelerator=_accelerator_stub(),
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",  # standard DPO
        loss_types=["sigmoid"],  # the DPO paper's loss (line 1387-1388)
        loss_weights=[1.0],
        beta=beta,
        use_weighting=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
    )
    inputs = {
        "input_ids": torch.zeros(2 * B, 2, dtype=torch.long),
        "attention_mask": torch.ones(2 * B, 2, dtype=torch.long),
        "completion_mask": torch.tensor([[0, 1]] * (2 * B)),  # (2B, 2): one completion token
        "ref_chosen_logps": ref_w,
        "ref_rejected_logps": ref_l,
    }
    theirs = DPOTrainer._compute_loss(stub, model, inputs, return_outputs=False)
    ours = dpo_loss(pi_w, pi_l, ref_w, ref_l, beta=beta)
    _close(ours, theirs)
    # TRL logs the implicit rewards β·(log π - log π_ref); they must be ours too.
    assert stub._metrics["eval"]["rewards/chosen"][0] == pytest.approx(
        (beta * (pi_w - ref_w)).mean().item(), abs=ATOL
    )


# ── TRL 1.12.0 PPO, transcribed (TRL 1.13 removed PPO) ──────────────────────────────────────
# Every line below that carries code from TRL cites trl/experimental/ppo/ppo_trainer.py (PPO)
# or trl/experimental/utils.py (UTILS) of trl==1.12.0 by line number. CITED_LINES holds the
# verbatim text of those lines (whitespace-stripped); test_cited_lines_are_trl_1_12_source
# checks them against the real files when a trl==1.12.0 environment is available.
PPO = "experimental/ppo/ppo_trainer.py"
UTILS = "experimental/utils.py"
CITED_LINES = {
    (PPO, 69): "INVALID_LOGPROB = 1.0",
    (PPO, 240): "return (values * mask).sum(axis=axis) / mask.sum(axis=axis)",
    (PPO, 242): "return (values * mask).sum() / mask.sum()",
    (PPO, 247): "mean = masked_mean(values, mask)",
    (PPO, 248): "centered_values = values - mean",
    (PPO, 249): "variance = masked_mean(centered_values**2, mask)",
    (PPO, 259): "bessel_correction = mask_sum / (mask_sum - 1)",
    (PPO, 260): "variance = variance * bessel_correction",
    (PPO, 266): "mean, var = masked_mean(values, mask), masked_var(values, mask)",
    (PPO, 267): "whitened = (values - mean) * torch.rsqrt(var + 1e-8)",
    (PPO, 269): "whitened += mean",
    (PPO, 184): "trunc_idxs = first_true_indices(responses == stop_token_id).unsqueeze(-1)",
    (
        PPO,
        187,
    ): "postprocessed_responses = torch.masked_fill(responses, idxs > trunc_idxs, pad_token_id)",
    (
        PPO,
        727,
    ): "sequence_length = first_true_indices(postprocessed_response == processing_class.pad_token_id) - 1",
    (PPO, 759): "scores[~contain_eos_token] -= self.args.missing_eos_penalty",
    (
        PPO,
        763,
    ): "response_idxs = torch.arange(responses.shape[1], device=responses.device).repeat(responses.shape[0], 1)",
    (PPO, 764): "padding_mask = response_idxs > sequence_lengths.unsqueeze(1)",
    (PPO, 765): "logprobs = torch.masked_fill(logprobs, padding_mask, INVALID_LOGPROB)",
    (PPO, 766): "ref_logprobs = torch.masked_fill(ref_logprobs, padding_mask, INVALID_LOGPROB)",
    (PPO, 767): "sequence_lengths_p1 = sequence_lengths + 1",
    (PPO, 768): "padding_mask_p1 = response_idxs > (sequence_lengths_p1.unsqueeze(1))",
    (PPO, 769): "values = torch.masked_fill(values, padding_mask_p1, 0)",
    (PPO, 773): "logr = ref_logprobs - logprobs",
    (
        PPO,
        774,
    ): 'kl = -logr if args.kl_estimator == "k1" else (logr.exp() - 1) - logr  # Else statement is k3',
    (PPO, 775): "non_score_reward = -args.kl_coef * kl",
    (PPO, 776): "rewards = non_score_reward.clone()",
    (PPO, 777): "actual_start = torch.arange(rewards.size(0), device=rewards.device)",
    (
        PPO,
        778,
    ): "actual_end = torch.where(sequence_lengths_p1 < rewards.size(1), sequence_lengths_p1, sequence_lengths)",
    (PPO, 779): "rewards[actual_start, actual_end] += scores",
    (PPO, 783): "rewards = masked_whiten(rewards, mask=~padding_mask_p1, shift_mean=False)",
    (PPO, 784): "rewards = torch.masked_fill(rewards, padding_mask_p1, 0)",
    (PPO, 787): "lastgaelam = 0",
    (PPO, 790): "for t in reversed(range(gen_length)):",
    (PPO, 791): "nextvalues = values[:, t + 1] if t < gen_length - 1 else 0.0",
    (PPO, 792): "delta = rewards[:, t] + args.gamma * nextvalues - values[:, t]",
    (PPO, 793): "lastgaelam = delta + args.gamma * args.lam * lastgaelam",
    (PPO, 794): "advantages_reversed.append(lastgaelam)",
    (PPO, 795): "advantages = torch.stack(advantages_reversed[::-1], axis=1)",
    (PPO, 796): "returns = advantages + values",
    (PPO, 797): "advantages = masked_whiten(advantages, ~padding_mask)",
    (PPO, 798): "advantages = torch.masked_fill(advantages, padding_mask, 0)",
    (PPO, 828): "vpred = torch.masked_fill(vpred, padding_mask_p1[micro_batch_inds], 0)",
    (PPO, 834): "vf_losses1 = torch.square(vpred - mb_return)",
    (PPO, 835): "vf_losses2 = torch.square(vpredclipped - mb_return)",
    (PPO, 836): "vf_loss_max = torch.max(vf_losses1, vf_losses2)",
    (PPO, 837): "vf_loss = 0.5 * masked_mean(vf_loss_max, ~padding_mask_p1[micro_batch_inds])",
    (PPO, 841): "logprobs_diff = new_logprobs - mb_logprobs",
    (PPO, 842): "ratio = torch.exp(logprobs_diff)",
    (PPO, 843): "pg_losses = -mb_advantage * ratio",
    (
        PPO,
        844,
    ): "pg_losses2 = -mb_advantage * torch.clamp(ratio, 1.0 - args.cliprange, 1.0 + args.cliprange)",
    (PPO, 845): "pg_loss_max = torch.max(pg_losses, pg_losses2)",
    (PPO, 846): "pg_loss = masked_mean(pg_loss_max, ~padding_mask[micro_batch_inds])",
    (UTILS, 741): "row_len = bools.size(-1)",
    (
        UTILS,
        742,
    ): "zero_or_index = row_len * (~bools).type(dtype) + torch.arange(row_len, dtype=dtype, device=bools.device)",
    (UTILS, 743): "return torch.min(zero_or_index, dim=-1).values",
}

INVALID_LOGPROB = 1.0  # PPO:69


def trl_masked_mean(values, mask, axis=None):  # PPO:237-242
    if axis is not None:
        return (values * mask).sum(axis=axis) / mask.sum(axis=axis)
    return (values * mask).sum() / mask.sum()


def trl_masked_var(values, mask, unbiased=True):  # PPO:245-261 (Bessel's correction)
    mean = trl_masked_mean(values, mask)
    centered_values = values - mean
    variance = trl_masked_mean(centered_values**2, mask)
    if unbiased:
        mask_sum = mask.sum()
        bessel_correction = mask_sum / (mask_sum - 1)
        variance = variance * bessel_correction
    return variance


def trl_masked_whiten(values, mask, shift_mean=True):  # PPO:264-270
    mean, var = trl_masked_mean(values, mask), trl_masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return whitened


def trl_first_true_indices(bools, dtype=torch.long):  # UTILS:723-743
    row_len = bools.size(-1)
    zero_or_index = row_len * (~bools).type(dtype) + torch.arange(row_len, dtype=dtype)
    return torch.min(zero_or_index, dim=-1).values


def trl_truncate_response(stop_token_id, pad_token_id, responses):  # PPO:168-188
    trunc_idxs = trl_first_true_indices(responses == stop_token_id).unsqueeze(-1)
    new_size = [1] * (len(responses.size()) - 1) + [responses.shape[1]]
    idxs = torch.arange(responses.shape[1]).view(*new_size)
    return torch.masked_fill(responses, idxs > trunc_idxs, pad_token_id)


def trl_rewards_and_advantages(
    responses, logprobs, ref_logprobs, values, scores, *, kl_coef, gamma, lam, whiten_rewards
):
    """PPOTrainer.train's steps "Response Processing 1." to "6." (PPO:718-798), one rollout batch.

    Inputs are already sampled: responses (B, T) token ids, logprobs / ref_logprobs / values
    (B, T), scores (B,). stop_token_id = EOS = 2, pad = 0, kl_estimator "k1".
    """
    eos, pad = 2, 0
    postprocessed = trl_truncate_response(eos, pad, responses)  # PPO:718-723
    sequence_lengths = trl_first_true_indices(postprocessed == pad) - 1  # PPO:727
    # "be very careful with `padding_mask_p1`" (PPO:762)
    response_idxs = torch.arange(responses.shape[1]).repeat(responses.shape[0], 1)  # PPO:763
    padding_mask = response_idxs > sequence_lengths.unsqueeze(1)  # PPO:764
    logprobs = torch.masked_fill(logprobs, padding_mask, INVALID_LOGPROB)  # PPO:765
    ref_logprobs = torch.masked_fill(ref_logprobs, padding_mask, INVALID_LOGPROB)  # PPO:766
    sequence_lengths_p1 = sequence_lengths + 1  # PPO:767
    padding_mask_p1 = response_idxs > (sequence_lengths_p1.unsqueeze(1))  # PPO:768
    values = torch.masked_fill(values, padding_mask_p1, 0)  # PPO:769
    # 4. compute rewards
    logr = ref_logprobs - logprobs  # PPO:773
    kl = -logr  # PPO:774 (k1)
    non_score_reward = -kl_coef * kl  # PPO:775
    rewards = non_score_reward.clone()  # PPO:776
    actual_start = torch.arange(rewards.size(0))  # PPO:777
    actual_end = torch.where(  # PPO:778
        sequence_lengths_p1 < rewards.size(1), sequence_lengths_p1, sequence_lengths
    )
    rewards[actual_start, actual_end] += scores  # PPO:779
    # 5. whiten rewards
    if whiten_rewards:  # PPO:782-784
        rewards = trl_masked_whiten(rewards, mask=~padding_mask_p1, shift_mean=False)
        rewards = torch.masked_fill(rewards, padding_mask_p1, 0)
    # 6. compute advantages and returns
    lastgaelam = 0  # PPO:787
    advantages_reversed = []
    gen_length = responses.shape[1]
    for t in reversed(range(gen_length)):  # PPO:790-794
        nextvalues = values[:, t + 1] if t < gen_length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], axis=1)  # PPO:795
    returns = advantages + values  # PPO:796
    raw_advantages = advantages
    advantages = trl_masked_whiten(advantages, ~padding_mask)  # PPO:797
    advantages = torch.masked_fill(advantages, padding_mask, 0)  # PPO:798
    return SimpleNamespace(
        sequence_lengths=sequence_lengths,
        padding_mask=padding_mask,
        padding_mask_p1=padding_mask_p1,
        logprobs=logprobs,
        kl=kl,
        values=values,
        rewards=rewards,
        raw_advantages=raw_advantages,
        returns=returns,
        advantages=advantages,
    )


def trl_pg_loss(new_logprobs, mb_logprobs, mb_advantage, padding_mask, cliprange):
    """PPO:841-846: the clipped policy loss of one micro-batch."""
    logprobs_diff = new_logprobs - mb_logprobs
    ratio = torch.exp(logprobs_diff)
    pg_losses = -mb_advantage * ratio
    pg_losses2 = -mb_advantage * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss_max = torch.max(pg_losses, pg_losses2)
    return trl_masked_mean(pg_loss_max, ~padding_mask)


def trl_vf_loss(vpred, mb_values, mb_return, padding_mask_p1, cliprange_value):
    """PPO:828-837: the clipped value loss of one micro-batch."""
    vpred = torch.masked_fill(vpred, padding_mask_p1, 0)
    vpredclipped = torch.clamp(vpred, mb_values - cliprange_value, mb_values + cliprange_value)
    vf_losses1 = torch.square(vpred - mb_return)
    vf_losses2 = torch.square(vpredclipped - mb_return)
    vf_loss_max = torch.max(vf_losses1, vf_losses2)
    return 0.5 * trl_masked_mean(vf_loss_max, ~padding_mask_p1)


def _rollout(seed: int, B: int = 8, T: int = 12):
    """A seeded batch of sampled responses: tokens 3..19, EOS (2) at random places or never.

    Row 0 never emits EOS (no padding), row 1 ends with EOS on the last token, row 2 emits
    EOS first, the others at random positions (tokens after the first EOS are noise that
    TRL's truncate_response replaces with padding).
    """
    g = _gen(seed)
    responses = torch.randint(3, 20, (B, T), generator=g)  # (B, T)
    eos_at = torch.randint(0, T, (B,), generator=g)
    eos_at[1], eos_at[2] = T - 1, 0
    for b in range(1, B):
        responses[b, eos_at[b]] = 2
    logprobs = -torch.rand(B, T, generator=g) * 3  # (B, T) log π_old of the sampled tokens
    ref_logprobs = logprobs + 0.3 * torch.randn(B, T, generator=g)  # (B, T) log π_ref
    values = torch.randn(B, T, generator=g)  # (B, T)
    scores = torch.randn(B, generator=g) * 2  # (B,) reward-model scores
    return responses, logprobs, ref_logprobs, values, scores


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("shift_mean", [True, False])
def test_whiten_matches_trl_masked_whiten(seed, shift_mean):
    g = _gen(seed)
    x = torch.randn(6, 10, generator=g) * 3 + 1  # (B, T)
    mask = torch.rand(6, 10, generator=g) > 0.3  # (B, T) bool, True = real token
    _close(whiten(x, mask=mask, shift_mean=shift_mean), trl_masked_whiten(x, mask, shift_mean))
    # No mask = every entry real.
    ones = torch.ones_like(mask)
    _close(whiten(x, shift_mean=shift_mean), trl_masked_whiten(x, ones, shift_mean))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("eps", [0.1, 0.2, 1000.0])
def test_ppo_clip_loss_matches_trl_1_12(seed, eps):
    responses, logprobs, _, _, _ = _rollout(seed)
    g = _gen(100 + seed)
    trl_batch = trl_rewards_and_advantages(
        responses, logprobs, logprobs, torch.zeros_like(logprobs), torch.zeros(len(logprobs)),
        kl_coef=0.05, gamma=1.0, lam=0.95, whiten_rewards=False,
    )  # fmt: skip
    padding_mask = trl_batch.padding_mask  # (B, T) True = padding after EOS
    mb_logprobs = trl_batch.logprobs  # (B, T) rollout log-probs, INVALID_LOGPROB on padding
    new_logprobs = logprobs + 0.4 * torch.randn(logprobs.shape, generator=g)  # (B, T) π_θ
    new_logprobs = torch.masked_fill(new_logprobs, padding_mask, INVALID_LOGPROB)  # PPO:824-826
    advantages = torch.randn(logprobs.shape, generator=g)  # (B, T)
    theirs = trl_pg_loss(new_logprobs, mb_logprobs, advantages, padding_mask, eps)
    ours = ppo_clip_loss(new_logprobs - mb_logprobs, advantages, eps=eps, mask=~padding_mask)
    _close(ours, theirs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_loss_matches_trl_1_12(seed):
    responses, logprobs, ref_logprobs, values, scores = _rollout(seed)
    trl_batch = trl_rewards_and_advantages(
        responses, logprobs, ref_logprobs, values, scores,
        kl_coef=0.05, gamma=1.0, lam=0.95, whiten_rewards=False,
    )  # fmt: skip
    g = _gen(200 + seed)
    vpred = trl_batch.values + 0.5 * torch.randn(values.shape, generator=g)  # (B, T)
    m_p1 = ~trl_batch.padding_mask_p1  # TRL trains the value on real tokens + one after EOS
    theirs = trl_vf_loss(vpred, trl_batch.values, trl_batch.returns, trl_batch.padding_mask_p1, 0.2)
    ours = value_loss(vpred, trl_batch.values, trl_batch.returns, vf_clip=0.2, mask=m_p1)
    _close(ours, theirs)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 0.95), (0.99, 0.9), (1.0, 1.0), (0.9, 0.0)])
def test_gae_matches_trl_1_12_without_padding(seed, gamma, lam):
    """Responses that never emit EOS: TRL puts the score on the last token, as we do."""
    _, logprobs, ref_logprobs, values, scores = _rollout(seed)
    responses = torch.randint(3, 20, logprobs.shape, generator=_gen(seed))  # no EOS anywhere
    trl_batch = trl_rewards_and_advantages(
        responses, logprobs, ref_logprobs, values, scores,
        kl_coef=0.05, gamma=gamma, lam=lam, whiten_rewards=False,
    )  # fmt: skip
    assert not trl_batch.padding_mask.any()
    rewards = -0.05 * (logprobs - ref_logprobs)  # (B, T) per-token KL penalty, k1
    rewards[:, -1] += scores  # the score on the last token
    advantages, returns = gae(rewards, values, gamma=gamma, lam=lam)
    _close(advantages, trl_batch.raw_advantages)
    _close(returns, trl_batch.returns)
    _close(whiten(advantages), trl_batch.advantages)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 0.95), (0.99, 0.9), (1.0, 1.0)])
@pytest.mark.parametrize("whiten_rewards", [False, True])
def test_gae_matches_trl_1_12_with_its_mask_p1(seed, gamma, lam, whiten_rewards):
    """With padding after EOS, our gae reproduces TRL given TRL's rewards and its wider mask.

    TRL's GAE runs over the whole (B, T) with rewards and values zeroed past EOS+1; our
    `gae(..., mask=~padding_mask_p1)` zeroes the same entries, so every position agrees.
    """
    responses, logprobs, ref_logprobs, values, scores = _rollout(seed)
    kw = dict(kl_coef=0.05, gamma=gamma, lam=lam, whiten_rewards=whiten_rewards)
    trl_batch = trl_rewards_and_advantages(responses, logprobs, ref_logprobs, values, scores, **kw)
    assert trl_batch.padding_mask.any(), "the seeded batch should contain padding"
    m_p1 = ~trl_batch.padding_mask_p1  # (B, T) real tokens and the one after EOS
    real = ~trl_batch.padding_mask  # (B, T) real tokens, EOS included
    # Our pipeline, written with our functions: k1 KL penalty on real tokens, score where
    # TRL puts it (one after EOS, or the last token when EOS is last or missing).
    rewards = -0.05 * (logprobs - ref_logprobs) * real  # (B, T)
    rows = torch.arange(len(scores))
    end = torch.clamp(trl_batch.sequence_lengths + 1, max=rewards.shape[1] - 1)
    rewards[rows, end] += scores
    if whiten_rewards:
        rewards = whiten(rewards, mask=m_p1, shift_mean=False) * m_p1
    _close(rewards, trl_batch.rewards)
    advantages, returns = gae(rewards, values, gamma=gamma, lam=lam, mask=m_p1)
    _close(advantages, trl_batch.raw_advantages)
    _close(returns, trl_batch.returns)
    _close(whiten(advantages, mask=real) * real, trl_batch.advantages)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 0.95), (0.99, 0.9), (1.0, 1.0)])
def test_gae_course_convention_vs_trl_1_12(seed, gamma, lam):
    """The course's convention (score on EOS, nothing after it) against TRL's (score after EOS).

    On a row with EOS at s < T-1, TRL's extra step gives A_s = r_s + γV_{s+1} - V_s +
    γλ(score - V_{s+1}) where we have A_s = r_s + score - V_s, so the two differ by
        D_s = γV_{s+1} + γλ(score - V_{s+1}) - score,   D_t = (γλ)^(s-t) · D_s  (t ≤ s),
    which is 0 for γ = λ = 1 and (1-λ)(V_{s+1} - score) for γ = 1. Rows without EOS (or with
    EOS last) agree exactly.
    """
    responses, logprobs, ref_logprobs, values, scores = _rollout(seed)
    kw = dict(kl_coef=0.05, gamma=gamma, lam=lam, whiten_rewards=False)
    trl_batch = trl_rewards_and_advantages(responses, logprobs, ref_logprobs, values, scores, **kw)
    real = ~trl_batch.padding_mask  # (B, T)
    s = trl_batch.sequence_lengths  # (B,) index of EOS (T-1 if none)
    rewards = -0.05 * (logprobs - ref_logprobs) * real  # (B, T)
    rows = torch.arange(len(scores))
    rewards[rows, s] += scores  # the course: the score on the EOS token
    advantages, _ = gae(rewards, values, gamma=gamma, lam=lam, mask=real)

    T = values.shape[1]
    v_next = torch.where(s + 1 < T, values[rows, torch.clamp(s + 1, max=T - 1)], 0.0)  # (B,)
    d_s = gamma * v_next + gamma * lam * (scores - v_next) - scores  # (B,)
    d_s = torch.where(s + 1 < T, d_s, 0.0)  # no extra step when EOS is last or missing
    t = torch.arange(T)
    expected = (gamma * lam) ** (s[:, None] - t).clamp(min=0) * d_s[:, None] * real  # (B, T)
    _close(trl_batch.raw_advantages * real - advantages, expected)
    if gamma == 1.0 and lam == 1.0:
        _close(advantages, trl_batch.raw_advantages * real)


# ── Against the real TRL 1.12.0, when an environment with it is available ──────────────────


def _trl_ppo_python() -> str:
    python = os.environ.get("TRL_PPO_PYTHON", "/tmp/trl112env/bin/python")
    if not Path(python).exists():
        pytest.skip(
            f"no Python with trl==1.12.0 at {python} (build one with "
            "benchmarks/make_trl_ppo_env.sh, or set TRL_PPO_PYTHON)"
        )
    return python


def _run(python: str, code: str) -> str:
    done = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_cited_lines_are_trl_1_12_source():
    python = _trl_ppo_python()
    out = _run(
        python,
        """
        import importlib.metadata as md, importlib.util as u, json
        print(json.dumps({"version": md.version("trl"),
                          "root": u.find_spec("trl").submodule_search_locations[0]}))
        """,
    )
    info = json.loads(out)
    assert info["version"] == "1.12.0"
    files = {}
    for (rel, line), text in CITED_LINES.items():
        if rel not in files:
            files[rel] = Path(info["root"], rel).read_text().splitlines()
        assert files[rel][line - 1].strip() == text, f"{rel}:{line} is not {text!r}"


def test_transcribed_helpers_match_trl_1_12(tmp_path):
    python = _trl_ppo_python()
    responses, logprobs, _, values, _ = _rollout(5)
    mask = torch.rand(values.shape, generator=_gen(7)) > 0.3
    torch.save({"responses": responses, "x": values, "mask": mask}, tmp_path / "in.pt")
    _run(
        python,
        f"""
        import torch
        from trl.experimental.ppo.ppo_trainer import masked_whiten, masked_var, truncate_response
        from trl.experimental.utils import first_true_indices
        d = torch.load({str(tmp_path / "in.pt")!r})
        post = truncate_response(2, 0, d["responses"])
        torch.save({{
            "whiten": masked_whiten(d["x"], d["mask"]),
            "whiten_noshift": masked_whiten(d["x"], d["mask"], shift_mean=False),
            "var": masked_var(d["x"], d["mask"]),
            "post": post,
            "lengths": first_true_indices(post == 0) - 1,
        }}, {str(tmp_path / "out.pt")!r})
        """,
    )
    theirs = torch.load(tmp_path / "out.pt")
    x, m = values, mask
    torch.testing.assert_close(trl_masked_whiten(x, m), theirs["whiten"], rtol=0, atol=0)
    torch.testing.assert_close(trl_masked_whiten(x, m, False), theirs["whiten_noshift"])
    torch.testing.assert_close(trl_masked_var(x, m), theirs["var"], rtol=0, atol=0)
    post = trl_truncate_response(2, 0, responses)
    assert torch.equal(post, theirs["post"])
    assert torch.equal(trl_first_true_indices(post == 0) - 1, theirs["lengths"])
    # and ours, against TRL's own function
    _close(whiten(x, mask=m), theirs["whiten"])
