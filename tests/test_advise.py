"""simulations.advise and ``grpo-verify advise`` (BY-3): the exact engine agrees with theory.allocation, and the
predicted ranking of G = 2/4/8/16 matches the one measured by Monte Carlo; ``advise --model`` probes the pass rates
of the pretrained study (gpu_runs.pretrained.pass_rates) and estimates silent shares from the counts."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gpu_runs.pretrained import arithmetic
from gpu_runs.pretrained import pass_rates as R
from gpu_runs.pretrained.gradients import silent_probability_unbiased
from gpu_runs.pretrained.models import load_model
from gpu_runs.pretrained.probe import run_probe
from gpu_runs.pretrained.study import FORMAT, SIZES, seed_streams
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


def test_silent_probability_is_unbiased_up_to_k_samples_and_plug_in_above() -> None:
    """E over s ~ Binomial(k, p) of the estimate: p^G + (1-p)^G exactly for G <= k; above k (plug-in) more, by
    Jensen."""
    k, p = 4, 0.3
    s = np.arange(k + 1)
    pmf = np.array([math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in s])
    for G in (2, 3, 4, 5, 8):
        expected = pmf @ R.silent_probability(s, k, G)
        truth = p**G + (1 - p) ** G
        if G <= k:
            assert expected == pytest.approx(truth, rel=1e-12)
        else:
            assert expected > truth * 1.01


def test_allocation_silent_share_takes_each_group_by_its_own_size() -> None:
    """n = (0, 2, 4) on s = (0, 1, 2) of k = 4: the unused prompt is left out; C(3,2)/C(4,2) = 1/2 and 0 (no
    4-subset of 2 right, 2 wrong is silent); n = (2, 6) on s = (0, 2): 1 and the plug-in 2 (1/2)^6."""
    assert R.allocation_silent_share([0, 1, 2], 4, [0, 2, 4]) == pytest.approx((1 / 4, (2 * 1 / 2 + 4) / 6))
    silent = (1, 2 * 0.5**6)
    assert R.allocation_silent_share([0, 2], 4, [2, 6]) == pytest.approx(
        (np.mean(silent), (2 * (1 - silent[0]) + 6 * (1 - silent[1])) / 8))


MODEL_ARGS = ["--model", "tiny-random", "--budget-rollouts", "32", "--max-group", "16", "--probe-prompts", "8",
              "--probe-samples", "4", "--seed", "3", "--threads", "0"]
"""k = 4 samples: G = 2, 4 get the unbiased silent share, G = 8, 16 the plug-in."""


def test_advise_model_uses_the_pass_rates_of_a_direct_probe(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--model tiny-random end to end: the probed counts (saved, and in the JSON) equal those of run_probe called
    with the study's format, sizes and seed stream; uniform G's silent share is the mean unbiased estimate where
    G <= k and the plug-in above; the saved file read back by --pass-rates gives the same advice."""
    saved, advice_json = tmp_path / "rates.json", tmp_path / "advice.json"
    assert main(["advise", *MODEL_ARGS, "--save-pass-rates", str(saved), "--json", str(advice_json)]) == 0
    out = capsys.readouterr().out
    assert "each pass rate p_q = s_q / 4 is a 4-sample estimate" in out
    sizes = SIZES["smoke"]
    direct, _, _ = run_probe(load_model("tiny-random", seed=3), arithmetic.make_problems(8, 3), 4,
                             prompt_format=FORMAT, max_new_tokens=sizes.max_new_tokens, seed=seed_streams(3)["probe"],
                             reward=sizes.reward, prompts_per_batch=sizes.prompts_per_batch)
    s = direct.successes
    assert np.any((s > 0) & (s < 4))  # some prompt where the unbiased and the plug-in estimates differ
    rates, advice = json.loads(saved.read_text()), json.loads(advice_json.read_text())
    assert rates["successes"] == s.tolist() and rates["pass_rates"] == (s / 4).tolist()
    assert [row["successes"] for row in advice["probe"]["rows"]] == s.tolist()
    for G, row in advice["group_sizes"].items():
        G = int(G)
        unbiased = G <= 4
        silent = silent_probability_unbiased(s, 4, G) if unbiased else (s / 4) ** G + (1 - s / 4) ** G
        assert row["silent_share"] == pytest.approx(silent.mean(), rel=1e-12)
        assert row["silent_estimate"] == ("unbiased" if unbiased else "plug-in")
    again = tmp_path / "again.json"
    assert main(["advise", "--pass-rates", str(saved), "--budget-rollouts", "32", "--max-group", "16", "--seed", "3",
                 "--json", str(again)]) == 0
    assert json.loads(again.read_text()) == {k: v for k, v in advice.items() if k != "probe"}


def test_advise_model_without_its_file_names_the_fetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("GRPO_VERIFY_CACHE", str(tmp_path / "empty-cache"))
    assert main(["advise", "--model", "smollm2-135m", "--budget-rollouts", "8", "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert "grpo-verify models fetch smollm2-135m" in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--pass-rates", "rates.json"], "argument --pass-rates: not allowed with argument --model"),
    (["--run", "run"], "argument --run: not allowed with argument --model"),
    (["--probe-samples", "1"], "argument --probe-samples: invalid value '1': must be an integer in [2, 256]"),
    (["--probe-prompts", "0"], "argument --probe-prompts: invalid value '0': must be an integer in [1, 4096]"),
    (["--threads", "-1"], "argument --threads: invalid value '-1': must be an integer in [0, 1024]"),
])
def test_advise_model_errors_name_the_option(capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["advise", "--model", "tiny-random", "--budget-rollouts", "8", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "gpt-5"], "argument --model: invalid value 'gpt-5': must be one of tiny-random, smollm2-135m or "
                           "hf:PATH"),
    (["--pass-rates", "RATES", "--probe-samples", "8"], "--probe-samples needs --model"),
    (["--pass-rates", "RATES", "--save-pass-rates", "out.json"], "--save-pass-rates needs --model"),
])
def test_advise_probe_options_need_a_registered_model(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      args: list[str], message: str) -> None:
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps(PASS_RATES.tolist()))
    argv = ["advise", "--budget-rollouts", "8", *[str(rates) if a == "RATES" else a for a in args]]
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse's own type check exits 2 itself
        status = exit_info.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (Path.cwd() / "out.json").exists()


def test_advise_rejects_saved_counts_that_disagree_with_the_pass_rates(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"pass_rates": [0.5, 0.25], "successes": [2, 2], "samples_per_prompt": 4}))
    assert main(["advise", "--pass-rates", str(rates), "--budget-rollouts", "8"]) == 2
    assert "'pass_rates' must equal 'successes' / 'samples_per_prompt'" in capsys.readouterr().err
