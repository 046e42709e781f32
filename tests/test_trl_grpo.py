"""Our GRPO loss against TRL 1.16's own GRPOTrainer._compute_loss on the same seeded inputs.

Issue 14 item 2 (first piece): loss_type "grpo", token-level ratio, symmetric clip, beta > 0,
num_iterations > 1 (old logps differ from the current ones, so the clip acts). TRL's code is
called on a minimal stand-in object, not re-typed.
"""

from __future__ import annotations

from collections import defaultdict
from unittest import mock

import pytest
import torch

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")

from rlhf_lessons.trainers.grpo import group_advantages, grpo_loss  # noqa: E402


class _StandIn:
    """Just the attributes GRPOTrainer._compute_loss reads; anything else is a MagicMock."""

    def __init__(self, logps, beta, epsilon, epsilon_high=None, loss_type="grpo", level="token",
                 max_completion_length=None):  # fmt: skip
        self._logps = logps
        self.beta, self.epsilon_low = beta, epsilon
        self.epsilon_high = epsilon if epsilon_high is None else epsilon_high
        self.loss_type, self.importance_sampling_level = loss_type, level
        self.max_completion_length = max_completion_length or logps.shape[1]
        self.top_entropy_quantile, self.off_policy_mask_threshold = 1.0, None
        self.aux_loss_enabled, self.use_vllm, self._entropy_bonus_enabled = False, False, False
        self.current_gradient_accumulation_steps = 1
        self.model = mock.MagicMock(training=True)
        self.accelerator = mock.MagicMock()
        self.accelerator.gather = lambda t: t
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self.args = mock.MagicMock(use_bias_correction_kl=False, delta=None, steps_per_generation=1)
        self.accelerator.num_processes = 1

    def __getattr__(self, name):
        return mock.MagicMock()

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        return self._logps, torch.zeros_like(self._logps), None


def test_grpo_loss_equals_trl_compute_loss():
    g = torch.Generator().manual_seed(0)
    B, T = 8, 6
    logps = (-torch.rand(B, T, generator=g) * 3).requires_grad_(True)  # (B, T)
    old = logps.detach() + 0.3 * torch.randn(B, T, generator=g)  # (B, T): the clip acts
    ref = logps.detach() + 0.2 * torch.randn(B, T, generator=g)  # (B, T)
    adv = torch.randn(B, generator=g)  # (B,)
    mask = (torch.rand(B, T, generator=g) > 0.2).long()
    mask[:, 0] = 1
    beta, eps = 0.04, 0.2
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long), "prompt_mask": torch.ones(B, 2),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }  # fmt: skip
    theirs = trl_grpo.GRPOTrainer._compute_loss(_StandIn(logps, beta, eps), None, inputs)
    ours, _ = grpo_loss(logps, old, ref, adv, mask, eps, beta)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)


def test_the_comparison_is_sensitive():
    """A different beta gives a different TRL loss: the stand-in really runs TRL's formula."""
    g = torch.Generator().manual_seed(1)
    B, T = 4, 5
    logps = -torch.rand(B, T, generator=g)
    ref = logps + 0.5 * torch.randn(B, T, generator=g)
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": torch.ones(B, T),
        "advantages": torch.randn(B, generator=g), "old_per_token_logps": logps,
        "ref_per_token_logps": ref, "num_items_in_batch": torch.tensor(B * T),
    }  # fmt: skip
    a = trl_grpo.GRPOTrainer._compute_loss(_StandIn(logps, 0.0, 0.2), None, inputs)
    b = trl_grpo.GRPOTrainer._compute_loss(_StandIn(logps, 1.0, 0.2), None, inputs)
    assert isinstance(a, torch.Tensor) and abs(a.item() - b.item()) > 1e-3


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_every_variant_equals_trl(loss_type, level):
    """Every loss_type x importance_sampling_level, clip-higher (epsilon_high != epsilon), beta > 0."""
    g = torch.Generator().manual_seed(2)
    B, T, t_max = 8, 6, 10
    logps = (-torch.rand(B, T, generator=g) * 3).requires_grad_(True)
    old = logps.detach() + 0.3 * torch.randn(B, T, generator=g)
    ref = logps.detach() + 0.2 * torch.randn(B, T, generator=g)
    adv = torch.randn(B, generator=g)
    mask = (torch.rand(B, T, generator=g) > 0.2).long()
    mask[:, 0] = 1
    n_items = mask.sum() + 7  # dapo: the tokens of the whole generation batch
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long), "prompt_mask": torch.ones(B, 2),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
        "num_items_in_batch": n_items,
    }  # fmt: skip
    standin = _StandIn(logps, 0.04, 0.2, 0.28, loss_type, level, t_max)
    theirs = trl_grpo.GRPOTrainer._compute_loss(standin, None, inputs)
    ours, _ = grpo_loss(logps, old, ref, adv, mask, 0.2, 0.04, loss_type=loss_type,
                        epsilon_high=0.28, importance_sampling_level=level,
                        max_completion_length=t_max, num_items_in_batch=n_items)  # fmt: skip
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    (g_ours,) = torch.autograd.grad(ours, logps, retain_graph=True)
    (g_theirs,) = torch.autograd.grad(theirs, logps)
    torch.testing.assert_close(g_ours, g_theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
def test_group_advantages_match_trl(scale_rewards):
    """TRL 1.16's _generate_and_score_completions advantage lines, with its own nanstd."""
    G = 4
    rewards = torch.randn(3 * G, generator=torch.Generator().manual_seed(3))
    rewards[:G] = 1.0  # one zero-variance group
    mean = rewards.view(-1, G).mean(1).repeat_interleave(G)
    if scale_rewards == "batch":
        std = trl_grpo.nanstd(rewards).expand_as(rewards)
    else:
        std = trl_grpo.nanstd(rewards.view(-1, G), dim=1).repeat_interleave(G)
    theirs = rewards - mean
    if scale_rewards != "none":
        theirs = theirs / (std + 1e-4)
    ours = group_advantages(rewards, G, scale_rewards=scale_rewards)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert torch.equal(ours[:G], torch.zeros(G))
