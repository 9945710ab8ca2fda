"""The one three-way verdict rule (evidence.verdicts) and the intervals under it (theory.statistics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from evidence.record import Evidence, Verdict, combine, judge
from evidence.verdicts import decide, decide_mean, decide_ratio
from theory.statistics import fieller_ratio, seeds_to_resolve

# --- decide: hand-built intervals -------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.96, 1.10, Verdict.HOLDS),         # whole interval above
    (0.95, 1.10, Verdict.HOLDS),         # lower bound exactly at the threshold counts as reaching it
    (0.90, 1.10, Verdict.INCONCLUSIVE),  # straddles
    (0.40, 0.949, Verdict.FAILS),        # whole interval below
    (None, 1.10, Verdict.INCONCLUSIVE),  # unbounded below: cannot hold
    (None, 0.90, Verdict.FAILS),         # unbounded below, but the upper end misses
    (0.97, None, Verdict.HOLDS),
])
def test_decide_reads_the_right_end_of_the_interval(low, high, verdict) -> None:
    assert decide(1.0, low, high, 0.95, n=8).verdict == verdict


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.10, 0.20, Verdict.HOLDS), (0.10, 0.30, Verdict.INCONCLUSIVE), (0.22, 0.30, Verdict.FAILS),
])
def test_decide_at_most_mirrors_the_rule(low, high, verdict) -> None:
    assert decide(0.2, low, high, 0.21, n=8, at_least=False).verdict == verdict


def test_decision_passed_maps_to_the_check_value() -> None:
    assert decide(1, 0.96, 1.1, 0.95, n=3).passed is True
    assert decide(1, 0.5, 0.6, 0.95, n=3).passed is False
    assert decide(1, 0.5, 1.1, 0.95, n=3, seeds_needed=12).passed is None


def test_seeds_needed_only_for_inconclusive() -> None:
    assert decide(1.0, 0.9, 1.1, 0.95, n=3, seeds_needed=12).seeds_needed == 12
    assert decide(1.0, 0.96, 1.1, 0.95, n=3, seeds_needed=12).seeds_needed is None
    assert "12 seeds would decide" in decide(1.0, 0.9, 1.1, 0.95, n=3, seeds_needed=12).text()


def test_one_seed_says_the_spread_is_unknown() -> None:
    text = decide(0.9, None, None, 0.95, n=1).text()
    assert "(1 seed)" in text and "no spread" in text


def test_decide_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="threshold"):
        decide(1.0, 0.9, 1.1, math.nan, n=3)
    with pytest.raises(ValueError, match="low"):
        decide(1.0, 1.2, 1.1, 0.95, n=3)
    with pytest.raises(ValueError, match="values"):
        decide_mean([1.0], 0.5)


# --- judge and combine with undecided checks --------------------------------------------------------------


@pytest.mark.parametrize(("checks", "verdict"), [
    ({"a": True, "b": True}, Verdict.HOLDS),
    ({"a": False, "b": False}, Verdict.FAILS),
    ({"a": True, "b": False}, Verdict.PARTLY),
    ({"a": True, "b": None}, Verdict.INCONCLUSIVE),
    ({"a": None, "b": None}, Verdict.INCONCLUSIVE),
    ({"a": False, "b": None}, Verdict.FAILS),
    ({"a": True, "b": False, "c": None}, Verdict.PARTLY),
    ({}, Verdict.NOT_CHECKED),
])
def test_judge_three_way(checks, verdict) -> None:
    assert judge(checks) == verdict


def test_inconclusive_is_never_reported_as_fails() -> None:
    e = Evidence.from_checks("TT-9", "llm", "t", {"IR >= 0.95": None})
    assert e.verdict == Verdict.INCONCLUSIVE
    assert "Undecided: IR >= 0.95" in e.reason


def test_combine_ignores_inconclusive_rows_next_to_decided_ones() -> None:
    assert combine([Verdict.HOLDS, Verdict.INCONCLUSIVE]) == Verdict.HOLDS
    assert combine([Verdict.FAILS, Verdict.INCONCLUSIVE, Verdict.NOT_CHECKED]) == Verdict.FAILS
    assert combine([Verdict.INCONCLUSIVE, Verdict.NOT_CHECKED]) == Verdict.INCONCLUSIVE


# --- intervals by value -----------------------------------------------------------------------------------


def test_mean_interval_by_value() -> None:
    d = decide_mean([1.0, 2.0, 3.0], -1.0)
    half = float(student_t.ppf(0.975, 2)) * 1.0 / math.sqrt(3)  # sd of (1, 2, 3) is exactly 1
    assert d.estimate == 2.0
    assert d.low == pytest.approx(2.0 - half, abs=1e-12) and d.high == pytest.approx(2.0 + half, abs=1e-12)
    assert d.verdict == Verdict.HOLDS  # low = 2 - 2.484 = -0.484 >= -1
    assert decide_mean([1.0, 2.0, 3.0], 0.0).verdict == Verdict.INCONCLUSIVE  # low -0.484 < 0 < high


def _fieller_by_scan(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float, float]:
    """The Fieller set by brute force: every R on a fine grid that satisfies the inequality."""
    n = min(a.size, b.size)
    t2 = student_t.ppf(0.975, n - 1) ** 2
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    cab = np.cov(a, b, ddof=1)[0, 1] / n if paired else 0.0
    grid = np.linspace(-5, 5, 2_000_001)
    inside = (a.mean() - grid * b.mean()) ** 2 <= t2 * (va - 2 * grid * cab + grid ** 2 * vb)
    return float(grid[inside].min()), float(grid[inside].max())


@pytest.mark.parametrize("paired", [True, False])
def test_fieller_interval_equals_brute_force_scan(paired: bool) -> None:
    a = np.array([0.08, 0.11, 0.05, 0.09, 0.10])
    b = np.array([0.10, 0.12, 0.08, 0.09, 0.11])
    value, low, high = fieller_ratio(a, b, paired=paired)
    scan_low, scan_high = _fieller_by_scan(a, b, paired)
    assert value == pytest.approx(a.mean() / b.mean(), abs=1e-15)
    assert low == pytest.approx(scan_low, abs=1e-5) and high == pytest.approx(scan_high, abs=1e-5)


def test_pairing_narrows_the_interval_when_arms_share_seed_noise() -> None:
    shared = np.array([0.0, 0.04, -0.03, 0.02, -0.01, 0.03])
    a, b = 0.09 + shared, 0.10 + shared + np.array([0.001, -0.001, 0.0, 0.001, -0.001, 0.0])
    _, pl, ph = fieller_ratio(a, b, paired=True)
    _, il, ih = fieller_ratio(a, b, paired=False)
    assert ph - pl < 0.2 * (ih - il)


def test_fieller_unbounded_when_denominator_is_noise() -> None:
    assert fieller_ratio([1.0, 2.0, 3.0], [-1.0, 1.0, 0.5])[1:] == (None, None)


def test_seeds_to_resolve_by_brute_force() -> None:
    s, gap = 0.3, 0.1
    n = seeds_to_resolve(s, gap)
    assert n is not None
    assert student_t.ppf(0.975, n - 1) * s / math.sqrt(n) < gap
    assert student_t.ppf(0.975, n - 2) * s / math.sqrt(n - 1) >= gap
    assert seeds_to_resolve(s, 0.0) is None


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=8), st.floats(0.5, 1.5), st.floats(0.0, 0.05))
def test_fieller_interval_contains_its_estimate(b, ratio, noise) -> None:
    b = np.array(b)
    a = ratio * b + noise * np.cos(np.arange(b.size))
    value, low, high = fieller_ratio(a, b)
    if low is not None:
        assert low - 1e-12 <= value <= high + 1e-12  # zero-width when a = R b exactly


# --- the rule's power on synthetic seed tables (TT-9's improvement ratio) -------------------------------


def _power(true_ratio: float, seeds: int, trials: int = 400) -> dict[Verdict, float]:
    """Share of verdicts over synthetic paired seed tables: reference improvement 0.08 per seed, the arm's
    true_ratio x that, both with seed noise sd 0.01 shared half-and-half (the measured scale of the tiny LM
    experiment: improvement ~0.08, seed sd ~0.01)."""
    rng = np.random.default_rng(7)
    counts = dict.fromkeys(Verdict, 0)
    for _ in range(trials):
        shared = rng.normal(0, 0.007, seeds)
        ref = 0.08 + shared + rng.normal(0, 0.007, seeds)
        arm = true_ratio * 0.08 + shared + rng.normal(0, 0.007, seeds)
        counts[decide_ratio(arm, ref, 0.95).verdict] += 1
    return {v: c / trials for v, c in counts.items()}


def test_true_ratio_one_holds_with_documented_power() -> None:
    power = _power(1.0, seeds=16)
    assert power[Verdict.FAILS] <= 0.01
    assert power[Verdict.HOLDS] >= 0.10


def test_true_ratio_at_threshold_is_inconclusive_or_holds() -> None:
    power = _power(0.95, seeds=8)
    assert power[Verdict.FAILS] <= 0.05  # a 95% interval misses the truth below in at most ~2.5% of tables
    assert power[Verdict.INCONCLUSIVE] >= 0.8


def test_true_ratio_half_fails() -> None:
    power = _power(0.5, seeds=8)
    assert power[Verdict.FAILS] >= 0.99
    assert power[Verdict.HOLDS] == 0.0
