"""The simulation tier's judging step on hand-built evidence: each study's pure function from summary numbers to
checks, fed per-seed numbers (or Monte Carlo estimates) whose 95% interval lies above, across or below the
claim's threshold, must give holds / inconclusive / fails by exact value (evidence.verdicts' three-way rule);
and the glue in simulations.studies.common."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from evidence.record import Verdict, judge
from evidence.verdicts import Decision
from simulations.studies import (
    by2_win_rate,
    by3_allocation,
    dr1_difficulty,
    rz1_learning_speed,
    tt4_unbiasedness,
    tt5_control_variate,
    tt6_fixed_budget,
    tt8_silent_rates,
    tt9_training,
    vi3_grpovi_training,
)
from simulations.studies.common import (
    all_of,
    check_values,
    decide_draws,
    decide_seeds,
    decision_numbers,
    decision_reason,
    decision_text,
)
from theory.expectations import expected_advantage, gradient_scale
from theory.paper import TT9_IMPROVEMENT_RATIO, TT9_RS_SCORE_RATIO, TT9_SCORE_RATIO

HOLDS, FAILS, INCONCLUSIVE = Verdict.HOLDS, Verdict.FAILS, Verdict.INCONCLUSIVE
NOISE = np.array([0.02, -0.02, 0.01, -0.01, 0.0])
"""Seed noise of mean exactly 0: an estimate built as ``target + NOISE`` has its mean at the target."""
TIGHT = NOISE / 10


def seeds_at(mean: float, noise: np.ndarray = NOISE) -> np.ndarray:
    """Five per-seed values whose mean is exactly ``mean`` (up to rounding)."""
    return mean + noise


def verdict_of(outcome: Any) -> Verdict:
    """A check's verdict alone: a Decision's own, a bool or None as judge reads it."""
    return outcome.verdict if isinstance(outcome, Decision) else judge({"c": outcome})


# --- common: the glue --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "threshold", "at_least", "verdict"), [
    (seeds_at(0.10), 0.0, True, HOLDS),                  # [0.075, 0.125] above 0
    (seeds_at(0.0), 0.0, True, INCONCLUSIVE),            # straddles
    (seeds_at(-0.10), 0.0, True, FAILS),
    (seeds_at(-0.10), 0.0, False, HOLDS),                # "at most" mirrors it
    (np.array([np.nan, 0.10, 0.12, 0.11, np.nan]), 0.0, True, HOLDS),  # NaN seeds are left out
    (np.array([np.nan, 0.1, np.nan]), 0.0, True, INCONCLUSIVE),  # one finite seed decides nothing
])
def test_decide_seeds_three_way(values, threshold: float, at_least: bool, verdict: Verdict) -> None:
    assert decide_seeds(values, threshold, at_least=at_least).verdict == verdict


def test_decide_seeds_counts_only_finite_seeds() -> None:
    d = decide_seeds([np.nan, 1.0, 2.0, 3.0], 0.0)
    assert d.n == 3 and d.estimate == 2.0
    two = decide_seeds([np.nan, 1.0, 1.01], 0.0)  # two seeds: t with 1 degree of freedom, [0.94, 1.07]
    assert (two.n, two.verdict) == (2, HOLDS)
    one = decide_seeds([np.nan, 0.5], 0.0)
    assert (one.n, one.estimate, one.low, one.high) == (1, 0.5, None, None)


def test_decide_draws_by_value() -> None:
    d = decide_draws({"value": 1.2, "se": 0.1, "ci95": 0.3}, 1.0, draws=100)
    assert (d.estimate, d.low, d.high, d.n) == (1.2, pytest.approx(0.9), pytest.approx(1.5), 100)
    assert d.verdict == INCONCLUSIVE
    assert d.seeds_needed == 226  # floor(100 (0.3 / 0.2)^2) + 1: the half width 0.3 sqrt(100/n) < 0.2
    assert decide_draws({"value": 1.2, "se": 0.01, "ci95": 0.03}, 1.0, draws=100).verdict == HOLDS
    assert decide_draws({"value": 1.2, "se": 0.01, "ci95": 0.03}, 1.0, draws=100, at_least=False).verdict == FAILS
    assert decide_draws({"value": None, "se": None, "ci95": None}, 1.0, draws=100).verdict == INCONCLUSIVE


@pytest.mark.parametrize(("parts", "value"), [
    ((True, True), True), ((True, None), None), ((None, False), False), ((True, False, None), False), ((), True),
])
def test_all_of_fails_on_any_failure_and_is_undecided_on_any_gap(parts, value) -> None:
    assert all_of(parts) is value


def test_check_values_and_texts() -> None:
    held, open_ = decide_seeds(seeds_at(0.1), 0.0), decide_seeds(seeds_at(0.0), 0.0)
    assert check_values({"a": held, "b": open_, "c": False}) == {"a": True, "b": None, "c": False}
    assert decision_text(open_, "groups").endswith("no number of groups decides it at this estimate")
    assert "(5 groups)" in decision_text(held, "groups") and "(5 seeds)" in decision_text(held)
    assert set(decision_numbers({"a": held, "c": False})) == {"a"}
    assert decision_numbers({"a": held})["a"]["verdict"] == "holds"
    reason = decision_reason({"a": held, "b": open_, "c": False}, open_only=True)
    assert reason.startswith("b: ") and "a: " not in reason
    assert decision_reason({"a": open_, "b": open_}, limit=1).endswith("(1 more in the numbers.)")


# --- TT-9: ratios of seed means, paired Fieller, against TT's numbers -----------------------------------------

REF = np.array([0.80, 0.84, 0.76, 0.82, 0.78])  # 16-GRPO's final J per seed, mean 0.80
J0 = np.full(5, 0.40)                           # the start: 16-GRPO improves by 0.40


def tt9_finals(two: np.ndarray, rs: np.ndarray | None = None, tuned: np.ndarray | None = None) -> dict:
    arms = {"2-GRPO": two, "16-GRPO": REF, "2-GRPO+RS": REF * 1.1 if rs is None else rs}
    finals: dict[str, Any] = {"initial_J": J0, "TT lr scaling": arms}
    if tuned is not None:
        finals["own tuned lr"] = {"2-GRPO": tuned, "16-GRPO": REF}
    return {"log-linear": finals}


def score_at(ratio: float, noise: np.ndarray = NOISE) -> np.ndarray:
    return ratio * REF + noise  # mean ratio exactly ``ratio``


def improvement_at(ratio: float, noise: np.ndarray = NOISE) -> np.ndarray:
    return J0 + ratio * (REF - J0) + noise


SCORE = f"log-linear: 2-GRPO score ratio (TT lr) >= {TT9_SCORE_RATIO:.1%}"
IMPROVEMENT = f"log-linear: 2-GRPO improvement ratio (TT lr) >= {TT9_IMPROVEMENT_RATIO:.0%}"
RS = f"log-linear: 2-GRPO+RS score ratio >= {TT9_RS_SCORE_RATIO:.1%}"


@pytest.mark.parametrize(("ratio", "verdict"), [(1.05, HOLDS), (TT9_SCORE_RATIO, INCONCLUSIVE), (0.85, FAILS)])
def test_tt9_score_ratio_three_way(ratio: float, verdict: Verdict) -> None:
    d = tt9_training.tt9_checks(tt9_finals(score_at(ratio, TIGHT)))[SCORE]
    assert d.verdict == verdict and d.estimate == pytest.approx(ratio, abs=1e-12) and d.n == 5


@pytest.mark.parametrize(("ratio", "verdict"), [(1.1, HOLDS), (TT9_IMPROVEMENT_RATIO, INCONCLUSIVE), (0.5, FAILS)])
def test_tt9_improvement_ratio_three_way(ratio: float, verdict: Verdict) -> None:
    d = tt9_training.tt9_checks(tt9_finals(improvement_at(ratio)))[IMPROVEMENT]
    assert d.verdict == verdict and d.estimate == pytest.approx(ratio, abs=1e-12)


@pytest.mark.parametrize(("ratio", "verdict"), [(1.06, HOLDS), (TT9_RS_SCORE_RATIO, INCONCLUSIVE), (0.95, FAILS)])
def test_tt9_rs_score_ratio_three_way(ratio: float, verdict: Verdict) -> None:
    d = tt9_training.tt9_checks(tt9_finals(REF, rs=score_at(ratio, TIGHT)))[RS]
    assert d.verdict == verdict and d.estimate == pytest.approx(ratio, abs=1e-12)


def test_tt9_upper_bound_reaching_the_threshold_is_not_a_pass() -> None:
    """The old rule passed when the UPPER end reached TT's number; an interval straddling it is undecided, and
    the seeds that would decide it are given."""
    d = tt9_training.tt9_checks(tt9_finals(improvement_at(0.90, 3 * NOISE)))[IMPROVEMENT]
    assert d.low < TT9_IMPROVEMENT_RATIO <= d.high and d.verdict == INCONCLUSIVE
    assert d.seeds_needed is not None and d.seeds_needed > 5


def test_tt9_own_tuned_lr_is_judged_apart_and_the_record_reads_all_checks() -> None:
    checks = tt9_training.tt9_checks(tt9_finals(improvement_at(1.1), tuned=improvement_at(0.5)))
    own = {k: d.verdict for k, d in checks.items() if "own tuned lr" in k}
    assert list(own.values()) == [FAILS, FAILS]  # score (0.5 x 0.4 + 0.4) / 0.8 = 0.75, improvement 0.5
    assert checks[IMPROVEMENT].verdict == HOLDS
    assert judge(check_values(checks)) == Verdict.PARTLY
    holds = tt9_training.tt9_checks(tt9_finals(score_at(1.2, TIGHT), tuned=score_at(1.2, TIGHT)))
    assert judge(check_values(holds)) == HOLDS
    undecided = tt9_training.tt9_checks(tt9_finals(score_at(1.2, TIGHT), rs=score_at(TT9_RS_SCORE_RATIO)))
    assert judge(check_values(undecided)) == INCONCLUSIVE


def test_tt9_ratios_are_paired_over_seeds() -> None:
    """An arm that moves with 16-GRPO seed by seed (shared noise) is decided where unpaired it would not be."""
    shared = np.array([0.06, -0.06, 0.03, -0.03, 0.0])
    two = 1.1 * (REF + shared)
    ref_noisy = REF + shared
    finals = {"bandit": {"initial_J": J0, "TT lr scaling": {"2-GRPO": two, "16-GRPO": ref_noisy,
                                                            "2-GRPO+RS": ref_noisy}}}
    d = tt9_training.tt9_checks(finals)["bandit: 2-GRPO score ratio (TT lr) >= 97.6%"]
    assert (d.low, d.high) == (pytest.approx(1.1), pytest.approx(1.1)) and d.verdict == HOLDS


# --- VI-3: GRPOVI - GRPO, paired over seeds, against 0 ------------------------------------------------------


def vi3_differences(early: np.ndarray, final: np.ndarray) -> dict:
    by_checkpoint = {"0.25": early, "0.5": final, "1": final}
    return {"bandit": {"same": by_checkpoint, "own": by_checkpoint}}


@pytest.mark.parametrize(("mean", "verdict"), [(0.05, HOLDS), (0.0, INCONCLUSIVE), (-0.05, FAILS)])
def test_vi3_difference_three_way(mean: float, verdict: Verdict) -> None:
    checks = vi3_grpovi_training.vi3_checks(vi3_differences(seeds_at(mean), seeds_at(mean)))
    assert len(checks) == 4 and all(d.verdict == verdict for d in checks.values())
    assert judge(check_values(checks)) == verdict


def test_vi3_judges_the_early_and_the_final_checkpoint_separately() -> None:
    checks = vi3_grpovi_training.vi3_checks(vi3_differences(seeds_at(0.05), seeds_at(-0.05)))
    assert {k.split(" after ")[1].split(" of")[0]: d.verdict for k, d in checks.items()} == {"25%": HOLDS,
                                                                                           "100%": FAILS}
    assert judge(check_values(checks)) == Verdict.PARTLY


# --- DR-1: prompt weights ------------------------------------------------------------------------------------

GRPO_UP = "GRPO G=16 up-weights extreme prompts: weight(p<0.1 or >0.9) / weight(0.35..0.65) > 1"
AGREEMENT = "measured weights match lambda_G(p) of theory.expectations in every bin (Bonferroni 95%)"
SPEARMAN = "GRPO learns extreme prompts relatively earlier than Dr. GRPO (Spearman of |p0 - 1/2| vs time ratio > 0)"


def dr1(grpo: float, flat: float, spearman: float, agreement: bool = True) -> dict:
    ratios = {"GRPO G=16": seeds_at(grpo), "Dr. GRPO G=16": seeds_at(flat), "2-GRPO": seeds_at(flat)}
    return dr1_difficulty.dr1_checks(ratios, dict.fromkeys(ratios, agreement), seeds_at(spearman))


def flat_checks(checks: dict) -> list:
    return [v for k, v in checks.items() if "flat" in k]


def test_dr1_holds_where_every_interval_clears_its_bound() -> None:
    checks = dr1(grpo=1.6, flat=1.0, spearman=0.5)
    assert checks[GRPO_UP].verdict == HOLDS and checks[SPEARMAN].verdict == HOLDS
    assert flat_checks(checks) == [True, True] and checks[AGREEMENT] is True
    assert judge(check_values(checks)) == HOLDS


def test_dr1_inconclusive_where_intervals_straddle() -> None:
    checks = dr1(grpo=1.0, flat=dr1_difficulty.FLAT_BAND[1], spearman=0.0)
    assert checks[GRPO_UP].verdict == INCONCLUSIVE and checks[SPEARMAN].verdict == INCONCLUSIVE
    assert flat_checks(checks) == [None, None]
    assert judge(check_values(checks)) == INCONCLUSIVE


@pytest.mark.parametrize("flat", [0.5, 1.6])
def test_dr1_fails_where_intervals_miss(flat: float) -> None:
    checks = dr1(grpo=0.8, flat=flat, spearman=-0.5, agreement=False)
    assert checks[GRPO_UP].verdict == FAILS and checks[SPEARMAN].verdict == FAILS
    assert flat_checks(checks) == [False, False] and checks[AGREEMENT] is False
    assert judge(check_values(checks)) == FAILS


def test_dr1_flat_band_by_value() -> None:
    low, high = dr1_difficulty.flat_band(seeds_at(1.0))
    assert (low.threshold, low.at_least, high.threshold, high.at_least) == (0.8, True, 1.2, False)


# --- RZ-1: slopes of log time on log Var -----------------------------------------------------------------------

RZ_RUNS = rz1_learning_speed.JUDGED_RUNS


def rz1(slope: float, gradient_ratio: float = 0.9, noise: np.ndarray = NOISE) -> dict:
    return rz1_learning_speed.rz1_checks(gradient_ratio, dict.fromkeys(RZ_RUNS, seeds_at(slope, noise)))


@pytest.mark.parametrize(("slope", "grows", "bound"), [
    (-1.0, HOLDS, HOLDS), (-1 / 3, HOLDS, INCONCLUSIVE), (-0.1, HOLDS, FAILS), (0.0, INCONCLUSIVE, FAILS),
    (0.3, FAILS, FAILS),
])
def test_rz1_slope_checks_three_way(slope: float, grows: Verdict, bound: Verdict) -> None:
    checks = rz1(slope)
    for run in RZ_RUNS:
        assert checks[f"{run}: time grows as Var falls (slope <= 0)"].verdict == grows
        assert checks[f"{run}: slope <= -1/3, as Omega(Var^-1/3)"].verdict == bound


def test_rz1_record_verdicts_and_the_exact_bound() -> None:
    assert judge(check_values(rz1(-1.0))) == HOLDS
    assert judge(check_values(rz1(-1 / 3))) == INCONCLUSIVE
    assert judge(check_values(rz1(-1.0, gradient_ratio=1.01))) == Verdict.PARTLY
    assert judge(check_values(rz1(0.3, gradient_ratio=1.01))) == FAILS
    censored = rz1_learning_speed.rz1_checks(0.9, dict.fromkeys(RZ_RUNS, np.array([np.nan, -1.0, np.nan])))
    assert judge(check_values(censored)) == INCONCLUSIVE  # one fitted seed decides nothing


# --- BY-2: changes over training, each against 0 in its direction ----------------------------------------------


def by2(sign: float, routes_gap: float = 0.0) -> dict:
    """Every change ``sign`` x 0.05 in the claimed direction (0: exactly at 0)."""
    per_seed = {"delta_J": {2: seeds_at(-0.05 * sign), 64: seeds_at(0.05 * sign)},
                "delta_W": {2: seeds_at(0.05 * sign), 64: seeds_at(-0.05 * sign)},
                "along": {2: seeds_at(0.05 * sign), 64: seeds_at(0.05 * sign)}}
    return by2_win_rate.by2_checks(per_seed, routes_gap)


@pytest.mark.parametrize(("sign", "verdict"), [(1.0, HOLDS), (0.0, INCONCLUSIVE), (-1.0, FAILS)])
def test_by2_changes_three_way(sign: float, verdict: Verdict) -> None:
    checks = by2(sign)
    decisions = [v for v in checks.values() if isinstance(v, Decision)]
    assert len(decisions) == 5 and all(d.verdict == verdict for d in decisions)
    assert checks["2-GRPO: mean reward J falls (change <= 0)"].at_least is False  # J falling is the claim


def test_by2_record_verdicts() -> None:
    assert judge(check_values(by2(1.0))) == HOLDS
    assert judge(check_values(by2(0.0))) == Verdict.INCONCLUSIVE
    assert judge(check_values(by2(1.0, routes_gap=1e-6))) == Verdict.PARTLY
    assert judge(check_values(by2(-1.0, routes_gap=1e-6))) == FAILS


# --- BY-3: adaptive minus the best fixed G, against 0 ----------------------------------------------------------


@pytest.mark.parametrize(("mean", "verdict"), [(0.03, HOLDS), (0.0, INCONCLUSIVE), (-0.03, FAILS)])
def test_by3_adaptive_versus_best_fixed_three_way(mean: float, verdict: Verdict) -> None:
    checks = by3_allocation.by3_checks({"hard": {"8-GRPO": seeds_at(mean)}, "easy": {"2-GRPO": seeds_at(mean)}})
    assert [d.verdict for d in checks.values()] == [verdict, verdict]
    assert "(8-GRPO)" in next(iter(checks))
    assert judge(check_values(checks)) == verdict


def test_by3_upper_end_reaching_zero_is_not_a_pass() -> None:
    """The old rule passed when the upper end of the difference reached 0 (not significantly worse)."""
    [d] = by3_allocation.by3_checks({"hard": {"8-GRPO": seeds_at(-0.01)}}).values()
    assert d.low < 0 <= d.high and d.verdict == INCONCLUSIVE


# --- TT-5: exact values decide, Monte Carlo intervals three-way --------------------------------------------------


def tt5_row(ratio_c1: float, rho: float, half: float, exact: bool = False, G: int = 2) -> dict:
    mc = {k: {"value": v, "se": half / 2, "ci95": half} for k, v in
          {"ratio_c1": ratio_c1, "rho": rho, "rho_random": 0.0, "var_pos": 1.0, "var_neg": 1.0, "cov": 0.0}.items()}
    row: dict[str, Any] = {"environment": "autoregressive", "distribution": "hard", "G": G, "groups": 1000, "mc": mc,
                           "exact": None}
    if exact:
        row |= {"environment": "bandit", "exact": {"ratio_c1": ratio_c1, "rho": rho, "var_pos": 1.0, "var_neg": 1.0,
                                                   "cov": 0.0, "rho_within_prompt": rho}}
    return row


REDUCES = "autoregressive: c = 1 reduces the variance (rho >= threshold) at every distribution and G"
POSITIVE = "autoregressive: same-group rho > 0, as TT's 0.087 (every distribution and G)"


@pytest.mark.parametrize(("ratio_c1", "rho", "value"), [(0.8, 0.1, True), (1.0, 0.0, None), (1.5, -0.2, False)])
def test_tt5_monte_carlo_settings_three_way(ratio_c1: float, rho: float, value: bool | None) -> None:
    claim, validity, numbers, _ = tt5_control_variate.tt5_checks(
        [tt5_row(ratio_c1, rho, 0.05), tt5_row(ratio_c1, rho, 0.05, G=4)])
    assert claim == {REDUCES: value, POSITIVE: value} and validity == {}
    assert len(numbers[tt5_control_variate.MC_DECISIONS]) == 4


def test_tt5_one_failing_setting_fails_the_check_and_exact_values_decide() -> None:
    claim, *_ = tt5_control_variate.tt5_checks([tt5_row(0.8, 0.1, 0.05), tt5_row(1.0, 0.0, 0.05, G=4),
                                                tt5_row(1.5, -0.2, 0.05, G=8)])
    assert claim == {REDUCES: False, POSITIVE: False}
    claim, validity, *_ = tt5_control_variate.tt5_checks([tt5_row(1.0 - 1e-9, 1e-9, 0.5, exact=True)])
    assert set(claim.values()) == {True}  # exact: a wide Monte Carlo interval does not matter
    assert list(validity.values()) == [True]


# --- TT-6: the i.i.d. formula within 1 +- 10% ------------------------------------------------------------------


def tt6_row(iid: float, half: float, B: int, G: int = 2, exact: bool = False) -> dict:
    stat = {"iid_ratio": iid, "trace_cov": 1.0 / B, "snr": 1.0, "cosine": 0.9}
    mc = {k: {"value": v, "se": 0.01 / B if k == "trace_cov" else 0.01, "ci95": half if k == "iid_ratio" else 0.02}
          for k, v in stat.items()}
    row: dict[str, Any] = {"environment": "autoregressive", "distribution": "hard", "B": B, "G": G, "trials": 100,
                           "mc": mc, "exact": None}
    if exact:
        row |= {"environment": "bandit", "exact": {**{k: {"value": v, "se": 0.0, "ci95": 0.0} for k, v in stat.items()},
                                                   "decomposition": {"between": 0.1 / B}}}
    return row


IID = "autoregressive: tr Cov g_B = Var(g_1)/B within 10% at every G, B and distribution (the paper's i.i.d. formula)"
SCALING = "autoregressive: at fixed G, B tr Cov g is the same at B = 64 and 512 (within 4 SE): variance ~ 1/B"


@pytest.mark.parametrize(("iid", "value"), [(1.0, True), (1.1, None), (0.9, None), (1.5, False), (0.5, False)])
def test_tt6_iid_formula_three_way_on_monte_carlo(iid: float, value: bool | None) -> None:
    claim, _, summary, parts = tt6_fixed_budget.tt6_checks([tt6_row(iid, 0.05, 64), tt6_row(iid, 0.05, 512)])
    assert claim == {SCALING: True, IID: value}
    assert len(parts) == 4 and len(summary[tt6_fixed_budget.MC_DECISIONS]) == 4


def test_tt6_exact_settings_decide_by_value() -> None:
    claim, validity, *_ = tt6_fixed_budget.tt6_checks([tt6_row(1.09, 0.5, 64, exact=True),
                                                       tt6_row(1.09, 0.5, 512, exact=True)])
    assert list(claim.values()) == [True, True] and list(validity.values()) == [True]
    claim, *_ = tt6_fixed_budget.tt6_checks([tt6_row(1.11, 0.0, 64, exact=True), tt6_row(1.0, 0.0, 512, exact=True)])
    assert claim["bandit: tr Cov g_B = Var(g_1)/B within 10% at every G, B and distribution (the paper's i.i.d. "
                 "formula)"] is False


# --- TT-4 and TT-8: agreement tests and exact facts (no thresholds: must-pass and must-fail only) ------------------


def tt4_rows() -> list[dict]:
    """Rows whose Monte Carlo equals the exact values (z = 0), SE 0.01."""
    rows = []
    for rule in tt4_unbiasedness.RULES:
        for G in tt4_unbiasedness.GROUP_SIZES:
            for p in tt4_unbiasedness.PASS_RATES:
                exact = {r: float(expected_advantage(G, p, r, rule.estimator, rule.std, rule.eps)) for r in (0, 1)}
                rows.append({"G": G, "p": p, "rule": rule.label, "E[A|r=1]": exact[1], "se1": 0.01, "z1": 0.0,
                             "E[A|r=0]": exact[0], "se0": 0.01, "z0": 0.0, "z_lambda": 0.0,
                             "lambda_exact": float(gradient_scale(G, p, rule.estimator, rule.std, rule.eps))})
    return rows


def test_tt4_checks_hold_on_exact_rows_and_fail_on_a_deviation() -> None:
    rows = tt4_rows()
    assert judge(tt4_unbiasedness.tt4_checks(rows)) == HOLDS
    rows[0]["z1"] = 4.5
    assert [k for k, v in tt4_unbiasedness.tt4_checks(rows).items() if not v] == [
        "every Monte Carlo E[A|r] and lambda_G(p) within 4 standard errors of theory.expectations"]
    rows = tt4_rows()
    two = next(r for r in rows if r["G"] == 2 and r["rule"] == "grpo(sample)")
    two["E[A|r=1]"] += 5 * two["se1"]  # 2-GRPO's E[A|r=1] off c (1 - p) by 5 SE
    assert [k for k, v in tt4_unbiasedness.tt4_checks(rows).items() if not v] == [
        "2-GRPO: E[A|r] = c (r - p) at every p (c = 1 population, 1/sqrt(2) sample; within 4 SE)"]


def tt8_rows(mean_rate_z: float = -6.0, printed_z: float = 6.0) -> tuple[list[dict], list[dict]]:
    fixed = [{"G": 2, "p": 0.5, "z": 1.0}, {"G": 4, "p": 0.1, "z": -2.0}]
    pooled = [{"distribution": "uniform", "G": 2, "z": 0.5, "mean_pass_rate_z": mean_rate_z,
               "tt_v3_printed_formula": 0.5, "mean_pass_rate_formula": 0.5, "tt_v3_printed_z": printed_z},
              {"distribution": "uniform", "G": 8, "z": -0.5, "mean_pass_rate_z": mean_rate_z}]
    return fixed, pooled


def test_tt8_checks_by_value() -> None:
    assert judge(tt8_silent_rates.tt8_checks(*tt8_rows())) == HOLDS
    flipped = tt8_silent_rates.tt8_checks(*tt8_rows(mean_rate_z=6.0))  # the mean pass rate over-estimating
    assert [k for k, v in flipped.items() if not v] == [
        "the mean pass rate under-estimates the silent rate by more than 4 SE (every pool and G)"]
    close = tt8_silent_rates.tt8_checks(*tt8_rows(printed_z=-3.9))
    assert [k for k, v in close.items() if not v] == [
        "TT v3's printed 1 - rbar^2 - (1-rbar)^2 is off the simulated G = 2 rate by more than 4 SE (every pool)"]
    fixed, pooled = tt8_rows()
    fixed[1]["z"] = -4.01
    assert judge(tt8_silent_rates.tt8_checks(fixed, pooled)) == Verdict.PARTLY
    pooled[0]["mean_pass_rate_formula"] = 0.5 + 1e-9
    assert not tt8_silent_rates.tt8_checks(fixed, pooled)[
        "TT v3's printed formula is the complement of rbar^2 + (1-rbar)^2 (sums to 1)"]
    assert math.isclose(pooled[0]["tt_v3_printed_formula"], 0.5)
