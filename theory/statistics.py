"""Confidence intervals over seeds, shared by every tier: a Student-t interval of a mean, Fieller's
interval of a ratio of means (paired or independent samples), and the seeds that would make an
interval decide against a threshold."""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import t as student_t

from theory.validation import check_integer, check_real, check_real_array

LEVEL = 0.95


def mean_ci(values: ArrayLike, axis: int = 0, level: float = LEVEL) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean over ``axis`` (NaN ignored) and the half width t_{(1+level)/2, n-1} s / sqrt(n) of its
    Student-t interval, n the finite values; half width 0 where n <= 1, mean NaN where n = 0."""
    check_real("level", level, 0.0, 1.0, low_open=True, high_open=True)
    x = check_real_array("values", values)
    if x.ndim == 0:
        raise ValueError(f"values={float(x)!r} must be an array with one value per seed along axis")
    axis = check_integer("axis", axis, -x.ndim, x.ndim - 1)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as documented
        mean = np.nanmean(x, axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1) if x.shape[axis] > 1 else np.zeros_like(mean)
        quantile = student_t.ppf((1 + level) / 2, np.maximum(n - 1, 1))
        half = np.where(n > 1, quantile * sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return mean, half


def _finite(name: str, values: ArrayLike) -> NDArray[np.float64]:
    x = check_real_array(name, values).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name}={x!r} must be a non-empty array of finite numbers")
    return x


def fieller_ratio(numerator: ArrayLike, denominator: ArrayLike, *, paired: bool = True,
                  level: float = LEVEL) -> tuple[float | None, float | None, float | None]:
    """(R, low, high): R = mean(a) / mean(b) and Fieller's interval, the set of R with

        (abar - R bbar)^2 <= t^2 (v_a - 2 R c_ab + R^2 v_b),

    v_a, v_b the squared standard errors of the means, c_ab = cov(a, b) / n for paired samples (same
    seeds, 0 when independent), t the (1 + level)/2 Student quantile with n - 1 degrees of freedom (min n
    when independent). ``low``/``high`` are None where the set is unbounded (bbar not significantly away
    from 0) or a sample has one value; R is None when bbar = 0."""
    check_real("level", level, 0.0, 1.0, low_open=True, high_open=True)
    a, b = _finite("numerator", numerator), _finite("denominator", denominator)
    if paired and a.size != b.size:
        raise ValueError(f"numerator and denominator must be paired (same length), got {a.size} and {b.size}")
    abar, bbar = float(a.mean()), float(b.mean())
    value = abar / bbar if bbar != 0 else None
    n = min(a.size, b.size)
    if n < 2:
        return value, None, None
    t2 = float(student_t.ppf((1 + level) / 2, n - 1)) ** 2
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    cab = float(np.cov(a, b, ddof=1)[0, 1]) / n if paired else 0.0
    # (bbar^2 - t^2 vb) R^2 - 2 (abar bbar - t^2 cab) R + (abar^2 - t^2 va) <= 0. Its discriminant
    # qb^2 - qa qc, with the abar^2 bbar^2 terms cancelled by hand (subtracting them in floating point
    # loses every digit of an interval narrower than 1e-8 relative): t^2 (S - t^2 (va vb - cab^2)),
    # S = va bbar^2 - 2 cab abar bbar + vb abar^2 = the squared standard error of bbar a - abar b.
    qa, qb = bbar * bbar - t2 * vb, abar * bbar - t2 * cab
    if paired:
        spread = float(np.var(bbar * a - abar * b, ddof=1)) / n
    else:
        spread = va * bbar * bbar + vb * abar * abar
    disc = t2 * (spread - t2 * max(va * vb - cab * cab, 0.0))
    if qa <= 0 or disc < 0:
        return value, None, None
    root = math.sqrt(disc)
    return value, (qb - root) / qa, (qb + root) / qa


def seeds_to_resolve(spread: float, gap: float, level: float = LEVEL, n_max: int = 10_000) -> int | None:
    """Smallest n >= 2 with t_{(1+level)/2, n-1} spread / sqrt(n) < |gap|: the seeds at which an interval
    of half width t s / sqrt(n) around an estimate ``gap`` away from a threshold no longer contains it,
    if the per-seed spread s stays as measured. None when gap = 0 or more than ``n_max`` are needed."""
    check_real("spread", spread, 0.0)
    check_real("gap", gap, finite=False)
    check_real("level", level, 0.0, 1.0, low_open=True, high_open=True)
    check_integer("n_max", n_max, 2)
    if not math.isfinite(gap) or gap == 0:
        return None
    n = np.arange(2, n_max + 1)
    resolved = np.flatnonzero(student_t.ppf((1 + level) / 2, n - 1) * spread / np.sqrt(n) < abs(gap))
    return int(n[resolved[0]]) if resolved.size else None
