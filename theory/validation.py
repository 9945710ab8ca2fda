"""Argument checks shared by every layer: each raises ``ValueError`` naming the argument,
its value and the allowed range (STYLE.md, "Errors"). Input of the wrong type (a string where a number
belongs, a ragged list, None) is a ``ValueError`` of the same form, never a ``TypeError`` from deep inside
numpy."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f" {'<' if high_open else '<='} {high:g}"
    return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_choice(name: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    allowed = tuple(allowed)
    try:
        known = value in set(allowed)
    except TypeError:  # unhashable: a list or an array is no name
        known = False
    if not known:
        raise ValueError(f"{name}={_show(value)} is not allowed; choose one of {', '.join(allowed)}")
    return value


def check_integer(name: str, value: int, low: int, high: int | None = None) -> int:
    """An integer (Python or numpy, not bool) in [low, high] (no upper end when ``high`` is None)."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low
            or (high is not None and value > high)):
        upper = "" if high is None else f" and <= {high}"
        raise ValueError(f"{name}={_show(value)} must be an integer >= {low}{upper}")
    return int(value)


def check_group_size(name: str, value: int) -> int:
    """A group size G is an integer >= 2 (a group of one has no baseline)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name}={_show(value)} must be an integer >= 2 (a group needs a partner)")
    return int(value)


def check_real(name: str, value: float, low: float | None = None, high: float | None = None, *,
               low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """A finite real number (Python or numpy scalar, not bool) in the interval from ``low`` to ``high``,
    each end closed unless named open; returned as float. ``finite=False`` also lets NaN and the
    infinities through (a caller that gives them a meaning)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array is its scalar
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    inside = number and (math.isfinite(value) or not finite)
    if inside and low is not None:
        inside = value > low if low_open else value >= low
    if inside and high is not None:
        inside = value < high if high_open else value <= high
    if not inside:
        kind = "a finite number" if finite else "a real number"
        raise ValueError(f"{name}={_show(value)} must be {kind}{_interval(low, high, low_open, high_open)}")
    return float(value)


def check_nonnegative(name: str, value: float) -> float:
    """A finite real >= 0 (e.g. the eps of the std normaliser)."""
    return check_real(name, value, 0.0)


def _as_array(name: str, value: ArrayLike, dtype: type | None = None) -> np.ndarray:
    """``np.asarray`` whose failures (ragged nesting, text, None) name the argument."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}={_show(value)} must be a (rectangular) array of numbers: {exc}") from None
    return array


def check_real_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    """``value`` as a float64 array of real numbers; NaN and infinities are left to the caller."""
    array = _as_array(name, value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}={_show(value)} must be an array of real numbers, got dtype {array.dtype}")
    return array.astype(np.float64)


def check_finite_array(name: str, value: ArrayLike, *, min_last_axis: int = 0,
                       max_abs: float | None = None) -> NDArray[np.floating]:
    """Return ``value`` as a float array with no NaN or infinity; the last axis must have at
    least ``min_last_axis`` entries (the group size); every |entry| <= ``max_abs`` when given."""
    array = _as_array(name, value)
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
    if max_abs is not None and array.size and np.abs(array).max() > max_abs:
        bad = array[np.abs(array) > max_abs].ravel()[0]
        raise ValueError(f"{name} contains {bad}; every entry must lie in [-{max_abs:g}, {max_abs:g}]")
    return array


def check_probability(name: str, value: ArrayLike) -> NDArray[np.float64]:
    """Return ``value`` as float64, every entry in [0, 1]."""
    array = _as_array(name, value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}={_show(value)} must lie in [0, 1]; got dtype {array.dtype}")
    array = array.astype(np.float64)
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
