"""RLOO's advantage and loss (rlhf_lessons/trainers/rloo.py, lesson 09) against TRL 1.16's RLOOTrainer.

- The loss: we *call* TRL's own `RLOOTrainer._compute_loss` as an unbound function, with a stub
  `self` carrying only the attributes it reads and a stub `_get_per_token_logps_and_entropies`
  returning per-token log-probabilities we choose. Same loss and same gradient to 1e-6, so the
  normalisation (sequence log-probs summed over the mask, one ratio per sequence, mean over
  sequences) is TRL's.
- The advantage lives in the middle of `_generate_and_score_completions` (generation, reward
  functions and gathers around it), so it cannot be called alone: its lines 1664-1699 of
  trl/trainer/rloo_trainer.py (TRL 1.16.0) are transcribed below — KL in the reward
  (`rewards - self.beta * kl`, k1 summed over the mask), the leave-one-out baseline
  `(grouped_sum - grouped_rewards) / (scorable_counts - 1)` and `normalize_advantages` with
  TRL's own `nanstd` — and a test checks those lines are still verbatim in the installed TRL.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

trl = pytest.importorskip("trl")
from trl.trainer.rloo_trainer import RLOOTrainer  # noqa: E402
from trl.trainer.utils import nanstd  # noqa: E402

from rlhf_lessons.trainers.reinforce import kl_penalised_rewards  # noqa: E402
from rlhf_lessons.trainers.rloo import rloo_advantages, rloo_loss  # noqa: E402

TRANSCRIBED = [  # the lines of RLOOTrainer._generate_and_score_completions transcribed below
    "per_token_kl = old_per_token_logps - ref_per_token_logps",
    "kl = (per_token_kl * completion_mask).sum(-1)",
    "rewards = rewards - self.beta * kl",
    "grouped_rewards = rewards.view(-1, num_generations)",
    "grouped_sum = torch.nansum(grouped_rewards, dim=1, keepdim=True)",
    "baselines = (grouped_sum - grouped_rewards) / (scorable_counts - 1)",
    "advantages = rewards - baselines",
    "advantages = (advantages - torch.nanmean(advantages)) / (nanstd(advantages) + 1e-4)",
]


def test_trl_version_and_transcribed_lines_are_verbatim():
    assert trl.__version__.startswith("1.16"), trl.__version__
    source = inspect.getsource(RLOOTrainer._generate_and_score_completions)
    for line in TRANSCRIBED:
        assert line in source, line


def trl_advantages(rewards, old_lp, ref_lp, mask, beta, num_generations, normalize):
    """TRL 1.16 rloo_trainer.py lines 1664-1699, one process, every completion scorable."""
    per_token_kl = old_lp - ref_lp
    kl = (per_token_kl * mask).sum(-1)
    rewards = rewards - beta * kl
    grouped_rewards = rewards.view(-1, num_generations)
    scorable_counts = (~torch.isnan(grouped_rewards)).sum(dim=1, keepdim=True)
    grouped_sum = torch.nansum(grouped_rewards, dim=1, keepdim=True)
    baselines = (grouped_sum - grouped_rewards) / (scorable_counts - 1)
    advantages = rewards - baselines.view(-1)
    if normalize:
        advantages = (advantages - torch.nanmean(advantages)) / (nanstd(advantages) + 1e-4)
    return torch.nan_to_num(advantages, nan=0.0)


def seeded(seed, B=6, T=7):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T), padding after EOS
    logp = -torch.rand(B, T, generator=g) * 3  # (B, T)
    old = logp + 0.3 * torch.randn(B, T, generator=g)  # off-policy: ratios away from 1
    ref = logp + 0.5 * torch.randn(B, T, generator=g)
    rewards = torch.randn(B, generator=g)
    return rewards, logp, old, ref, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("normalize", [False, True])
def test_advantages_match_trl(seed, k, normalize):
    rewards, _, old, ref, mask = seeded(seed)
    ours = rloo_advantages(kl_penalised_rewards(rewards, old, ref, mask, 0.05), k, normalize)
    theirs = trl_advantages(rewards, old, ref, mask, 0.05, k, normalize)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def trl_loss(per_token_logps, old_seq_logps, advantages, mask, epsilon=0.2):
    """Call TRL's RLOOTrainer._compute_loss with a stub self: the loss is TRL's own code."""

    def logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, **kwargs):
        assert logits_to_keep == mask.shape[1]
        return per_token_logps, torch.zeros_like(per_token_logps), None

    identity = SimpleNamespace(
        gather=lambda x: x, reduce=lambda x, reduction: x, gather_for_metrics=lambda x: x
    )
    stub = SimpleNamespace(
        _get_per_token_logps_and_entropies=logps_and_entropies,
        aux_loss_enabled=False,
        model=SimpleNamespace(training=True),
        _metrics=defaultdict(lambda: defaultdict(list)),
        accelerator=identity,
        epsilon_low=epsilon,
        epsilon_high=epsilon,
    )
    B, T = mask.shape
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long),
        "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask,
        "old_logps": old_seq_logps,
        "advantages": advantages,
    }
    return RLOOTrainer._compute_loss(stub, None, inputs)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_loss_and_gradient_match_trl(seed):
    rewards, logp, old, ref, mask = seeded(seed)
    advantages = rloo_advantages(kl_penalised_rewards(rewards, old, ref, mask, 0.05), 3)
    old_seq = (old * mask).sum(-1)  # (B,) as TRL line 1610

    theirs_lp = logp.clone().requires_grad_(True)
    theirs = trl_loss(theirs_lp, old_seq, advantages, mask)
    theirs.backward()

    ours_lp = logp.clone().requires_grad_(True)
    ours, stats = rloo_loss((ours_lp * mask).sum(-1), old_seq, advantages, 0.2)
    ours.backward()

    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    torch.testing.assert_close(ours_lp.grad, theirs_lp.grad, atol=1e-6, rtol=0)
    assert stats["clipfrac"] > 0  # the seeded ratios reach past the clip band: clipping is tested


def test_on_policy_loss_matches_trl_and_is_reinforce():
    # one gradient step per batch (TRL's num_iterations=1): old = current, ratio 1
    rewards, logp, _, ref, mask = seeded(7)
    advantages = rloo_advantages(kl_penalised_rewards(rewards, logp, ref, mask, 0.05), 2)
    seq = (logp * mask).sum(-1)
    theirs = trl_loss(logp.clone().requires_grad_(True), seq, advantages, mask)
    ours, _ = rloo_loss(seq, seq, advantages)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    assert ours.item() == pytest.approx(-advantages.mean().item(), abs=1e-6)
