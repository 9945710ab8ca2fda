"""The Monte Carlo engine (issue 5): exact moments against brute-force enumeration of ordered groups,
Monte Carlo against the exact moments, the sufficient-statistics and per-rollout paths against each
other, the binary kernels against the binomial law, seeds, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom, chisquare, ks_2samp

from simulations.engine import (
    BinomialSampler,
    BlockSums,
    UpdateRule,
    alias_tables,
    batch_updates,
    binary_advantage_table,
    binary_bandit_statistics,
    binary_success_counts,
    binary_update_coefficients,
    compositions,
    dpo_pair_advantages,
    exact_group_moments,
    exact_update_statistics,
    expected_update_weights,
    rule_advantages,
    sample_rollouts,
    simulate_update_statistics,
)
from simulations.environments import Environment, make_environment
from theory.advantages import group_advantages
from theory.contrastive import dpo_pair_weight
from theory.estimators import compute_advantages

RULES = [UpdateRule("grpo"), UpdateRule("grpo", std="population", eps=0.0), UpdateRule("dr_grpo"),
         UpdateRule("rloo"), UpdateRule("dpo", beta=0.5), UpdateRule("grpovi")]


def tilted(env: Environment, seed: int = 5) -> Environment:
    """env moved away from its reference, so that DPO's log-ratios are not all zero."""
    env.step(np.random.default_rng(seed).standard_normal(env.dim), 0.3)
    return env


def brute_force_moments(env: Environment, G: int, rule: UpdateRule) -> tuple[np.ndarray, np.ndarray]:
    """E W and E W W^T (outcome space) by enumerating all O^G ordered groups of every prompt."""
    P, n_out = env.num_prompts, env.num_outcomes
    groups = np.array(list(itertools.product(range(n_out), repeat=G)))  # (O^G, G)
    mean, second = np.zeros((P, n_out)), np.zeros((P, n_out, n_out))
    for q in range(P):
        prob = np.exp(env.log_probs()[q][groups].sum(axis=1))
        adv = rule_advantages(rule, env.rewards[q][groups],
                              log_ratios=(env.log_probs() - env.ref_log_probs)[q][groups],
                              ref_log_probs=env.ref_log_probs[q][groups])
        W = np.einsum("ng,ngo->no", adv, np.eye(n_out)[groups]) / G
        mean[q] = prob @ W
        second[q] = np.einsum("n,no,ne->oe", prob, W, W)
    return mean, second


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.label)
@pytest.mark.parametrize("rewards", ["binary", "continuous"])
def test_exact_moments_equal_brute_force_enumeration(rule: UpdateRule, rewards: str) -> None:
    env = tilted(make_environment("bandit", "uniform", num_prompts=2, num_answers=3, rewards=rewards, seed=1))
    moments = exact_group_moments(env, 3, rule)
    mean, second = brute_force_moments(env, 3, rule)
    np.testing.assert_allclose(moments.mean, mean, atol=1e-12)
    np.testing.assert_allclose(moments.second, second, atol=1e-12)
    np.testing.assert_allclose(moments.positive_mean - moments.negative_mean, moments.mean, atol=1e-12)


@pytest.mark.parametrize("G", [2, 3, 5])
@pytest.mark.parametrize("rule", RULES[:4], ids=lambda r: r.label)
def test_expected_update_weights_equal_enumeration(G: int, rule: UpdateRule) -> None:
    env = make_environment("log-linear", "u-shaped", num_prompts=4, seed=2)
    exact = exact_group_moments(env, G, rule).mean
    np.testing.assert_allclose(expected_update_weights(env, G, rule), exact, atol=1e-12)


def test_two_grpo_expected_update_is_c_times_true_gradient() -> None:
    env = make_environment("bandit", "hard", num_prompts=8, seed=4)
    rule = UpdateRule("grpo", std="population", eps=0.0)
    stats = exact_update_statistics(env, 4, exact_group_moments(env, 2, rule), rule)
    np.testing.assert_allclose(stats.mean, env.true_gradient(), atol=1e-14)  # c = 1 (TT-4)


@pytest.mark.parametrize(("kind", "rewards", "rule"), [
    ("bandit", "binary", UpdateRule("grpo")),
    ("log-linear", "binary", UpdateRule("rloo")),
    ("bandit", "continuous", UpdateRule("dpo", beta=1.0)),
    ("log-linear", "continuous", UpdateRule("grpo", std="population")),
])
def test_monte_carlo_matches_exact_moments(kind: str, rewards: str, rule: UpdateRule) -> None:
    env = tilted(make_environment(kind, "uniform", num_prompts=6, rewards=rewards, seed=7))
    exact = exact_update_statistics(env, 3, exact_group_moments(env, 4, rule), rule)
    mc = simulate_update_statistics(env, 4, 3, rule, trials=6000, seed=11)
    for name in ("trace_cov", "snr", "cosine", "silent_fraction", "rollout_variance", "iid_ratio"):
        assert abs(mc[name].value - exact[name].value) <= 4 * mc[name].se + 1e-12, name
    # ||mean_mc - mu||^2 has expectation tr Cov / trials
    assert np.sum((mc.mean - exact.mean) ** 2) <= 4 * exact["trace_cov"].value / 6000


def test_exact_decomposition_adds_up_to_the_trace() -> None:
    env = make_environment("log-linear", "easy", num_prompts=5, seed=3)
    rule = UpdateRule("grpo")
    for G in (2, 4):
        stats = exact_update_statistics(env, 8, exact_group_moments(env, G, rule), rule)
        assert sum(stats.decomposition.values()) == pytest.approx(stats["trace_cov"].value, rel=1e-10)


def test_stats_and_rollout_paths_agree_in_distribution() -> None:
    env = make_environment("bandit", "u-shaped", num_prompts=5, seed=8)
    rule = UpdateRule("grpo")
    probe = np.random.default_rng(0).standard_normal(env.dim)
    a = batch_updates(env, 4, rule, np.random.default_rng(1), Q=3, trials=4000, path="stats")
    b = batch_updates(env, 4, rule, np.random.default_rng(2), Q=3, trials=4000, path="rollout")
    # the laws have atoms that the two paths round differently in the last bits: compare at 10 digits
    assert ks_2samp(np.round(a.updates @ probe, 10), np.round(b.updates @ probe, 10)).pvalue > 1e-3
    assert ks_2samp(np.round(a.rollout_sq_norm, 10), np.round(b.rollout_sq_norm, 10)).pvalue > 1e-3
    assert abs(a.silent_fraction.mean() - b.silent_fraction.mean()) < 4 * np.sqrt(2 * a.silent_fraction.var() / 4000)
    exact = exact_update_statistics(env, 3, exact_group_moments(env, 4, rule), rule)
    for path in ("stats", "rollout"):
        mc = simulate_update_statistics(env, 4, 3, rule, trials=4000, seed=5, path=path)
        assert abs(mc["trace_cov"].value - exact["trace_cov"].value) <= 4 * mc["trace_cov"].se


def test_stats_path_with_many_outcomes_matches_rollout_path_and_exact_mean() -> None:
    env = make_environment("autoregressive", "uniform", num_prompts=3, seed=4, vocab=4, length=4)  # 256 outcomes
    rule = UpdateRule("grpo")
    exact_mean = env.direction(expected_update_weights(env, 4, rule) / env.num_prompts)
    runs = {path: simulate_update_statistics(env, 4, 2, rule, trials=3000, seed=9, path=path)
            for path in ("stats", "rollout")}
    for mc in runs.values():
        assert np.sum((mc.mean - exact_mean) ** 2) <= 4 * mc["trace_cov"].value / 3000
    a, b = runs["stats"]["trace_cov"], runs["rollout"]["trace_cov"]
    assert abs(a.value - b.value) <= 4 * np.hypot(a.se, b.se)


def test_kernel_and_per_group_loop_agree() -> None:
    from grpo_verify.bench.simulate import loop_statistics

    p, rule = np.array([0.2, 0.6]), UpdateRule("grpo")
    loop_sum, loop_sq, loop_silent = loop_statistics(p, 4, rule, 4000, np.random.default_rng(0))
    kernel = binary_bandit_statistics(p, 4, rule, trials=4000, rng=np.random.default_rng(1))
    u, pmf = binary_update_coefficients(4, rule), binom.pmf(np.arange(5), 4, p[:, None])
    for loop_total, kernel_total, values in ((loop_sum, kernel.update_sum, u), (loop_sq, kernel.update_sq_sum, u**2)):
        sd = np.sqrt(pmf @ values**2 - (pmf @ values) ** 2)
        assert np.all(np.abs(loop_total - kernel_total) / 4000 <= 4 * np.sqrt(2 / 4000) * sd)
    assert abs(loop_silent - kernel.silent_groups) <= 4 * np.sqrt(2 * max(kernel.silent_groups, 1))


def test_split_updates_add_up() -> None:
    env = make_environment("bandit", "uniform", num_prompts=4, seed=8)
    out = batch_updates(env, 4, UpdateRule("grpo"), np.random.default_rng(0), Q=2, trials=50, split=True)
    np.testing.assert_allclose(out.positive - out.negative, out.updates)


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    env = make_environment("autoregressive", "hard", num_prompts=4, seed=0, vocab=3, length=3)
    rule = UpdateRule("grpo")
    first = simulate_update_statistics(env, 4, 2, rule, trials=200, seed=3, chunk_trials=64)
    again = simulate_update_statistics(env, 4, 2, rule, trials=200, seed=3, chunk_trials=64)
    other = simulate_update_statistics(env, 4, 2, rule, trials=200, seed=4, chunk_trials=64)
    assert first.to_json() == again.to_json()
    np.testing.assert_array_equal(first.mean, again.mean)
    assert first["trace_cov"].value != other["trace_cov"].value


def test_sampled_outcomes_follow_the_policy() -> None:
    env = make_environment("bandit", "uniform", num_prompts=3, num_answers=5, seed=2)
    ro = sample_rollouts(env, 8, np.random.default_rng(0), prompts=np.repeat(np.arange(3), 4000)[None, :])
    for q in range(3):
        counts = np.bincount(ro.outcomes[0, ro.prompts[0] == q].ravel(), minlength=5)
        assert chisquare(counts, env.probs()[q] * counts.sum()).pvalue > 1e-3


@pytest.mark.parametrize("G", [2, 3, 4, 5, 16, 32])
def test_binary_success_counts_follow_binomial(G: int) -> None:
    p = np.array([0.02, 0.3, 0.5, 0.93])
    k = binary_success_counts(p, G, np.random.default_rng(G), trials=40_000)
    for q in range(p.size):
        expected = binom.pmf(np.arange(G + 1), G, p[q]) * 40_000
        keep = expected > 5
        observed = np.bincount(k[:, q], minlength=G + 1)[keep]
        assert chisquare(observed, expected[keep] * observed.sum() / expected[keep].sum()).pvalue > 1e-4


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=9).filter(lambda w: sum(w) > 0))
def test_alias_tables_reproduce_the_pmf(weights: list[float]) -> None:
    pmf = np.array(weights) / sum(weights)
    accept, alias = alias_tables(pmf[None, :])
    n = pmf.size
    implied = accept[0] / n
    np.add.at(implied, alias[0], (1 - accept[0]) / n)
    np.testing.assert_allclose(implied, pmf, atol=1e-12)


def test_binary_kernel_means_equal_exact_expectation() -> None:
    p = np.array([0.1, 0.5, 0.8])
    rule = UpdateRule("grpo")
    for G in (2, 16):
        stats = binary_bandit_statistics(p, G, rule, trials=50_000, rng=np.random.default_rng(G))
        coeff = binary_update_coefficients(G, rule)
        pmf = binom.pmf(np.arange(G + 1), G, p[:, None])
        mean, var = pmf @ coeff, pmf @ coeff**2 - (pmf @ coeff) ** 2
        se = np.sqrt(var / stats.trials)
        assert np.all(np.abs(stats.update_sum / stats.trials - mean) <= 4 * se)
        silent = (p**G + (1 - p) ** G).sum() * stats.trials
        assert abs(stats.silent_groups - silent) <= 4 * np.sqrt(silent)


def test_binary_update_coefficient_is_the_two_answer_bandit_update() -> None:
    env = make_environment("bandit", np.array([0.3, 0.7]), num_answers=2, seed=0)
    rule = UpdateRule("grpo")
    for G in (2, 5):
        pmf = binom.pmf(np.arange(G + 1), G, env.pass_rates()[:, None])
        direction = env.direction(env.correct.astype(float) - ~env.correct).reshape(2, 2)  # e_c - e_w per prompt
        exact = env.direction(exact_group_moments(env, G, rule).mean).reshape(2, 2)
        np.testing.assert_allclose(exact, (pmf @ binary_update_coefficients(G, rule))[:, None] * direction, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.data(), st.sampled_from(RULES[:4]))
def test_binary_advantage_table_matches_compute_advantages(G: int, data: st.DataObject, rule: UpdateRule) -> None:
    rewards = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=G, max_size=G)))
    table = binary_advantage_table(G, rule)
    k = int(rewards.sum())
    expected = compute_advantages(rewards, rule.estimator, std=rule.std, eps=rule.eps)
    np.testing.assert_allclose(np.where(rewards == 1, table[k, 0], table[k, 1]), expected, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.data(), st.floats(0.0, 3.0))
def test_dpo_pair_advantages_sum_to_zero_and_average_pair_updates(G: int, data: st.DataObject, beta: float) -> None:
    rewards = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=G, max_size=G)))
    h = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=G, max_size=G)))
    scores = np.random.default_rng(G).standard_normal((G, 3))
    adv = dpo_pair_advantages(rewards, h, beta)
    assert adv.sum() == pytest.approx(0.0, abs=1e-12)
    pairs = [dpo_pair_weight(h[i], h[j], beta) * (scores[i] - scores[j])
             for i in range(G) for j in range(G) if rewards[i] > rewards[j]]
    expected = np.sum(pairs, axis=0) / (G * (G - 1)) if pairs else np.zeros(3)
    np.testing.assert_allclose(adv @ scores / G, expected, atol=1e-12)


def test_dpo_at_the_reference_is_half_beta_times_rloo() -> None:
    rewards = np.array([[1.0, 0.0, 0.0, 1.0], [0.2, 0.9, 0.5, 0.1]])
    adv = dpo_pair_advantages(rewards[:1], np.zeros((1, 4)), 0.4)
    np.testing.assert_allclose(adv, 0.2 * group_advantages(rewards[:1], "rloo"), atol=1e-12)


def test_grpo_batch_std_uses_each_mini_batch() -> None:
    rewards = np.random.default_rng(0).random((3, 4, 2))
    adv = rule_advantages(UpdateRule("grpo_batch_std"), rewards)
    for t in range(3):
        np.testing.assert_allclose(adv[t], compute_advantages(rewards[t], "grpo_batch_std"))


def test_compositions_are_all_count_vectors() -> None:
    comps = compositions(5, 3)
    assert len(comps) == 21 and np.all(comps.sum(axis=1) == 5) and len({tuple(c) for c in comps}) == 21


def test_block_sums_jackknife_of_a_mean() -> None:
    values = np.random.default_rng(0).standard_normal(1000)
    sums = BlockSums(1000, blocks=20)
    sums.add(0, x=values[:300])
    sums.add(300, x=values[300:])
    est = sums.estimates(lambda t: {"mean": float(t["x"] / t["n"])})["mean"]
    assert est.value == pytest.approx(values.mean())
    assert est.se == pytest.approx(values.std() / np.sqrt(1000), rel=0.5)


ENV = make_environment("bandit", "uniform", num_prompts=3, seed=0)
CONT = make_environment("bandit", "uniform", num_prompts=3, rewards="continuous", seed=0)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: UpdateRule("ppo"), "estimator"),
        (lambda: UpdateRule(std="biased"), "std"),
        (lambda: UpdateRule(eps=-1.0), "eps"),
        (lambda: UpdateRule(beta=float("inf")), "beta"),
        (lambda: UpdateRule(ties="random"), "ties"),
        (lambda: batch_updates(ENV, 1, UpdateRule(), np.random.default_rng(0), Q=2), "G"),
        (lambda: batch_updates(ENV, 2, UpdateRule(), np.random.default_rng(0), Q=0), "Q"),
        (lambda: batch_updates(ENV, 2, UpdateRule(), np.random.default_rng(0)), "Q"),
        (lambda: batch_updates(ENV, 2, UpdateRule(), np.random.default_rng(0), prompts=[0, 3]), "prompts"),
        (lambda: batch_updates(ENV, 2, UpdateRule(), np.random.default_rng(0), Q=2, path="fast"), "path"),
        (lambda: batch_updates(CONT, 2, UpdateRule(), np.random.default_rng(0), Q=2, path="stats"), "path"),
        (lambda: simulate_update_statistics(ENV, 2, 2, UpdateRule(), trials=1, seed=0), "total"),
        (lambda: simulate_update_statistics(ENV, 2, 2, UpdateRule(), trials=10, seed=0, blocks=20), "blocks"),
        (lambda: rule_advantages(UpdateRule("dpo"), np.zeros((2, 2))), "log_ratios"),
        (lambda: exact_group_moments(ENV, 2, UpdateRule("grpo_batch_std")), "grpo_batch_std"),
        (lambda: exact_group_moments(ENV, 40, UpdateRule(), max_compositions=100), "max_compositions"),
        (lambda: expected_update_weights(CONT, 2, UpdateRule()), "binary"),
        (lambda: binary_advantage_table(4, UpdateRule("dpo")), "estimator"),
        (lambda: binary_success_counts([0.5, 1.2], 4, np.random.default_rng(0)), "pass_rates"),
        (lambda: BinomialSampler([0.5], 2).draw(np.random.default_rng(0), trials=0), "trials"),
        (lambda: dpo_pair_advantages(np.zeros((1, 2)), np.zeros((1, 3)), 0.1), "log_ratios"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()
