"""The compute/memory calculator of 07_planning_a_real_run: sliders over rlhf_lessons.budget.

    from rlhf_lessons.widgets import budget_calculator
    budget_calculator()          # PPO/DPO/GRPO x model size x GPUs x LoRA x ZeRO x data x MFU

Every number it shows comes from `budget.estimate`; the panel only turns controls into a
`Setup`, a `Cluster` and a `Data`, and prints the estimate's summary.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from .. import budget

MODEL_SIZES = {"1B": 1e9, "3B": 3e9, "7B": 7e9, "13B": 13e9, "34B": 34e9, "70B": 70e9}
DATA_SIZES = {"10K": 10_000, "30K": 30_000, "100K": 100_000, "300K": 300_000, "1M": 1_000_000}

_STYLE = {"description_width": "150px"}
_LAYOUT = widgets.Layout(width="420px")


def _controls(method, model, gpu, n_gpus, examples, mfu, generation_mfu) -> dict:
    """The panel's controls, by the name of the argument they set."""

    def dropdown(options, value, description):
        return widgets.Dropdown(
            options=options, value=value, description=description, style=_STYLE, layout=_LAYOUT
        )

    def slider(cls, value, low, high, step, description, fmt=None):
        kw = {"readout_format": fmt} if fmt else {}
        return cls(
            value=value,
            min=low,
            max=high,
            step=step,
            description=description,
            style=_STYLE,
            layout=_LAYOUT,
            continuous_update=False,
            **kw,
        )

    def choice(options, value, description):
        return widgets.SelectionSlider(
            options=list(options),
            value=value,
            description=description,
            style=_STYLE,
            layout=_LAYOUT,
            continuous_update=False,
        )

    def box(value, description):
        return widgets.Checkbox(value=value, description=description, style=_STYLE, indent=True)

    return {
        "method": dropdown(list(budget.METHODS), method, "method"),
        "model": choice(MODEL_SIZES, model, "model size"),
        "gpu": dropdown(sorted(budget.GPUS), gpu, "GPU"),
        "n_gpus": choice([1, 2, 4, 8, 16, 32, 64], n_gpus, "number of GPUs"),
        "precision": dropdown(sorted(budget.TRAINED_BYTES), "bf16", "training precision"),
        "frozen_precision": dropdown(list(budget.FROZEN_BYTES), "bf16", "frozen precision"),
        "lora": box(False, "LoRA (adapters only)"),
        "lora_percent": slider(widgets.FloatSlider, 0.5, 0.05, 5.0, 0.05, "LoRA params %", ".2f"),
        "reference_from_base": box(False, "LoRA: reference = base"),
        "zero_stage": widgets.ToggleButtons(
            options=[0, 1, 2, 3], value=0, description="ZeRO stage", style=_STYLE
        ),
        "offload_optimizer": box(False, "offload Adam to CPU"),
        "gradient_checkpointing": box(True, "gradient checkpointing"),
        "examples": choice(DATA_SIZES, examples, "pairs / prompts"),
        "prompt_tokens": slider(widgets.IntSlider, 256, 0, 4096, 64, "prompt tokens"),
        "response_tokens": slider(widgets.IntSlider, 256, 16, 4096, 16, "response tokens"),
        "epochs": slider(widgets.FloatSlider, 1.0, 0.5, 5.0, 0.5, "epochs", ".1f"),
        "group_size": slider(widgets.IntSlider, 8, 2, 64, 1, "GRPO group size G"),
        "mfu": slider(widgets.FloatSlider, mfu, 0.05, 0.7, 0.05, "MFU (train/score)", ".2f"),
        "generation_mfu": slider(
            widgets.FloatSlider, generation_mfu, 0.01, 0.5, 0.01, "MFU (generation)", ".2f"
        ),
    }


def _estimate_from(c: dict) -> budget.Estimate:
    """Turn the controls' values into an Estimate (raises ValueError on nonsense)."""
    setup = budget.Setup(
        method=c["method"].value,
        n_params=MODEL_SIZES[c["model"].value],
        precision=c["precision"].value,
        frozen_precision=c["frozen_precision"].value,
        lora_fraction=c["lora_percent"].value / 100 if c["lora"].value else None,
        reference_from_base=c["lora"].value and c["reference_from_base"].value,
        zero_stage=c["zero_stage"].value,
        offload_optimizer=c["offload_optimizer"].value,
        gradient_checkpointing=c["gradient_checkpointing"].value,
        group_size=c["group_size"].value,
    )
    cluster = budget.Cluster(gpu=c["gpu"].value, n_gpus=c["n_gpus"].value)
    data = budget.Data(
        n_examples=DATA_SIZES[c["examples"].value],
        prompt_tokens=c["prompt_tokens"].value,
        response_tokens=c["response_tokens"].value,
        epochs=c["epochs"].value,
    )
    return budget.estimate(
        setup, cluster, data, mfu=c["mfu"].value, generation_mfu=c["generation_mfu"].value
    )


def budget_calculator(
    method: str = "dpo",
    model: str = "13B",
    gpu: str = "A100-80GB",
    n_gpus: int = 4,
    examples: str = "100K",
    mfu: float = 0.4,
    generation_mfu: float = 0.1,
) -> widgets.VBox:
    """A panel of controls and the estimate they give: memory per GPU, fit, FLOPs, GPU-hours.

    Introduced in 07_planning_a_real_run. The returned VBox has `.controls` (a dict of the
    widgets by name) and `.result` (the HTML widget showing the estimate), so a test or a
    later cell can drive it. Impossible combinations (offload without ZeRO) show the
    ValueError's message instead of an estimate.
    """
    if model not in MODEL_SIZES:
        raise ValueError(f"model must be one of {list(MODEL_SIZES)}, got {model!r}")
    if examples not in DATA_SIZES:
        raise ValueError(f"examples must be one of {list(DATA_SIZES)}, got {examples!r}")
    budget.get_gpu(gpu)
    controls = _controls(method, model, gpu, n_gpus, examples, mfu, generation_mfu)
    result = widgets.HTML()

    def update(_=None):
        try:
            text = _estimate_from(controls).summary()
        except ValueError as exc:
            text = f"cannot estimate this setup: {exc}"
        result.value = f"<pre style='line-height:1.25'>{html.escape(text)}</pre>"

    for control in controls.values():
        control.observe(update, names="value")
    update()

    c = controls
    left = widgets.VBox(
        [c[k] for k in ("method", "model", "gpu", "n_gpus", "examples", "prompt_tokens")]
        + [c[k] for k in ("response_tokens", "epochs", "group_size", "mfu", "generation_mfu")]
    )
    right = widgets.VBox(
        [c[k] for k in ("precision", "frozen_precision", "zero_stage", "offload_optimizer")]
        + [c[k] for k in ("gradient_checkpointing", "lora", "lora_percent")]
        + [c["reference_from_base"]]
    )
    result.add_class("rlhf-budget-result")  # stable CSS classes for browser tests
    panel = widgets.VBox([widgets.HBox([left, right]), result])
    panel.add_class("rlhf-budget-calculator")
    panel.controls = controls
    panel.result = result
    return panel
