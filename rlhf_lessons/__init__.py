"""rlhf_lessons: the small library behind the rlhf-lessons notebooks.

The math the lessons derive is importable from the top level:

    from rlhf_lessons import reward_model_loss, ppo_clip_loss, dpo_loss, gae, whiten

The rest reads in the order the course teaches it:

- `toy` (the world: vocabulary, tokenizer, gold judge, data), `batching`, `models`, `rollout`
- `trainers` (sft, reward_model, ppo, dpo, grpo, and the cached toy `pipeline`), `evaluate`,
  `doctor` (named warnings while training)
- `optimum` (Monte-Carlo J*(beta)), `best_of_n`, `comparison` (lesson 06), `trl_count`
- `budget` (memory / FLOPs / GPU-hours), `presets`, `hf`, `smoke`, `distributed` (lesson 08)
- `widgets`, `plots`, `exercises`, `student` (the classroom edition)
"""

from .advantages import gae, whiten
from .losses import dpo_loss, kl_k1, kl_k2, kl_k3, ppo_clip_loss, reward_model_loss, value_loss
from .runtime import set_threads

__version__ = "0.1.0"

# Importing the package changes nothing global (tests/test_import.py): the entry points set
# torch's threads with set_threads() (the CLI, the notebooks' environment cell,
# tests/conftest.py, the benchmarks).

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
