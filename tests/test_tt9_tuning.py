"""TT-9's protocol rules by value: the lr grid is extended while its best sits at an edge, every arm
is tuned on the same grid and tuning seeds (training-prompt probes), the plateau criterion on
hand-made curves, E doubling until 16-GRPO plateaus, and the start policy's pass-rate spread."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpu_runs.tt9.experiment import (
    ARM_KEYS,
    MIN_SPREAD,
    REFERENCE,
    TUNING_SEED_OFFSET,
    RunSpec,
    converged_epochs,
    experiment_config,
    next_multiplier,
    plateau,
    spread,
    tune,
    tuned_arms,
)

# --- the grid extension rule ------------------------------------------------------------------------------


def test_best_at_the_low_edge_extends_below_it() -> None:
    assert next_multiplier({0.5: 0.40, 1.0: 0.35, 2.0: 0.20}, 2.0) == 0.25


def test_best_at_the_high_edge_extends_above_it() -> None:
    assert next_multiplier({0.5: 0.20, 1.0: 0.35, 2.0: 0.40}, 2.0) == 4.0
    assert next_multiplier({0.5: 0.20, 2.0: 0.40}, 3.0) == 6.0


def test_best_inside_the_grid_stops_the_extension() -> None:
    assert next_multiplier({0.5: 0.30, 1.0: 0.40, 2.0: 0.35}, 2.0) is None
    assert next_multiplier({0.25: 0.1, 0.5: 0.30, 1.0: 0.40, 2.0: 0.35, 4.0: 0.2}, 2.0) is None


def test_ties_choose_the_smaller_multiplier() -> None:
    assert next_multiplier({0.5: 0.4, 1.0: 0.4, 2.0: 0.1}, 2.0) == 0.25


@pytest.mark.parametrize(("scores", "factor", "message"), [({1.0: 0.3}, 2.0, "scores"),
                                                            ({1.0: 0.3, 2.0: 0.1}, 1.0, "factor=1.0")])
def test_next_multiplier_rejects_bad_arguments(scores: dict, factor: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_multiplier(scores, factor)


# --- equal tuning with a stand-in runner ------------------------------------------------------------------

OPTIMUM = {"grpo16": 1.0, "grpo2-own": 0.125, "grpo2-rs": 0.5, "grpo2-equal": 0.25, "g2-fixed-p": 2.0,
           "g4-fixed-p": 8.0, "g8-fixed-p": 64.0, "grpo16-partial": 1.0, "grpovi16-partial": 1.0}
"""The multiplier each arm's stand-in probe score peaks at (64: beyond the extension cap)."""


class StandInRunner:
    """Returns a result per spec whose probe score peaks at the arm's OPTIMUM (log scale) and whose
    held-out curve is ``curve(spec)``; records every batch of specs."""

    def __init__(self, curve: Any = None):
        self.batches: list[list[RunSpec]] = []
        self.curve = curve or (lambda spec: [0.2] * 13)

    def run(self, specs: list[RunSpec]) -> list[dict[str, Any]]:
        self.batches.append(list(specs))
        out = []
        for spec in specs:
            score = 0.5 - (math.log2(spec.arm.lr_multiplier) - math.log2(OPTIMUM[spec.arm.key])) ** 2 / 100
            out.append({"seed": spec.seed, "reward_kind": spec.arm.config.reward,
                        "curve": {"pass_rate": self.curve(spec)},
                        "probe_end": {"mean_pass_rate": score if spec.arm.config.reward == "binary" else 0.0,
                                      "mean_reward": score if spec.arm.config.reward == "partial" else 0.0}})
        return out


def test_every_arm_is_tuned_on_the_same_grid_and_tuning_seeds(tmp_path: Path) -> None:
    exp = experiment_config("tiny", "default")
    runner = StandInRunner()
    tuning_seeds = [TUNING_SEED_OFFSET, TUNING_SEED_OFFSET + 1]
    table = tune(exp, runner, tmp_path, exp.epochs, tuning_seeds)
    first = runner.batches[0]
    assert set(tuned_arms(exp)) == set(ARM_KEYS) - {"grpo2-tt"} == set(table)
    for key in table:  # round 1: the same multipliers and the same tuning seeds for every arm
        mine = [(s.arm.lr_multiplier, s.seed) for s in first if s.arm.key == key]
        assert sorted(mine) == sorted((m, s) for m in exp.lr_grid for s in tuning_seeds)
        assert all(not s.evaluate for s in first)  # tuning runs never evaluate on held-out prompts
    assert all(s.seed >= TUNING_SEED_OFFSET for batch in runner.batches for s in batch)
    dirs = [s.run_dir for batch in runner.batches for s in batch]
    assert len(dirs) == len(set(dirs))


def test_grid_is_extended_until_the_best_is_inside(tmp_path: Path) -> None:
    exp = experiment_config("tiny", "default")  # grid 0.5, 1, 2; factor 2; at most 3 extensions
    table = tune(exp, StandInRunner(), tmp_path, exp.epochs, [TUNING_SEED_OFFSET])
    assert table["grpo16"]["grid"] == [0.5, 1.0, 2.0] and table["grpo16"]["extensions"] == 0
    assert table["grpo2-own"]["grid"] == [0.0625, 0.125, 0.25, 0.5, 1.0, 2.0]  # 0.25, 0.125, 0.0625 added
    assert table["grpo2-own"]["chosen"] == 0.125 and not table["grpo2-own"]["at_grid_edge"]
    assert table["g4-fixed-p"]["grid"] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0] and table["g4-fixed-p"]["chosen"] == 8.0
    assert table["g2-fixed-p"]["grid"] == [0.5, 1.0, 2.0, 4.0] and table["g2-fixed-p"]["extensions"] == 1
    capped = table["g8-fixed-p"]  # the optimum lies beyond the cap: reported as at the edge
    assert capped["extensions"] == exp.max_grid_extensions and capped["at_grid_edge"] and capped["chosen"] == 16.0
    assert table["grpo16-partial"]["metric"] == "probe partial credit"
    assert table["grpo2-own"]["lr"] == pytest.approx(0.125 * 8 * exp.base.lr)


def test_plateau_of_a_flat_curve_and_not_of_a_rising_one() -> None:
    flat = plateau([0.30, 0.31, 0.30, 0.31, 0.30, 0.31, 0.30, 0.31, 0.30, 0.31, 0.30, 0.31], min_rise=0.01)
    assert flat["quarter"] == 3 and flat["rise"] == pytest.approx(0.01 / 3) and flat["plateaued"]
    rising = plateau(np.linspace(0.20, 0.31, 12), min_rise=0.01)  # +0.01 per evaluation
    assert rising["rise"] == pytest.approx(0.03) and not rising["plateaued"]
    assert rising["ci95"] == pytest.approx(2.7764 * math.sqrt(2 * 0.0001 / 3), rel=1e-3)  # Welch, df = 4


def test_plateau_is_declared_when_the_rise_is_below_its_interval() -> None:
    noisy = plateau([0.30, 0.30, 0.30, 0.25, 0.35, 0.25, 0.35, 0.35, 0.30], min_rise=0.001)
    assert noisy["rise"] > noisy["min_rise"] and noisy["rise"] < noisy["ci95"] and noisy["plateaued"]


def test_plateau_over_several_runs_uses_the_spread_of_their_rises() -> None:
    runs = [np.linspace(0.2, 0.2 + 0.01 * 7, 8), np.linspace(0.2, 0.2 + 0.03 * 7, 8)]  # rises 0.02, 0.06
    result = plateau(runs, min_rise=0.01)
    assert result["rise"] == pytest.approx(0.04) and result["runs"] == 2
    assert result["ci95"] == pytest.approx(12.7062 * 0.02, rel=1e-4) and result["plateaued"]  # t(1) x sd / sqrt 2


@pytest.mark.parametrize(("values", "min_rise", "message"), [([[0.1]], 0.01, "evaluations"),
                                                             ([0.1, math.nan], 0.01, "finite"),
                                                             ([0.1, 0.2], -1.0, "min_rise=-1.0")])
def test_plateau_rejects_bad_arguments(values: Any, min_rise: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plateau(values, min_rise)


def test_epochs_double_until_16_grpo_plateaus(tmp_path: Path) -> None:
    exp = experiment_config("tiny", "default")
    steps_at_e = exp.prompts() // exp.base.prompts_per_step

    def curve(spec: RunSpec) -> list[float]:  # 16-GRPO still rising after E epochs, flat after 2E
        rising = spec.arm.key == REFERENCE and spec.arm.config.steps == steps_at_e
        return list(np.linspace(0.2, 0.44, 13)) if rising else [0.3] * 13

    epochs, table, history = converged_epochs(exp, StandInRunner(curve), tmp_path, [TUNING_SEED_OFFSET])
    assert epochs == 2 * exp.epochs and [h["plateaued"] for h in history] == [False, True]
    assert [h["epochs"] for h in history] == [exp.epochs, 2 * exp.epochs] and table["grpo16"]["chosen"] == 1.0


def test_epochs_stop_at_the_cap_even_without_a_plateau(tmp_path: Path) -> None:
    exp = experiment_config("tiny", "default")
    epochs, _, history = converged_epochs(exp, StandInRunner(lambda s: list(np.linspace(0.2, 0.44, 13))), tmp_path,
                                          [TUNING_SEED_OFFSET])
    assert epochs == exp.max_epochs and not history[-1]["plateaued"]


# --- the start policy's spread ----------------------------------------------------------------------------


def test_spread_counts_prompts_strictly_inside_0_1_and_0_9() -> None:
    result = spread([0, 1, 2, 8, 14, 15, 16, 16, 8, 3], k=16)  # 1/16 = 0.0625 and 15/16 = 0.9375 are outside
    assert result["share_informative"] == pytest.approx(5 / 10) and result["ok"] and MIN_SPREAD == 0.4
    assert result["histogram"] == [2, 2, 0, 0, 0, 2, 0, 0, 1, 3]
    assert not spread([0, 0, 16, 16, 8], k=16)["ok"]


@pytest.mark.slow
def test_tiny_warm_start_leaves_40_percent_of_training_prompts_informative(tmp_path: Path) -> None:
    """The tiny preset's supervised warm start (trained here, ~20 CPU seconds), probed as the
    experiment probes its start: >= 40% of the training prompts with a pass rate in (0.1, 0.9)."""
    import dataclasses

    from gpu_runs.tt9.experiment import start_point
    from gpu_runs.tt9.start import start_policy

    exp = dataclasses.replace(experiment_config("tiny", "default", device="cpu"), final_prompts=64)
    point = start_point(exp, tmp_path, tmp_path / "cache", start_policy("gpt"), progress=False)
    assert point["spread"]["prompts"] == exp.probe_prompts == exp.base.warm_start.task.train_size
    assert point["spread"]["share_informative"] >= MIN_SPREAD and point["spread"]["ok"]
    assert point["warm_start"]["histogram"]["share_informative"] >= MIN_SPREAD  # the warm start's own probe agrees
