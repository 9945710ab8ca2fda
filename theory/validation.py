"""Argument checks shared by every layer: each raises ``ValueError`` naming the argument,
its value and the allowed range (STYLE.md, "Errors")."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_choice(name: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={_show(value)} is not allowed; choose one of {', '.join(allowed)}")
    return value


def check_group_size(name: str, value: int) -> int:
    """A group size G is an integer >= 2 (a group of one has no baseline)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name}={_show(value)} must be an integer >= 2 (a group needs a partner)")
    return int(value)


def check_nonnegative(name: str, value: float) -> float:
    """A finite real >= 0 (e.g. the eps of the std normaliser)."""
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}={_show(value)} must be a finite number >= 0")
    return float(value)


def check_finite_array(name: str, value: ArrayLike, *, min_last_axis: int = 0) -> NDArray[np.floating]:
    """Return ``value`` as a float array with no NaN or infinity; the last axis must have at
    least ``min_last_axis`` entries (the group size)."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.result_type(array.dtype, np.float32), copy=False)
    if min_last_axis and (array.ndim == 0 or array.shape[-1] < min_last_axis):
        shape = array.shape
        raise ValueError(
            f"{name} has shape {shape}; its last axis is the group and needs >= {min_last_axis} entries"
        )
    if not np.all(np.isfinite(array)):
        bad = array[~np.isfinite(array)].ravel()[0]
        raise ValueError(f"{name} contains {bad}; every entry must be a finite real number")
    return array


def check_probability(name: str, value: ArrayLike) -> NDArray[np.float64]:
    """Return ``value`` as float64, every entry in [0, 1]."""
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
        raise ValueError(f"{name}={_show(value)} must lie in [0, 1]")
    return array


def check_distribution(name: str, value: ArrayLike, *, atol: float = 1e-9) -> NDArray[np.float64]:
    """Return ``value`` as float64 probabilities over the last axis: each in [0, 1], summing to 1."""
    array = check_probability(name, value)
    if array.ndim == 0 or array.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one outcome on its last axis")
    total = array.sum(axis=-1)
    if not np.allclose(total, 1.0, rtol=0.0, atol=atol):
        raise ValueError(f"{name} must sum to 1 over its last axis (within {atol}); sums are {_show(total)}")
    return array
