"""GRPOVI's reward adjustment (VI-1, VI-2, VI-4) by value: hand-solved groups, the pinned ``ties`` defaults
and large groups (the bucket path) against the greedy written out in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory.grpovi import BUCKET_MIN_N, TIES, adjust_rewards, adjust_rewards_reference, group_weights

SOLVERS = (adjust_rewards, adjust_rewards_reference)


def test_ties_defaults_differ_on_purpose() -> None:
    """The solver keeps VI's "split" as its default (the paper's model); the estimator that training calls
    (theory.estimators.compute_advantages) defaults to "keep"; both are pinned here."""
    assert TIES == ("split", "keep")
    for solve in SOLVERS:
        assert solve([0.5] * 4, lo=0, hi=1).tolist() == [1.0, 1.0, 0.0, 0.0]
        assert solve([0.5] * 4, lo=0, hi=1, ties="keep").tolist() == [0.5] * 4


@pytest.mark.parametrize("solve", SOLVERS)
def test_uniform_group_by_hand(solve) -> None:
    """(0.7, 0.1, 0.3): mean 1.1/3; the top (weight 1/3 <= mean) goes to 1, the next takes the rest,
    (1.1/3 - 1/3) / (1/3) = 0.1, the last goes to 0."""
    assert solve([0.7, 0.1, 0.3], lo=0, hi=1) == pytest.approx([1.0, 0.0, 0.1], abs=1e-15)


@pytest.mark.parametrize("solve", SOLVERS)
def test_weighted_group_by_hand(solve) -> None:
    """Weights (0.2, 0.3, 0.5) on (0.9, 0.5, 0.1): mean 0.38; 0.9 -> 1 (weight 0.2 <= 0.38),
    0.5 -> (0.38 - 0.2) / 0.3 = 0.6, 0.1 -> 0."""
    z = solve([0.9, 0.5, 0.1], [0.2, 0.3, 0.5], lo=0, hi=1)
    assert z == pytest.approx([1.0, 0.6, 0.0], abs=1e-15)
    assert solve([0.9, 0.5, 0.1], [2.0, 3.0, 5.0], lo=0, hi=1) == pytest.approx(z, abs=1e-15)  # renormalised
    assert solve([0.9, 0.5, 0.1], log_probs=np.log([0.2, 0.3, 0.5]) - 50, lo=0, hi=1) == pytest.approx(z, abs=1e-14)


@pytest.mark.parametrize("solve", SOLVERS)
def test_reward_range_other_than_unit(solve) -> None:
    """(2, 4) in [0, 10]: mean 3 = y 0.3 < 1/2, so the top takes 6 and the bottom 0; in [-1, 5] the top
    takes y = 0.5 / 0.5 scaled: mean 3 is y = 4/6, top 1 -> 5, bottom (4/6 - 1/2) * 2 = 1/3 -> 1."""
    assert solve([2.0, 4.0], lo=0, hi=10) == pytest.approx([0.0, 6.0], abs=1e-14)
    assert solve([2.0, 4.0], lo=-1, hi=5) == pytest.approx([1.0, 5.0], abs=1e-14)


@pytest.mark.parametrize("solve", SOLVERS)
def test_partial_tie_keep_and_split(solve) -> None:
    """(0.5, 0.5, 0.2), mean 0.4: keep gives the tie (weight 2/3) 0.4 / (2/3) = 0.6 each; split gives the first
    0.5 the value 1 (weight 1/3 <= 0.4) and the second the rest, (0.4 - 1/3) * 3 = 0.2."""
    assert solve([0.5, 0.5, 0.2], lo=0, hi=1, ties="keep") == pytest.approx([0.6, 0.6, 0.0], abs=1e-15)
    assert solve([0.5, 0.5, 0.2], lo=0, hi=1, ties="split") == pytest.approx([1.0, 0.2, 0.0], abs=1e-15)
    assert solve([0.2, 0.5, 0.5], lo=0, hi=1, ties="split") == pytest.approx([0.0, 1.0, 0.2], abs=1e-15)


def test_weightless_response_keeps_its_reward_between_its_neighbours() -> None:
    """Weight 0 on 0.5 between 0.9 -> 1 and 0.1 -> 0: any value in [0, 1] is optimal; it keeps 0.5.
    Under keep, a weightless member of a tie with weight takes the tie's value (0.35 / 0.5 = 0.7)."""
    for ties in TIES:
        assert adjust_rewards([0.9, 0.5, 0.1], [0.5, 0.0, 0.5], lo=0, hi=1, ties=ties).tolist() == [1.0, 0.5, 0.0]
    z = adjust_rewards([0.2, 0.5, 0.5], [0.5, 0.0, 0.5], lo=0, hi=1, ties="keep")
    assert z == pytest.approx([0.0, 0.7, 0.7], abs=1e-15)


def test_rewards_at_the_bounds_come_back_bit_for_bit() -> None:
    r = np.array([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    for ties in TIES:
        assert np.array_equal(adjust_rewards(r, lo=0, hi=1, ties=ties), r)
        assert np.array_equal(adjust_rewards(r, np.array([[0.1, 0.2, 0.3, 0.4]] * 2), lo=0, hi=1, ties=ties), r)


def test_batch_of_groups_by_hand_with_its_shape() -> None:
    r = np.array([[[0.7, 0.1, 0.3]], [[0.5, 0.5, 0.2]]])  # (2, 1, 3)
    z = adjust_rewards(r, lo=0, hi=1, ties="keep")
    assert z.shape == (2, 1, 3)
    assert z == pytest.approx(np.array([[[1.0, 0.0, 0.1]], [[0.6, 0.6, 0.0]]]), abs=1e-15)
    assert adjust_rewards(np.empty((0, 3)), lo=0, hi=1).shape == (0, 3)


def _greedy(rewards: np.ndarray, weights: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """VI-2's greedy for distinct rewards, written out: in descending order, hi while the running weight
    stays <= tau, the fraction that keeps the mean for the next response, lo for the rest. Sums are exact
    to rounding (math.fsum): the fraction divides them by one response's weight, 1/n."""
    y = (rewards - lo) / (hi - lo)
    tau = math.fsum(weights * y)
    order = np.argsort(-rewards)
    running = np.cumsum(weights[order])
    k = int(np.count_nonzero(running <= tau))
    y_new = np.zeros_like(y)
    y_new[order[:k]] = 1.0
    y_new[order[k]] = (tau - math.fsum(weights[order[:k]])) / weights[order[k]]
    return lo + (hi - lo) * y_new


@pytest.mark.parametrize(("power", "weighted"), [(1.0, False), (3.0, False), (0.3, False), (1.0, True), (3.0, True)])
def test_large_group_takes_the_bucket_path_and_matches_the_greedy(power: float, weighted: bool) -> None:
    """One group of n >= BUCKET_MIN_N (u^3: mean < 1/2, mass run from the top; u^0.3: from the bottom)."""
    n = BUCKET_MIN_N + 904
    rng = np.random.default_rng(7)
    r = rng.random(n) ** power * 4.0 - 1.0  # in [-1, 3]
    probs = rng.random(n) + 0.05 if weighted else None
    weights = probs / probs.sum() if weighted else np.full(n, 1.0 / n)
    z = adjust_rewards(r, probs, lo=-1.0, hi=3.0)
    expected = _greedy(r, weights, -1.0, 3.0)
    assert np.count_nonzero((expected > -1.0) & (expected < 3.0)) == 1  # one fractional response
    assert z == pytest.approx(expected, abs=1e-11)
    assert np.array_equal(z == 3.0, expected == 3.0)


def test_group_weights_by_hand() -> None:
    assert group_weights((3,), None, None) is None
    assert group_weights((3,), [1.0, 1.0, 2.0], None).tolist() == [0.25, 0.25, 0.5]
    assert group_weights((3,), None, np.log([1.0, 1.0, 2.0]) + 800) == pytest.approx([0.25, 0.25, 0.5], rel=1e-12)
    assert group_weights((2, 2), [[1.0, 3.0], [2.0, 2.0]], None).tolist() == [[0.25, 0.75], [0.5, 0.5]]
    tiny = group_weights((2,), [1e-320, 3e-320], None)  # subnormal totals are rescaled first
    assert tiny == pytest.approx([0.25, 0.75], rel=1e-3)
    assert group_weights((0,), [], None).shape == (0,)


@pytest.mark.parametrize(("probs", "log_probs", "message"), [
    ([1.0, 1.0], [0.0, 0.0], "^probs and log_probs were both given"),
    ([1.0, 1.0], None, r"^probs has shape \(2,\); it must have the shape of rewards, \(3,\)"),
    (None, [0.0, 0.0], r"^log_probs has shape \(2,\); it must have the shape of rewards, \(3,\)"),
    ([1.0, -1.0, 1.0], None, r"^probs contains -1\.0; probabilities must be >= 0"),
    ([0.0, 0.0, 0.0], None, r"^probs of group \(\) are all 0; each group needs a positive total weight"),
    ([1.0, np.nan, 1.0], None, "^probs contains nan"),
    (None, [0.0, np.inf, 0.0], "^log_probs contains inf"),
])
def test_group_weights_reject_bad_weights(probs, log_probs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        group_weights((3,), probs, log_probs)


def test_all_zero_probs_name_the_group() -> None:
    with pytest.raises(ValueError, match=r"^probs of group \(1,\) are all 0"):
        group_weights((2, 2), [[1.0, 0.0], [0.0, 0.0]], None)


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lo": 1.0, "hi": 0.0}, r"^lo=1\.0, hi=0\.0: the reward range must have lo < hi"),
    ({"lo": 0.0, "hi": np.inf}, r"^hi=inf"),
    ({"lo": 0.0, "hi": 0.5}, r"^rewards contains 0\.7; every reward must lie in \[lo, hi\] = \[0\.0, 0\.5\]"),
    ({"lo": 0.5, "hi": 1.0}, r"^rewards contains 0\.1; every reward must lie in \[lo, hi\]"),
    ({"lo": 0.0, "hi": 1.0, "ties": "merge"}, "^ties='merge' is not allowed; choose one of split, keep"),
])
def test_bad_range_and_ties_are_rejected(solve, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve([0.7, 0.1, 0.3], **kwargs)


def test_reference_solves_one_group_only() -> None:
    with pytest.raises(ValueError, match=r"^rewards has shape \(1, 2\)"):
        adjust_rewards_reference([[0.2, 0.4]], lo=0, hi=1)


def _random_group(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    lo = float(rng.choice([0.0, -1.0, rng.uniform(-3, 3)]))
    hi = lo + float(rng.choice([1.0, rng.uniform(0.1, 2.0)]))
    kind = rng.integers(4)
    if kind == 0:
        u = rng.random(n)
    elif kind == 1:
        u = rng.choice(rng.random(2), n)  # ties
    elif kind == 2:
        u = rng.integers(0, 2, n).astype(float)  # binary: fractions land exactly on 0 and 1
    else:
        u = np.full(n, rng.choice([rng.random(), 0.0, 1.0]))
    probs = None if rng.random() < 0.4 else rng.uniform(0.05, 1.0, n)
    return np.clip(lo * (1 - u) + hi * u, lo, hi), probs, lo, hi


@pytest.mark.parametrize("ties", TIES)
def test_reference_equals_the_solver_on_seeded_groups(ties: str) -> None:
    """400 seeded groups (continuous, tied, binary, all-equal; uniform or random weights): VI's enumeration
    of extreme points and the O(n log n) greedy give the same point."""
    rng = np.random.default_rng(2024)
    for _ in range(400):
        r, probs, lo, hi = _random_group(rng, int(rng.integers(1, 10)))
        expected = adjust_rewards(r, probs, lo=lo, hi=hi, ties=ties)
        assert adjust_rewards_reference(r, probs, lo=lo, hi=hi, ties=ties) == pytest.approx(expected, abs=1e-9)


def test_reference_breaks_ties_by_input_position_in_long_groups() -> None:
    """64 rewards from three values: "split" orders equal rewards by position (a stable sort; quicksort
    would not keep it beyond 16 elements)."""
    r = np.random.default_rng(3).choice([0.2, 0.5, 0.8], 64)
    assert adjust_rewards_reference(r, lo=0, hi=1) == pytest.approx(adjust_rewards(r, lo=0, hi=1), abs=1e-12)


def test_reference_keeps_a_block_that_runs_to_the_end() -> None:
    """(1, 0.5), keep: 1 -> 1 and the last block takes (0.75 - 0.5) / 0.5 = 0.5 (block end b = n)."""
    assert adjust_rewards_reference([1.0, 0.5], lo=0, hi=1, ties="keep").tolist() == [1.0, 0.5]


def test_reference_takes_the_first_of_equal_optima() -> None:
    """Weight 0 on 0.5: (1, 0, 0) and (1, 1, 0) have the same variance; the first extreme point found (the
    shorter hi prefix) is kept (the fast solver instead leaves the weightless response at 0.5)."""
    assert adjust_rewards_reference([0.9, 0.5, 0.1], [0.5, 0.0, 0.5], lo=0, hi=1).tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("ties", TIES)
def test_bucket_path_with_a_crossing_tie_larger_than_a_sort(ties: str) -> None:
    """5000 rewards, 2000 of them tied at the crossing value 0.5 (more than BUCKET_SORT): the bucket path
    stops at the tie and must name one of its members, as the sorting path of a batch does."""
    rng = np.random.default_rng(11)
    r = rng.permutation(np.repeat([0.9, 0.5, 0.1], [1500, 2000, 1500]))
    r = np.concatenate([[0.9], r])  # the first response is not in the tie
    single = adjust_rewards(r, lo=0, hi=1, ties=ties)  # one group of n >= BUCKET_MIN_N: buckets
    batched = adjust_rewards(np.stack([r, r]), lo=0, hi=1, ties=ties)[0]  # a batch: one argsort per row
    assert r.size >= BUCKET_MIN_N
    assert single == pytest.approx(batched, abs=1e-12)
    assert single[0] == 1.0 and np.all(single[r == 0.1] == 0.0)


def _weightless_spec(r: np.ndarray, w: np.ndarray, z_visible: dict[int, float], lo: float, hi: float,
                     ties: str) -> dict[int, float]:
    """Where each weightless response belongs, pairwise: in the split order (r descending, then position) it
    takes its own reward clipped between the z of the nearest visible response after it (below) and before
    it (above); under keep, a tie that has a visible member gives its value to the weightless ones."""
    order = sorted(range(r.size), key=lambda i: (-r[i], i))
    placed = {}
    for pos, i in enumerate(order):
        if w[i] > 0:
            continue
        tie = [j for j in range(r.size) if r[j] == r[i] and w[j] > 0]
        if ties == "keep" and tie:
            placed[i] = z_visible[tie[0]]
            continue
        above = [z_visible[j] for j in order[:pos] if w[j] > 0]
        below = [z_visible[j] for j in order[pos + 1:] if w[j] > 0]
        placed[i] = min(max(r[i], below[0] if below else lo), above[-1] if above else hi)
    return placed


@pytest.mark.parametrize("ties", TIES)
def test_weightless_responses_are_placed_as_the_order_allows(ties: str) -> None:
    """Seeded groups (n up to 30, ties, about a third of the responses weightless): the visible responses
    get the solution of the group without the weightless ones, and each weightless one its _weightless_spec
    value; one group at a time and as a batch."""
    rng = np.random.default_rng(5)
    rows, expected_rows = [], []
    for _ in range(150):
        n = int(rng.choice([3, 5, 8, 20, 30]))
        r = np.round(rng.random(n) * 4) / 4 if rng.random() < 0.5 else rng.random(n)
        w = rng.uniform(0.1, 1.0, n) * (rng.random(n) < 0.65)
        if not w.any():
            w[0] = 1.0
        visible = np.flatnonzero(w > 0)
        solved = adjust_rewards(r[visible], w[visible], lo=0, hi=1, ties=ties)
        z_visible = dict(zip(visible.tolist(), solved.tolist(), strict=True))
        expected = np.empty(n)
        for i, value in {**z_visible, **_weightless_spec(r, w, z_visible, 0.0, 1.0, ties)}.items():
            expected[i] = value
        assert adjust_rewards(r, w, lo=0, hi=1, ties=ties) == pytest.approx(expected, abs=1e-12)
        if n == 8:
            rows.append((r, w))
            expected_rows.append(expected)
    batch = adjust_rewards(np.stack([r for r, _ in rows]), np.stack([w for _, w in rows]), lo=0, hi=1, ties=ties)
    assert batch == pytest.approx(np.stack(expected_rows), abs=1e-12)
