"""theory.allocation (BY-3): exact per-prompt moments, allocation statistics, and the four allocators' invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import allocation as A
from theory.expectations import gradient_scale

# pass rates with the edge cases: exactly 0 and 1 (always silent), and values near them
pass_rate = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 1e-3, 1 - 1e-3]), st.floats(0.0, 1.0))
pass_rates = st.lists(pass_rate, min_size=1, max_size=6).map(np.array)


def test_group_update_moments_match_closed_forms() -> None:
    """GRPO (sample std): E U^2 = (n-1)^2 p(1-p) and E U = n p(1-p) lambda_n(p) (TT-4); Dr. GRPO: E U = (n-1) p(1-p)."""
    p = np.array([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    m, s = A.group_update_moments(p, 16)
    a = p * (1 - p)
    for n in (2, 3, 8, 16):
        np.testing.assert_allclose(s[:, n], (n - 1) ** 2 * a, atol=1e-12)
        np.testing.assert_allclose(m[:, n], n * a * gradient_scale(n, p), atol=1e-12)
    m_dr, _ = A.group_update_moments(p, 8, estimator="dr_grpo")
    np.testing.assert_allclose(m_dr[:, 2:], (np.arange(2, 9) - 1)[None, :] * a[:, None], atol=1e-12)
    assert np.all(m[:, :2] == 0) and np.all(s[:, :2] == 0)  # n = 0, 1: no signal


def test_statistics_of_one_pair_by_hand() -> None:
    """p = 1/2, one group of 2: U = 1/sqrt(2) w.p. 1/2 else 0, so E U = 0.3536, E U^2 = 1/4: SNR = 1, gain = 1/2,
    half the groups silent, half the rollouts with a non-zero advantage."""
    stats = A.allocation_statistics([0.5], [2])
    assert (stats.snr, stats.gain, stats.silent_share, stats.nonzero_ratio) == pytest.approx((1.0, 0.5, 0.5, 0.5))
    assert stats.cosine == pytest.approx(1.0)
    assert A.uniform_statistics([0.5], 2, 2).gain == pytest.approx(0.5)


def test_skipped_prompt_counts_in_no_share() -> None:
    """A prompt with n = 0 is no group: silent share over the one group, non-zero ratio over its 2 rollouts."""
    stats = A.allocation_statistics([0.5, 0.3], [2, 0])
    assert stats.groups == 1 and stats.silent_share == pytest.approx(0.5) and stats.nonzero_ratio == pytest.approx(0.5)


def test_snr_alone_rewards_concentrating_the_budget_gain_does_not() -> None:
    """Why ours maximises gain: all rollouts on one prompt give a higher SNR than spreading them, but a direction
    far from grad J; gain = cos^2 SNR / (1 + SNR) prefers the spread."""
    p = np.full(8, 0.5)
    concentrated = A.allocation_statistics(p, [16, 0, 0, 0, 0, 0, 0, 0])
    spread = A.allocation_statistics(p, [2] * 8)
    assert concentrated.snr > spread.snr
    assert concentrated.gain < spread.gain
    for stats in (concentrated, spread):
        assert stats.gain == pytest.approx(stats.cosine**2 * stats.snr / (1 + stats.snr))


@settings(deadline=None, max_examples=60)
@given(st.integers(1, 4), st.integers(0, 12), st.data())
def test_knapsack_dp_equals_brute_force(num_prompts: int, budget: int, data: st.DataObject) -> None:
    sizes = np.array(sorted(data.draw(st.sets(st.integers(0, 6), min_size=1, max_size=4))))
    values = np.array(data.draw(st.lists(st.lists(st.floats(-5, 5), min_size=sizes.size, max_size=sizes.size),
                                         min_size=num_prompts, max_size=num_prompts)))
    feasible = [c for c in itertools.product(range(sizes.size), repeat=num_prompts) if sizes[list(c)].sum() == budget]
    if not feasible:
        with pytest.raises(ValueError, match="budget"):
            A.knapsack_dp(values, sizes, budget)
        return
    best = max(sum(values[q, c] for q, c in enumerate(choice)) for choice in feasible)
    n = A.knapsack_dp(values, sizes, budget)
    assert n.sum() == budget
    chosen = [int(np.flatnonzero(sizes == size)[0]) for size in n]
    assert sum(values[q, c] for q, c in enumerate(chosen)) == pytest.approx(best, abs=1e-9)


@settings(deadline=None, max_examples=40)
@given(pass_rates, st.data())
def test_allocators_spend_the_budget_exactly_in_groups_of_zero_or_at_least_two(p: np.ndarray,
                                                                              data: st.DataObject) -> None:
    max_group = data.draw(st.integers(2, 8))
    budget = data.draw(st.integers(2, max_group * p.size))
    if max_group == 2 and budget % 2:
        with pytest.raises(ValueError, match="must be a multiple of 2"):
            A.knapsack_allocation(p, budget, max_group=max_group)
        return
    for allocate in (A.knapsack_allocation, A.gain_allocation):
        n = allocate(p, budget, max_group=max_group)
        assert n.dtype.kind == "i" and n.sum() == budget and np.all((n == 0) | ((n >= 2) & (n <= max_group)))
    if budget >= 2 * p.size:
        n = A.variance_allocation(p, budget, max_group=max_group)
        assert n.dtype.kind == "i" and n.sum() == budget and np.all((n >= 2) & (n <= max_group))


@settings(deadline=None, max_examples=60)
@given(pass_rates, st.data())
def test_variance_allocation_satisfies_kkt(p: np.ndarray, data: st.DataObject) -> None:
    """n_q = clip(sqrt(c_q / nu)), sum n = B: c/n^2 = nu inside the bounds, <= nu at the lower, >= nu at the upper."""
    max_group = data.draw(st.integers(2, 64))
    budget = data.draw(st.integers(2 * p.size, max_group * p.size))
    n, nu = A.variance_allocation_continuous(p, budget, max_group=max_group)
    c = p * (1 - p)
    assert n.sum() == pytest.approx(budget, rel=1e-9)
    assert np.all((n >= 2 - 1e-12) & (n <= max_group + 1e-12))
    marginal = c / n**2  # -d/dn (c / n)
    inside = (n > 2 + 1e-6) & (n < max_group - 1e-6) & (c > 0)
    np.testing.assert_allclose(marginal[inside], nu, rtol=1e-6)
    at_lower, at_upper = n <= 2 + 1e-6, n >= max_group - 1e-6  # a box with 2 = max_group binds both ways
    assert np.all(marginal[at_lower & ~at_upper & (c > 0)] <= nu * (1 + 1e-6))
    assert np.all(marginal[at_upper & ~at_lower & (c > 0)] >= nu * (1 - 1e-6))


def _brute_force(p: np.ndarray, budget: int, choices: list[int], objective) -> float:
    return max(objective(np.array(n)) for n in itertools.product(choices, repeat=p.size) if sum(n) == budget)


@settings(deadline=None, max_examples=30)
@given(st.lists(pass_rate, min_size=1, max_size=3).map(np.array), st.data())
def test_integer_variance_allocation_is_optimal(p: np.ndarray, data: st.DataObject) -> None:
    budget = data.draw(st.integers(2 * p.size, 5 * p.size))
    c = p * (1 - p)
    n = A.variance_allocation(p, budget, max_group=5)
    best = _brute_force(p, budget, [2, 3, 4, 5], lambda x: -float((c / x).sum()))
    assert -float((c / n).sum()) == pytest.approx(best, abs=1e-12)


@settings(deadline=None, max_examples=30)
@given(st.lists(st.floats(0.02, 0.98), min_size=1, max_size=3).map(np.array), st.data())
def test_gain_allocation_finds_the_brute_force_optimum(p: np.ndarray, data: st.DataObject) -> None:
    budget = data.draw(st.integers(2, 5 * p.size))
    n = A.gain_allocation(p, budget, max_group=5)
    best = _brute_force(p, budget, [0, 2, 3, 4, 5], lambda x: A.gain_of(p, x) if x.any() else -math.inf)
    assert A.gain_of(p, n) == pytest.approx(best, rel=1e-9)


@settings(deadline=None, max_examples=15)
@given(st.lists(pass_rate, min_size=4, max_size=24).map(np.array))
def test_gain_allocation_beats_knapsack_and_variance_on_gain(p: np.ndarray) -> None:
    budget = 4 * p.size
    ours = A.gain_of(p, A.gain_allocation(p, budget, max_group=16))
    for other in (A.knapsack_allocation(p, budget, max_group=16), A.variance_allocation(p, budget, max_group=16)):
        gain = A.gain_of(p, other)
        assert math.isnan(gain) or ours >= gain * (1 - 1e-12)


def test_errors_name_the_argument_and_the_range() -> None:
    with pytest.raises(ValueError, match=r"budget=3 must be an integer >= 4"):
        A.variance_allocation([0.5, 0.5], 3)
    with pytest.raises(ValueError, match=r"budget=100 must be an integer >= 2 and <= 16"):
        A.knapsack_allocation([0.5, 0.5], 100, max_group=8)
    with pytest.raises(ValueError, match="allocation must be 2 integers, each 0 or >= 2, not all 0"):
        A.allocation_statistics([0.5, 0.5], [1, 3])
    with pytest.raises(ValueError, match=r"pass_rates=.* must lie in \[0, 1\]"):
        A.gain_allocation([1.5], 4)
    with pytest.raises(ValueError, match="group_size=2 needs budget/group_size = 8 prompts; only 2 given"):
        A.uniform_statistics([0.5, 0.5], 2, 16)
