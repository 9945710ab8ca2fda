"""Environments of simulations/ (issue 5): exact gradients against finite differences, scores against
finite differences of log pi, pass rates set as asked, parameters updatable, bad input rejected."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.environments import (
    PASS_RATE_DISTRIBUTIONS,
    AutoregressivePolicy,
    Environment,
    SoftmaxBandit,
    make_environment,
    pass_rate_quantiles,
)

KINDS = [("bandit", {}), ("log-linear", {}), ("autoregressive", {"vocab": 3, "length": 3})]


def small(kind: str, options: dict, rewards: str = "binary", distribution: str = "uniform", P: int = 6) -> Environment:
    return make_environment(kind, distribution, num_prompts=P, rewards=rewards, seed=3, **options)


def scores_by_direction(env: Environment) -> np.ndarray:
    """s(q, o) for every (q, o) as direction() of one-hot outcome weights, shape (P, O, D)."""
    P, n_out = env.num_prompts, env.num_outcomes
    return env.direction(np.eye(P * n_out).reshape(P * n_out, P, n_out)).reshape(P, n_out, env.dim)


@pytest.mark.parametrize("rewards", ["binary", "continuous"])
@pytest.mark.parametrize(("kind", "options"), KINDS)
def test_true_gradient_matches_finite_differences(kind: str, options: dict, rewards: str) -> None:
    env = small(kind, options, rewards)
    rng = np.random.default_rng(0)
    theta = env.params + 0.3 * rng.standard_normal(env.dim)  # away from the constructed start
    env.set_params(theta)
    probe = env.copy()
    for _ in range(3):
        v = rng.standard_normal(env.dim)
        h = 1e-5
        probe.set_params(theta + h * v)
        up = probe.objective()
        probe.set_params(theta - h * v)
        down = probe.objective()
        assert env.true_gradient() @ v == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize(("kind", "options"), KINDS)
def test_scores_are_gradients_of_log_probs(kind: str, options: dict) -> None:
    env = small(kind, options, P=3)
    scores = scores_by_direction(env)
    v = np.random.default_rng(1).standard_normal(env.dim)
    probe, h = env.copy(), 1e-5
    probe.set_params(env.params + h * v)
    up = probe.log_probs().copy()
    probe.set_params(env.params - h * v)
    fd = (up - probe.log_probs()) / (2 * h)
    np.testing.assert_allclose(scores @ v, fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("kind", "options"), KINDS)
def test_gram_is_inner_products_of_scores(kind: str, options: dict) -> None:
    env = small(kind, options, P=3)
    scores = scores_by_direction(env)
    np.testing.assert_allclose(env.gram(), np.einsum("qod,qed->qoe", scores, scores), atol=1e-12)
    np.testing.assert_allclose(env.score_sq_norms(), np.einsum("qod,qod->qo", scores, scores), atol=1e-12)


def test_autoregressive_gather_equals_outcome_weight_route() -> None:
    env = small("autoregressive", {"vocab": 3, "length": 3})
    rng = np.random.default_rng(2)
    prompts = rng.integers(env.num_prompts, size=(4, 5))
    outcomes = rng.integers(env.num_outcomes, size=(4, 5, 3))
    coeffs = rng.standard_normal((4, 5, 3))
    gathered = env.rollout_direction(prompts, outcomes, coeffs)
    np.testing.assert_allclose(gathered, Environment.rollout_direction(env, prompts, outcomes, coeffs), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.001, 0.999), min_size=1, max_size=6), st.sampled_from(["bandit", "log-linear"]),
       st.integers(1, 3))
def test_initial_pass_rates_equal_targets(targets: list[float], kind: str, num_correct: int) -> None:
    env = make_environment(kind, np.array(targets), seed=1, num_answers=4, num_correct=num_correct)
    np.testing.assert_allclose(env.pass_rates(), targets, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("distribution", sorted(PASS_RATE_DISTRIBUTIONS))
def test_autoregressive_pass_rates_follow_distribution(distribution: str) -> None:
    env = make_environment("autoregressive", distribution, num_prompts=5, seed=0, vocab=3, length=4)
    np.testing.assert_allclose(env.pass_rates(), pass_rate_quantiles(distribution, 5), rtol=1e-8, atol=1e-12)


def test_pass_rate_quantiles_follow_beta_means() -> None:
    for name, (a, b) in PASS_RATE_DISTRIBUTIONS.items():
        p = pass_rate_quantiles(name, 4000)
        assert np.all((p > 0) & (p < 1))
        assert p.mean() == pytest.approx(a / (a + b), abs=2e-3)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 5), st.integers(1, 4), st.integers(0, 10_000))
def test_probabilities_sum_to_one(K: int, P: int, seed: int) -> None:
    env = make_environment("bandit", "u-shaped", num_prompts=P, num_answers=K, seed=seed)
    np.testing.assert_allclose(env.probs().sum(axis=1), 1.0, atol=1e-12)


def test_step_is_gradient_ascent_and_copy_is_independent() -> None:
    env = small("log-linear", {})
    before, start = env.objective(), env.params
    clone = env.copy()
    g = env.true_gradient()
    env.step(g, 0.5)
    np.testing.assert_allclose(env.params, start + 0.5 * g)
    assert env.objective() > before
    np.testing.assert_array_equal(clone.params, start)


def test_from_probs_keeps_probabilities_and_correct_sets() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    correct = np.array([[True, False, False], [False, True, True]])
    env = SoftmaxBandit.from_probs(probs, correct)
    np.testing.assert_allclose(env.probs(), probs)
    np.testing.assert_allclose(env.pass_rates(), [0.5, 0.9])


def test_reset_reference_follows_the_policy() -> None:
    env = small("bandit", {})
    env.step(env.true_gradient(), 1.0)
    assert not np.allclose(env.ref_log_probs, env.log_probs())
    env.reset_reference()
    np.testing.assert_array_equal(env.ref_log_probs, env.log_probs())


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: make_environment("tree"), "kind"),
        (lambda: make_environment("bandit", "flat"), "distribution"),
        (lambda: make_environment("bandit", np.array([0.0, 0.5])), r"^distribution=array\(\[0\. , 0\.5\]\) must be"),
        (lambda: make_environment("bandit", [0.5, float("nan")]), r"^distribution=\[0\.5, nan\] must be .* in the open "
                                                                  r"interval \(0, 1\)"),
        (lambda: make_environment("bandit", None), r"^distribution=None must be an array of real numbers"),
        (lambda: make_environment("bandit", seed=-1), r"^seed=-1 must be an integer >= 0$"),
        (lambda: make_environment("bandit", seed=1.5), r"^seed=1\.5 must be an integer >= 0$"),
        (lambda: make_environment("bandit", rewards="ordinal"), "rewards"),
        (lambda: make_environment("bandit", num_prompts=0), "num_prompts"),
        (lambda: make_environment("bandit", num_answers=1), "num_answers"),
        (lambda: make_environment("bandit", num_answers=3, num_correct=3), "num_correct"),
        (lambda: make_environment("autoregressive", vocab=5), "vocab"),
        (lambda: make_environment("autoregressive", length=7), "length"),
        (lambda: SoftmaxBandit(np.zeros((2, 2)), np.full((2, 2), 1.5)), "reward"),
        (lambda: SoftmaxBandit.from_probs([[1.0, 0.0]], [[True, False]]), "probs"),
        (lambda: small("bandit", {}).set_params(np.zeros(3)), "theta"),
        (lambda: small("bandit", {}).step(np.zeros(24), float("nan")), "lr"),
        (lambda: AutoregressivePolicy(3, 2, np.zeros((2, 1)), [0, 3], np.zeros(2), np.zeros((2, 4, 3)),
                                      np.zeros((3, 1)), 1), "answer_tokens"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()
