"""Argument checks shared by the math: each error names the argument and what was expected.

Broadcasting rule used by every loss in the course: per-sample tensors of one call must have
*exactly the same shape* (no silent broadcasting), except where a docstring says a scalar
(Python float or 0-d tensor) is also accepted (e.g. `margin`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeAlias

import torch

# What the public functions accept for a tensor argument: a tensor, or what torch.as_tensor
# turns into one (a number, a nested list); they convert it and name the argument on bad input.
TensorLike: TypeAlias = "torch.Tensor | float | Sequence[Any]"


def as_float_tensor(x: TensorLike, name: str) -> torch.Tensor:
    """Return `x` as a floating tensor, or raise a TypeError naming `name`."""
    if isinstance(x, torch.Tensor):
        if not torch.is_floating_point(x):
            raise TypeError(
                f"{name} must be a floating-point tensor (got dtype {x.dtype}); "
                f"e.g. torch.tensor([1.0, 2.0]) rather than torch.tensor([1, 2])"
            )
        return x
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a float or a floating-point tensor, got a bool")
    if isinstance(x, (int, float)):
        return torch.tensor(float(x))
    raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(x).__name__}")


def check_finite(x: torch.Tensor, name: str) -> None:
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} has {bad} non-finite value(s) (nan or inf); expected all finite")


def check_same_shape(ref: torch.Tensor, ref_name: str, x: torch.Tensor, name: str) -> None:
    if x.shape != ref.shape:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)} but {ref_name} has shape {tuple(ref.shape)}; "
            f"they must match exactly (one value per sample/token)"
        )


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {expected}, got {value}")


def check_unit_interval(value: float, name: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def as_mask(mask: TensorLike | None, ref: torch.Tensor, ref_name: str) -> torch.Tensor | None:
    """Validate a 0/1 mask of the same shape as `ref`; return it as a float tensor (or None)."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor of 0/1 (or bool), got {type(mask).__name__}")
    if mask.shape != ref.shape:
        raise ValueError(
            f"mask has shape {tuple(mask.shape)} but {ref_name} has shape {tuple(ref.shape)}; "
            f"mask marks real response tokens (1) against padding (0) and must match exactly"
        )
    m = mask.to(ref.dtype)
    if not ((m == 0) | (m == 1)).all():
        raise ValueError("mask must contain only 0 and 1 (1 = real token, 0 = padding after EOS)")
    if m.sum() == 0:
        raise ValueError("mask has no real tokens (all zeros); nothing to average over")
    return m


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `x` over the entries where `mask` is 1 (all entries if mask is None)."""
    if mask is None:
        return x.mean()
    return (x * mask).sum() / mask.sum()
