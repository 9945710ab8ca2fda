"""The three-way verdict rule by value (issue 18): boundaries of the interval against the threshold on
both sides, the record a decision carries, and the seeds that would decide an inconclusive one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evidence.record import Verdict
from evidence.verdicts import Decision, decide, decide_mean, decide_ratio
from theory.statistics import fieller_ratio

T975_3 = 3.1824463052837078  # Student t_{0.975, 3}


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.90, 0.95, Verdict.INCONCLUSIVE),  # the upper end touching the threshold does not miss it
    (0.95, 0.95, Verdict.HOLDS),         # a zero-width interval on the threshold reaches it
    (None, None, Verdict.INCONCLUSIVE),
    (0.96, None, Verdict.HOLDS),
    (None, 0.95, Verdict.INCONCLUSIVE),
])
def test_at_least_boundaries(low, high, verdict: Verdict) -> None:
    assert decide(0.95, low, high, 0.95, n=4).verdict == verdict


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.10, 0.21, Verdict.HOLDS),         # upper end on the threshold: at most holds
    (0.21, 0.30, Verdict.INCONCLUSIVE),  # lower end on it: not above it
    (0.2101, 0.30, Verdict.FAILS),
    (None, 0.20, Verdict.HOLDS),
    (0.22, None, Verdict.FAILS),
    (None, None, Verdict.INCONCLUSIVE),
])
def test_at_most_boundaries(low, high, verdict: Verdict) -> None:
    assert decide(0.2, low, high, 0.21, n=4, at_least=False).verdict == verdict


def test_decision_carries_its_inputs() -> None:
    d = decide(1.0, 0.9, 1.1, 0.95, n=7, at_least=False, seeds_needed=12)
    assert d == Decision(Verdict.INCONCLUSIVE, 1.0, 0.9, 1.1, 0.95, False, 7, 12)
    assert d.to_json() == {"verdict": "inconclusive", "estimate": 1.0, "low": 0.9, "high": 1.1, "threshold": 0.95,
                           "at_least": False, "n": 7, "seeds_needed": 12}
    assert decide(1.0, 0.9, 1.1, 0.95, n=7).at_least is True
    assert decide(1.0, 0.96, 1.1, 0.95, n=7, seeds_needed=12).to_json()["seeds_needed"] is None


@pytest.mark.parametrize(("decision", "text"), [
    (decide(0.812, 0.701, 0.934, 0.95, n=8), "0.812 [0.701, 0.934] vs >= 0.95: fails (8 seeds)"),
    (decide(0.2, 0.1, 0.2, 0.21, n=3, at_least=False), "0.200 [0.100, 0.200] vs <= 0.21: holds (3 seeds)"),
    (decide(None, None, None, 0.95, n=2, seeds_needed=None),
     "undefined [-inf, inf] vs >= 0.95: inconclusive (2 seeds); no number of seeds decides it at this estimate"),
    (decide(1.0, 0.9, 1.1, 0.95, n=3, seeds_needed=12),
     "1.000 [0.900, 1.100] vs >= 0.95: inconclusive (3 seeds); about 12 seeds would decide it"),
    (decide(1.0, 0.9, None, 0.95, n=3, seeds_needed=12),
     "1.000 [0.900, inf] vs >= 0.95: inconclusive (3 seeds); about 12 seeds would decide it"),
    (decide(1.0, None, None, 0.95, n=1, seeds_needed=12),
     "1.000 [-inf, inf] vs >= 0.95: inconclusive (1 seed); one seed has no spread to judge by: run >= 2 seeds per arm"),
    (decide(1.0, 1.0, 1.0, 0.95, n=1), "1.000 [1.000, 1.000] vs >= 0.95: holds (1 seed)"),
])
def test_decision_text_by_value(decision: Decision, text: str) -> None:
    assert decision.text() == text


def test_decision_text_digits() -> None:
    assert decide(1.23456, 1.0, 1.5, 0.5, n=4).text(digits=1) == "1.2 [1.0, 1.5] vs >= 0.5: holds (4 seeds)"


def test_decide_rejects_bad_threshold_and_reversed_interval() -> None:
    with pytest.raises(ValueError, match="threshold=inf must be a finite number"):
        decide(1.0, 0.9, 1.1, math.inf, n=3)
    with pytest.raises(ValueError, match=r"low=1\.2 must be <= high=1\.1"):
        decide(1.0, 1.2, 1.1, 0.95, n=3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: decide(1.0, math.nan, 1.1, 0.95, n=3), "low=nan must be a real number or None (unbounded)"),
    (lambda: decide(1.0, 0.9, "1.1", 0.95, n=3), "high='1.1' must be a real number"),
    (lambda: decide(math.nan, 0.9, 1.1, 0.95, n=3), "estimate=nan must be a real number or None"),
    (lambda: decide([1.0], 0.9, 1.1, 0.95, n=3), "estimate=[1.0] must be a real number"),
    (lambda: decide(1.0, 0.9, 1.1, "0.95", n=3), "threshold='0.95' must be a finite number"),
    (lambda: decide(1.0, 0.9, 1.1, 0.95, n=-1), "n=-1 must be an integer >= 0"),
    (lambda: decide(1.0, 0.9, 1.1, 0.95, n=2.0), "n=2.0 must be an integer >= 0"),
    (lambda: decide(1.0, 0.9, 1.1, 0.95, n=3, at_least="no"), "at_least='no' must be True"),
    (lambda: decide(1.0, 0.9, 1.1, 0.95, n=3, seeds_needed=0), "seeds_needed=0 must be an integer >= 1"),
    (lambda: decide_mean("abc", 0.5), "values='abc' must be an array of real numbers"),
    (lambda: decide_mean([1.0, 2.0], None), "threshold=None must be a finite number"),
    (lambda: decide_ratio("abc", [1.0, 2.0], 1.0), "numerator='abc' must be an array of real numbers"),
    (lambda: decide_ratio([1.0, 2.0], [[1.0], [2.0, 3.0]], 1.0), "denominator=[[1.0], [2.0, 3.0]] must be a"),
    (lambda: decide_ratio([1.0, 2.0], [1.0, 2.0], "x"), "threshold='x' must be a finite number"),
])
def test_a_bad_argument_is_named_with_its_range(call, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        call()
    assert str(exc.value).startswith(message)


def test_decide_takes_the_ends_of_its_ranges() -> None:
    """n = 0 (nothing measured), infinite ends, seeds_needed = 1 (decide_draws' smallest), numpy scalars."""
    assert decide(None, None, None, 0.5, n=0).verdict == Verdict.INCONCLUSIVE
    assert decide(1.0, -math.inf, math.inf, 0.5, n=3, seeds_needed=1).seeds_needed == 1
    assert decide(np.float64(1.0), np.float64(0.9), 1.1, 0.95, n=np.int64(3), at_least=np.bool_(False)).verdict \
        == Verdict.INCONCLUSIVE


# --- decide_mean: the t interval of per-seed values and the seeds that would decide it ---------------------


def test_decide_mean_by_value() -> None:
    """(1, 2, 3, 4): mean 2.5, s = sqrt(5/3), half width t s / 2; against 2: inconclusive, and
    seeds_to_resolve(s, 0.5) = 29 seeds would decide it (20 at level 0.9)."""
    d = decide_mean([1.0, 2.0, 3.0, 4.0], 2.0)
    half = T975_3 * math.sqrt(5 / 3) / 2
    assert (d.verdict, d.estimate, d.n, d.seeds_needed, d.at_least) == (Verdict.INCONCLUSIVE, 2.5, 4, 29, True)
    assert (d.low, d.high) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-9)
    d90 = decide_mean([1.0, 2.0, 3.0, 4.0], 2.0, level=0.9)
    assert d90.seeds_needed == 20
    assert d90.high - d90.low == pytest.approx(2 * 2.3533634348018233 * math.sqrt(5 / 3) / 2, rel=1e-9)


def test_decide_mean_at_most_and_two_seeds() -> None:
    """Two seeds (1, 3): mean 2, s = sqrt 2, t_{0.975,1} = 12.706; at most 1.5: inconclusive, 34 seeds."""
    d = decide_mean([1.0, 3.0], 1.5, at_least=False)
    assert (d.verdict, d.estimate, d.n, d.seeds_needed, d.at_least) == (Verdict.INCONCLUSIVE, 2.0, 2, 34, False)
    assert d.high == pytest.approx(2.0 + 12.706204736174694, rel=1e-9)
    assert decide_mean([1.0, 1.1, 0.9], 2.0, at_least=False).verdict == Verdict.HOLDS
    assert decide_mean([1.0, 1.1, 0.9], 2.0).verdict == Verdict.FAILS


def test_decide_mean_needs_two_finite_values() -> None:
    for values in ([1.0], [1.0, np.nan], [[1.0, np.inf]]):
        with pytest.raises(ValueError, match=r"must hold >= 2 finite numbers \(one per seed\)"):
            decide_mean(values, 0.5)


# --- decide_ratio: Fieller's interval, paired by default ------------------------------------------------------

A = np.array([1.0, 1.3, 0.8, 1.1])  # the arm's per-seed improvement
B = np.array([2.0, 2.4, 1.9, 2.1])  # the reference's, on the same seeds: ratio 0.5


def test_decide_ratio_is_paired_by_default_and_uses_fieller() -> None:
    d = decide_ratio(A, B, 0.52)
    assert (d.estimate, d.low, d.high) == fieller_ratio(A, B, paired=True)
    assert d.low == pytest.approx(0.40440339791979785, rel=1e-9) and d.high == pytest.approx(0.5719984169002542,
                                                                                               rel=1e-9)
    u = decide_ratio(A, B, 0.52, paired=False)
    assert (u.estimate, u.low, u.high) == fieller_ratio(A, B, paired=False)
    assert u.high - u.low > d.high - d.low
    assert (d.verdict, u.verdict, d.n, d.at_least) == (Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE, 4, True)


def test_decide_ratio_seeds_needed_by_value() -> None:
    """The linearised per-seed values a - R b (paired) or the two variances (independent), over |bbar| = 2.1,
    against the gap R - 0.52 = -0.02: 28 paired seeds, 123 independent ones, 20 paired at level 0.9."""
    assert decide_ratio(A, B, 0.52).seeds_needed == 28
    assert decide_ratio(A, B, 0.52, paired=False).seeds_needed == 123
    d90 = decide_ratio(A, B, 0.52, level=0.9)
    assert d90.seeds_needed == 20
    assert (d90.estimate, d90.low, d90.high) == fieller_ratio(A, B, level=0.9)
    assert decide_ratio(A, B, 0.52, at_least=False).verdict == Verdict.INCONCLUSIVE
    assert decide_ratio(A, B, 0.3).verdict == Verdict.HOLDS and decide_ratio(A, B, 0.3).seeds_needed is None
    assert decide_ratio(A, B, 0.3, at_least=False).verdict == Verdict.FAILS


def test_decide_ratio_of_two_seeds() -> None:
    d = decide_ratio([1.0, 1.4], [2.0, 2.2], 0.55)
    assert (d.verdict, d.n, d.seeds_needed) == (Verdict.INCONCLUSIVE, 2, 80)
    assert decide_ratio([1.0, 1.4], [2.0, 2.2], 0.55, paired=False).seeds_needed == 167


def test_decide_ratio_with_a_zero_denominator_mean_has_no_estimate() -> None:
    d = decide_ratio([1.0, 2.0], [1.0, -1.0], 0.5)
    assert (d.verdict, d.estimate, d.low, d.high, d.seeds_needed) == (Verdict.INCONCLUSIVE, None, None, None, None)


def test_per_seed_values_in_float16_are_judged_in_float64() -> None:
    """Low-precision inputs give the decision of their float64 values: the spread that sets the seeds needed
    is taken in float64. The thresholds are where float16 arithmetic would need one seed less (6624, paired
    ratio; 9501, mean) or five more (9365, independent ratio)."""
    a = np.array([1.0, 1.3, 0.8, 1.1], dtype=np.float16)
    b = np.array([2.0, 2.4, 1.9, 2.1], dtype=np.float16)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert decide_ratio(a, b, 0.5011230769230769) == decide_ratio(a64, b64, 0.5011230769230769)
    assert decide_ratio(a64, b64, 0.5011230769230769).seeds_needed == 6625
    assert decide_ratio(a, b, 0.5021461538461538, paired=False) == decide_ratio(
        a64, b64, 0.5021461538461538, paired=False)
    assert decide_mean(a, 1.053990280296398) == decide_mean(a64, 1.053990280296398)
    assert decide_mean(a64, 1.053990280296398).seeds_needed == 9502
