"""The reward–KL frontier: where each method lands, against the exact optimum.

Introduced in 06_dpo_and_grpo (after the DPO paper's Figure 2, left: reward against KL to the
reference). Two panels share the x axis, KL(π ‖ π_ref) in nats per response:

- left, the proxy reward the methods optimise. The optimum π* ∝ π_ref·exp(r/β) is a true
  ceiling here: at its own KL, no policy has a higher expected proxy reward.
- right, the gold score (the truth the proxy stands in for). π*'s gold is drawn for
  reference, but it is *not* a ceiling: the proxy's optimum is not the gold's.

Points of one method (a beta sweep, or best-of-N's n) are joined in order of KL.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["plot_frontier", "STYLE"]

STYLE = {  # method -> (colour, marker)
    "PPO": ("tab:blue", "o"),
    "DPO": ("tab:orange", "s"),
    "GRPO": ("tab:green", "^"),
    "best-of-N": ("tab:purple", "D"),
    "REINFORCE": ("tab:brown", "v"),  # lesson 09
    "RLOO": ("tab:red", "P"),
    "reference (SFT)": ("black", "*"),
}


def plot_frontier(
    points: Sequence[dict],
    optimum: Sequence[dict] | None = None,
    *,
    ess_min: float = 20.0,
    title: str | None = None,
):
    """Draw reward–KL and gold–KL. Returns the matplotlib Figure.

    Args:
        points: dicts with "method", "kl", "reward", "gold" (and optionally "beta" or "n",
            written next to the point).
        optimum: rows of `comparison.optimum_curve` ("kl", "reward", "gold", "ess_mean",
            "beta"); drawn dashed where the effective sample size is below `ess_min`, where
            the Monte-Carlo estimate is only a lower bound.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, key, label in (
        (axes[0], "reward", "proxy reward (what is optimised)"),
        (axes[1], "gold", "gold score (the truth)"),
    ):
        if optimum:
            opt = sorted(optimum, key=lambda r: r["kl"])
            solid = [r for r in opt if r.get("ess_mean", ess_min) >= ess_min]
            weak = [r for r in opt if r.get("ess_mean", ess_min) < ess_min]
            name = "optimum π* (ceiling)" if key == "reward" else "optimum π* (not a ceiling)"
            ax.plot([r["kl"] for r in solid], [r[key] for r in solid], "k-", lw=2, label=name)
            if weak:
                join = solid[-1:] + weak  # continue the curve past its last solid point
                ax.plot([r["kl"] for r in join], [r[key] for r in join], "k--", lw=1.5,
                        label=f"π*, ESS < {ess_min:g} (lower bound)")  # fmt: skip
        for method in dict.fromkeys(p["method"] for p in points):
            rows = sorted((p for p in points if p["method"] == method), key=lambda r: r["kl"])
            colour, marker = STYLE.get(method, ("gray", "x"))
            ax.plot([r["kl"] for r in rows], [r[key] for r in rows], marker=marker, ms=7,
                    color=colour, ls="-" if len(rows) > 1 else "none", label=method)  # fmt: skip
            for r in rows:
                knob = (
                    f"n={r['n']}" if r.get("n") else (f"β={r['beta']:g}" if r.get("beta") else "")
                )
                if knob:
                    ax.annotate(knob, (r["kl"], r[key]), textcoords="offset points",
                                xytext=(4, -10), fontsize=7, color=colour)  # fmt: skip
        ax.set_xlabel("KL to the reference (nats per response)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
