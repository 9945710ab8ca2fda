"""Every estimator and statistic of the simulation tier by value (issue 18, item 3): tiny hand-made trials whose
unbiased variance, de-biased squared norm, jackknife error or pooled weight is worked out by hand in the test, so
that a bug of size 1/n (a variance over n instead of n - 1, a dropped de-biasing term) cannot hide inside a
tolerance of a few standard errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from simulations.engine import BlockSums, UpdateRule, _statistics, exact_group_moments, exact_update_statistics
from simulations.environments import SoftmaxBandit
from simulations.studies import by2_win_rate, dr1_difficulty, rz1_learning_speed, tt4_unbiasedness, tt8_silent_rates
from simulations.studies.tt5_control_variate import split_statistics
from simulations.training import PolicyBatch

# --- the engine's statistics of a batch update ------------------------------------------------------------------

UPDATES = np.array([[1.0, 0.0], [3.0, 0.0], [1.0, 2.0], [3.0, 2.0]])
"""Four trials of a 2-d update g. Mean (2, 1); deviations (+-1, +-1), each ||.||^2 = 2, so the unbiased trace of
Cov g is (4 x 2) / (4 - 1) = 8/3; ||mean||^2 = 5, de-biased by tr Cov / n: 5 - (8/3)/4 = 13/3."""


def totals(center: np.ndarray) -> dict[str, np.ndarray]:
    dev = UPDATES - center
    return {"n": np.array(4.0), "s": dev.sum(axis=0), "ss": np.array(float((dev**2).sum())),
            "silent": np.array(0.0 + 0.5 + 0.5 + 1.0), "sq": np.array(4 * 6.0)}


@pytest.mark.parametrize("center", [np.zeros(2), np.array([1.0, 1.0]), np.array([2.5, -3.0])])
def test_update_statistics_by_value(center: np.ndarray) -> None:
    stats = _statistics(totals(center), center, np.array([1.0, 0.0]), B=4)
    assert stats["trace_cov"] == pytest.approx(8 / 3, abs=1e-12)          # / (n - 1), not / n (= 2)
    assert stats["mean_norm_sq"] == pytest.approx(13 / 3, abs=1e-12)       # de-biased, not ||mean||^2 = 5
    assert stats["snr"] == pytest.approx(13 / 8, abs=1e-12)
    assert stats["cosine"] == pytest.approx(2 / math.sqrt(13 / 3), abs=1e-12)  # mean . grad / (sqrt(13/3) |grad|)
    assert stats["rollout_variance"] == pytest.approx(6 - 13 / 3, abs=1e-12)   # E||A s||^2 - ||E g||^2
    assert stats["iid_ratio"] == pytest.approx((8 / 3) / ((5 / 3) / 4), abs=1e-12)
    assert stats["silent_fraction"] == 0.5 and stats["informative_rollouts"] == 2.0


def test_block_sums_put_each_trial_in_its_block_whatever_the_chunks() -> None:
    x = np.array([1.0, 3.0, 2.0, 6.0, 4.0, 4.0, 0.0, 8.0])
    whole, chunked = BlockSums(8, blocks=4), BlockSums(8, blocks=4)
    whole.add(0, x=x)
    chunked.add(0, x=x[:3])
    chunked.add(3, x=x[3:])
    for sums in (whole, chunked):
        np.testing.assert_array_equal(sums.sums["x"], [4.0, 8.0, 8.0, 8.0])  # trials (0,1), (2,3), (4,5), (6,7)
        np.testing.assert_array_equal(sums.sums["n"], [2.0, 2.0, 2.0, 2.0])


def test_block_sums_jackknife_error_by_value() -> None:
    """Block means 2, 4, 4, 4 (mean 3.5): leave-one-out means 4, 10/3, 10/3, 10/3; the jackknife variance
    (b-1)/b sum (theta_i - theta_bar)^2 = 3/4 x (4/9 + 3 x 1/36) = 1/4, i.e. SE 1/2 = sd(block means)/sqrt(4)."""
    sums = BlockSums(8, blocks=4)
    sums.add(0, x=np.array([1.0, 3.0, 2.0, 6.0, 4.0, 4.0, 0.0, 8.0]))
    est = sums.estimates(lambda t: {"mean": float(t["x"] / t["n"])})["mean"]
    assert est.value == 3.5
    assert est.se == pytest.approx(0.5, abs=1e-12)
    assert est.half_width == pytest.approx(float(student_t.ppf(0.975, 3)) * 0.5, abs=1e-12)


def test_exact_update_statistics_by_hand_on_a_two_answer_bandit() -> None:
    """One prompt, pi = (1/2, 1/2), answer 0 correct, G = 2, population std, eps = 0. A group is informative with
    probability 1/2, then A = +-1 and g_q = (1/2)(s_0 - s_1) = (1/2)(e_0 - e_1) (||.||^2 = 1/2); silent groups give 0.
    So E g_q = (1/4)(e_0 - e_1), ||E g_q||^2 = 1/8, E||g_q||^2 = 1/4, and E||A_1 s_1||^2 = 1/2 x ||s_o||^2 = 1/4
    (s_o = e_o - pi, ||s_o||^2 = 1/2). At Q = 2 (B = 4): tr Cov g = (1/4 - 1/8)/2 = 1/16, SNR 2, rollout variance
    1/4 - 1/8 = 1/8, i.i.d. ratio (1/16) / ((1/8)/4) = 2; no between-prompt term, within-rollout
    (1/4 - 1/8)/4 = 1/32, group coupling (2 x 1/4 - 1/4 - 1/8)/4 = 1/32."""
    env = SoftmaxBandit.from_probs([[0.5, 0.5]], [[True, False]])
    rule = UpdateRule("grpo", std="population", eps=0.0)
    stats = exact_update_statistics(env, 2, exact_group_moments(env, 2, rule), rule)
    np.testing.assert_allclose(stats.mean, [0.25, -0.25], atol=1e-15)
    expected = {"trace_cov": 1 / 16, "mean_norm_sq": 1 / 8, "snr": 2.0, "rollout_variance": 1 / 8, "iid_ratio": 2.0,
                "silent_fraction": 0.5, "informative_rollouts": 2.0, "cosine": 1.0}
    for name, value in expected.items():
        assert stats[name].value == pytest.approx(value, abs=1e-12), name
    assert stats.decomposition == pytest.approx({"between": 0.0, "within_rollout": 1 / 32,
                                                 "within_group_covariance": 1 / 32}, abs=1e-12)


# --- the studies' own estimators -------------------------------------------------------------------------------


def test_tt5_split_statistics_by_value() -> None:
    """Three groups, 1-d: dp = (1, 2, 4), dn = (2, 0, 1), dn of another group (1, 2, 0). Unbiased: Var(g+) = 7/3,
    Var(g-) = 1, Cov = (6 - 7 x 3/3)/2 = -1/2, random-pairing Cov = (5 - 7)/2 = -1."""
    dp, dn, other = np.array([1.0, 2.0, 4.0]), np.array([2.0, 0.0, 1.0]), np.array([1.0, 2.0, 0.0])
    t = {"n": np.array(3.0), "sp": np.array([dp.sum()]), "sn": np.array([dn.sum()]), "pp": np.array(dp @ dp),
         "nn": np.array(dn @ dn), "pn": np.array(dp @ dn), "pr": np.array(dp @ other)}
    out = split_statistics(t)
    root = math.sqrt(7 / 3)
    expected = {"var_pos": 7 / 3, "var_neg": 1.0, "cov": -0.5, "rho": -0.5 / root, "rho_random": -1 / root,
                "rho_gap": 0.5 / root, "threshold": 0.5 * math.sqrt(3 / 7), "c_upper": -1.0, "c_star": -0.5,
                "ratio_c1": 13 / 7}
    assert out == pytest.approx(expected, abs=1e-12)


def test_tt4_conditional_mean_by_value() -> None:
    """Values 1, 2, 3, 4: mean 5/2, unbiased variance (30 - 4 x 25/4)/3 = 5/3, SE sqrt(5/12)."""
    assert tt4_unbiasedness.conditional_mean(4, 10.0, 30.0) == (2.5, pytest.approx(math.sqrt(5 / 12), abs=1e-15), 4)
    mean, se, n = tt4_unbiasedness.conditional_mean(1, 2.0, 4.0)
    assert (mean, n) == (2.0, 1) and math.isnan(se)


def test_tt8_standard_error_by_value() -> None:
    """Silence is Bernoulli(pi) with pi = p^G + (1-p)^G: at p = 1/2, G = 2, pi = 1/2 and the SE over 100 groups is
    sqrt(1/4 x 100)/100 = 1/20; two prompts (pi = 1/2 and 0.82) over 100 groups each: sqrt(0.3976 x 100)/200."""
    assert tt8_silent_rates.standard_error(np.array([0.5]), 2, 100) == pytest.approx(0.05, abs=1e-15)
    assert tt8_silent_rates.standard_error(np.array([0.5, 0.1]), 2, 100) == pytest.approx(
        math.sqrt(39.76) / 200, abs=1e-15)


def test_rz1_fit_slopes_by_value() -> None:
    variance = np.array([[1.0, 0.1, 0.01], [1.0, 0.1, 0.01]])
    times = np.array([2 * variance[0] ** -0.5, [2.0, np.nan, 20.0]])  # row 2: two levels reached, too few to fit
    slopes = rz1_learning_speed.fit_slopes(variance, times)
    assert slopes[0] == pytest.approx(-0.5, abs=1e-12) and math.isnan(slopes[1])


def test_dr1_pooled_weights_by_value() -> None:
    """One seed, one update, prompts at p = 0.05, 0.5, 0.95 with P<g_q, grad p_q> = 2, 1, 4 and ||grad p_q||^2 =
    1, 1, 2: bins [0, 0.1), [0.5, 0.65) and [0.9, 1] pool 2/1, 1/1 and 4/2; the extreme region (6)/(3) = 2."""
    p, signal, norm = np.array([[[0.05, 0.5, 0.95]]]), np.array([[[2.0, 1.0, 4.0]]]), np.array([[[1.0, 1.0, 2.0]]])
    bins = dr1_difficulty.binned_weights(p, signal, norm)
    assert bins[0, 0] == 2.0 and bins[0, 4] == 1.0 and bins[0, 7] == 2.0
    assert np.isnan(bins[0, [1, 2, 3, 5, 6]]).all()
    assert dr1_difficulty.region_weight(p, signal, norm, "extreme")[0] == 2.0
    assert dr1_difficulty.region_weight(p, signal, norm, "middle")[0] == 1.0


def test_dr1_agreement_by_value() -> None:
    """Bin 0: differences 0.1, 0.2, 0.3 (mean 0.2, sd 0.1 with n - 1): t = 0.2 / (0.1/sqrt 3) = 2 sqrt 3; bin 1: no
    spread, t = 0; bound t_{1 - 0.025/2} with 2 degrees of freedom."""
    measured = np.array([[1.1, 1.0], [1.2, 1.0], [1.3, 1.0]])
    out = dr1_difficulty._agreement(measured, np.ones((3, 2)))
    assert out["z"] == pytest.approx([2 * math.sqrt(3), 0.0], abs=1e-9)
    assert out["bound"] == pytest.approx(float(student_t.ppf(1 - 0.025 / 2, 2)), abs=1e-12)
    assert out["all_within"] and out["bins_used"] == 2


def test_dr1_time_to_learn_by_value() -> None:
    """logit(p) rises by 1 first at update 2 for a prompt going 0.5 -> 0.6 -> 0.75 (logit 0, 0.405, 1.099)."""
    p = np.array([[[0.5, 0.2], [0.6, 0.2], [0.75, 0.2]]])
    np.testing.assert_array_equal(dr1_difficulty.time_to_learn(p), [[2.0, np.nan]])


def test_by2_win_rate_by_value() -> None:
    """Outcomes (H, L, M) with rewards (1, 0, m): sign(r_o - r_e) is + for H>L, H>M, M>L. With pi = (a, b, c) and
    pi_0 = (a0, b0, c0): W = a (b0 + c0) - b (a0 + c0) + c (b0 - a0); 0 at the start."""
    env = by2_win_rate.risky_safe_environment(1, seed=3)
    batch = PolicyBatch.stack([env])
    assert by2_win_rate.win_rate(batch)["win_rate"][0] == pytest.approx(0.0, abs=1e-15)
    batch.step(np.array([[0.7]]), 1.0)
    (a, b, c), (a0, b0, c0) = batch.probs()[0, 0], np.exp(batch.ref_log_probs[0, 0])
    assert by2_win_rate.win_rate(batch)["win_rate"][0] == pytest.approx(
        a * (b0 + c0) - b * (a0 + c0) + c * (b0 - a0), abs=1e-15)
