"""The clip explorer of 03_ppo_clip: sliders for ε, four log-ratios and four advantages.

Every slider move recomputes `clip_table` (rlhf_lessons.plots.clip) and redraws an HTML
readout and the plot. The readout is meant to be read by people *and* by the browser test, so
its parts carry stable CSS classes:

    <span class="rlhf-loss">-1.2073</span>                 the PPO clip loss
    <span class="rlhf-unclipped-loss">…</span>            -mean(ρ·A), what eps → ∞ would give
    <tr class="rlhf-sample" data-index="i" data-clipped="true|false"> one row per sample, with
      <td class="rlhf-ratio">, <td class="rlhf-clipped-ratio">, <td class="rlhf-grad"> and
      <td class="rlhf-status rlhf-clipped">clipped: zero gradient</td>  or
      <td class="rlhf-status rlhf-active">gets gradient</td>

Slider descriptions: "eps", "log_ratio[0]".."log_ratio[3]", "A[0]".."A[3]".
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch
from IPython.display import display

from ..plots.clip import clip_table, plot_clip_objective

__all__ = ["clip_explorer", "clip_table_html", "PRESETS"]

# The seed lesson's batch and its try-its: (log_ratios, advantages).
PRESETS = {
    "seed": ([0.1, 0.3, -0.1, 0.5], [1.0, 0.5, 0.8, 2.0]),
    "try it 1: log-ratios 2.0": ([2.0, 2.0, 2.0, 2.0], [1.0, 0.5, 0.8, 2.0]),
    "try it 2: negative advantages": ([0.1, 0.3, -0.1, 0.5], [-1.0, -0.5, -0.8, -2.0]),
    "log-ratios 2.0, negative advantages": ([2.0, 2.0, 2.0, 2.0], [-1.0, -0.5, -0.8, -2.0]),
}

_STYLE = """<style>
.rlhf-clip-table td, .rlhf-clip-table th {padding: 2px 8px; text-align: right;}
.rlhf-clip-table td.rlhf-clipped {color: #b2182b; font-weight: bold;}
.rlhf-clip-table td.rlhf-active {color: #1b7837;}
</style>"""


def _tensor_text(values) -> str:
    """The way the seed prints ratios: torch's repr of the values rounded to 3 decimals."""
    return str(torch.tensor(values).round(decimals=3))


def clip_table_html(table: dict) -> str:
    """The readout the explorer shows for one `clip_table(...)` result (an HTML string)."""
    rows = []
    for i in range(len(table["ratio"])):
        clipped = table["clipped"][i]
        if clipped:
            status = '<td class="rlhf-status rlhf-clipped">clipped: zero gradient</td>'
        elif table["outside"][i]:
            status = (
                '<td class="rlhf-status rlhf-active">gets gradient '
                "(outside the range, but on the side where the min keeps ρ·A)</td>"
            )
        else:
            status = '<td class="rlhf-status rlhf-active">gets gradient</td>'
        rows.append(
            f'<tr class="rlhf-sample" data-index="{i}" data-clipped="{str(clipped).lower()}">'
            f"<td>{i}</td>"
            f'<td class="rlhf-log-ratio">{table["log_ratio"][i]:.2f}</td>'
            f'<td class="rlhf-advantage">{table["advantages"][i]:.2f}</td>'
            f'<td class="rlhf-ratio">{table["ratio"][i]:.3f}</td>'
            f'<td class="rlhf-clipped-ratio">{table["clipped_ratio"][i]:.3f}</td>'
            f'<td class="rlhf-objective">{table["objective"][i]:.4f}</td>'
            f'<td class="rlhf-grad">{table["grad"][i] + 0.0:.4f}</td>'
            f"{status}</tr>"
        )
    eps = table["eps"]
    head = (
        "<tr><th>sample</th><th>log_ratio</th><th>A</th><th>ratio ρ</th>"
        "<th>clip(ρ)</th><th>min(ρA, clip(ρ)A)</th><th>∂loss/∂log_ratio</th><th></th></tr>"
    )
    return (
        f'{_STYLE}<div class="rlhf-clip-explorer">'
        f'<p>PPO clip loss: <span class="rlhf-loss">{table["loss"]:.4f}</span>'
        f" &nbsp; (without the clip, -mean(ρ·A) = "
        f'<span class="rlhf-unclipped-loss">{table["unclipped_loss"]:.4f}</span>)'
        f' &nbsp; clipped samples: <span class="rlhf-n-clipped">{sum(table["clipped"])}</span>'
        f" of {len(table['clipped'])}</p>"
        f'<p><code>Unclipped ratios: <span class="rlhf-ratios">'
        f"{html.escape(_tensor_text(table['ratio']))}</span></code><br>"
        f"<code>Clipped ratios (eps={eps:g}): "
        f'<span class="rlhf-clipped-ratios">{html.escape(_tensor_text(table["clipped_ratio"]))}'
        f"</span></code></p>"
        f'<table class="rlhf-clip-table">{head}{"".join(rows)}</table></div>'
    )


def clip_explorer(log_ratios=None, advantages=None, eps=0.2, *, plot=True) -> widgets.VBox:
    """An ipywidgets panel: move ε, the four log-ratios and the four advantages; watch the loss,
    the ratios, which samples are clipped (zero gradient) and where they sit on the objective.

    Introduced in 03_ppo_clip. Defaults are the seed lesson's batch. `plot=False` leaves out the
    matplotlib figure (lighter, e.g. for tests). Returns the panel (display it, or let Jupyter).
    """
    default_lr, default_adv = PRESETS["seed"]
    log_ratios = list(default_lr if log_ratios is None else log_ratios)
    advantages = list(default_adv if advantages is None else advantages)
    if len(log_ratios) != 4 or len(advantages) != 4:
        raise ValueError(
            f"clip_explorer shows 4 samples: log_ratios and advantages need 4 values each, "
            f"got {len(log_ratios)} and {len(advantages)}"
        )
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    style = {"description_width": "90px"}
    layout = widgets.Layout(width="340px")
    eps_slider = widgets.FloatLogSlider(
        value=eps, base=10, min=-2, max=3, step=0.01, description="eps", readout_format=".3g",
        style=style, layout=layout, continuous_update=False,
    )  # fmt: skip
    lr_sliders = [
        widgets.FloatSlider(
            value=v,
            min=-3.0,
            max=3.0,
            step=0.05,
            description=f"log_ratio[{i}]",
            style=style,
            layout=layout,
            continuous_update=False,
        )  # fmt: skip
        for i, v in enumerate(log_ratios)
    ]
    adv_sliders = [
        widgets.FloatSlider(
            value=v,
            min=-3.0,
            max=3.0,
            step=0.1,
            description=f"A[{i}]",
            style=style,
            layout=layout,
            continuous_update=False,
        )  # fmt: skip
        for i, v in enumerate(advantages)
    ]
    preset = widgets.Dropdown(
        options=["(custom)", *PRESETS], value="(custom)", description="preset",
        style=style, layout=layout,
    )  # fmt: skip
    readout = widgets.HTML()
    figure = widgets.Output()

    def update(*_):
        table = clip_table(
            [s.value for s in lr_sliders], [s.value for s in adv_sliders], eps_slider.value
        )
        readout.value = clip_table_html(table)
        if plot:
            import matplotlib.pyplot as plt

            fig = plot_clip_objective(table["eps"], table["log_ratio"], table["advantages"], dpi=64)
            figure.clear_output(wait=True)
            with figure:
                display(fig)
            plt.close(fig)

    applying = []  # non-empty while a preset moves the sliders

    def on_slider(change):
        if applying:
            return
        preset.value = "(custom)"  # a hand-moved slider leaves the preset
        update()

    def apply_preset(change):
        if change["new"] not in PRESETS:
            return
        applying.append(True)
        lrs, advs = PRESETS[change["new"]]
        for slider, v in zip(lr_sliders + adv_sliders, lrs + advs):
            slider.value = v
        applying.clear()
        update()

    for slider in (eps_slider, *lr_sliders, *adv_sliders):
        slider.observe(on_slider, "value")
    preset.observe(apply_preset, "value")
    update()
    column = widgets.Layout(min_width="350px")  # columns never squeeze into each other...
    controls = widgets.HBox(
        [
            widgets.VBox([preset, eps_slider], layout=column),
            widgets.VBox(lr_sliders, layout=column),
            widgets.VBox(adv_sliders, layout=column),
        ],
        layout=widgets.Layout(flex_flow="row wrap"),  # ...they wrap on a narrow screen
    )
    panel = widgets.VBox([controls, readout, figure])
    panel.add_class("rlhf-clip-explorer-panel")
    # handles for tests and for learners who want to drive it from code
    panel.sliders = {"eps": eps_slider}
    panel.sliders.update({s.description: s for s in lr_sliders + adv_sliders})
    panel.preset = preset
    panel.readout = readout
    return panel
