"""simulations.advise and ``grpo-verify advise`` (BY-3): the exact engine agrees with theory.allocation, and the
predicted ranking of G = 2/4/8/16 matches the one measured by Monte Carlo."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from grpo_verify.cli import main
from simulations import advise as S
from simulations.engine import simulate_update_statistics
from simulations.environments import pass_rate_quantiles
from theory import allocation as A

PASS_RATES = pass_rate_quantiles("uniform", 16)
BUDGET = 64


def test_theory_matches_the_exact_engine_for_uniform_group_sizes() -> None:
    """Q = B/G prompts drawn with replacement: theory's closed forms equal exact_update_statistics."""
    table = S.group_size_table(PASS_RATES, BUDGET)
    for G, row in table.items():
        theory = A.uniform_statistics(PASS_RATES, G, BUDGET, replace=True)
        assert (row["snr"], row["silent_share"], row["cosine"], row["gain"]) == pytest.approx(
            (theory.snr, theory.silent_share, theory.cosine, theory.gain), rel=1e-9)


def test_theory_matches_the_exact_engine_for_fixed_allocations() -> None:
    env = S.bandit(PASS_RATES)
    for name in S.ALLOCATORS:
        n = S.allocate(name, PASS_RATES, BUDGET, max_group=16)
        engine, theory = S.allocation_statistics(env, n), A.allocation_statistics(PASS_RATES, n)
        assert (engine["snr"], engine["silent_share"], engine["cosine"], engine["gain"]) == pytest.approx(
            (theory.snr, theory.silent_share, theory.cosine, theory.gain), rel=1e-8)


def test_predicted_ranking_of_group_sizes_matches_monte_carlo() -> None:
    """Predicted (exact, 2-answer bandit) against measured (Monte Carlo, 4000 / 16000 batches of B = 64 per G) on
    the same bandit and on the log-linear policy (shared parameters: not the model that predicts): SNR and silent
    share both fall as G grows, in the same order, and neighbours' measured 95% intervals do not overlap."""
    predicted = S.group_size_table(PASS_RATES, BUDGET)
    order = [2, 4, 8, 16]
    assert sorted(predicted, key=lambda G: -predicted[G]["snr"]) == order
    assert sorted(predicted, key=lambda G: -predicted[G]["silent_share"]) == order
    bandit = S.measure_group_sizes(PASS_RATES, BUDGET, trials=4000, seed=1)
    env = S.bandit(PASS_RATES, kind="log-linear")
    shared = {G: simulate_update_statistics(env, G, BUDGET // G, S.RULE, trials=16000, seed=(2, G)) for G in order}
    for measured in ({G: m.snr for G, m in bandit.items()}, {G: m.silent_share for G, m in bandit.items()},
                     {G: (s["snr"].value, s["snr"].half_width) for G, s in shared.items()},
                     {G: (s["silent_fraction"].value, s["silent_fraction"].half_width) for G, s in shared.items()}):
        for small, large in itertools.pairwise(order):
            assert measured[small][0] - measured[small][1] > measured[large][0] + measured[large][1]


def test_arms_spend_the_budget_and_training_gain_is_measured() -> None:
    rng = np.random.default_rng(0)
    for arm in (S.uniform_arm(2, 64), S.uniform_arm(16, 64), S.allocator_arm("ours", 64, max_group=8)):
        groups = arm(PASS_RATES, rng)
        assert sum(size * prompts.size for size, prompts in groups.items()) == 64
    measured = S.measure_training_gain(PASS_RATES[:8], 32, {"G=4": S.uniform_arm(4, 32)}, steps=2, seeds=2,
                                       lrs=[1.0, 4.0], tuning_seeds=1)
    assert measured["G=4"].lr in (1.0, 4.0) and np.isfinite(measured["G=4"].gain_per_1000)


def test_advise_command_prints_recommendation_and_allocators(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rates = tmp_path / "rates.txt"
    rates.write_text("# pass rates\n" + "\n".join(f"{p:.4f}" for p in PASS_RATES))
    assert main(["advise", "--pass-rates", str(rates), "--budget-rollouts", str(BUDGET), "--max-group", "16",
                 "--json", str(tmp_path / "advice.json")]) == 0
    out = capsys.readouterr().out
    assert "Recommended group size: G = 2" in out
    for title in S.ALLOCATOR_TITLES.values():
        assert title in out
    advice = json.loads((tmp_path / "advice.json").read_text())
    assert advice["recommended_group_size"] == 2 and advice["prompts"] == 16


@pytest.mark.parametrize(("args", "message"), [
    (["--budget-rollouts", "1"], "argument --budget-rollouts: invalid value '1': must be an integer >= 2"),
    (["--budget-rollouts", "64", "--batch-prompts", "99"], "--batch-prompts=99 must lie in [1, 16]"),
])
def test_advise_errors_name_the_argument(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                         message: str) -> None:
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"pass_rates": PASS_RATES.tolist()}))
    try:
        status = main(["advise", "--pass-rates", str(rates), *args])
    except SystemExit as exit_info:  # argparse's own type check exits 2 itself
        status = exit_info.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_advise_reads_pass_rates_from_a_run(capsys: pytest.CaptureFixture) -> None:
    """--run: pass rate = successes / rollouts of each prompt over the run's logged groups (the verl fixture)."""
    fixture = Path(__file__).parent / "fixtures" / "verl_run"
    assert main(["advise", "--run", str(fixture), "--budget-rollouts", "16", "--max-group", "8"]) == 0
    assert "Pass rates: 4 prompts, mean 0.422" in capsys.readouterr().out  # (15 + 1 + 8 + 3) / 64


def test_advise_rejects_pass_rates_outside_unit_interval(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rates = tmp_path / "rates.json"
    rates.write_text("[0.5, 1.5]")
    assert main(["advise", "--pass-rates", str(rates), "--budget-rollouts", "8"]) == 2
    assert "must hold one or more numbers in [0, 1]" in capsys.readouterr().err
