"""Training curves: live plots that redraw during a run, and comparisons of finished runs.

Introduced in 04_ppo_loop (live proxy / gold / KL curves) and used by 05_when_rlhf_breaks
(runs side by side, gold against sqrt(KL) as in Gao et al. 2022); any trainer's metric rows
(dicts with a "step" key, as written to metrics.jsonl) can be drawn.

    live = LivePlot(["reward", "gold", "kl"])          # one panel per metric
    train_ppo(..., callback=live)                      # redraws every `every` steps
    live.close()                                       # final redraw

In a notebook the figure is shown once and updated in place (a display handle), so the saved
notebook holds one image; outside a notebook LivePlot only collects the rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import matplotlib

__all__ = ["LABELS", "LivePlot", "plot_metrics", "plot_runs", "plot_gold_vs_sqrt_kl"]

LABELS = {
    "reward": "proxy reward (reward model)",
    "gold": "gold score (hidden judge)",
    "kl": "KL to reference (nats)",
    "entropy": "entropy (nats/token)",
    "approx_kl": "approx_kl per token (π_old → π_θ)",
    "clipfrac": "fraction of tokens clipped",
    "explained_variance": "value explained variance",
    "loss": "loss",
    "beta": "beta (KL coefficient)",
    "eos_rate": "responses ending with <eos>",
    "objective": "reward − beta·KL",
    "pass_rate": "pass rate (verifier), training batch",  # lesson 10
    "response_length": "response length (tokens)",
    "zero_variance_groups": "groups with equal rewards",
}


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _series(rows: Iterable[Mapping], key: str) -> tuple[list, list]:
    """(steps, values) of `key`, skipping rows where it is missing, None or non-finite."""
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(row["step"])
            ys.append(value)
    return xs, ys


def plot_metrics(rows: Sequence[Mapping], keys: Sequence[str], axes=None, label=None, **style):
    """One panel per metric against step. Returns the axes (draws into `axes` if given)."""
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 2.8), squeeze=False)
        axes = axes[0]
    for ax, key in zip(axes, keys):
        xs, ys = _series(rows, key)
        ax.plot(xs, ys, label=label, **style)
        ax.set_title(LABELS.get(key, key), fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return axes


def plot_runs(runs: Mapping[str, Sequence[Mapping]], keys: Sequence[str], log_keys=()):
    """Several runs (name -> metric rows) side by side, one panel per metric. Returns the figure."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 2.9), squeeze=False)
    axes = axes[0]
    for name, rows in runs.items():
        plot_metrics(rows, keys, axes=axes, label=name)
    for ax, key in zip(axes, keys):
        if key in log_keys:
            ax.set_yscale("symlog", linthresh=1e-3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gold_vs_sqrt_kl(
    runs: Mapping[str, Sequence[Mapping]],
    optimum: Mapping[float, object] | None = None,
    ax=None,
    show_proxy: bool = True,
):
    """Gold (and proxy) against sqrt(KL), one curve per run: the axes of Gao et al. 2022.

    `optimum`: {beta: OptimumEstimate} (rlhf_lessons.optimum) adds the optimal policies' gold
    at their KL, the curve no method can beat in expected proxy reward. Returns the axes.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, (name, rows) in enumerate(runs.items()):
        pts = [
            (math.sqrt(max(r["kl"], 0.0)), r["gold"], r.get("reward"))
            for r in rows
            if isinstance(r.get("kl"), (int, float)) and isinstance(r.get("gold"), (int, float))
        ]
        color = f"C{i}"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=color, label=f"{name}: gold")
        if show_proxy and all(p[2] is not None for p in pts):
            ax.plot([p[0] for p in pts], [p[2] for p in pts], ":", color=color, alpha=0.7)
    if optimum:
        est = sorted(optimum.values(), key=lambda e: e.kl)
        ax.plot(
            [math.sqrt(max(e.kl, 0.0)) for e in est],
            [e.gold for e in est],
            "k*--",
            label="optimal policy π* (gold)",
        )
    ax.set_xlabel("sqrt(KL to reference)")
    ax.set_ylabel("score (solid: gold, dotted: proxy)" if show_proxy else "gold score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


class LivePlot:
    """A figure of metric curves that redraws itself every `every` rows during training.

    Call it with each metric row (it is a trainer `callback`); `close()` draws the final state.
    """

    def __init__(self, keys: Sequence[str] = ("reward", "gold", "kl"), every: int = 5):
        if not keys:
            raise ValueError("keys must name at least one metric, e.g. ['reward', 'gold', 'kl']")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.keys, self.every = list(keys), every
        self.rows: list[dict] = []
        self._handle = None
        self._fig = None

    def __call__(self, row: Mapping) -> None:
        self.rows.append(dict(row))
        if len(self.rows) % self.every == 0:
            self.draw()

    def draw(self):
        """Redraw the curves (in place in a notebook). Returns the figure."""
        plt = _pyplot()
        if self._fig is None:
            self._fig, axes = plt.subplots(
                1, len(self.keys), figsize=(3.6 * len(self.keys), 2.8), squeeze=False
            )
            plt.close(self._fig)  # shown through the display handle only, not again at cell end
        for ax in self._fig.axes:
            ax.clear()
        plot_metrics(self.rows, self.keys, axes=self._fig.axes, color="C0")
        self._fig.tight_layout()
        if _in_notebook() and matplotlib.get_backend().lower() != "agg":
            from IPython.display import display

            if self._handle is None:
                self._handle = display(self._fig, display_id=True)
            else:
                self._handle.update(self._fig)
        return self._fig

    def close(self):
        """Draw the final state; returns the figure."""
        return self.draw()
