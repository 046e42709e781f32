"""Memory per GPU against the card's memory: which plans fit, and by how much.

Introduced in 07_planning_a_real_run. One horizontal bar per plan (`budget.memory_plan`): the
model states one GPU holds after ZeRO sharding and offload (weights, gradients, Adam), then the
activations / KV cache estimate on top, with the GPU's memory as a vertical line. A bar that
crosses the line does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["plot_memory_per_gpu"]


def plot_memory_per_gpu(plans: Mapping, *, title: str | None = None):
    """Draw each plan's GB per GPU against its GPU's memory. Returns the matplotlib Figure.

    Args:
        plans: name -> `budget.MemoryPlan` (all for the same GPU type, so one line is drawn).
        title: the figure's title (None: "memory per GPU").
    """
    import matplotlib.pyplot as plt

    if not plans:
        raise ValueError("plans must name at least one MemoryPlan")
    limits = {plan.gpu_memory_gb for plan in plans.values()}
    if len(limits) != 1:
        raise ValueError(f"plans must share one GPU memory size, got {sorted(limits)} GB")
    (limit,) = limits
    names = list(plans)[::-1]  # the first plan on top
    state = [plans[n].per_gpu_state_gb for n in names]
    work = [plans[n].workspace_gb for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2), dpi=80)
    ax.barh(names, state, color="tab:blue", label="weights + grads + Adam (after ZeRO)")
    ax.barh(names, work, left=state, color="tab:orange", label="activations / KV cache (estimate)")
    ax.axvline(limit, color="black", linestyle="--", linewidth=1)
    ax.text(limit, len(names) - 0.4, f" {limit:g} GB", va="bottom", ha="left")
    for y, n in enumerate(names):
        total = plans[n].per_gpu_gb
        ax.text(total, y, f" {total:.0f}", va="center", ha="left", fontsize=8,
                color="black" if plans[n].fits else "tab:red")  # fmt: skip
    ax.set(xlabel="GB per GPU", title=title or "memory per GPU")
    ax.set_xlim(0, max(max(p.per_gpu_gb for p in plans.values()), limit) * 1.15)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
