"""A cache between lessons (course layer): the toy models, and lesson 04's whole PPO run.

Introduced in 01_rlhf_pipeline. No hidden state between notebooks: each lesson calls these
functions, which load a checkpoint from the cache folder (runtime.cache_dir(), keyed by the
config and the data) or train it when it is missing. The code lives in the algorithms layer,
where the trainers' command lines and the comparison need it:

- trainers/toy_models.py  `toy_sft_policy`, `toy_reward_model`, `remember` (a model a lesson
                          trained itself, so later lessons load it instead of training it)
- trainers/run_cache.py   `remember_ppo_run`, `recall_ppo_run` (lesson 04's PPO run, which
                          lesson 06 compares with DPO and GRPO)
"""

from __future__ import annotations

from .trainers.run_cache import ppo_run_path, recall_ppo_run, remember_ppo_run
from .trainers.toy_models import remember, toy_reward_model, toy_sft_policy

__all__ = [
    "toy_sft_policy", "toy_reward_model", "remember", "ppo_run_path", "remember_ppo_run",
    "recall_ppo_run",
]  # fmt: skip
