"""Training plots (rlhf_lessons/plots/training.py): the live plot collects rows and redraws every
`every` rows, curves skip missing values, gold-vs-sqrt(KL) draws what it is given."""

from __future__ import annotations

import math

import matplotlib
import pytest

matplotlib.use("Agg")

from rlhf_lessons.optimum import OptimumEstimate  # noqa: E402
from rlhf_lessons.plots.training import (  # noqa: E402
    LivePlot,
    plot_gold_vs_sqrt_kl,
    plot_metrics,
    plot_runs,
)

ROWS = [
    {"step": s, "reward": 1.0 + 0.1 * s, "gold": 0.05 * s, "kl": 0.5 * s, "approx_kl": None}
    for s in range(1, 11)
]


def test_live_plot_redraws_every_n_rows():
    live = LivePlot(["reward", "gold", "kl"], every=4)
    draws = []
    live.draw = lambda: draws.append(len(live.rows))  # count redraws without drawing
    for row in ROWS:
        live(row)
    assert draws == [4, 8] and len(live.rows) == 10


def test_live_plot_draws_one_panel_per_metric():
    live = LivePlot(["reward", "gold", "kl"], every=100)
    for row in ROWS:
        live(row)
    fig = live.close()
    assert len(fig.axes) == 3
    xs, ys = fig.axes[1].lines[0].get_data()
    assert list(xs) == list(range(1, 11)) and ys[-1] == pytest.approx(0.5)


def test_missing_and_non_finite_values_are_skipped():
    rows = ROWS + [{"step": 11, "reward": float("nan"), "gold": 0.6, "kl": 5.5}]
    axes = plot_metrics(rows, ["reward", "approx_kl"])
    assert len(axes[0].lines[0].get_xdata()) == 10  # the nan at step 11 is skipped
    assert len(axes[1].lines[0].get_xdata()) == 0  # approx_kl is None everywhere


def test_runs_and_gold_vs_sqrt_kl():
    fig = plot_runs({"a": ROWS, "b": ROWS[:5]}, ["gold", "approx_kl"], log_keys=("approx_kl",))
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [10, 5]
    star = OptimumEstimate(0.1, 3.0, 1.4, 3.5, 4.0, 0.8, 5.0, 1.0, 16, 256)
    ax = plot_gold_vs_sqrt_kl({"a": ROWS}, optimum={0.1: star})
    gold_line, proxy_line, star_line = ax.lines
    assert gold_line.get_xdata()[-1] == pytest.approx(math.sqrt(5.0))
    assert star_line.get_xdata()[0] == pytest.approx(2.0) and star_line.get_ydata()[0] == 0.8


def test_bad_arguments():
    with pytest.raises(ValueError, match="keys"):
        LivePlot([])
    with pytest.raises(ValueError, match="every"):
        LivePlot(["gold"], every=0)
