"""TT-9 experiment (gpu_runs.tt9): the metrics against enumeration, the per-seed interval against
scipy, the arms against TT's protocol, the presets and the check's preset, argument errors. The
verdicts, the tuning and plateau rules and the start-policy spread: tests/test_tt9_*.py."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

import gpu_runs.tt9.experiment as experiment
from evidence.record import BUDGETS, RunContext
from gpu_runs.config import preset as model_preset
from gpu_runs.tt9.experiment import (
    ARM_KEYS,
    REFERENCE,
    ExperimentConfig,
    experiment_config,
    make_arm,
    prepare_out_dir,
    tt_scaled_lr,
)
from gpu_runs.tt9.metrics import pass_at_k, pass_at_k_levels, silent_probability_estimate
from gpu_runs.tt9.report import mean_ci
from theory.expectations import binomial_pmf, silent_group_probability


@st.composite
def counts(draw: st.DrawFn, max_n: int = 10) -> tuple[int, int, int]:
    """(n samples, c successes, k or G <= n), edge cases c = 0 and c = n included."""
    n = draw(st.integers(2, max_n))
    c = draw(st.integers(0, n))
    return n, c, draw(st.integers(1, n))


@settings(max_examples=60)
@given(counts())
def test_pass_at_k_equals_subset_enumeration(case: tuple[int, int, int]) -> None:
    n, c, k = case
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(outcomes, k))
    assert pass_at_k(np.array([c]), n, k)[0] == pytest.approx(np.mean([any(s) for s in subsets]), abs=1e-12)


@settings(max_examples=60)
@given(counts(), st.floats(0.0, 1.0))
def test_pass_at_k_is_unbiased_for_one_minus_fail_to_the_k(case: tuple[int, int, int], p: float) -> None:
    n, _, k = case
    c = np.arange(n + 1)
    expected = float(binomial_pmf(n, np.float64(p)) @ pass_at_k(c, n, k))
    assert expected == pytest.approx(1 - (1 - p) ** k, abs=1e-9)


@settings(max_examples=60)
@given(counts(max_n=16), st.floats(0.0, 1.0))
def test_silent_estimate_is_unbiased_for_p_to_the_g_plus_q_to_the_g(case: tuple[int, int, int], p: float) -> None:
    n, _, G = case
    G = max(G, 2)
    c = np.arange(n + 1)
    expected = float(binomial_pmf(n, np.float64(p)) @ silent_probability_estimate(c, n, G))
    assert expected == pytest.approx(float(silent_group_probability(G, p)), abs=1e-9)


@settings(max_examples=40)
@given(counts(max_n=9))
def test_silent_estimate_equals_share_of_agreeing_subsets(case: tuple[int, int, int]) -> None:
    n, c, G = case
    G = max(G, 2)
    subsets = list(itertools.combinations([1] * c + [0] * (n - c), G))
    share = np.mean([len(set(s)) == 1 for s in subsets])
    assert silent_probability_estimate(np.array([c]), n, G)[0] == pytest.approx(share, abs=1e-12)


def test_pass_at_k_levels_are_powers_of_two_up_to_n() -> None:
    assert pass_at_k_levels(16) == [1, 2, 4, 8, 16]
    assert pass_at_k_levels(12) == [1, 2, 4, 8, 12]
    assert pass_at_k_levels(1) == [1]


@pytest.mark.parametrize("call, message", [
    (lambda: pass_at_k(np.array([3]), 2, 1), "successes"),
    (lambda: pass_at_k(np.array([-1]), 4, 1), "successes"),
    (lambda: pass_at_k(np.array([0.5]), 4, 1), "successes"),
    (lambda: pass_at_k(np.array([1]), 0, 1), "n=0"),
    (lambda: pass_at_k(np.array([1]), 4, 5), "k=5"),
    (lambda: pass_at_k(np.array([1]), 4, 0), "k=0"),
    (lambda: silent_probability_estimate(np.array([1]), 4, 5), "group_size=5"),
    (lambda: silent_probability_estimate(np.array([1]), 4, 1), "group_size=1"),
])
def test_metrics_reject_bad_arguments(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --- statistics ---------------------------------------------------------------------------------------

samples = st.lists(st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 6)), min_size=2, max_size=8)
"""Per-seed values; rounding keeps ties (all-equal samples) and avoids subnormal spreads."""


@settings(max_examples=40)
@given(samples)
def test_mean_ci_is_the_student_t_interval(values: list[float]) -> None:
    mean, half = mean_ci(values)
    x = np.array(values)
    if x.std(ddof=1) == 0:
        assert (mean, half) == (x[0], 0.0)
        return
    low, high = student_t.interval(0.95, x.size - 1, loc=x.mean(), scale=x.std(ddof=1) / math.sqrt(x.size))
    assert (mean - half, mean + half) == pytest.approx((low, high), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("call, message", [
    (lambda: mean_ci([]), "values"),
    (lambda: mean_ci([1.0, math.nan]), "values"),
    (lambda: mean_ci([1.0, 2.0], level=1.5), "level=1.5"),
])
def test_statistics_reject_bad_arguments(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --- the arms follow TT's protocol ----------------------------------------------------------------------

@pytest.mark.parametrize("preset, budget", [("tiny", "smoke"), ("tiny", "default"), ("small", "smoke"),
                                            ("small", "default"), ("gpu", "default")])
def test_arms_follow_tt_protocol(preset: str, budget: str) -> None:
    exp = experiment_config(preset, budget)
    arms = {k: make_arm(exp, k, 0.5).config for k in ARM_KEYS}
    ref = arms["grpo16"]
    N, P = exp.base.warm_start.task.train_size, ref.prompts_per_step

    def rollouts(c) -> int:
        return c.steps * c.rollouts_per_step

    assert ref.group_size == 16 and ref.steps * P == exp.prompts() == round(exp.epochs * N)
    assert ref.lr == pytest.approx(0.5 * exp.base.lr)
    for key in ("grpo2-tt", "grpo2-own", "grpo2-rs"):  # 8P x 2 per step, same epochs, 12.5% of the rollouts
        c = arms[key]
        assert (c.group_size, c.prompts_per_step, c.prompts_per_minibatch) == (2, 8 * P, 8 * P)
        assert c.rollouts_per_step == ref.rollouts_per_step and c.steps * c.prompts_per_step == exp.prompts()
        assert 8 * rollouts(c) == rollouts(ref)
        assert c.lr == pytest.approx(8 * ref.lr)  # TT's scaling: 1e-6 -> 8e-6 for 32 -> 256 prompts
    rs = arms["grpo2-rs"]
    assert rs.resample_silent and rs.resample_rollouts_per_prompt * rs.prompts_per_step * rs.steps == rollouts(ref)
    assert rollouts(arms["grpo2-equal"]) == rollouts(ref) and arms["grpo2-equal"].group_size == 2
    for G in (2, 4, 8):  # Table 4: fixed P prompts per mini-batch, the same steps and TT-scaled lr
        c = arms[f"g{G}-fixed-p"]
        assert (c.group_size, c.prompts_per_minibatch, c.steps, c.lr) == (G, P, ref.steps, ref.lr)
    assert (arms["grpo16-partial"].reward, arms["grpo16-partial"].estimator) == ("partial", "grpo")
    assert (arms["grpovi16-partial"].reward, arms["grpovi16-partial"].estimator) == ("partial", "grpovi")
    for c in arms.values():  # one start policy and one training set for every arm
        assert c.warm_start == ref.warm_start and c.eval_prompts == ref.eval_prompts
        assert c.steps // c.eval_every <= exp.eval_points + 1
    assert make_arm(exp, "grpo16", 1.0, epochs=2 * exp.epochs).config.steps == 2 * ref.steps


def test_tt_protocol_row_is_8x_16_grpo_tuned_lr() -> None:
    exp = experiment_config("tiny", "default")
    for m16 in (0.25, 1.0, 4.0):
        assert make_arm(exp, "grpo2-tt", m16).config.lr == pytest.approx(8 * make_arm(exp, "grpo16", m16).config.lr)
    assert tt_scaled_lr(exp, "grpo2-own") == tt_scaled_lr(exp, "grpo2-tt") == 8 * tt_scaled_lr(exp, "g4-fixed-p")


@pytest.mark.parametrize("change, message", [
    (dict(seeds=0), "seeds=0"),
    (dict(epochs=0.01), "epochs=0.01"),
    (dict(epochs=-1.0), "epochs=-1.0"),
    (dict(epochs=1 / 3), "epochs=0.33"),
    (dict(k=8), "k=8"),
    (dict(final_prompts=10**6), "final_prompts"),
    (dict(probe_prompts=10**6), "probe_prompts"),
    (dict(lr_grid=(1.0,)), "lr_grid"),
    (dict(lr_grid=(1.0, -1.0)), "lr_grid"),
    (dict(lr_grid=(1.0, 1.0)), "lr_grid"),
    (dict(grid_factor=1.0), "grid_factor=1.0"),
    (dict(max_grid_extensions=-1), "max_grid_extensions=-1"),
    (dict(max_epochs=0.125), "max_epochs=0.125"),
    (dict(plateau_rise=-0.1), "plateau_rise=-0.1"),
    (dict(arms=("grpo16", "nope")), "arms='nope'"),
    (dict(arms=("grpo2-tt",)), "reference arm"),
    (dict(model="torch:x"), "model='torch:x'"),
    (dict(model="hf:"), "model='hf:'"),
])
def test_experiment_config_rejects_bad_values(change: dict, message: str) -> None:
    exp = experiment_config("tiny", "smoke")
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(exp, **change)


def test_experiment_config_rejects_a_base_tt_did_not_run() -> None:
    exp = experiment_config("tiny", "smoke")
    with pytest.raises(ValueError, match="group_size=8"):
        dataclasses.replace(exp, base=dataclasses.replace(exp.base, group_size=8))
    with pytest.raises(ValueError, match="prompts_per_minibatch=1"):
        dataclasses.replace(exp, base=dataclasses.replace(exp.base, prompts_per_minibatch=1))
    with pytest.raises(ValueError, match="multiple of 8 x prompts_per_step = 24"):  # 0.25 x 256 = 64
        dataclasses.replace(exp, base=dataclasses.replace(exp.base, prompts_per_step=3, prompts_per_minibatch=3))
    for name, value in (("preset", "tpu"), ("budget", "huge"), ("task", "chess")):
        with pytest.raises(ValueError, match=f"{name}='{value}'"):
            experiment_config(**{name: value})


def test_experiment_config_is_frozen() -> None:
    exp = experiment_config("tiny", "smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        exp.seeds = 5  # type: ignore[misc]
    assert isinstance(exp, ExperimentConfig)


def test_out_folder_of_another_experiment_is_refused_but_more_seeds_or_arms_resume(tmp_path) -> None:
    exp = experiment_config("tiny", "smoke")
    prepare_out_dir(exp, tmp_path, seed=0)
    prepare_out_dir(dataclasses.replace(exp, seeds=3, arms=("grpo16",)), tmp_path, seed=0)
    for other, seed in ((dataclasses.replace(exp, model="hf:/somewhere"), 0), (dataclasses.replace(exp, k=32), 0),
                        (exp, 1)):
        with pytest.raises(ValueError, match="holds another experiment"):
            prepare_out_dir(other, tmp_path, seed=seed)


@pytest.mark.parametrize("preset", ["tiny", "small", "gpu"])
@pytest.mark.parametrize("budget", BUDGETS)
def test_every_preset_and_budget_trains_its_named_model_on_the_chosen_device(preset: str, budget: str) -> None:
    for device in ("auto", "cpu", "cuda"):
        exp = experiment_config(preset, budget, device=device)
        assert exp.base.warm_start == model_preset(preset).warm_start and exp.base.device == device
    assert experiment_config(preset, budget, threads=3).base.threads == 3


class Ran(Exception):
    """Raised by the stand-in run_experiment: the test needs the experiment, not its run."""


@pytest.mark.parametrize("cuda", [False, True])
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize(("claims", "arms"), [
    (None, ARM_KEYS), (frozenset({"TT-9"}), ARM_KEYS),
    (frozenset({"VI-3"}), (REFERENCE, "grpo16-partial", "grpovi16-partial")),
])
def test_check_runs_the_tiny_preset_at_the_run_budget_on_every_machine(monkeypatch, tmp_path, cuda, budget, claims,
                                                                        arms) -> None:
    """No silent switch to the gpu preset where CUDA is present: the check always runs tiny."""
    import torch

    seen = []

    def stand_in(exp, out_dir, cache_dir, *, seed, progress):
        seen.append((exp, out_dir, seed))
        raise Ran

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(experiment, "run_experiment", stand_in)
    with pytest.raises(Ran):
        experiment.check_tt9_vi3(RunContext(budget, tmp_path, seed=4, claim_ids=claims))
    assert seen == [(experiment_config("tiny", budget, arms=arms), tmp_path / "llm", 4)]


def test_check_returns_nothing_for_other_claims(tmp_path) -> None:
    assert experiment.check_tt9_vi3(RunContext("smoke", tmp_path, claim_ids=frozenset({"TT-3"}))) == []
    assert not any(tmp_path.iterdir())
