"""The evidence record by value (issue 18): verdicts of hand-built checks, the reason text, combine's
rules for errors and unchecked rows, JSON round trips and the run context."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.record import BUDGETS, METHODS, Evidence, RunContext, Verdict, combine, judge


def test_method_and_budget_names_are_pinned() -> None:
    assert METHODS[:4] == ("proof", "exact", "simulation", "llm")
    assert BUDGETS == ("smoke", "default", "full")


@pytest.mark.parametrize(("complete", "verdict"), [(True, Verdict.HOLDS), (False, Verdict.PARTLY)])
def test_all_passed_holds_only_when_complete(complete: bool, verdict: Verdict) -> None:
    assert judge({"a": True, "b": 1}, complete=complete) == verdict
    assert Evidence.from_checks("TT-1", "proof", "t", {"a": True}, complete=complete).verdict == verdict


def test_from_checks_defaults_complete_and_an_empty_reason() -> None:
    assert judge({"a": True}) == Verdict.HOLDS
    e = Evidence.from_checks("TT-1", "proof", "t", {"a": True})
    assert (e.verdict, e.reason) == (Verdict.HOLDS, "")


@pytest.mark.parametrize(("verdicts", "combined"), [
    ([], Verdict.NOT_CHECKED),
    ([Verdict.ERROR], Verdict.ERROR),
    ([Verdict.NOT_CHECKED], Verdict.NOT_CHECKED),
    ([Verdict.NOT_CHECKED, Verdict.ERROR], Verdict.ERROR),
    ([Verdict.ERROR, Verdict.HOLDS], Verdict.HOLDS),
    ([Verdict.HOLDS, Verdict.FAILS], Verdict.PARTLY),
    ([Verdict.HOLDS, Verdict.HOLDS, Verdict.INCONCLUSIVE], Verdict.HOLDS),
    ([Verdict.INCONCLUSIVE, Verdict.ERROR], Verdict.INCONCLUSIVE),
    ([Verdict.PARTLY, Verdict.HOLDS], Verdict.PARTLY),
])
def test_combine_by_hand(verdicts: list[Verdict], combined: Verdict) -> None:
    assert combine(verdicts) == combined


def test_from_checks_coerces_values_to_bool_or_none() -> None:
    e = Evidence.from_checks("BY-2", "exact", "t", {"a": 1, "b": 0, "c": None, "d": True})
    assert e.checks == {"a": True, "b": False, "c": None, "d": True}
    assert all(type(v) is bool for k, v in e.checks.items() if k != "c")
    assert e.verdict == Verdict.PARTLY


@pytest.mark.parametrize(("checks", "reason", "complete", "text"), [
    ({"a": True}, "", True, ""),
    ({"a": True}, "Shown for G <= 8.", True, "Shown for G <= 8."),
    ({"a": True}, "", False,
     "Every check passed on a finite set of cases; the general statement was not shown."),
    ({"a": True}, "Shown for G <= 8.", False, "Shown for G <= 8."),
    ({"a": False, "b": True, "c": False}, "", True, "Failed: a, c."),
    ({"a": False, "b": None, "c": None}, "On 8 seeds.", True, "On 8 seeds. Failed: a. Undecided: b, c."),
    ({"a": None, "b": True}, "", False, "Undecided: a."),
    ({"a": None}, "On 8 seeds.", True, "On 8 seeds. Undecided: a."),
])
def test_reason_lists_failed_then_undecided_checks(checks: dict, reason: str, complete: bool, text: str) -> None:
    assert Evidence.from_checks("TT-4", "simulation", "t", checks, complete=complete, reason=reason).reason == text


def test_from_checks_keeps_every_field() -> None:
    e = Evidence.from_checks("TT-6", "simulation", "Fixed budget", {"a": None}, numbers={"x": 1.5},
                             steps=("s1",), artefacts=("tt6/fig.png",), seconds=2.0)
    assert (e.claim_id, e.method, e.title, e.verdict) == ("TT-6", "simulation", "Fixed budget", Verdict.INCONCLUSIVE)
    assert (e.numbers, e.steps, e.artefacts, e.seconds, e.command) == ({"x": 1.5}, ("s1",), ("tt6/fig.png",), 2.0, "")


def test_evidence_rejects_an_unknown_method_and_parses_the_verdict() -> None:
    with pytest.raises(ValueError, match="method='guess' is not allowed; choose one of proof, exact, simulation, llm"):
        Evidence("TT-1", "guess", "t", Verdict.HOLDS, "")
    assert Evidence("TT-1", "proof", "t", "partly holds", "").verdict is Verdict.PARTLY


def test_json_round_trip_by_value() -> None:
    e = Evidence.from_checks("VI-2", "exact", "t", {"a": True, "b": None}, reason="r", numbers={"n": 3},
                             steps=("one", "two"), artefacts=("vi/a.json",), command="grpo-verify x", seconds=1.5)
    data = e.to_json()
    assert data == {"claim_id": "VI-2", "method": "exact", "title": "t", "verdict": "inconclusive",
                    "reason": "r Undecided: b.", "checks": {"a": True, "b": None}, "numbers": {"n": 3},
                    "steps": ("one", "two"), "artefacts": ("vi/a.json",), "command": "grpo-verify x", "seconds": 1.5}
    listed = {**data, "steps": list(data["steps"]), "artefacts": list(data["artefacts"])}  # as read from JSON
    back = Evidence.from_json(listed)
    assert back == e and back.steps == ("one", "two") and back.artefacts == ("vi/a.json",)
    minimal = {k: v for k, v in listed.items() if k not in ("steps", "artefacts")}
    assert Evidence.from_json(minimal).steps == () and Evidence.from_json(minimal).artefacts == ()


def test_run_context_by_value() -> None:
    ctx = RunContext("smoke", "out/x")
    assert ctx.out_dir == Path("out/x") and isinstance(ctx.out_dir, Path)
    assert ctx.seed == 0 and ctx.claim_ids is None
    assert ctx.wants("TT-1") and ctx.wants("anything")
    only = RunContext("full", Path("o"), seed=3, claim_ids=frozenset({"TT-4"}))
    assert only.wants("TT-4") and not only.wants("TT-5")
    with pytest.raises(ValueError, match="budget='huge' is not allowed; choose one of smoke, default, full"):
        RunContext("huge", "o")
