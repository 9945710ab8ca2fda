"""The runner over the claims table, with fake check functions defined here: one call per distinct
function, only the wanted claims' records kept, command and seconds filled, crashes as errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.record import Evidence, RunContext, Verdict
from grpo_verify import runner
from grpo_verify.claims import Check, Claim
from grpo_verify.runner import CheckCall, run_check, run_checks, select_checks

CALLS: list[tuple[str, frozenset[str] | None]] = []


def shared_exact(ctx: RunContext) -> list[Evidence]:
    """XX-1, XX-2, XX-3: one exact computation, a record for each claim (whatever ctx asks)."""
    CALLS.append(("shared_exact", ctx.claim_ids))
    return [Evidence.from_checks(c, "exact", f"fake {c}", {"x": True}) for c in ("XX-1", "XX-2", "XX-3")]


def proof_xx1(ctx: RunContext) -> list[Evidence]:
    """XX-1: a fake proof."""
    CALLS.append(("proof_xx1", ctx.claim_ids))
    return [Evidence.from_checks("XX-1", "proof", "fake proof", {"x": False})]


def crash(ctx: RunContext) -> list[Evidence]:
    """XX-1, XX-2: a check that raises."""
    raise ZeroDivisionError("boom")


def wrong_kind(ctx: RunContext) -> list[Evidence]:
    """XX-3: listed as simulation, returns an exact record."""
    return [Evidence.from_checks("XX-3", "exact", "fake", {"x": True})]


def forgets_a_claim(ctx: RunContext) -> list[Evidence]:
    """XX-1, XX-2: returns a record for XX-1 only."""
    return [Evidence.from_checks("XX-1", "simulation", "fake", {"x": True})]


def _claims(*rows: tuple[str, tuple[tuple[str, str], ...]]) -> tuple[Claim, ...]:
    return tuple(Claim(cid, f"title {cid}", "statement", "source",
                       tuple(Check(kind, f"{__name__}:{function}") for kind, function in checks))
                 for cid, checks in rows)


FAKE = _claims(("XX-1", (("exact", "shared_exact"), ("proof", "proof_xx1"))),
               ("XX-2", (("exact", "shared_exact"),)),
               ("XX-3", (("exact", "shared_exact"),)))


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def test_a_function_listed_under_two_claims_is_called_once_for_both(tmp_path: Path) -> None:
    calls = select_checks(["XX-1", "XX-2"], claims=FAKE)
    assert calls == [CheckCall("proof", f"{__name__}:proof_xx1", ("XX-1",)),
                     CheckCall("exact", f"{__name__}:shared_exact", ("XX-1", "XX-2"))]
    results = run_checks(calls, RunContext("smoke", tmp_path), progress=False)
    assert CALLS == [("proof_xx1", frozenset({"XX-1"})), ("shared_exact", frozenset({"XX-1", "XX-2"}))]
    assert [(e.claim_id, e.method) for r in results for e in r.evidence] == [
        ("XX-1", "proof"), ("XX-1", "exact"), ("XX-2", "exact")]  # XX-3's record is dropped


def test_select_checks_by_kind_keeps_only_that_kind() -> None:
    assert select_checks(kinds=["exact"], claims=FAKE) == [
        CheckCall("exact", f"{__name__}:shared_exact", ("XX-1", "XX-2", "XX-3"))]
    assert select_checks(["XX-2"], ["proof"], claims=FAKE) == []


def test_runner_fills_the_reproducing_command_and_the_calls_seconds(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.time, "perf_counter", iter([10.0, 12.5]).__next__)
    result = run_check(CheckCall("exact", f"{__name__}:shared_exact", ("XX-1", "XX-3")),
                       RunContext("default", tmp_path, seed=3))
    assert [(e.claim_id, e.command, e.seconds) for e in result.evidence] == [
        ("XX-1", "grpo-verify report --only XX-1 --kind exact --budget default --seed 3", 2.5),
        ("XX-3", "grpo-verify report --only XX-3 --kind exact --budget default --seed 3", 2.5)]
    assert result.seconds == 2.5 and result.error is None


def test_a_crashing_check_is_one_error_record_per_wanted_claim(tmp_path: Path) -> None:
    result = run_check(CheckCall("proof", f"{__name__}:crash", ("XX-2",)), RunContext("smoke", tmp_path))
    assert "ZeroDivisionError: boom" in result.error
    [record] = result.evidence
    assert (record.claim_id, record.method, record.verdict) == ("XX-2", "proof", Verdict.ERROR)
    assert record.reason == "ZeroDivisionError: boom" and "ZeroDivisionError" in record.steps[0]
    assert record.command == "grpo-verify report --only XX-2 --kind proof --budget smoke --seed 0"


def test_a_record_of_another_kind_than_the_table_says_is_an_error(tmp_path: Path) -> None:
    result = run_check(CheckCall("simulation", f"{__name__}:wrong_kind", ("XX-3",)), RunContext("smoke", tmp_path))
    assert [(e.claim_id, e.method, e.verdict) for e in result.evidence] == [("XX-3", "simulation", Verdict.ERROR)]
    assert "returned exact records; the claims table lists it as simulation" in result.error


def test_a_wanted_claim_without_a_record_is_an_error(tmp_path: Path) -> None:
    result = run_check(CheckCall("simulation", f"{__name__}:forgets_a_claim", ("XX-1", "XX-2")),
                       RunContext("smoke", tmp_path))
    assert [e.verdict for e in result.evidence] == [Verdict.ERROR, Verdict.ERROR]
    assert "returned no record for XX-2" in result.error


def test_a_missing_module_is_an_error_not_a_crash_of_the_run(tmp_path: Path) -> None:
    result = run_check(CheckCall("exact", "no_such_module:check_xx1", ("XX-1",)), RunContext("smoke", tmp_path))
    assert "ModuleNotFoundError" in result.error and result.evidence[0].verdict is Verdict.ERROR


def test_select_checks_names_the_argument_and_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"claim_ids: unknown claim id 'XX-99'; allowed: XX-1, XX-2, XX-3"):
        select_checks(["XX-99"], claims=FAKE)
    with pytest.raises(ValueError, match=r"kinds: unknown kind 'guess'; allowed: proof, exact, simulation, llm"):
        select_checks(kinds=["guess"], claims=FAKE)


def test_a_target_listed_under_two_kinds_is_rejected() -> None:
    claims = _claims(("XX-1", (("exact", "shared_exact"),)), ("XX-2", (("simulation", "shared_exact"),)))
    with pytest.raises(ValueError, match="listed as 'exact' and as 'simulation'"):
        select_checks(claims=claims)


def test_a_check_row_must_name_a_kind_and_a_module_function() -> None:
    with pytest.raises(ValueError, match="kind='guess' is not allowed"):
        Check("guess", "proofs.variance:check_tt6")
    with pytest.raises(ValueError, match="not of the form 'module:function'"):
        Check("proof", "proofs.variance.check_tt6")
