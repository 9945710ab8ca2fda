"""Tests written against the mutants of theory/ that the suite let pass (issue 18, item 4; the list is
results/mutation/survivors.md, the tool tools/mutation.py). Each names the bug it catches: a message that
names the wrong argument, a bound or default off by one, a tolerance scaled wrongly, a batch computed as
one group. Inputs are hand-made so that the exact output is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from theory.advantages import group_advantages
from theory.contrastive import binary_contrastive_weights
from theory.estimators import compute_advantages
from theory.grpovi import (
    BUCKET_MIN_N,
    LANDING_ULPS,
    adjust_rewards,
    adjust_rewards_reference,
    check_reward_range,
    group_weights,
)
from theory.statistics import LEVEL, fieller_ratio, mean_ci, seeds_to_resolve

EPS = np.finfo(np.float64).eps


@pytest.mark.parametrize(("call", "message"), [
    (lambda: group_advantages(np.zeros((0, 2)), "grpo_batch_std"),
     r"^rewards must hold at least 2 values for estimator='grpo_batch_std'$"),
    (lambda: compute_advantages([[0.5]], "grpovi", reward_range=None), r"^rewards has shape \(1, 1\); its last axis"),
    (lambda: compute_advantages([[0.5, 0.2]], "grpovi", reward_range=("a", 1.0)), r"^reward_range: lo='a' must be"),
    (lambda: mean_ci([1.0, 2.0], axis=1), r"^axis=1 must be an integer >= -1 and <= 0$"),
    (lambda: fieller_ratio(["a"], [1.0]), r"^numerator=\['a'\] must be an array of real numbers"),
    (lambda: fieller_ratio([1.0, 2.0], [1.0, 2.0], level=1.0), r"^level=1\.0 must be a finite number in \(0, 1\)$"),
    (lambda: seeds_to_resolve(1.0, "x"), r"^gap='x' must be a real number$"),
    (lambda: seeds_to_resolve(1.0, 1.0, level=0.0), r"^level=0\.0 must be a finite number in \(0, 1\)$"),
    (lambda: seeds_to_resolve(1.0, 1.0, level=1.0), r"^level=1\.0 must be a finite number in \(0, 1\)$"),
    (lambda: seeds_to_resolve(1.0, 1.0, n_max=1), r"^n_max=1 must be an integer >= 2$"),
    (lambda: check_reward_range(-1e308, 1e308), r"^lo=-1e\+308, hi=1e\+308: the reward range must have lo < hi and "
     r"a finite width"),
    (lambda: adjust_rewards([0.0, 2.0], lo=0.0, hi=1.0), r"^rewards contains 2\.0; every reward must lie in"),
    (lambda: adjust_rewards([1.0, -1.0], lo=0.0, hi=1.0), r"^rewards contains -1\.0; every reward must lie in"),
    (lambda: group_weights((2,), [0.0, -1.0], None), r"^probs contains -1\.0; probabilities must be >= 0$"),
    (lambda: group_advantages([2e150, 0.0]), r"^rewards contains 2e\+150; every entry must lie in \[-1e\+150, "),
    (lambda: binary_contrastive_weights(True, 4), r"^k=True must be an integer with 0 < k < G=4"),
])
def test_bad_input_is_named_exactly(call, message: str) -> None:
    """Guards against a message that names another argument (or None), shows another value or range, and
    a check with a bound moved (axis <= ndim, level <= 1 or >= 0 accepted, n_max >= 3, a width hi + lo)."""
    with pytest.raises(ValueError, match=message):
        call()


def test_a_wide_finite_range_is_accepted() -> None:
    """Guards against testing the width as hi + lo: (1e308, 1.7e308) has a finite width and an infinite sum."""
    assert check_reward_range(1e308, 1.7e308) == (1e308, 1.7e308)


def test_fieller_interval_of_two_seeds_solves_its_quadratic() -> None:
    """Guards against n = 2 treated as too few seeds (n <= 2, n < 3): two paired seeds give Fieller's bounded
    interval, whose ends solve (abar - R bbar)^2 = t^2 (v_a - 2 R c_ab + R^2 v_b)."""
    a, b = np.array([1.0, 3.0]), np.array([2.0, 2.01])
    value, low, high = fieller_ratio(a, b)
    t2 = student_t.ppf((1 + LEVEL) / 2, 1) ** 2
    va, vb, cab = a.var(ddof=1) / 2, b.var(ddof=1) / 2, np.cov(a, b)[0, 1] / 2
    assert value == a.mean() / b.mean() and low < value < high
    for end in (low, high):
        assert (a.mean() - end * b.mean()) ** 2 == pytest.approx(t2 * (va - 2 * end * cab + end**2 * vb), rel=1e-9)


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    ([2.0, 2.0, 2.0], [4.0, 4.0, 4.0], (0.5, 0.5, 0.5)),  # no spread: the interval is the point R
    ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], (None, None, None)),  # bbar = 0: no ratio, no interval
])
def test_fieller_degenerate_samples(numerator, denominator, expected) -> None:
    """Guards against disc <= 0 (a sample without spread has the interval [R, R]) and qa < 0 (a zero
    denominator sample, qa = 0, would divide by 0)."""
    assert fieller_ratio(numerator, denominator) == expected


def _half_width(n: int, spread: float = 1.0, level: float = LEVEL) -> float:
    return float(student_t.ppf((1 + level) / 2, n - 1) * spread / np.sqrt(n))


def test_seeds_to_resolve_default_n_max_is_ten_thousand() -> None:
    """Guards against another default n_max and against searching past or short of n_max: a gap between
    the half widths at 10 000 and 10 001 seeds needs 10 001."""
    gap = (_half_width(10_000) + _half_width(10_001)) / 2
    assert seeds_to_resolve(1.0, gap) is None
    assert seeds_to_resolve(1.0, gap, n_max=10_001) == 10_001


def test_seeds_to_resolve_needs_the_half_width_strictly_below_the_gap() -> None:
    """Guards against <= in place of <: a gap equal to the half width at 7 seeds is resolved at 8."""
    assert seeds_to_resolve(1.0, _half_width(7)) == 8


def test_seeds_to_resolve_edges() -> None:
    """Guards against n_max = 2 rejected (and the 2 seeds of a spread-free sample missed) and an infinite
    gap read as resolved at once (and instead of or)."""
    assert seeds_to_resolve(0.0, 1.0, n_max=2) == 2
    assert seeds_to_resolve(1.0, math.inf) is None


def test_group_weights_normalise_each_group_on_its_own() -> None:
    """Guards against the max or the sum of log_probs/probs taken over the whole batch instead of each group
    (a batch of groups whose log-probs differ by 1000 nats underflows; totals of another group leak in)."""
    log_probs = np.array([[0.0, 0.0], [-1000.0, -1000.0 - math.log(3.0)]])
    np.testing.assert_allclose(group_weights((2, 2), None, log_probs), [[0.5, 0.5], [0.75, 0.25]], rtol=1e-12)
    probs = np.array([[1.0, 1.0], [1.0, 3.0]])
    assert group_weights((2, 2), probs, None).tolist() == [[0.5, 0.5], [0.25, 0.75]]


def test_group_weights_rescale_only_when_the_total_overflows() -> None:
    """Guards against the rescaling test inverted or always true: probs (2, 3) are divided by their sum once
    (the correctly rounded 2/5, 3/5), and probs near the float64 maximum are rescaled (per group, by each
    group's max and sum) instead of becoming 0."""
    assert group_weights((2,), [2.0, 3.0], None).tolist() == [2.0 / 5.0, 3.0 / 5.0]
    with np.errstate(over="ignore"):  # the first total overflows: that is what triggers the rescaling
        assert group_weights((2,), [1e308, 1e308], None).tolist() == [0.5, 0.5]
        assert group_weights((2, 2), [[1e308, 1e308], [1.0, 3.0]], None).tolist() == [[0.5, 0.5], [0.25, 0.75]]


def _landing_case(n: int, side: str, factor: float) -> tuple[list[float], list[float]]:
    """Rewards on [0, 1] whose one fractional response carries a mass ``factor`` times the landing tolerance
    LANDING_ULPS eps max(1, log2 n) (mass freed + mass spent + its weight) away from lo (``side="lo"``) or
    from hi; the other responses are 0.75 (0.25 for hi) and pairs (0, 1). The tie's y is then 1.25 factor u
    above 0.25 (below 0.75); it lands on lo (hi) for factor <= 1, else VI's value keeps the mean."""
    u = LANDING_ULPS * EPS * max(1.0, math.log2(n))
    pad = [0.0, 1.0] * ((n - 2) // 2)
    if side == "lo":
        rewards = [0.75, 0.25 + 1.25 * factor * u, *pad]
        return rewards, [1.0, 0.0 if factor <= 1 else rewards[1] - 0.25, *pad]
    rewards = [0.25, 0.75 - 1.25 * factor * u, *pad]
    return rewards, [0.0, 1.0 if factor <= 1 else rewards[1] + 0.25, *pad]


@pytest.mark.parametrize("ties", ["split", "keep"])
@pytest.mark.parametrize(("n", "side", "factor"), [
    (2, "lo", 1.0), (2, "lo", 1.5), (2, "hi", 1.0), (2, "hi", 1.5),
    (4, "lo", 1.0), (4, "lo", 1.5), (4, "hi", 1.0), (4, "hi", 1.5),
])
def test_a_fractional_mass_lands_on_lo_or_hi_exactly_within_the_tolerance(n: int, side: str, factor: float,
                                                                           ties: str) -> None:
    """Guards against the landing rule and its scale: < in place of <= at the tolerance, no landing at lo or
    hi, a tolerance divided by log2 n or by the masses, floored at 2, or taken from freed - spent."""
    rewards, expected = _landing_case(n, side, factor)
    assert adjust_rewards(rewards, lo=0.0, hi=1.0, ties=ties).tolist() == expected


@pytest.mark.parametrize("ties", ["split", "keep"])
def test_a_fractional_tie_of_two_lands_within_the_tolerance(ties: str) -> None:
    """Guards against the tolerance of a tie of several responses taken from freed - spent: two responses
    at 0.25 + 1.25 u carry exactly the tolerance (n = 4, two at 0.75 spend 0.125) and land on lo."""
    u = LANDING_ULPS * EPS * 2.0
    t = 0.25 + 1.25 * u
    assert adjust_rewards([0.75, 0.75, t, t], lo=0.0, hi=1.0, ties=ties).tolist() == [1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("ties", ["split", "keep"])
def test_a_group_of_one_comes_back_bit_for_bit(ties: str) -> None:
    """Guards against the group of one run through the tie resolution (lo + 1e-17 lands on lo there, and
    lo (1 - y) + hi y rounds 0.3 on [0.1, 0.7])."""
    assert adjust_rewards([[1e-17], [0.3]], lo=0.0, hi=1.0, ties=ties).tolist() == [[1e-17], [0.3]]
    assert adjust_rewards([0.3], lo=0.1, hi=0.7, ties=ties).tolist() == [0.3]


@pytest.mark.parametrize("weighted", [False, True])
def test_a_batch_of_large_groups_solves_each_group_on_its_own(weighted: bool) -> None:
    """Guards against the single-group bucket path taken for a batch (or for B = 2) and against the batch
    path reading the first group's weights for the second: each row of a batch of two groups of
    BUCKET_MIN_N equals that group solved alone."""
    rng = np.random.default_rng(18)
    rewards = rng.random((2, BUCKET_MIN_N))
    probs = rng.random((2, BUCKET_MIN_N)) if weighted else None
    batch = adjust_rewards(rewards, probs, lo=0.0, hi=1.0)
    for row in range(2):
        alone = adjust_rewards(rewards[row], None if probs is None else probs[row], lo=0.0, hi=1.0)
        assert batch[row].tolist() == alone.tolist()


def test_small_batch_uses_each_groups_own_weights() -> None:
    """Guards against the sorted weights of a batch of two groups taken without each row's offset: the same
    rewards with swapped weights give swapped adjustments."""
    rewards = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]])
    probs = np.array([[0.6, 0.2, 0.2], [0.2, 0.2, 0.6]])
    batch = adjust_rewards(rewards, probs, lo=0.0, hi=1.0)
    for row in range(2):
        assert batch[row].tolist() == adjust_rewards(rewards[row], probs[row], lo=0.0, hi=1.0).tolist()


def test_bucket_path_returns_a_member_of_the_crossing_tie() -> None:
    """Guards against the bucket search returning response 0 when the kept candidates, at a deeper level, are
    one tie: response 0 (reward 0.9) is no member of the tie at 0.5 where the mean is crossed."""
    rewards = np.repeat([0.9, 0.5, 0.1], [1500, 2000, 1500])
    alone = adjust_rewards(rewards, lo=0.0, hi=1.0, ties="keep")
    batch = adjust_rewards(np.stack([rewards, rewards]), lo=0.0, hi=1.0, ties="keep")  # the sorting path
    assert alone.tolist() == batch[0].tolist()
    assert alone[0] == 1.0 and np.all(alone[1500:3500] == alone[1500]) and 0.0 < alone[1500] < 1.0


def test_reference_keeps_a_light_response_at_the_bound() -> None:
    """Guards against the reference's feasibility slack turned negative for light blocks: a response of
    weight 1e-4 at hi and the rest at lo are a fixed point (VI-4)."""
    z = adjust_rewards_reference([1.0, 0.0], [1e-4, 1.0 - 1e-4], lo=0.0, hi=1.0)
    assert z.tolist() == [1.0, 0.0]


def _seeded_groups(seed: int, B: int = 40, n: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Rewards on a grid with ties, lo and hi, and log-probs 0 to 50 nats down: about a third of the
    responses are lighter than the rounding of the masses (weightless)."""
    rng = np.random.default_rng(seed)
    rewards = rng.choice([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0], size=(B, n))
    log_probs = -rng.choice([0.0, 1.0, 2.0, 36.0, 40.0, 50.0], size=(B, n))
    return rewards, log_probs


@pytest.mark.parametrize("ties", ["split", "keep"])
def test_a_batch_with_light_responses_solves_each_group_on_its_own(ties: str) -> None:
    """Guards against batch bookkeeping across groups: which rows hold weightless responses (found over the
    whole batch instead of per row), the weights or ties passed to their placement."""
    rewards, log_probs = _seeded_groups(3)
    batch = adjust_rewards(rewards, lo=0.0, hi=1.0, ties=ties, log_probs=log_probs)
    alone = [adjust_rewards(r, lo=0.0, hi=1.0, ties=ties, log_probs=lp).tolist()
             for r, lp in zip(rewards, log_probs, strict=True)]
    assert batch.tolist() == alone


@pytest.mark.parametrize("ties", ["split", "keep"])
def test_order_ties_and_idempotence_hold_with_light_responses(ties: str) -> None:
    """Guards against the placement of weightless responses breaking VI's order (z ordered as r; ``keep``:
    equal rewards get equal z; ``split``: an earlier tied response never gets less) or the documented
    fixed point (a second pass changes nothing, whatever the weights, up to the rounding of a fractional
    value: 0.9000000000000022 comes back as 0.9000000000000044 in one of these groups)."""
    rewards, log_probs = _seeded_groups(5)
    z = adjust_rewards(rewards, lo=0.0, hi=1.0, ties=ties, log_probs=log_probs)
    later = np.arange(rewards.shape[1])[:, None] < np.arange(rewards.shape[1])[None, :]  # i before j
    for r, zr in zip(rewards, z, strict=True):
        above = r[:, None] > r[None, :]
        tied = (r[:, None] == r[None, :]) & later
        assert np.all(zr[:, None] >= zr[None, :], where=above)
        if ties == "keep":
            assert np.all(zr[:, None] == zr[None, :], where=tied)
        else:
            assert np.all(zr[:, None] >= zr[None, :], where=tied)
    again = adjust_rewards(z, lo=0.0, hi=1.0, ties=ties, log_probs=log_probs)
    np.testing.assert_allclose(again, z, rtol=0.0, atol=1e-14)  # a fractional value may move by its rounding


@pytest.mark.parametrize("rewards", [
    [1.665e308, 1.63e308, 1.7e308],
    [1.63e308, 1.56e308, 1.21e308, 1.35e308, 1e308, 1e308, 1e308],
])
def test_rewards_near_the_float_maximum_are_adjusted_as_scaled_down_ones(rewards: list[float]) -> None:
    """Guards against sort keys that overflow (2 r or -2 r in place of r and -r turns rewards above 9e307
    into one tie at +-inf): on [1e308, 1.7e308] the adjustment is 1e308 times that of r / 1e308 on [1, 1.7]."""
    z = adjust_rewards(rewards, lo=1e308, hi=1.7e308)
    scaled = adjust_rewards(np.array(rewards) / 1e308, lo=1.0, hi=1.7)
    np.testing.assert_allclose(z / 1e308, scaled, rtol=1e-12)


@pytest.mark.parametrize(("rewards", "probs", "ties", "expected"), [
    # visible: 0.9 -> hi, 0.5 (weight 1/8) -> hi, 0.5 (2/8) carries the rest, y = 1/4; weight 0: the 0.9 after
    # the visible 0.9 in the input sits between two z = 1 (the stable split order)
    ([0.5, 0.5, 0.0, 0.9, 0.1, 0.9], [1, 2, 1, 2, 2, 0], "split", [1.0, 0.25, 0.0, 1.0, 0.0, 1.0]),
    # weight 0 also at 0.5 (after both visible 0.5), 0.25 twice, 0.95 (top) and 0.05 (bottom):
    # clip(r, z of the next visible response, z of the previous one)
    ([0.5, 0.5, 0.0, 0.9, 0.1, 0.9, 0.5, 0.25, 0.25, 0.95, 0.05], [1, 2, 1, 2, 2, 0, 0, 0, 0, 0, 0], "split",
     [1.0, 0.25, 0.0, 1.0, 0.0, 1.0, 0.25, 0.25, 0.25, 1.0, 0.0]),
    # keep: the 0.5 block (3/8) carries 3/16, y = 1/2; a weight-0 member of a tie with a visible member takes
    # the tie's value, a tie with no visible member is clipped between its visible neighbours
    ([0.5, 0.5, 0.0, 0.9, 0.1, 0.9, 0.5, 0.25, 0.25, 0.95, 0.05], [1, 2, 1, 2, 2, 0, 0, 0, 0, 0, 0], "keep",
     [0.5, 0.5, 0.0, 1.0, 0.0, 1.0, 0.5, 0.25, 0.25, 1.0, 0.0]),
])
def test_weightless_responses_by_hand(rewards, probs, ties: str, expected) -> None:
    """Guards against the placement of weight-0 responses: an unstable split order, no upper or lower
    neighbour (or the wrong slot of it), keep's rule applied in split mode or not in keep mode, the tie
    blocks' starts and ends computed off by one slot or along the wrong axis."""
    assert adjust_rewards(rewards, probs, lo=0.0, hi=1.0, ties=ties).tolist() == expected


def test_a_weightless_response_between_lo_and_hi_keeps_its_reward() -> None:
    """Guards against the crossing found with < in place of <= (or always from the top): the visible
    rewards 0.1 and 0.9 (equal weights) move to 0 and 1, their running weight meets tau exactly, and the
    response 36 nats lighter than its peers stays at its reward 0.25, between its neighbours 0 and 1."""
    z = adjust_rewards([0.1, 0.9, 1.0, 0.25], lo=0.0, hi=1.0, log_probs=[-1.0, -1.0, 0.0, -36.0])
    assert z.tolist() == [0.0, 1.0, 1.0, 0.25]


def test_reference_returns_the_first_of_equal_optima_past_a_weightless_block() -> None:
    """Guards against the reference taking, for each prefix, the first block end instead of the best one:
    for a = 0 the first block holds only the weight-0 response (infeasible), and the first optimum of the
    enumeration is the block of both top responses at c = 0.375 / 0.5."""
    assert adjust_rewards_reference([0.875, 0.5, 0.25], [0.0, 0.5, 0.5], lo=0.0, hi=1.0).tolist() == [0.75, 0.75, 0.0]
