"""Inside one PPO update: where the ratios land against the clip band, and where the advantage is.

Introduced in 09_policy_gradient (the capstone, issue 13). Two pictures of one rollout batch:

- `plot_ratio_histogram`: ρ = π_θ / π_old per real response token after the update, against the
  band [1−ε, 1+ε]. A token outside the band in the direction its advantage pushes gets no more
  gradient from the clipped loss (lesson 03); the fraction outside is PPO's clipfrac.
- `plot_advantage_heatmap`: the (whitened) advantage A_t per response token for a few responses,
  each cell labelled with its token: GAE spreads the end-of-response score back over the tokens
  (lesson 04), and the KL penalty makes single tokens stand out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["plot_ratio_histogram", "plot_advantage_heatmap"]


def _check_pair(name: str, x: torch.Tensor, mask: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{name} must be a (B, T) tensor, got {getattr(x, 'shape', type(x))}")
    if not isinstance(mask, torch.Tensor) or mask.shape != x.shape:
        raise ValueError(
            f"mask must be a (B, T) tensor shaped like {name} {tuple(x.shape)}, "
            f"got {getattr(mask, 'shape', type(mask))}"
        )
    if mask.sum() == 0:
        raise ValueError("mask selects no token: nothing to plot")


def plot_ratio_histogram(log_ratio: torch.Tensor, mask: torch.Tensor, clip_eps: float, *, ax=None):
    """Histogram of ρ = exp(log π_θ − log π_old) over the real tokens, with the clip band shaded.

    Args:
        log_ratio: (B, T) log π_θ − log π_old per response token.
        mask: (B, T) 1 = real response token.
        clip_eps: PPO's ε (> 0): the band is [1−ε, 1+ε].
        ax: a matplotlib Axes to draw on (None: a new figure).
    Returns the Axes; its title gives the fraction of tokens outside the band.
    """
    import matplotlib.pyplot as plt

    _check_pair("log_ratio", log_ratio, mask)
    if not clip_eps > 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
    ratio = log_ratio.detach().exp()[mask.bool()].float()  # (N,) real tokens only
    outside = ((ratio - 1).abs() > clip_eps).float().mean().item()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3), dpi=80)
    lo, hi = 1 - clip_eps, 1 + clip_eps
    span = max(hi - lo, (ratio.max() - ratio.min()).item())
    ax.axvspan(
        lo, hi, color="tab:green", alpha=0.15, label=f"clip band [1−ε, 1+ε], ε = {clip_eps:g}"
    )
    ax.hist(ratio.numpy(), bins=40, range=(min(lo, ratio.min().item()) - 0.05 * span,
            max(hi, ratio.max().item()) + 0.05 * span), color="tab:blue")  # fmt: skip
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set(xlabel="ratio ρ = π_θ / π_old (per token)", ylabel="tokens",
           title=f"{outside:.0%} of {ratio.numel()} tokens outside the band")  # fmt: skip
    ax.legend(fontsize=8)
    return ax


def plot_advantage_heatmap(advantages: torch.Tensor, mask: torch.Tensor,
                           tokens: Sequence[Sequence[str]], *, rows: int = 4, ax=None):  # fmt: skip
    """Heat map of A_t for the first `rows` responses, red = pushed up, blue = pushed down.

    Args:
        advantages: (B, T) advantage per response token.
        mask: (B, T) 1 = real response token (padding is left blank).
        tokens: tokens[i][t] is response i's t-th token (at least `rows` responses).
        rows: how many responses to draw (>= 1).
        ax: a matplotlib Axes to draw on (None: a new figure).
    Returns the Axes.
    """
    import matplotlib.pyplot as plt

    _check_pair("advantages", advantages, mask)
    if not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be an int >= 1, got {rows!r}")
    rows = min(rows, advantages.shape[0])
    if len(tokens) < rows:
        raise ValueError(f"tokens must list at least {rows} responses, got {len(tokens)}")
    a = advantages[:rows].detach().float()  # (rows, T)
    m = mask[:rows].bool()
    T = int(m.sum(1).max())  # the longest of these responses
    shown = a[:, :T].masked_fill(~m[:, :T], float("nan"))  # (rows, T) padding blank
    limit = max(a[m].abs().max().item(), 1e-6)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(1.0 * T + 1.5, 14), 0.5 * rows + 1.0), dpi=80)
    image = ax.imshow(shown.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(rows):
        for t in range(T):
            if m[i, t] and t < len(tokens[i]):
                ax.text(t, i, tokens[i][t], ha="center", va="center", fontsize=7)
    ax.set(xlabel="response token t", ylabel="response", yticks=range(rows),
           title="advantage A_t per token (whitened)")  # fmt: skip
    ax.figure.colorbar(image, ax=ax, fraction=0.03)
    return ax
