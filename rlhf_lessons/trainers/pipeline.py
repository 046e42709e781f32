"""Temporary shim: moved to `trainers/toy_models.py` and `rlhf_lessons/pipeline.py` (issue 15).

Only trainers/grpo.py's command line still imports it; delete this file once GRPO's rewrite
imports `.toy_models` instead.
"""

from .toy_models import remember, toy_reward_model, toy_sft_policy

__all__ = ["remember", "toy_reward_model", "toy_sft_policy"]
