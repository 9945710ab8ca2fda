"""The shared Student-t interval against scipy's own."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theory.statistics import LEVEL, fieller_ratio, mean_ci, seeds_to_resolve


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's interval of a constant sample is NaN
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=20), st.floats(0.5, 0.99))
def test_mean_ci_equals_scipy_t_interval(values: list[float], level: float) -> None:
    x = np.array(values)
    mean, half = mean_ci(x, level=level)
    low, high = stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    if np.isfinite(low):
        assert mean - half == pytest.approx(low, abs=1e-6) and mean + half == pytest.approx(high, abs=1e-6)
    else:
        assert half == 0.0


def test_mean_ci_ignores_nan_per_column_and_gives_zero_width_for_one_value() -> None:
    mean, half = mean_ci(np.array([[1.0, 5.0], [3.0, np.nan]]))
    assert mean.tolist() == [2.0, 5.0]
    assert half[1] == 0.0 and half[0] == pytest.approx(stats.t.ppf(0.975, 1) * np.sqrt(2) / np.sqrt(2))


def test_mean_ci_rejects_a_bad_level() -> None:
    with pytest.raises(ValueError, match=r"^level=1\.5 must"):
        mean_ci([1.0, 2.0], level=1.5)


# --- values by hand (issue 18) ----------------------------------------------------------------------------

T975 = {1: 12.706204736174694, 2: 4.302652729749462, 3: 3.1824463052837078}  # Student t quantiles (tables)


def test_level_is_95_percent() -> None:
    assert LEVEL == 0.95


def test_mean_ci_divides_by_n_minus_1() -> None:
    """(1, 2, 3, 4): s^2 = 5/3 (not 5/4), half width t_{0.975,3} s / sqrt(4)."""
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert float(mean) == 2.5
    assert float(half) == pytest.approx(T975[3] * np.sqrt(5 / 3) / 2, rel=1e-9)
    _, half90 = mean_ci([1.0, 2.0, 3.0, 4.0], level=0.9)
    assert float(half90) == pytest.approx(2.3533634348018233 * np.sqrt(5 / 3) / 2, rel=1e-9)


def test_mean_ci_over_axis_1_counts_finite_values_per_row() -> None:
    """Row (1, 3, NaN): n = 2, s = sqrt 2, t with 1 degree of freedom; row (4, NaN, NaN): width 0; all NaN: NaN."""
    x = np.array([[1.0, 3.0, np.nan], [4.0, np.nan, np.nan], [np.nan, np.nan, np.nan]])
    mean, half = mean_ci(x, axis=1)
    assert mean[:2].tolist() == [2.0, 4.0] and np.isnan(mean[2])
    assert half[0] == pytest.approx(T975[1] * np.sqrt(2) / np.sqrt(2), rel=1e-9)
    assert half[1:].tolist() == [0.0, 0.0]


def test_mean_ci_of_one_row_has_zero_width() -> None:
    mean, half = mean_ci(np.array([[2.0, 4.0]]))
    assert mean.tolist() == [2.0, 4.0] and half.tolist() == [0.0, 0.0]


def _fieller_gap(a: np.ndarray, b: np.ndarray, r: float, t2: float, paired: bool = True) -> float:
    """(abar - R bbar)^2 - t^2 (v_a - 2 R c_ab + R^2 v_b): zero at both ends of Fieller's interval."""
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    cab = np.cov(a, b, ddof=1)[0, 1] / a.size if paired else 0.0
    return (a.mean() - r * b.mean()) ** 2 - t2 * (va - 2 * r * cab + r * r * vb)


def test_fieller_with_a_constant_denominator_is_the_t_interval_of_a_over_bbar() -> None:
    """b = (2, 2, 2): R = abar / 2 = 1 and the interval is 1 +- t_{0.975,2} (s_a / sqrt 3) / 2, s_a = 1."""
    for paired in (True, False):
        value, low, high = fieller_ratio([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], paired=paired)
        half = T975[2] / np.sqrt(3) / 2
        assert value == 1.0
        assert (low, high) == pytest.approx((1 - half, 1 + half), rel=1e-9)


@pytest.mark.parametrize("paired", [True, False])
def test_fieller_ends_solve_the_quadratic(paired: bool) -> None:
    a, b = np.array([1.0, 1.5, 0.7, 1.2, 0.9]), np.array([2.0, 2.6, 1.9, 2.1, 2.4])
    value, low, high = fieller_ratio(a, b, paired=paired)
    t2 = 2.7764451051977987**2  # t_{0.975, 4}
    assert value == pytest.approx(a.mean() / b.mean(), rel=1e-15)
    assert low < value < high
    for end in (low, high):
        assert _fieller_gap(a, b, end, t2, paired) == pytest.approx(0.0, abs=1e-12)
    # pairing with a positive covariance narrows the interval
    _, low_i, high_i = fieller_ratio(a, b, paired=False)
    if paired:
        assert high - low < high_i - low_i


def test_fieller_keeps_its_digits_for_a_near_exact_ratio() -> None:
    """a = b + 1e-9 cos(i): the interval (width ~5e-9) contains the estimate. Subtracting abar^2 bbar^2
    terms in floating point used to return a zero-width interval 4e-11 below the estimate."""
    b = np.array([1.0, 1.0, 1.0, 0.5])
    a = b + 1e-9 * np.cos(np.arange(4))
    value, low, high = fieller_ratio(a, b)
    assert low < value < high
    assert 1e-9 < high - low < 1e-8
    t2 = T975[3] ** 2
    for end in (low, high):  # both sides of the quadratic, each as a sum of terms of its own size
        margin = (a.mean() - end * b.mean()) ** 2
        assert margin == pytest.approx(t2 * np.var(a - end * b, ddof=1) / a.size, rel=1e-4)


def test_fieller_unbounded_and_degenerate_cases() -> None:
    assert fieller_ratio([1.0], [2.0]) == (0.5, None, None)  # one seed: no interval
    assert fieller_ratio([1.0, 2.0], [1.0, -1.0])[0] is None  # bbar = 0: no ratio
    value, low, high = fieller_ratio([1.0, 2.0, 3.0], [0.1, -0.2, 0.3])  # bbar not away from 0
    assert value == pytest.approx(2.0 / (0.2 / 3), rel=1e-12) and (low, high) == (None, None)
    with pytest.raises(ValueError, match="numerator and denominator must be paired"):
        fieller_ratio([1.0, 2.0], [1.0, 2.0, 3.0])
    assert fieller_ratio([1.0, 2.0], [1.0, 2.0, 3.0], paired=False)[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"numerator=array\(\[nan\]\) must be a non-empty array of finite"):
        fieller_ratio([np.nan], [1.0])
    with pytest.raises(ValueError, match=r"denominator=array\(\[\], dtype=float64\) must be a non-empty"):
        fieller_ratio([1.0], [])
    with pytest.raises(ValueError, match=r"^level=0 must"):
        fieller_ratio([1.0, 2.0], [1.0, 2.0], level=0)


def test_seeds_to_resolve_by_value() -> None:
    """spread 1, gap 1: t_{0.975,5}/sqrt 6 = 1.049 >= 1, t_{0.975,6}/sqrt 7 = 0.925 < 1, so 7 seeds."""
    assert seeds_to_resolve(1.0, 1.0) == 7
    assert seeds_to_resolve(1.0, -1.0) == 7  # the side of the threshold does not matter
    assert seeds_to_resolve(0.0, 0.1) == 2  # no spread: the smallest table that has an interval
    assert seeds_to_resolve(1.0, 1e-3, n_max=100) is None  # would need about 4 million
    assert seeds_to_resolve(1.0, 0.0) is None and seeds_to_resolve(1.0, float("nan")) is None
    assert seeds_to_resolve(1.0, 1.0, level=0.5) == 2  # t_{0.75,1}/sqrt 2 = 0.707 < 1
    with pytest.raises(ValueError, match=r"spread=-1\.0 must be a finite number >= 0"):
        seeds_to_resolve(-1.0, 1.0)
