"""Confidence intervals over seeds, shared by simulations and gpu_runs."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import t as student_t

LEVEL = 0.95


def mean_ci(values: ArrayLike, axis: int = 0, level: float = LEVEL) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean over ``axis`` (NaN ignored) and the half width t_{(1+level)/2, n-1} s / sqrt(n) of its
    Student-t interval, n the finite values; half width 0 where n <= 1, mean NaN where n = 0."""
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    x = np.asarray(values, dtype=np.float64)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as documented
        mean = np.nanmean(x, axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1) if x.shape[axis] > 1 else np.zeros_like(mean)
        quantile = student_t.ppf((1 + level) / 2, np.maximum(n - 1, 1))
        half = np.where(n > 1, quantile * sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return mean, half
