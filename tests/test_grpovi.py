"""GRPOVI's reward adjustment (VI-1, VI-2, VI-4, BY-1): the O(n log n) solver against a brute-force vertex
enumeration and VI's O(n^2) enumeration, its invariants, its input errors and its estimator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import theory.grpovi as grpovi
from evidence.record import RunContext, Verdict
from simulations.exact.grpovi_brute_force import (
    brute_force_adjust,
    check_by1,
    check_vi1_vi2,
    check_vi4,
    order_kept,
    random_instance,
    weighted_variance,
)
from theory.advantages import group_advantages, silent_groups
from theory.estimators import compute_advantages
from theory.grpovi import TIES, adjust_rewards, adjust_rewards_reference, group_weights

TOL = 1e-9


@st.composite
def groups(draw: st.DrawFn, min_n: int = 1, max_n: int = 6) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    """(rewards, probs or None, lo, hi): continuous, tied, binary or all-equal rewards; uniform, random,
    near-0-and-1 or partly zero weights; bounds with |lo|, |hi| <= 4."""
    n = draw(st.integers(min_n, max_n))
    lo = draw(st.sampled_from([0.0, -1.0]) | st.floats(-3, 3))
    hi = lo + draw(st.sampled_from([1.0]) | st.floats(0.01, 1.0))
    kind = draw(st.sampled_from(["continuous", "ties", "binary", "all-equal"]))
    unit = st.floats(0, 1)
    if kind == "continuous":
        u = draw(st.lists(unit, min_size=n, max_size=n))
    elif kind == "ties":
        pool = draw(st.lists(unit | st.sampled_from([0.0, 1.0]), min_size=1, max_size=2))
        u = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    elif kind == "binary":
        u = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    else:
        u = [draw(unit | st.sampled_from([0.0, 1.0]))] * n
    u = np.array(u)
    rewards = np.clip(lo * (1 - u) + hi * u, lo, hi)
    weights = draw(st.sampled_from(["uniform", "random", "near 0 and 1", "zeros"]))
    if weights == "uniform":
        return rewards, None, lo, hi
    if weights == "random":
        probs = draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n))
    elif weights == "near 0 and 1":
        probs = draw(st.lists(st.sampled_from([1e-6, 1e-3, 1.0]) | st.floats(1e-6, 1e-3), min_size=n, max_size=n))
    else:
        probs = draw(st.lists(st.sampled_from([0.0]) | st.floats(0.05, 1.0), min_size=n, max_size=n))
        assume(sum(probs) > 0)
    return rewards, np.array(probs), lo, hi


def normalised(probs: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, 1.0 / n) if probs is None else probs / probs.sum()


# --- VI-2: the solver is the global optimum ------------------------------------------------------------

@settings(deadline=None, max_examples=120)
@given(groups(), st.sampled_from(TIES))
def test_solver_matches_brute_force_vertex_enumeration(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    p = normalised(probs, rewards.size)
    z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    z_brute, objective_brute = brute_force_adjust(rewards, p, lo, hi, ties)
    scale = max(1.0, abs(lo), abs(hi))
    assert abs(float(p @ z**2) - objective_brute) <= TOL * scale**2
    assert np.abs(z - z_brute)[p > 0].max() <= TOL * scale  # weight-0 responses: any allowed value is optimal


@settings(deadline=None, max_examples=60)
@given(groups(min_n=1, max_n=40), st.sampled_from(TIES))
def test_solver_matches_the_quadratic_enumeration(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    p = normalised(probs, rewards.size)
    z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    z_reference = adjust_rewards_reference(rewards, probs, lo=lo, hi=hi, ties=ties)
    scale = max(1.0, abs(lo), abs(hi))
    assert abs(float(p @ z**2) - float(p @ z_reference**2)) <= TOL * scale**2
    assert np.abs(z - z_reference)[p > 0].max() <= TOL * scale  # unique optimum on positive weights


@settings(deadline=None, max_examples=60)
@given(groups(min_n=1, max_n=60), st.sampled_from(TIES), st.sampled_from([2, 4, 8]))
def test_bucket_selection_matches_sorting(group, ties: str, buckets: int) -> None:
    rewards, probs, lo, hi = group
    sorted_z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    with pytest.MonkeyPatch.context() as patch:  # tiny buckets: several levels on small groups
        patch.setattr(grpovi, "BUCKET_MIN_N", 1)
        patch.setattr(grpovi, "BUCKETS", buckets)
        patch.setattr(grpovi, "BUCKET_SORT", 2)
        bucket_z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    p = normalised(probs, rewards.size)
    assert abs(float(p @ sorted_z**2) - float(p @ bucket_z**2)) <= 1e-12 * max(1.0, lo**2, hi**2)
    assert np.abs(sorted_z - bucket_z)[p > 0].max() <= 1e-9 * max(1.0, abs(lo), abs(hi))


def test_bucket_selection_on_a_large_clustered_group() -> None:
    rng = np.random.default_rng(3)
    n = 50_000
    rewards = np.where(rng.uniform(size=n) < 0.99, 0.5 + 1e-10 * rng.uniform(size=n), rng.uniform(size=n))
    probs = np.exp(rng.normal(scale=3.0, size=n))
    fast = adjust_rewards(rewards, probs, lo=0.0, hi=1.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grpovi, "BUCKET_MIN_N", n + 1)
        sorted_z = adjust_rewards(rewards, probs, lo=0.0, hi=1.0)
    np.testing.assert_allclose(fast, sorted_z, rtol=0, atol=1e-9)


def test_extreme_points_are_hi_prefix_one_value_lo_rest() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        inst = random_instance(rng, int(rng.integers(1, 30)))
        for ties in TIES:
            z = adjust_rewards(inst.rewards, inst.weights, lo=inst.lo, hi=inst.hi, ties=ties)
            inside = (z > inst.lo) & (z < inst.hi) & (inst.weights > 0)
            assert np.unique(z[inside]).size <= 1
            if ties == "split":
                assert inside.sum() <= 1


# --- VI-1: properties of the adjusted rewards ----------------------------------------------------------

@given(groups(max_n=12), st.sampled_from(TIES))
def test_mean_preserved(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    p = normalised(probs, rewards.size)
    z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    assert abs(float(p @ z - p @ rewards)) <= 1e-12 * max(1.0, abs(lo), abs(hi))


@given(groups(max_n=12), st.sampled_from(TIES))
def test_order_kept(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    assert order_kept(adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties), rewards, ties)


@given(groups(max_n=12), st.sampled_from(TIES))
def test_bounds_kept(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    assert z.min() >= lo and z.max() <= hi


@given(groups(max_n=12), st.sampled_from(TIES))
def test_variance_not_decreased(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    p = normalised(probs, rewards.size)
    z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    assert weighted_variance(z, p) >= weighted_variance(rewards, p) - 1e-12 * max(1.0, lo**2, hi**2)


@given(groups(max_n=12), st.sampled_from(TIES))
def test_adjusting_twice_changes_nothing(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    z = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    np.testing.assert_allclose(adjust_rewards(z, probs, lo=lo, hi=hi, ties=ties), z, rtol=0,
                               atol=TOL * max(1.0, abs(lo), abs(hi)))


@given(groups(max_n=12), st.sampled_from(TIES))
def test_batched_groups_equal_one_group_at_a_time(group, ties: str) -> None:
    rewards, probs, lo, hi = group
    rng = np.random.default_rng(rewards.size)
    batch = np.stack([rewards, rng.permutation(rewards), np.full_like(rewards, rewards[0])]).reshape(3, 1, -1)
    weights = None if probs is None else np.stack([probs, probs[::-1], probs]).reshape(3, 1, -1)
    z = adjust_rewards(batch, weights, lo=lo, hi=hi, ties=ties)
    assert z.shape == batch.shape
    for i in range(3):
        one = adjust_rewards(batch[i, 0], None if weights is None else weights[i, 0], lo=lo, hi=hi, ties=ties)
        np.testing.assert_array_equal(z[i, 0], one)


def test_ties_example_split_gives_one_one_zero_zero() -> None:
    """THEORY.md VI-2: all rewards 0.5, uniform p, n = 4 -> (1, 1, 0, 0) under the paper's model."""
    np.testing.assert_array_equal(adjust_rewards([0.5] * 4, lo=0.0, hi=1.0, ties="split"), [1.0, 1.0, 0.0, 0.0])
    _, objective = brute_force_adjust(np.full(4, 0.5), np.full(4, 0.25), 0.0, 1.0, "split")
    assert objective == pytest.approx(0.5)
    spurious = group_advantages(adjust_rewards([0.5] * 4, lo=0.0, hi=1.0, ties="split"), "grpo", "sample")
    assert np.abs(spurious).max() == pytest.approx(np.sqrt(0.75), abs=1e-5)  # GRPO would silence this group


@given(st.integers(1, 12), st.floats(0, 1), st.sampled_from([None, "random"]))
def test_keep_leaves_all_equal_groups_unchanged(n: int, value: float, weights: str | None) -> None:
    rewards = np.full(n, value)
    probs = None if weights is None else np.random.default_rng(n).uniform(0.1, 1, size=n)
    np.testing.assert_array_equal(adjust_rewards(rewards, probs, lo=0.0, hi=1.0, ties="keep"), rewards)


def test_split_breaks_equal_rewards_by_input_position() -> None:
    z = adjust_rewards([0.2, 0.6, 0.6, 0.6], lo=0.0, hi=1.0, ties="split")
    np.testing.assert_allclose(z, [0.0, 1.0, 1.0, 0.0])


# --- VI-4: rule-based rewards are a fixed point --------------------------------------------------------

@given(st.lists(st.booleans(), min_size=1, max_size=24), st.floats(-3, 3), st.floats(0.01, 5),
       st.sampled_from([0.0, 1.0, 30.0, 400.0]), st.integers(0, 2**16), st.sampled_from(TIES))
def test_binary_rewards_unchanged(pattern, lo: float, width: float, spread: float, seed: int, ties: str) -> None:
    hi = lo + width
    rewards = np.where(pattern, hi, lo)
    log_probs = spread * np.random.default_rng(seed).normal(size=rewards.size)  # 400 nats: exact-0 weights
    np.testing.assert_array_equal(adjust_rewards(rewards, lo=lo, hi=hi, ties=ties, log_probs=log_probs), rewards)


# --- BY-1: a no-op for 2-GRPO ---------------------------------------------------------------------------

@given(st.floats(0, 1), st.floats(0, 1), st.floats(0.001, 0.999), st.sampled_from(TIES),
       st.sampled_from(["sample", "population"]))
def test_two_grpo_advantages_unchanged_by_adjustment(a: float, b: float, p: float, ties: str, std: str) -> None:
    rewards = np.array([a, b])
    assume(not silent_groups(rewards))  # distinct beyond GRPO's equal-reward tolerance (BY-4)
    z = adjust_rewards(rewards, np.array([p, 1 - p]), lo=0.0, hi=1.0, ties=ties)
    c = 1.0 if std == "population" else 1 / np.sqrt(2.0)
    exact = c * np.sign(a - b) * np.array([1.0, -1.0])  # TT-3: the raw advantages, exactly
    condition = max(1.0, np.abs(z).max()) / abs(z[0] - z[1])  # rounding of a nearly equal pair's mean and std
    np.testing.assert_allclose(group_advantages(z, "grpo", std, 0.0), exact, rtol=0, atol=1e-13 * condition)


def test_equal_pair_gets_a_signal_under_split_only() -> None:
    split = adjust_rewards([0.3, 0.3], lo=0.0, hi=1.0, ties="split")
    keep = adjust_rewards([0.3, 0.3], lo=0.0, hi=1.0, ties="keep")
    np.testing.assert_allclose(split, [0.6, 0.0])
    assert np.all(group_advantages(keep, "grpo") == 0.0) and np.all(group_advantages(split, "grpo") != 0.0)


# --- weights ---------------------------------------------------------------------------------------------

@given(groups(min_n=2, max_n=8), st.lists(st.floats(1e-3, 1.0), min_size=8, max_size=8), st.floats(-700, 700),
       st.sampled_from(TIES))
def test_log_probs_give_the_weights_of_their_softmax(group, probs: list, shift: float, ties: str) -> None:
    rewards, _, lo, hi = group
    probs = np.array(probs[: rewards.size])
    from_probs = adjust_rewards(rewards, probs, lo=lo, hi=hi, ties=ties)
    from_logs = adjust_rewards(rewards, lo=lo, hi=hi, ties=ties, log_probs=np.log(probs) + shift)
    np.testing.assert_allclose(from_logs, from_probs, rtol=0, atol=1e-9 * max(1.0, abs(lo), abs(hi)))


def test_probs_are_renormalised_and_none_means_uniform() -> None:
    rewards = np.array([0.9, 0.4, 0.1, 0.4])
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(adjust_rewards(rewards, probs * 1e-30, lo=0, hi=1),
                                  adjust_rewards(rewards, probs / probs.sum(), lo=0, hi=1))
    np.testing.assert_array_equal(adjust_rewards(rewards, lo=0, hi=1), adjust_rewards(rewards, np.ones(4), lo=0, hi=1))


def test_log_probs_hundreds_of_nats_apart_give_finite_weights() -> None:
    weights = group_weights((3,), None, np.array([-1000.0, -20.0, -2000.0]))
    assert np.all(np.isfinite(weights)) and weights[1] == 1.0 and weights[0] == weights[2] == 0.0


def test_same_seed_same_instances() -> None:
    a = random_instance(np.random.default_rng(7), 5)
    b = random_instance(np.random.default_rng(7), 5)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    np.testing.assert_array_equal(a.weights, b.weights)


# --- bad input -------------------------------------------------------------------------------------------

BAD_INPUTS = [
    ({"rewards": [0.5], "lo": 1.0, "hi": 1.0}, "lo=1.0, hi=1.0"),
    ({"rewards": [0.5], "lo": 1.0, "hi": 0.0}, "lo=1.0, hi=0.0"),
    ({"rewards": [0.5], "lo": float("nan"), "hi": 1.0}, "lo=nan"),
    ({"rewards": [0.5, 1.5], "lo": 0.0, "hi": 1.0}, "rewards contains 1.5"),
    ({"rewards": [-0.1], "lo": 0.0, "hi": 1.0}, "rewards contains -0.1"),
    ({"rewards": [0.5, float("nan")], "lo": 0.0, "hi": 1.0}, "rewards contains nan"),
    ({"rewards": [0.5, float("inf")], "lo": 0.0, "hi": 1.0}, "rewards contains inf"),
    ({"rewards": [], "lo": 0.0, "hi": 1.0}, "rewards has shape"),
    ({"rewards": [0.5, 0.2], "probs": [0.5, -0.1], "lo": 0.0, "hi": 1.0}, "probs contains -0.1"),
    ({"rewards": [[0.5, 0.2], [0.1, 0.3]], "probs": [[1, 1], [0, 0]], "lo": 0.0, "hi": 1.0},
     r"probs of group \(1,\) are all 0"),
    ({"rewards": [0.5, 0.2], "probs": [0.5, float("nan")], "lo": 0.0, "hi": 1.0}, "probs contains nan"),
    ({"rewards": [0.5, 0.2], "probs": [0.5, 0.2, 0.3], "lo": 0.0, "hi": 1.0}, "probs has shape"),
    ({"rewards": [0.5, 0.2], "log_probs": [[0.5, 0.2]], "lo": 0.0, "hi": 1.0}, "log_probs has shape"),
    ({"rewards": [0.5, 0.2], "log_probs": [0.0, float("nan")], "lo": 0.0, "hi": 1.0}, "log_probs contains nan"),
    ({"rewards": [0.5, 0.2], "probs": [1, 1], "log_probs": [0, 0], "lo": 0.0, "hi": 1.0}, "both given"),
    ({"rewards": [0.5, 0.2], "lo": 0.0, "hi": 1.0, "ties": "merge"}, "ties='merge' is not allowed"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_INPUTS)
def test_bad_input_raises_value_error(kwargs: dict, match: str) -> None:
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        adjust_rewards(kwargs.pop("rewards"), **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [case for case in BAD_INPUTS if np.ndim(case[0]["rewards"]) == 1])
def test_bad_input_to_the_reference_raises_value_error(kwargs: dict, match: str) -> None:
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        adjust_rewards_reference(kwargs.pop("rewards"), **kwargs)


def test_reference_takes_one_group_and_brute_force_small_n() -> None:
    with pytest.raises(ValueError, match="rewards has shape"):
        adjust_rewards_reference([[0.5, 0.2]], lo=0.0, hi=1.0)
    with pytest.raises(ValueError, match="n=7"):
        brute_force_adjust(np.zeros(7), np.ones(7), 0.0, 1.0, "split")


# --- the estimator and the producer ----------------------------------------------------------------------

@given(st.lists(st.lists(st.sampled_from([0.0, 0.25, 0.7, 1.0]), min_size=4, max_size=4), min_size=1, max_size=5),
       st.sampled_from(TIES))
def test_grpovi_estimator_is_grpo_on_adjusted_rewards(rewards, ties: str) -> None:
    rewards = np.array(rewards)
    log_probs = np.random.default_rng(len(rewards)).normal(scale=20, size=rewards.shape)
    advantages = compute_advantages(rewards, "grpovi", reward_range=(0.0, 1.0), ref_log_probs=log_probs, ties=ties)
    adjusted = adjust_rewards(rewards, lo=0.0, hi=1.0, ties=ties, log_probs=log_probs)
    np.testing.assert_array_equal(advantages, group_advantages(adjusted, "grpo"))


def test_grpovi_estimator_on_binary_rewards_is_grpo() -> None:
    rewards = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(compute_advantages(rewards, "grpovi", reward_range=(0.0, 1.0)),
                                  compute_advantages(rewards, "grpo"))
    with pytest.raises(ValueError, match="reward_range"):
        compute_advantages(rewards, "grpovi")


CHECKS = {"vi1_vi2.json": check_vi1_vi2, "vi4.json": check_vi4, "by1.json": check_by1}


def run_checks(ctx: RunContext) -> list:
    return [e for check in CHECKS.values() for e in check(ctx)]


def test_checks_pass_and_each_writes_its_own_json(tmp_path) -> None:
    evidence = run_checks(RunContext("smoke", tmp_path, seed=0))
    assert [e.claim_id for e in evidence] == ["VI-1", "VI-2", "VI-4", "BY-1"]
    artefacts = {"VI-1": "grpovi/vi1_vi2.json", "VI-2": "grpovi/vi1_vi2.json", "VI-4": "grpovi/vi4.json",
                 "BY-1": "grpovi/by1.json"}
    for e in evidence:
        assert e.verdict == Verdict.HOLDS and all(e.checks.values()), (e.claim_id, e.reason)
        assert e.artefacts == (artefacts[e.claim_id],) and e.method == "exact"
        assert e.command == "" and e.seconds == 0.0  # the runner fills both
        json.dumps(e.numbers, allow_nan=False)
    for name in CHECKS:
        assert json.loads((tmp_path / "grpovi" / name).read_text())["seed"] == 0


def test_checks_same_seed_same_numbers(tmp_path) -> None:
    ctx = RunContext("smoke", tmp_path, seed=3, claim_ids=frozenset({"VI-4", "BY-1"}))
    first, second = run_checks(ctx), run_checks(ctx)
    assert [e.claim_id for e in first] == ["VI-4", "BY-1"]
    assert [e.numbers for e in first] == [e.numbers for e in second]
    assert not (tmp_path / "grpovi" / "vi1_vi2.json").exists()


def test_vi1_vi2_check_returns_only_the_claims_asked_with_the_same_numbers(tmp_path) -> None:
    both = check_vi1_vi2(RunContext("smoke", tmp_path / "both", seed=1))
    only_vi2 = check_vi1_vi2(RunContext("smoke", tmp_path / "vi2", seed=1, claim_ids=frozenset({"VI-2", "BY-1"})))
    assert [e.claim_id for e in both] == ["VI-1", "VI-2"]
    assert [e.claim_id for e in only_vi2] == ["VI-2"]
    assert only_vi2[0].numbers == both[1].numbers
    assert check_vi1_vi2(RunContext("smoke", tmp_path / "none", seed=1, claim_ids=frozenset({"VI-4"}))) == []
    assert not (tmp_path / "none").exists()


def test_by1_gives_the_same_numbers_alone_as_after_its_neighbours(tmp_path) -> None:
    alone = check_by1(RunContext("smoke", tmp_path / "alone", seed=2, claim_ids=frozenset({"BY-1"})))
    beside = run_checks(RunContext("smoke", tmp_path / "all", seed=2))
    assert alone[0].numbers == next(e for e in beside if e.claim_id == "BY-1").numbers
