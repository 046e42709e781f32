"""What every trainer shares: a metrics log, atomic resumable checkpoints, a stop on non-finite loss.

Introduced in 01_rlhf_pipeline (SFT is the first trainer). Layout of a run folder:

    OUT/metrics.jsonl          one JSON object per step: step, reward, gold, kl, seconds, ...
    OUT/checkpoint/            the last good checkpoint, swapped in atomically
        <model name>/          save_pretrained with safetensors (policy, value_model, ...)
        trainer_state.pt       step, optimizer states, RNG state (loaded with weights_only=True)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from ..models import save_model


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A plain-text tqdm bar on stdout (also in notebooks).

    Text, not tqdm's ipywidgets bar: widget messages from a training cell are what makes
    headless notebook runners (nbclient, nbval, Voilà) occasionally stall until their timeout.
    """
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("ncols", 90)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, **kwargs)


class NonFiniteLoss(RuntimeError):
    """Training produced nan/inf; the last good checkpoint is kept."""


class MetricsWriter:
    """Append one JSON line per step to OUT/metrics.jsonl (and keep them in `.rows`).

    With `resume_step`, lines after that step (written after the checkpoint) are dropped,
    so a resumed run's log matches an uninterrupted one.
    """

    def __init__(self, out_dir, resume_step: int | None = None):
        self.path = Path(out_dir) / "metrics.jsonl" if out_dir is not None else None
        self.rows: list[dict] = []
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            self.rows = [r for r in rows if r["step"] <= resume_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def write(self, row: dict) -> None:
        row = {k: _jsonable(v) for k, v in row.items()}
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_finite_loss(loss: torch.Tensor, step: int, what: str = "loss") -> None:
    """Stop the run (NonFiniteLoss) when a loss is nan/inf: the last checkpoint stays as it was."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLoss(
            f"step {step}: {what} is {loss.item()} (non-finite). Training stopped; the last good "
            "checkpoint is kept. Likely causes: learning rate too high, no gradient clipping, "
            "rewards not normalised. Try a lower lr or --resume from the checkpoint with changes."
        )


def save_checkpoint(
    out_dir, step: int, models: dict, optimizers: dict, generator=None, extra=None
) -> Path:
    """Write OUT/checkpoint atomically: into a temp folder first, then swap it in.

    The swap is two renames (old checkpoint aside, new one in); a run killed between them
    leaves OUT/.checkpoint.old, the last complete checkpoint, which `load_checkpoint` uses.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.tmp-", dir=out_dir))
    for name, model in models.items():
        save_model(model, tmp / name)
    state = {
        "step": step,
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "generator": generator.get_state() if generator is not None else None,
        "extra": extra or {},
    }
    torch.save(state, tmp / "trainer_state.pt")
    final, old = out_dir / "checkpoint", out_dir / ".checkpoint.old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_if_due(out_dir, step: int, config, policy, optimizer, generator) -> None:
    """Save the policy and its optimizer every `config.checkpoint_every` steps and at the end.

    For the one-model trainers (SFT, DPO, GRPO); PPO also saves its value model and KL beta.
    """
    if out_dir is not None and (step % config.checkpoint_every == 0 or step == config.steps):
        save_checkpoint(
            out_dir, step, {"policy": policy}, {"policy": optimizer}, generator,
            {"config": asdict(config)},
        )  # fmt: skip


def verify_checkpoint(out_dir) -> Path:
    """The checkpoint `load_checkpoint` would resume from, checked to be whole; returns its folder.

    Raises FileNotFoundError (no checkpoint) or ValueError (a file that does not load), each
    naming the path, before any model is built: what `--resume` reports as one line.
    """
    from safetensors.torch import load_file

    ckpt = Path(out_dir) / "checkpoint"
    if not (ckpt / "trainer_state.pt").exists():
        aside = Path(out_dir) / ".checkpoint.old"  # stopped mid-swap: the previous one
        if not (aside / "trainer_state.pt").exists():
            raise FileNotFoundError(f"{ckpt}: no checkpoint to resume from")
        ckpt = aside
    try:
        state = torch.load(ckpt / "trainer_state.pt", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or unsafe pickles
        raise ValueError(
            f"{ckpt / 'trainer_state.pt'} does not load ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or not {"step", "optimizers"} <= state.keys():
        raise ValueError(f"{ckpt / 'trainer_state.pt'} is not a trainer state")
    for folder in sorted(p for p in ckpt.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise ValueError(f"{folder}: no safetensors weights")
        for f in files:
            try:
                load_file(f)  # reads every tensor: a truncated file fails here
            except Exception as exc:
                raise ValueError(f"{f} does not load ({type(exc).__name__})") from None
    return ckpt


def load_checkpoint(out_dir, models: dict, optimizers: dict, generator=None) -> tuple[int, dict]:
    """Load OUT/checkpoint into `models`/`optimizers` (in place); returns (step, extra)."""
    from safetensors.torch import load_file

    ckpt = Path(out_dir) / "checkpoint"
    if not (ckpt / "trainer_state.pt").exists():
        aside = Path(out_dir) / ".checkpoint.old"  # stopped mid-swap: the previous one
        if not (aside / "trainer_state.pt").exists():
            raise FileNotFoundError(f"{ckpt}: no checkpoint to resume from")
        ckpt = aside
    for name, model in models.items():
        files = sorted((ckpt / name).glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{ckpt / name}: no safetensors weights")
        state = {}
        for f in files:
            state.update(load_file(f))
        missing, unexpected = model.load_state_dict(state, strict=False)
        tied = {k for k in missing if "lm_head" in k}  # tied to the input embedding
        if set(missing) - tied or unexpected:
            raise ValueError(
                f"{ckpt / name}: weights do not match the model ({missing}, {unexpected})"
            )
        if tied:
            model.tie_weights()
    state = torch.load(ckpt / "trainer_state.pt", weights_only=True)
    for name, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])
    return state["step"], state["extra"]


def batches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = True):
    """Shuffled index batches over range(n), one epoch."""
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        yield order[i : i + batch_size]
