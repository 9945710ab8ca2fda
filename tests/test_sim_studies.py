"""The gradient studies (TT-4, TT-5, TT-6, TT-8) on tiny sizes: files written, evidence well formed, verdicts
computed from the checks, and the producer wired to the claims it is asked for."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from evidence.record import Evidence, RunContext, Verdict, judge
from simulations import control_variate, fixed_budget, gradient_studies, silent_rates, unbiasedness
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.study_tools import claim_checks

COMMON = {"seed": 0, "command": "test", "artefact_prefix": "sim-gradients", "progress": False}
TWO_ENVIRONMENTS = {"bandit": ("bandit", "binary"), "autoregressive": ("autoregressive", "binary")}


def assert_well_formed(evidence: Evidence, out: Path, claim: str) -> dict:
    """JSON-clean record, verdict recomputed from its checks, artefacts on disk; returns the study's JSON."""
    assert evidence.claim_id == claim and evidence.method == "simulation"
    json.dumps(evidence.to_json(), allow_nan=False)
    assert evidence.verdict == judge(evidence.checks)
    for artefact in evidence.artefacts:
        assert (out / artefact).stat().st_size > 0
    assert any(a.endswith(".png") for a in evidence.artefacts)
    return json.loads((out / next(a for a in evidence.artefacts if a.endswith(".json"))).read_text())


def test_tt4_unbiasedness_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unbiasedness, "PASS_RATES", (0.05, 0.5))
    evidence = unbiasedness.run(tmp_path / "sim-gradients", groups=3000, **COMMON)
    data = assert_well_formed(evidence, tmp_path, "TT-4")
    assert len(data["rows"]) == len(unbiasedness.GROUP_SIZES) * 2 * len(unbiasedness.RULES)
    two = [r for r in data["rows"] if r["G"] == 2 and r["rule"] == "grpo(population)"]
    assert all(r["lambda_exact"] == pytest.approx(1.0) for r in two)


def test_tt8_silent_rate_study(tmp_path: Path) -> None:
    evidence = silent_rates.run(tmp_path / "sim-gradients", groups=8_000, pool=64, **COMMON)
    data = assert_well_formed(evidence, tmp_path, "TT-8")
    uniform = next(r for r in data["distributions"] if r["distribution"] == "uniform" and r["G"] == 2)
    assert uniform["per_prompt_formula"] == pytest.approx(2 / 3, abs=1e-3)
    assert uniform["tt_v3_printed_formula"] == pytest.approx(0.5, abs=1e-3)
    assert all(evidence.checks.values()) and evidence.verdict == Verdict.HOLDS


def test_tt5_control_variate_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control_variate, "STUDY_ENVIRONMENTS", TWO_ENVIRONMENTS)
    monkeypatch.setattr(control_variate, "GROUP_SIZES", (2, 4))
    evidence = control_variate.run(tmp_path / "sim-gradients", pools={"bandit": 6, "autoregressive": 4}, groups=600,
                                   distributions=("uniform",), **COMMON)
    data = assert_well_formed(evidence, tmp_path, "TT-5")
    bandit = [r for r in data["rows"] if r["environment"] == "bandit"]
    assert all(r["exact"] is not None for r in bandit)
    assert all(r["exact"] is None for r in data["rows"] if r["environment"] == "autoregressive")


def test_tt5_exact_split_adds_up_to_the_update_variance() -> None:
    env = make_environment("log-linear", "hard", num_prompts=5, seed=1)
    split = control_variate.exact_split(env, 4)
    from simulations.engine import exact_group_moments, exact_update_statistics

    whole = exact_update_statistics(env, 1, exact_group_moments(env, 4, UpdateRule("grpo")), UpdateRule("grpo"))
    assert split["var_pos"] - 2 * split["cov"] + split["var_neg"] == pytest.approx(whole["trace_cov"].value, rel=1e-10)


def test_tt6_fixed_budget_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed_budget, "STUDY_ENVIRONMENTS", {"bandit": ("bandit", "binary")})
    monkeypatch.setattr(fixed_budget, "GROUP_SIZES", (2, 8))
    evidence = fixed_budget.run(tmp_path / "sim-gradients", pools={"bandit": 6}, trials=60,
                                distributions=("hard",), **COMMON)
    data = assert_well_formed(evidence, tmp_path, "TT-6")
    assert len(data["rows"]) == 2 * 2
    for row in data["rows"]:
        if row["exact"]:
            parts = row["exact"]["decomposition"]
            assert sum(parts.values()) == pytest.approx(row["exact"]["trace_cov"]["value"], rel=1e-9)
    assert any("2-GRPO" in s for s in evidence.steps)


def test_failed_validity_check_shows_but_passed_one_does_not_lift_the_verdict() -> None:
    claim = {"claim holds": False}
    assert judge(claim_checks(claim, {"MC agrees with exact": True})) == Verdict.FAILS
    assert claim_checks(claim, {"MC agrees with exact": False}) == {"claim holds": False, "MC agrees with exact": False}


@pytest.mark.slow
def test_producer_runs_only_the_claims_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gradient_studies.SIZES, "smoke",
                        dataclasses.replace(gradient_studies.SIZES["smoke"], tt8_groups=4_000, tt8_pool=32))
    ctx = RunContext(budget="smoke", out_dir=tmp_path, seed=1, claim_ids=frozenset({"TT-8"}))
    evidence = gradient_studies.produce(ctx)
    assert [e.claim_id for e in evidence] == ["TT-8"]
    assert (tmp_path / "sim-gradients" / "tt8_silent_groups.png").exists()
    again = gradient_studies.produce(RunContext(budget="smoke", out_dir=tmp_path / "again", seed=1,
                                                claim_ids=frozenset({"TT-8"})))
    assert again[0].numbers == evidence[0].numbers


def test_every_budget_names_sizes_for_every_environment() -> None:
    for sizes in gradient_studies.SIZES.values():
        assert set(sizes.pools) == set(fixed_budget.STUDY_ENVIRONMENTS)
        assert np.all(np.array(list(sizes.pools.values())) > 0)
