"""TT-9's LLM verdicts on hand-built seed tables: the improvement ratio of each arm is judged by the
one three-way rule (evidence.verdicts.decide_ratio over paired seeds) against its threshold from
theory.paper, and an undecided arm is reported as inconclusive, never as a failure.

Documented noise of the tables (about the tiny preset's measured spread): start score 0.20,
16-GRPO's per-seed gain 0.08 with seed-to-seed sd 0.01, the arm's paired deviation from
IR x gain with sd 0.003, 8 seeds. At that noise the IR interval is about +-0.03 wide, so a true IR of
1.0 holds against 0.95 (power about 0.89), 0.95 is inconclusive, 0.5 fails; the power test
measures how often.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from evidence.record import Verdict
from gpu_runs.tt9.experiment import FAMILY
from gpu_runs.tt9.report import (
    THRESHOLDS,
    evidence_tt9,
    evidence_vi3,
    experiment_tables,
    improvement_decision,
    improvement_threshold,
    markdown_table,
    wallclock_decision,
)
from theory import paper

START, GAIN, GAIN_SD, PAIR_SD, SEEDS = 0.20, 0.08, 0.01, 0.003, 8
METRIC = "mean_at_16"


def standard(rng: np.random.Generator, n: int) -> np.ndarray:
    """n values with mean exactly 0 and sample sd exactly 1."""
    z = rng.normal(size=n)
    return (z - z.mean()) / z.std(ddof=1)


def fake_run(arm: str, seed: int, score: float, *, group_size: int = 16, seconds: float = 10.0,
             rollouts: int = 1000, reward: float | None = None) -> dict[str, Any]:
    """A result.json of an evaluation run, as :func:`gpu_runs.tt9.experiment.run_one` writes it."""
    metrics = {METRIC: score, "greedy_accuracy": score, "pass_at_16": score,
               "reward": score if reward is None else reward}
    return {
        "arm": arm, "label": arm, "family": FAMILY[arm], "seed": seed, "group_size": group_size, "lr": 1e-3,
        "epochs": 10.0, "params": 100_000, "reward_kind": "partial" if arm.endswith("partial") else "binary",
        "rollouts_total": rollouts,
        "seconds": {"train": seconds, "rollout": seconds / 2, "update": seconds / 2, "eval": 1.0, "final_eval": 1.0,
                    "wall": seconds + 2},
        "curve": {"step": [0.0, 10.0], "epochs": [0.0, 10.0], "rollouts": [0.0, float(rollouts)],
                  "train_seconds": [0.0, seconds], "greedy_accuracy": [START, score], "pass_rate": [START, score],
                  "reward": [START, score]},
        "silent_fraction": [0.3] * 8,
        "probe_end": {"predicted_silent": {str(group_size): 0.3}},
        "final": {**metrics, "by_difficulty": {"2": dict(metrics)}},
    }


def seed_table(ratios: dict[str, float], rng_seed: int = 0, n: int = SEEDS) -> dict[str, list[dict[str, Any]]]:
    """Results by arm: 16-GRPO at START + gain_s, each other arm at START + IR gain_s + paired noise."""
    rng = np.random.default_rng(rng_seed)
    gains = GAIN + GAIN_SD * standard(rng, n)
    results = {"grpo16": [fake_run("grpo16", s, START + g) for s, g in enumerate(gains)]}
    for arm, ir in ratios.items():
        G = 2 if arm.startswith("grpo2") else 16 if arm.endswith("partial") else int(arm[1])
        noise = PAIR_SD * standard(rng, n)
        results[arm] = [fake_run(arm, s, START + ir * g + e, group_size=G, seconds=2.0, rollouts=125)
                        for s, (g, e) in enumerate(zip(gains, noise, strict=True))]
    return results


def run_of(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """What run_experiment returns, around hand-built results."""
    metrics = {METRIC: START, "greedy_accuracy": START, "pass_at_16": START, "reward": START}
    return {
        "results": results, "arms": {k: SimpleNamespace(family=FAMILY[k]) for k in results},
        "start": {"final": {**metrics, "by_difficulty": {"2": dict(metrics)}},
                  "probe": {"predicted_silent": {str(G): 0.3 for G in (2, 4, 8, 16)}},
                  "spread": {"share_informative": 0.5, "required": 0.4, "ok": True, "histogram": [1] * 10,
                             "prompts": 10, "samples": 16}},
        "epochs": 10.0, "seeds": list(range(len(results["grpo16"]))), "tuning_seeds": [1000], "tuning": {},
        "plateau": [{"epochs": 10.0, "multiplier": 1.0, "rise": 0.001, "ci95": 0.01, "quarter": 3,
                     "evaluations": 12, "runs": 1, "min_rise": 0.01, "plateaued": True}],
    }


@pytest.mark.parametrize(("true_ratio", "verdict"), [
    (1.0, Verdict.HOLDS), (0.95, Verdict.INCONCLUSIVE), (0.5, Verdict.FAILS),
])
def test_improvement_ratio_verdict_at_documented_noise(true_ratio: float, verdict: Verdict) -> None:
    results = seed_table({"grpo2-own": true_ratio})
    d = improvement_decision(results["grpo2-own"], results["grpo16"], START, METRIC, paper.TT9_IMPROVEMENT_RATIO)
    assert d.estimate == pytest.approx(true_ratio)  # the noise has mean exactly 0 over the seeds
    assert d.verdict == verdict and d.n == SEEDS
    assert d.seeds_needed is None  # decided, or (0.95) an estimate on the threshold that no seed count decides


def test_improvement_ratio_at_the_threshold_is_undecidable_by_more_seeds() -> None:
    results = seed_table({"grpo2-own": 0.95})
    d = improvement_decision(results["grpo2-own"], results["grpo16"], START, METRIC, 0.95)
    assert d.verdict == Verdict.INCONCLUSIVE and d.seeds_needed is None  # the estimate sits on the threshold
    d = improvement_decision(results["grpo2-own"], results["grpo16"], START, METRIC, 0.96)
    assert d.verdict == Verdict.INCONCLUSIVE and d.seeds_needed is not None and d.seeds_needed > SEEDS


def test_power_of_the_paired_verdict_at_documented_noise() -> None:
    """Over 300 random tables each: a true IR of 1.0 holds about 89% of the time (>= 85% asserted),
    0.95 holds or fails at most ~2.5% each (the interval's error rate; <= 20 of 300 asserted), 0.5
    always fails."""
    rng = np.random.default_rng(1)
    counts = {ir: {v: 0 for v in Verdict} for ir in (1.0, 0.95, 0.5)}
    for _ in range(300):
        gains = GAIN + GAIN_SD * rng.normal(size=SEEDS)
        for ir in counts:
            arm = ir * gains + PAIR_SD * rng.normal(size=SEEDS)
            ref_runs = [fake_run("grpo16", s, START + g) for s, g in enumerate(gains)]
            arm_runs = [fake_run("grpo2-own", s, START + a) for s, a in enumerate(arm)]
            counts[ir][improvement_decision(arm_runs, ref_runs, START, METRIC, 0.95).verdict] += 1
    assert counts[1.0][Verdict.HOLDS] >= 255
    assert counts[0.95][Verdict.HOLDS] <= 20 and counts[0.95][Verdict.FAILS] <= 20
    assert counts[0.5][Verdict.FAILS] == 300


def test_pairing_uses_only_common_seeds_in_seed_order() -> None:
    results = seed_table({"grpo2-own": 1.0})
    shuffled = list(reversed(results["grpo2-own"]))[:-1]  # seed 0 missing, order reversed
    d = improvement_decision(shuffled, results["grpo16"], START, METRIC, 0.95)
    assert d.n == SEEDS - 1 and d.verdict == Verdict.HOLDS


def test_wallclock_is_judged_at_most_21_percent() -> None:
    ref = [fake_run("grpo16", s, 0.3, seconds=10.0 + 0.1 * s) for s in range(SEEDS)]
    fast = [fake_run("grpo2-own", s, 0.3, seconds=1.5 + 0.01 * s) for s in range(SEEDS)]
    slow = [fake_run("grpo2-own", s, 0.3, seconds=5.0 + 0.01 * s) for s in range(SEEDS)]
    assert wallclock_decision(fast, ref).verdict == Verdict.HOLDS
    assert wallclock_decision(slow, ref).verdict == Verdict.FAILS


def test_thresholds_come_from_tt_rows() -> None:
    assert improvement_threshold(paper.TT9_SCORE_RATIO) == pytest.approx(0.952)  # TT9_IMPROVEMENT_RATIO's reading
    assert THRESHOLDS["grpo2-rs"][0] == pytest.approx(1.022)
    assert THRESHOLDS["grpo2-own"][0] == THRESHOLDS["grpo2-tt"][0] == paper.TT9_IMPROVEMENT_RATIO
    assert {THRESHOLDS[f"g{G}-fixed-p"][0] for G in (2, 4, 8)} == {paper.TT9_SMALL_DIFFERENCE}
    with pytest.raises(ValueError, match="base_share=1"):
        improvement_threshold(0.9, base_share=1.0)


def test_evidence_reports_holds_inconclusive_and_fails_per_arm() -> None:
    results = seed_table({"grpo2-own": 1.0, "grpo2-tt": 0.5, "grpo2-rs": 1.0, "g4-fixed-p": 1.0, "g8-fixed-p": 0.95})
    tables = experiment_tables(run_of(results), k=16)
    table1, table4 = evidence_tt9(tables, command="", artefacts=())
    assert table1.checks == {"grpo2-tt: improvement ratio >= 0.95": False, "grpo2-tt: wall-clock ratio <= 0.21": True,
                             "grpo2-own: improvement ratio >= 0.95": True, "grpo2-own: wall-clock ratio <= 0.21": True,
                             "grpo2-rs: improvement ratio >= 1.02": None}  # 1.0 [0.97, 1.03] straddles 1.022
    assert table1.verdict == Verdict.PARTLY
    assert table4.checks == {"g4-fixed-p: improvement ratio >= 0.9": True, "g8-fixed-p: improvement ratio >= 0.9": True}
    assert table4.verdict == Verdict.HOLDS
    assert tables["table1"]["grpo2-rs"]["decision"]["seeds_needed"] is None or \
        tables["table1"]["grpo2-rs"]["decision"]["seeds_needed"] > SEEDS
    text = markdown_table(tables, "cpu")
    assert "| fails" in text and "inconclusive" in text


def test_undecided_arms_make_an_inconclusive_record_not_a_failed_one() -> None:
    results = seed_table({"g2-fixed-p": 0.9, "g4-fixed-p": 0.9})  # estimates on the threshold
    (record,) = evidence_tt9(experiment_tables(run_of(results), k=16), command="", artefacts=())
    assert set(record.checks.values()) == {None} and record.verdict == Verdict.INCONCLUSIVE


def test_vi3_is_a_paired_difference_of_partial_credit() -> None:
    rng = np.random.default_rng(2)
    base = 0.5 + 0.02 * standard(rng, SEEDS)
    results = seed_table({})
    results["grpo16-partial"] = [fake_run("grpo16-partial", s, 0.3, reward=b) for s, b in enumerate(base)]
    for lift, verdict in ((0.01, Verdict.HOLDS), (0.0, Verdict.INCONCLUSIVE), (-0.01, Verdict.FAILS)):
        noise = 0.002 * standard(rng, SEEDS)
        results["grpovi16-partial"] = [fake_run("grpovi16-partial", s, 0.3, reward=b + lift + e)
                                       for s, (b, e) in enumerate(zip(base, noise, strict=True))]
        tables = experiment_tables(run_of(results), k=16)
        assert tables["grpovi"]["decision"]["estimate"] == pytest.approx(lift, abs=1e-12)
        assert evidence_vi3(tables, command="", artefacts=()).verdict == verdict
