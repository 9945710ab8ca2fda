"""The shared Student-t interval against scipy's own."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theory.statistics import mean_ci


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
    with pytest.raises(ValueError, match=r"level=1.5 must lie in \(0, 1\)"):
        mean_ci([1.0, 2.0], level=1.5)
