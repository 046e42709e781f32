"""rlhf_lessons: the small library behind the rlhf-lessons notebooks.

The math the lessons derive is importable from the top level:

    from rlhf_lessons import reward_model_loss, ppo_clip_loss, dpo_loss, gae, whiten

The rest reads in the order the course teaches it: `toy` (the world), `models`, `rollout`,
`trainers` (sft, reward_model, ppo, dpo, grpo), `optimum`, `budget`, `presets`, `doctor`,
`widgets`, `plots`, `exercises`.
"""

from .advantages import gae, whiten
from .losses import dpo_loss, kl_k1, kl_k2, kl_k3, ppo_clip_loss, reward_model_loss, value_loss
from .runtime import set_threads

__version__ = "0.1.0"

set_threads()  # one torch thread unless RLHF_LESSONS_THREADS says otherwise (see runtime.py)

__all__ = [
    "reward_model_loss",
    "ppo_clip_loss",
    "value_loss",
    "dpo_loss",
    "kl_k1",
    "kl_k2",
    "kl_k3",
    "gae",
    "whiten",
    "set_threads",
]
