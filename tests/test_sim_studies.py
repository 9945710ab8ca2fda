"""The gradient studies (TT-4, TT-5, TT-6, TT-8) on tiny sizes: files written, evidence well formed, verdicts
computed from the checks; and every claim study's module in one dialect (one check, sizes per budget, records
only for the claims asked, the same numbers alone as beside its neighbours)."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import simulations.studies
from evidence.record import BUDGETS, Evidence, RunContext, Verdict, judge
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.studies import (
    tt4_unbiasedness,
    tt5_control_variate,
    tt6_fixed_budget,
    tt8_silent_rates,
)
from simulations.studies.common import claim_checks

TWO_ENVIRONMENTS = {"bandit": ("bandit", "binary"), "autoregressive": ("autoregressive", "binary")}
STUDY_CHECKS = {
    "tt4_unbiasedness": ("check_tt4", ("TT-4",)),
    "tt5_control_variate": ("check_tt5", ("TT-5",)),
    "tt6_fixed_budget": ("check_tt6", ("TT-6",)),
    "tt8_silent_rates": ("check_tt8", ("TT-8",)),
    "tt9_training": ("check_tt9", ("TT-9",)),
    "vi3_grpovi_training": ("check_vi3", ("VI-3",)),
    "rz1_learning_speed": ("check_rz1", ("RZ-1",)),
    "by2_win_rate": ("check_by2", ("BY-2",)),
    "by3_allocation": ("check_by3", ("BY-3",)),
    "dr1_difficulty": ("check_dr1", ("DR-1",)),
}
"""Each study module and the one check function (and claims) that PLAN.md's claims table names for it."""


def smoke(tmp_path: Path, *claims: str, seed: int = 0) -> RunContext:
    return RunContext("smoke", tmp_path, seed=seed, claim_ids=frozenset(claims) if claims else None)


def assert_well_formed(evidence: Evidence, out: Path, claim: str) -> dict:
    """JSON-clean record, artefacts on disk; returns the study's JSON."""
    assert evidence.claim_id == claim and evidence.method == "simulation"
    assert evidence.command == "" and evidence.seconds == 0.0  # the runner fills both
    json.dumps(evidence.to_json(), allow_nan=False)
    for artefact in evidence.artefacts:
        assert artefact.startswith("sim-gradients/")
        assert (out / artefact).stat().st_size > 0
    assert any(a.endswith(".png") for a in evidence.artefacts)
    return json.loads((out / next(a for a in evidence.artefacts if a.endswith(".json"))).read_text())


@pytest.fixture
def tiny_tt4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tt4_unbiasedness, "PASS_RATES", (0.05, 0.5))
    monkeypatch.setitem(tt4_unbiasedness.GROUPS_PER_CELL, "smoke", 3000)


@pytest.fixture
def tiny_tt8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tt8_silent_rates.SIZES, "smoke", tt8_silent_rates.Sizes(groups=4_000, pool=32))


def test_tt4_unbiasedness_study(tmp_path: Path, tiny_tt4: None) -> None:
    [evidence] = tt4_unbiasedness.check_tt4(smoke(tmp_path))
    data = assert_well_formed(evidence, tmp_path, "TT-4")
    assert len(data["rows"]) == len(tt4_unbiasedness.GROUP_SIZES) * 2 * len(tt4_unbiasedness.RULES)
    two = [r for r in data["rows"] if r["G"] == 2 and r["rule"] == "grpo(population)"]
    assert all(r["lambda_exact"] == pytest.approx(1.0) for r in two)


def test_tt8_silent_rate_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tt8_silent_rates.SIZES, "smoke", tt8_silent_rates.Sizes(groups=8_000, pool=64))
    [evidence] = tt8_silent_rates.check_tt8(smoke(tmp_path))
    data = assert_well_formed(evidence, tmp_path, "TT-8")
    uniform = next(r for r in data["distributions"] if r["distribution"] == "uniform" and r["G"] == 2)
    assert uniform["per_prompt_formula"] == pytest.approx(2 / 3, abs=1e-3)
    assert uniform["tt_v3_printed_formula"] == pytest.approx(0.5, abs=1e-3)
    assert all(evidence.checks.values()) and evidence.verdict == Verdict.HOLDS


def test_tt5_control_variate_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tt5_control_variate, "STUDY_ENVIRONMENTS", TWO_ENVIRONMENTS)
    monkeypatch.setattr(tt5_control_variate, "GROUP_SIZES", (2, 4))
    monkeypatch.setitem(tt5_control_variate.SIZES, "smoke",
                        tt5_control_variate.Sizes(600, {"bandit": 6, "autoregressive": 4}, ("uniform",)))
    [evidence] = tt5_control_variate.check_tt5(smoke(tmp_path))
    data = assert_well_formed(evidence, tmp_path, "TT-5")
    bandit = [r for r in data["rows"] if r["environment"] == "bandit"]
    assert all(r["exact"] is not None for r in bandit)
    assert all(r["exact"] is None for r in data["rows"] if r["environment"] == "autoregressive")


def test_tt5_exact_split_adds_up_to_the_update_variance() -> None:
    env = make_environment("log-linear", "hard", num_prompts=5, seed=1)
    split = tt5_control_variate.exact_split(env, 4)
    from simulations.engine import exact_group_moments, exact_update_statistics

    whole = exact_update_statistics(env, 1, exact_group_moments(env, 4, UpdateRule("grpo")), UpdateRule("grpo"))
    assert split["var_pos"] - 2 * split["cov"] + split["var_neg"] == pytest.approx(whole["trace_cov"].value, rel=1e-10)


def test_tt6_fixed_budget_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tt6_fixed_budget, "STUDY_ENVIRONMENTS", {"bandit": ("bandit", "binary")})
    monkeypatch.setattr(tt6_fixed_budget, "GROUP_SIZES", (2, 8))
    monkeypatch.setitem(tt6_fixed_budget.SIZES, "smoke", tt6_fixed_budget.Sizes(60, {"bandit": 6}, ("hard",)))
    [evidence] = tt6_fixed_budget.check_tt6(smoke(tmp_path))
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


def test_tt8_gives_the_same_numbers_alone_as_after_its_neighbour(tmp_path: Path, tiny_tt4: None,
                                                                  tiny_tt8: None) -> None:
    alone = tt8_silent_rates.check_tt8(smoke(tmp_path / "alone", "TT-8", seed=1))
    both = smoke(tmp_path / "both", "TT-4", "TT-8", seed=1)
    beside = tt4_unbiasedness.check_tt4(both) + tt8_silent_rates.check_tt8(both)
    assert [e.claim_id for e in beside] == ["TT-4", "TT-8"]
    assert beside[1].numbers == alone[0].numbers and beside[1].checks == alone[0].checks
    assert (tmp_path / "alone" / "sim-gradients" / "tt8_silent_groups.png").exists()


def test_tt8_numbers_depend_on_the_seed(tmp_path: Path, tiny_tt8: None) -> None:
    first = tt8_silent_rates.check_tt8(smoke(tmp_path / "a", seed=1))
    again = tt8_silent_rates.check_tt8(smoke(tmp_path / "b", seed=1))
    other = tt8_silent_rates.check_tt8(smoke(tmp_path / "c", seed=2))
    assert first[0].numbers == again[0].numbers
    assert first[0].numbers != other[0].numbers


@pytest.mark.parametrize("module_name", sorted(STUDY_CHECKS))
def test_study_module_exposes_exactly_its_one_check(module_name: str) -> None:
    module = importlib.import_module(f"simulations.studies.{module_name}")
    function, _ = STUDY_CHECKS[module_name]
    checks = [name for name, value in vars(module).items()
              if name.startswith("check_") and inspect.isfunction(value) and value.__module__ == module.__name__]
    assert checks == [function]
    assert list(inspect.signature(getattr(module, function)).parameters) == ["ctx"]


def test_every_study_module_is_listed() -> None:
    found = {m.name for m in pkgutil.iter_modules(simulations.studies.__path__)} - {"common"}
    assert found == set(STUDY_CHECKS)


@pytest.mark.parametrize("module_name", sorted(STUDY_CHECKS))
def test_study_sizes_are_given_for_every_budget_and_only_there(module_name: str) -> None:
    module = importlib.import_module(f"simulations.studies.{module_name}")
    sized = [name for name, value in vars(module).items()
             if name.isupper() and isinstance(value, dict) and set(value) == set(BUDGETS)]
    assert sized, f"{module_name} has no dict of sizes keyed by budget"
    assert not hasattr(module, "BUDGETS")


@pytest.mark.parametrize("module_name", sorted(STUDY_CHECKS))
def test_study_returns_nothing_for_claims_not_asked(module_name: str, tmp_path: Path) -> None:
    module = importlib.import_module(f"simulations.studies.{module_name}")
    function, claims = STUDY_CHECKS[module_name]
    others = {"TT-1", "TT-4", "TT-9", "VI-3", "RZ-1", "BY-2", "DR-1"} - set(claims)
    assert getattr(module, function)(smoke(tmp_path, *others)) == []
    assert not any(tmp_path.iterdir())


def test_tt5_and_tt6_budgets_size_every_environment() -> None:
    for module in (tt5_control_variate, tt6_fixed_budget):
        for sizes in module.SIZES.values():
            assert set(sizes.pools) == set(module.STUDY_ENVIRONMENTS)
            assert np.all(np.array(list(sizes.pools.values())) > 0)
