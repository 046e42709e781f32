"""Lesson 07's memory plot: one bar per plan, the GPU's memory as a line, bad input named."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from rlhf_lessons import budget  # noqa: E402
from rlhf_lessons.budget import Cluster, Setup  # noqa: E402
from rlhf_lessons.plots.budget import plot_memory_per_gpu  # noqa: E402


def test_bars_and_the_line():
    cluster = Cluster("A100-80GB", n_gpus=4)
    plans = {
        "PPO": budget.memory_plan(Setup("ppo"), cluster),
        "DPO ZeRO-3": budget.memory_plan(Setup("dpo", zero_stage=3), cluster),
    }
    fig = plot_memory_per_gpu(plans)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["DPO ZeRO-3", "PPO"]
    assert len(ax.patches) == 4  # state + workspace for each plan
    assert [line.get_xdata()[0] for line in ax.lines] == [80]
    assert not plans["PPO"].fits and plans["DPO ZeRO-3"].fits  # lesson 07's verdicts


def test_bad_input():
    with pytest.raises(ValueError, match="plans"):
        plot_memory_per_gpu({})
    a = budget.memory_plan(Setup("dpo"), Cluster("A100-80GB", n_gpus=4))
    b = budget.memory_plan(Setup("dpo"), Cluster("A100-40GB", n_gpus=4))
    with pytest.raises(ValueError, match="one GPU memory size"):
        plot_memory_per_gpu({"a": a, "b": b})
