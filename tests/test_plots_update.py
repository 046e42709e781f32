"""Lesson 09's pictures of one PPO update: the ratio histogram against the clip band and the
per-token advantage heat map count what they say, leave padding out, and name bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from rlhf_lessons.plots.update import plot_advantage_heatmap, plot_ratio_histogram  # noqa: E402


def test_histogram_counts_real_tokens_and_the_fraction_outside():
    ratio = torch.tensor([[1.0, 1.1, 1.5, 9.0], [0.5, 1.0, 1.0, 1.0]])  # (B, T)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]).float()  # the 9.0 is padding
    ax = plot_ratio_histogram(ratio.log(), mask, 0.2)
    assert sum(bar.get_height() for bar in ax.containers[0]) == 7  # 7 real tokens
    assert ax.get_title() == "29% of 7 tokens outside the band"  # 1.5 and 0.5: 2 of 7
    assert ax.get_xlim()[1] < 9.0  # the padded ratio does not stretch the axis


def test_heatmap_leaves_padding_blank_and_labels_tokens():
    adv = torch.tensor([[1.0, -2.0, 0.5], [0.3, 7.0, 7.0]])  # (B, T)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]]).float()
    ax = plot_advantage_heatmap(adv, mask, [["a", "b", "c"], ["d"]], rows=2)
    data = ax.images[0].get_array()
    assert data.mask[1, 1] and data.mask[1, 2] and not data.mask[0].any()  # nan = blank
    assert ax.images[0].get_clim() == (-2.0, 2.0)  # symmetric about 0, padding's 7 ignored
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c", "d"]


def test_bad_input_is_named():
    x, m = torch.zeros(2, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match="clip_eps"):
        plot_ratio_histogram(x, m, 0.0)
    with pytest.raises(ValueError, match="mask"):
        plot_ratio_histogram(x, torch.ones(2, 4), 0.2)
    with pytest.raises(ValueError, match="no token"):
        plot_ratio_histogram(x, torch.zeros(2, 3), 0.2)
    with pytest.raises(ValueError, match="log_ratio"):
        plot_ratio_histogram(torch.zeros(3), m, 0.2)
    with pytest.raises(ValueError, match="rows"):
        plot_advantage_heatmap(x, m, [["a"] * 3] * 2, rows=0)
    with pytest.raises(ValueError, match="tokens"):
        plot_advantage_heatmap(x, m, [["a"] * 3], rows=2)
