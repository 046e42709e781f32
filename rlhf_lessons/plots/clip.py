"""PPO's clipped objective drawn against the ratio, for A > 0 and A < 0 (03_ppo_clip).

The per-sample numbers every view of lesson 03 shows (the table the widget displays, the dots
on the plot) come from one pure function, `clip_table`, so tests can check them without a
browser.
"""

from __future__ import annotations

import torch

from ..losses import ppo_clip_loss

__all__ = ["clipped_objective", "clip_table", "clip_table_text", "plot_clip_objective"]


def clipped_objective(ratio, advantages, eps=0.2) -> torch.Tensor:
    """Per-sample PPO objective min(ρ·A, clip(ρ, 1-ε, 1+ε)·A), elementwise (no mean, no minus).

    Introduced in 03_ppo_clip; `ppo_clip_loss` is minus its mean. Schulman et al. 2017, eq. 7.
    """
    clipped = ratio.clamp(1 - eps, 1 + eps)  # clip(ρ, 1-ε, 1+ε)
    return torch.min(ratio * advantages, clipped * advantages)


def clip_table(log_ratios, advantages, eps=0.2) -> dict:
    """Everything the lesson shows about a small batch under PPO's clip, as plain Python values.

    Introduced in 03_ppo_clip. A sample is *clipped* (gets exactly zero gradient) when the min
    picks the flat, clipped term: A > 0 and ρ > 1+ε, or A < 0 and ρ < 1-ε. A ratio outside
    [1-ε, 1+ε] on the other side (A < 0 and ρ > 1+ε, or A > 0 and ρ < 1-ε) is *not* clipped:
    there the unclipped term is the smaller (pessimistic) one and its gradient flows.

    Args:
        log_ratios: (N,) log π_θ/π_old per sample (a list of floats or a float tensor).
        advantages: (N,) advantages A per sample.
        eps: clip_eps > 0.

    Returns: dict with
        loss: float, `ppo_clip_loss(log_ratios, advantages, eps)` (the package function);
        unclipped_loss: float, the plain policy-gradient surrogate -mean(ρ·A);
        low, high: the clip range 1-ε, 1+ε;
        ratio, clipped_ratio, objective, grad: lists of N floats (grad = ∂loss/∂log_ratio,
            by autograd through `ppo_clip_loss`);
        clipped: list of N bools (the rule above); outside: list of N bools (ρ outside the range).
    """
    log_ratios = torch.as_tensor(log_ratios, dtype=torch.float32).detach().clone()
    advantages = torch.as_tensor(advantages, dtype=torch.float32)
    log_ratios.requires_grad_(True)
    loss = ppo_clip_loss(log_ratios, advantages, eps=eps)
    (grad,) = torch.autograd.grad(loss, log_ratios)  # (N,)
    with torch.no_grad():
        ratio = log_ratios.exp()  # (N,) ρ
        clipped_ratio = ratio.clamp(1 - eps, 1 + eps)  # (N,)
        objective = clipped_objective(ratio, advantages, eps)  # (N,)
        clipped = ((advantages > 0) & (ratio > 1 + eps)) | ((advantages < 0) & (ratio < 1 - eps))
        outside = (ratio > 1 + eps) | (ratio < 1 - eps)
        unclipped_loss = -(ratio * advantages).mean()
    return {
        "eps": float(eps),
        "low": 1 - float(eps),
        "high": 1 + float(eps),
        "loss": loss.item(),
        "unclipped_loss": unclipped_loss.item(),
        "log_ratio": log_ratios.detach().tolist(),
        "advantages": advantages.tolist(),
        "ratio": ratio.tolist(),
        "clipped_ratio": clipped_ratio.tolist(),
        "objective": objective.tolist(),
        "grad": grad.tolist(),
        "clipped": clipped.tolist(),
        "outside": outside.tolist(),
    }


def clip_table_text(table: dict) -> str:
    """A `clip_table(...)` result as a fixed-width text table, one row per sample (03_ppo_clip)."""
    lines = [
        f"eps = {table['eps']:g}: clip range [{table['low']:.3f}, {table['high']:.3f}]",
        "sample  log_ratio      A    ratio  clip(ratio)  min(ρA, clip·A)  ∂loss/∂log_ratio",
    ]
    for i in range(len(table["ratio"])):
        if table["clipped"][i]:
            status = "clipped: zero gradient"
        elif table["outside"][i]:
            status = "outside the range, NOT clipped"
        else:
            status = "inside the range"
        grad = table["grad"][i] + 0.0  # + 0.0 turns -0.0 into 0.0
        lines.append(
            f"{i:>6}  {table['log_ratio'][i]:>9.3f}  {table['advantages'][i]:>5.2f}"
            f"  {table['ratio'][i]:>7.3f}  {table['clipped_ratio'][i]:>11.3f}"
            f"  {table['objective'][i]:>15.4f}  {grad:>16.4f}  {status}"
        )
    lines.append(
        f"loss = {table['loss']:.4f}   (unclipped surrogate -mean(ρ·A) = "
        f"{table['unclipped_loss']:.4f})"
    )
    return "\n".join(lines)


def plot_clip_objective(
    eps=0.2, log_ratios=None, advantages=None, *, ax=None, max_ratio=2.0, dpi=80
):
    """Two panels, A > 0 and A < 0: the clipped objective per unit |A| against ρ.

    Introduced in 03_ppo_clip. Dashed: the unclipped surrogate ρ·A. Solid: min(ρ·A, clip(ρ)·A).
    Shaded: where the solid line is flat, so the gradient is exactly zero. With log_ratios and
    advantages, each sample is drawn as a numbered dot on the panel of its advantage's sign
    (a cross when it is clipped). `ax`: two Axes to draw on. Returns the Figure (8×3 in, `dpi`).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=dpi, sharex=True)
    else:
        axes = ax
        fig = axes[0].figure
    table = None
    if log_ratios is not None:
        table = clip_table(log_ratios, advantages, eps)
        max_ratio = max(max_ratio, 1.1 * max(table["ratio"]))
    ratio = torch.linspace(0.0, max_ratio, 401)  # (401,)
    low, high = 1 - eps, 1 + eps
    for a, sign, title in ((axes[0], 1.0, "A > 0"), (axes[1], -1.0, "A < 0")):
        advantage = torch.full_like(ratio, sign)  # one unit of advantage
        a.plot(ratio, ratio * advantage, "--", color="0.6", label="unclipped ρ·A")
        a.plot(ratio, clipped_objective(ratio, advantage, eps), color="C0", lw=2, label="clipped")
        flat = (high, max_ratio) if sign > 0 else (0.0, max(low, 0.0))
        if flat[1] > flat[0]:
            a.axvspan(*flat, color="C3", alpha=0.12, label="flat: zero gradient")
        for bound in (low, high):
            if 0 < bound < max_ratio:
                a.axvline(bound, color="0.3", lw=0.8, ls=":")
        a.set_title(f"{title}, ε = {eps:g}", fontsize=10)
        a.set_xlabel("ratio ρ = π_θ / π_old")
        a.set_xlim(0, max_ratio)
        if table is not None:
            for i, (r, adv, obj, clipped) in enumerate(
                zip(table["ratio"], table["advantages"], table["objective"], table["clipped"])
            ):
                if adv == 0 or (adv > 0) != (sign > 0):
                    continue
                y = obj / abs(adv)  # objective per unit |A|, on this panel's curve
                a.plot(r, y, "X" if clipped else "o", color="C3" if clipped else "k", ms=7)
                a.annotate(str(i), (r, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes[0].set_ylabel("objective / |A|")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
