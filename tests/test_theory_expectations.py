"""Exact expectations (TT-4, TT-8, BY-2) against enumeration and Monte Carlo; contrastive forms (TT-1, TT-2)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.exact.enumeration import brute_force_expected_advantage
from theory.advantages import group_advantages
from theory.contrastive import (
    binary_contrastive_weights,
    contrastive_split,
    contrastive_update,
    dpo_pair_weight,
    group_update,
)
from theory.expectations import (
    binary_group_advantage,
    binomial_pmf,
    expected_advantage,
    expected_pair_advantage,
    gradient_scale,
    limit_expected_advantage,
    silent_group_probability,
    two_grpo_scale,
)

probabilities = st.floats(0.0, 1.0)
estimator_std = st.sampled_from([("grpo", "sample"), ("grpo", "population"), ("rloo", "sample"), ("dr_grpo", "sample")])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), probabilities, st.sampled_from([0, 1]), estimator_std, st.sampled_from([0.0, 1e-4]))
def test_expected_advantage_equals_enumeration(G: int, p: float, reward: int, est_std: tuple, eps: float) -> None:
    estimator, std = est_std
    exact = float(expected_advantage(G, p, reward, estimator, std, eps))
    assert exact == pytest.approx(brute_force_expected_advantage(G, p, reward, estimator, std, eps), abs=1e-12)


@pytest.mark.parametrize(("G", "p"), [(2, 0.3), (4, 0.1), (8, 0.5), (16, 0.8)])
def test_expected_advantage_matches_monte_carlo(G: int, p: float) -> None:
    rng = np.random.default_rng(1234)
    n = 400_000
    rewards = (rng.random((n, G)) < p).astype(float)
    a = group_advantages(rewards, "grpo", "sample", eps=0.0)[:, 0]
    for reward in (0, 1):
        chosen = a[rewards[:, 0] == reward]
        standard_error = chosen.std() / np.sqrt(chosen.size)
        exact = float(expected_advantage(G, p, reward, "grpo", "sample"))
        assert abs(chosen.mean() - exact) < 4 * standard_error + 1e-12


@given(st.lists(probabilities, min_size=1, max_size=20), st.sampled_from(["sample", "population"]))
def test_lambda_2_is_constant_in_p(ps: list[float], std: str) -> None:
    assert np.allclose(gradient_scale(2, ps, std=std), two_grpo_scale(std))


@given(st.lists(probabilities, min_size=1, max_size=10), st.sampled_from(["sample", "population"]),
       st.sampled_from([0, 1]), st.floats(0, 0.5))
def test_two_grpo_is_unbiased_up_to_c(ps: list[float], std: str, reward: int, eps: float) -> None:
    p = np.array(ps)
    assert np.allclose(expected_advantage(2, p, reward, "grpo", std, eps), two_grpo_scale(std, eps) * (reward - p))


@given(st.integers(2, 24), st.floats(0.0, 1.0))
def test_lambda_G_is_symmetric_in_p(G: int, p: float) -> None:
    assert gradient_scale(G, p) == pytest.approx(float(gradient_scale(G, 1 - p)), abs=1e-9)


def test_lambda_4_depends_on_p_and_lambda_3_does_not() -> None:
    grid = np.linspace(0.05, 0.95, 19)
    assert np.ptp(gradient_scale(4, grid, std="population")) > 0.05
    assert np.allclose(gradient_scale(3, grid, std="population"), np.sqrt(2))


def test_lambda_16_values_of_theory_md() -> None:
    assert gradient_scale(16, [0.5, 0.05], std="population") == pytest.approx([1.93, 3.27], abs=5e-3)


def test_limit_is_approached_as_G_grows() -> None:
    p = np.array([0.2, 0.5, 0.9])
    gaps = [np.abs(expected_advantage(G, p, 1, "grpo", "population") - limit_expected_advantage(p, 1)).max()
            for G in (8, 32, 128, 512)]
    assert all(b < a for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 0.02


@given(st.integers(2, 40), probabilities)
def test_silent_group_probability_matches_exact_rationals(G: int, p: float) -> None:
    exact = Fraction(p) ** G + (1 - Fraction(p)) ** G
    assert silent_group_probability(G, p) == pytest.approx(float(exact), abs=1e-12)


@settings(max_examples=30)
@given(st.lists(st.integers(-500, 500).map(lambda i: i / 100), min_size=2, max_size=6, unique=True),
       st.integers(0, 2**31 - 1),
       st.sampled_from(["sample", "population"]))
def test_pair_advantage_is_self_win_rate(values: list[float], seed: int, std: str) -> None:
    v = np.array(values)
    probs = np.random.default_rng(seed).dirichlet(np.ones(v.size))
    for r in v:
        win_rate = probs[v < r].sum() - probs[v > r].sum()
        assert expected_pair_advantage(v, probs, r, std) == pytest.approx(two_grpo_scale(std) * win_rate, abs=1e-12)


@settings(max_examples=30)
@given(st.integers(2, 10), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_group_update_equals_contrastive_form(G: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rewards = rng.integers(0, 3, size=(n, G)).astype(float)
    scores = rng.normal(size=(n, G, 4))
    a = group_advantages(rewards, "grpo", "sample")
    split = contrastive_split(a)
    assert np.allclose(split.positive.sum(-1), split.negative.sum(-1))
    assert np.allclose(group_update(a, scores), contrastive_update(a, scores))


@pytest.mark.parametrize("std", ["population", "sample"])
def test_binary_contrastive_weights_match_the_estimator(std: str) -> None:
    for G in range(2, 12):
        for k in range(1, G):
            a = group_advantages((np.arange(G) < k).astype(float), "grpo", std, eps=0.0)
            a_plus, a_minus, _ = binary_contrastive_weights(k, G, std)
            assert a[0] == pytest.approx(a_plus) and a[-1] == pytest.approx(a_minus)


def test_dpo_pair_weight_is_beta_sigmoid_of_reversed_margin() -> None:
    w = dpo_pair_weight(np.array([0.0, 2.0]), np.array([0.0, -1.0]), 0.5)
    assert w == pytest.approx([0.25, 0.5 / (1 + np.exp(1.5))])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: expected_advantage(1, 0.5, 1), "G=1 must be an integer >= 2"),
        (lambda: expected_advantage(2.5, 0.5, 1), "G=2.5 must be an integer >= 2"),
        (lambda: expected_advantage(4, 1.5, 1), r"p=1.5 must lie in \[0, 1\]"),
        (lambda: expected_advantage(4, np.nan, 1), r"p=nan must lie in \[0, 1\]"),
        (lambda: expected_advantage(4, 0.5, 2), "reward=2 must be 0 or 1"),
        (lambda: expected_advantage(4, 0.5, 1, "grpo_batch_std"), "estimator='grpo_batch_std' is not allowed"),
        (lambda: expected_advantage(4, 0.5, 1, std="bessel"), "std='bessel' is not allowed"),
        (lambda: expected_advantage(4, 0.5, 1, eps=-1.0), "eps=-1.0 must be a finite number >= 0"),
        (lambda: silent_group_probability(1, 0.5), "G=1 must be an integer >= 2"),
        (lambda: expected_pair_advantage([0, 1], [0.5, 0.6], 0.0), "probs must sum to 1"),
        (lambda: expected_pair_advantage([0, 1], [0.5, 0.5, 0.0], 0.0), "must match values"),
        (lambda: limit_expected_advantage(0.0, 1), r"open interval \(0, 1\)"),
        (lambda: binary_contrastive_weights(0, 4), "k=0 must be an integer with 0 < k < G=4"),
        (lambda: dpo_pair_weight(0.0, 0.0, -1.0), "beta=-1.0 must be a finite number >= 0"),
    ],
)
def test_bad_input_names_the_argument(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --- values by hand (issue 18): closed forms from explicit enumeration, written out here -----------------

S2, S3 = np.sqrt(2), np.sqrt(3)


def test_binomial_pmf_by_hand() -> None:
    assert binomial_pmf(3, np.array(0.2)) == pytest.approx([0.512, 0.384, 0.096, 0.008], rel=1e-12)
    assert binomial_pmf(2, np.array([0.0, 1.0])).tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize(("reward", "std", "expected"), [
    # r_1 = 1 with k = 0, 1, 2 partner successes: (1,0,0) -> (2/3)/sd, (1,1,0) -> (1/3)/sd, (1,1,1) silent
    (1, "population", [S2, 1 / S2, 0.0]),   # population sd of (1,0,0) is sqrt(2)/3
    (1, "sample", [2 / S3, 1 / S3, 0.0]),   # sample sd is 1/sqrt(3)
    (0, "population", [0.0, -1 / S2, -S2]),
    (0, "sample", [0.0, -1 / S3, -2 / S3]),
])
def test_binary_group_advantage_G3_by_hand(reward: int, std: str, expected: list) -> None:
    assert binary_group_advantage(3, reward, "grpo", std) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_binary_group_advantage_G4_population_by_hand() -> None:
    """(1,0,0,0) -> sqrt 3, (1,1,0,0) -> 1, (1,1,1,0) -> 1/sqrt 3, (1,1,1,1) -> 0."""
    assert binary_group_advantage(4, 1, "grpo", "population") == pytest.approx([S3, 1.0, 1 / S3, 0.0], rel=1e-12)


def _enumerated_G3(p: float, reward: int, std: str) -> float:
    """E[A_1 | r_1] for G = 3 by listing the four partner outcomes (r_2, r_3) with their probabilities."""
    total = 0.0
    for r2, r3 in itertools.product((0, 1), repeat=2):
        prob = (p if r2 else 1 - p) * (p if r3 else 1 - p)
        group = np.array([reward, r2, r3], dtype=float)
        sd = group.std(ddof=1 if std == "sample" else 0)
        total += prob * (0.0 if sd == 0 else (reward - group.mean()) / sd)
    return total


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("std", ["sample", "population"])
def test_expected_advantage_G3_by_enumeration_and_closed_form(p: float, std: str) -> None:
    """E[A | 1] = c (1 - p), E[A | 0] = -c p, lambda_3 = c: c = sqrt 2 (population), 2/sqrt 3 (sample)."""
    c = S2 if std == "population" else 2 / S3
    for reward, closed in ((1, c * (1 - p)), (0, -c * p)):
        value = float(expected_advantage(3, p, reward, "grpo", std))
        assert value == pytest.approx(_enumerated_G3(p, reward, std), abs=1e-12)
        assert value == pytest.approx(closed, abs=1e-12)
    assert float(gradient_scale(3, p, std=std)) == pytest.approx(c, rel=1e-12)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_lambda_4_population_closed_form(p: float) -> None:
    """From the four outcomes of the three partners (values of test_binary_group_advantage_G4...):
    E[A|1] = (1-p)^3 sqrt3 + 3p(1-p)^2 + 3p^2(1-p)/sqrt3, E[A|0] = -(3p(1-p)^2/sqrt3 + 3p^2(1-p) + p^3 sqrt3)."""
    q = 1 - p
    e1 = q**3 * S3 + 3 * p * q**2 + 3 * p**2 * q / S3
    e0 = -(3 * p * q**2 / S3 + 3 * p**2 * q + p**3 * S3)
    assert float(expected_advantage(4, p, 1, "grpo", "population")) == pytest.approx(e1, rel=1e-12)
    assert float(expected_advantage(4, p, 0, "grpo", "population")) == pytest.approx(e0, rel=1e-12)
    assert float(gradient_scale(4, p, "grpo", "population")) == pytest.approx(e1 - e0, rel=1e-12)
    assert float(gradient_scale(4, 0.5, "grpo", "population")) == pytest.approx((3 + 2 * S3) / 4, rel=1e-12)


@pytest.mark.parametrize("G", [2, 3, 5])
@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_rloo_is_unbiased_and_dr_grpo_shrinks_by_G_minus_1_over_G(G: int, p: float) -> None:
    for reward in (0, 1):
        assert float(expected_advantage(G, p, reward, "rloo")) == pytest.approx(reward - p, abs=1e-12)
        dr_grpo = float(expected_advantage(G, p, reward, "dr_grpo"))
        assert dr_grpo == pytest.approx((G - 1) / G * (reward - p), abs=1e-12)
    assert float(gradient_scale(G, p, "rloo")) == pytest.approx(1.0, rel=1e-12)


def test_expected_advantage_defaults_are_grpo_sample_eps_0() -> None:
    assert float(expected_advantage(3, 0.3, 1)) == pytest.approx(2 / S3 * 0.7, rel=1e-12)
    assert float(gradient_scale(3, 0.3)) == pytest.approx(2 / S3, rel=1e-12)


def test_eps_enters_the_expectation() -> None:
    """G = 2, population: the pair (1, 0) has sd 1/2, so A_1 = (1/2) / (1/2 + eps) and E[A|1] = that times (1-p)."""
    for eps in (0.0, 0.25):
        assert float(expected_advantage(2, 0.4, 1, "grpo", "population", eps)) == pytest.approx(
            0.6 * 0.5 / (0.5 + eps), rel=1e-12)
        assert float(gradient_scale(2, 0.4, "grpo", "population", eps)) == pytest.approx(0.5 / (0.5 + eps), rel=1e-12)


def test_two_grpo_scale_by_hand() -> None:
    assert two_grpo_scale() == pytest.approx(1 / S2, rel=1e-15)  # default: sample std, eps 0
    assert two_grpo_scale("population") == 1.0
    assert two_grpo_scale("sample", 0.1) == pytest.approx(0.5 / (np.sqrt(0.5) + 0.1), rel=1e-15)
    assert two_grpo_scale("population", 0.5) == 0.5


def test_limit_and_silent_probability_by_hand() -> None:
    assert limit_expected_advantage(0.2, 1) == pytest.approx(2.0, rel=1e-15)  # 0.8 / 0.4
    assert limit_expected_advantage(0.2, 0) == pytest.approx(-0.5, rel=1e-15)  # -0.2 / 0.4
    assert limit_expected_advantage([0.2, 0.5], [1, 0]) == pytest.approx([2.0, -1.0], rel=1e-15)
    with pytest.raises(ValueError, match=r"p must lie in the open interval \(0, 1\)"):
        limit_expected_advantage(1.0, 1)
    assert silent_group_probability(3, 0.2) == pytest.approx(0.52, rel=1e-15)  # 0.008 + 0.512
    assert silent_group_probability(2, [0.0, 0.5]) == pytest.approx([1.0, 0.5], rel=1e-15)


def test_pair_advantage_by_hand() -> None:
    """Partner values (0, 1, 2) with (0.2, 0.3, 0.5), own reward 1: win 0.2, loss 0.5, tie 0.3 (silent)."""
    values, probs = [0.0, 1.0, 2.0], [0.2, 0.3, 0.5]
    assert expected_pair_advantage(values, probs, 1.0, "population") == pytest.approx(-0.3, rel=1e-12)
    assert expected_pair_advantage(values, probs, 1.0) == pytest.approx(-0.3 / S2, rel=1e-12)  # default sample
    assert expected_pair_advantage(values, probs, 1.0, "population", 0.5) == pytest.approx(-0.15, rel=1e-12)
    assert expected_pair_advantage(values, probs, 2.0, "population") == pytest.approx(0.5, rel=1e-12)


def test_binary_group_advantage_rejects_bad_reward_and_estimator() -> None:
    with pytest.raises(ValueError, match=r"reward=0\.5 must be 0 or 1 for Bernoulli rewards"):
        binary_group_advantage(3, 0.5)
    with pytest.raises(ValueError, match=r"'grpo_batch_std' is not allowed; choose one of grpo, dr_grpo, rloo$"):
        binary_group_advantage(3, 1, "grpo_batch_std")
    with pytest.raises(ValueError, match="G=1 must be an integer >= 2"):
        binary_group_advantage(1, 1)
