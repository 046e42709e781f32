"""ipywidgets panels the lessons show; one module per lesson, imported on first use.

from rlhf_lessons.widgets import clip_explorer          # 03_ppo_clip
from rlhf_lessons.widgets import preference_labeller    # 02_reward_model ("be the human")
from rlhf_lessons.widgets import budget_calculator      # 07_planning_a_real_run
"""

from importlib import import_module

_WHERE = {
    "clip_explorer": "clip",
    "preference_labeller": "labeller",
    "budget_calculator": "budget",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
