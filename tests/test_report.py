"""The evidence record and the report writer (with fake checks in a fake claims table)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evidence.io import atomic_path, atomic_write_json
from evidence.record import METHODS, Evidence, RunContext, Verdict, combine, judge
from grpo_verify.claims import CLAIMS, Check, Claim
from grpo_verify.report import claim_rows, report_kinds, write_report
from grpo_verify.runner import select_checks


def test_judge_computes_the_verdict_from_checks() -> None:
    assert judge({"a": True, "b": True}) is Verdict.HOLDS
    assert judge({"a": True, "b": True}, complete=False) is Verdict.PARTLY
    assert judge({"a": True, "b": False}) is Verdict.PARTLY
    assert judge({"a": False}) is Verdict.FAILS
    assert judge({}) is Verdict.NOT_CHECKED


def test_combine_keeps_agreement_and_flags_disagreement() -> None:
    assert combine([Verdict.HOLDS, Verdict.HOLDS, Verdict.ERROR]) is Verdict.HOLDS
    assert combine([Verdict.HOLDS, Verdict.FAILS]) is Verdict.PARTLY
    assert combine([Verdict.ERROR]) is Verdict.ERROR
    assert combine([]) is Verdict.NOT_CHECKED


def test_evidence_from_checks_names_failed_checks_and_round_trips_json() -> None:
    e = Evidence.from_checks("TT-4", "exact", "t", {"good": True, "bad": False}, numbers={"x": 1.5})
    assert e.verdict is Verdict.PARTLY and "bad" in e.reason
    again = Evidence.from_json(json.loads(json.dumps(e.to_json())))
    assert again == e
    with pytest.raises(ValueError, match="method='guess' is not allowed"):
        Evidence("TT-4", "guess", "t", Verdict.HOLDS, "")


def test_atomic_write_leaves_old_file_when_the_writer_dies(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def _ok(ctx: RunContext) -> list[Evidence]:
    """XX-8: a fake exact check that holds."""
    return [Evidence.from_checks("XX-8", "exact", "fake", {"x": True}, artefacts=("fake/a.json",))]


def _crash(ctx: RunContext) -> list[Evidence]:
    """XX-1, XX-2: a fake proof that crashes."""
    raise ZeroDivisionError("boom")


FAKE = (Claim("XX-1", "First", "s1", "src", (Check("proof", f"{__name__}:_crash"),)),
        Claim("XX-2", "Second", "s2", "src", (Check("proof", f"{__name__}:_crash"),)),
        Claim("XX-8", "Silent-group rate", "s8", "src", (Check("exact", f"{__name__}:_ok"),)),
        Claim("XX-9", "Never run", "s9", "src", (Check("proof", f"{__name__}:_crash"),)))


def test_report_is_written_with_unchecked_claims_and_errors(tmp_path: Path) -> None:
    calls = select_checks(["XX-1", "XX-2", "XX-8"], claims=FAKE)
    payload = write_report(RunContext("smoke", tmp_path), calls, "test", FAKE)
    rows = {r["id"]: r for r in payload["claims"]}
    assert rows["XX-8"]["overall"] == "holds" and rows["XX-8"]["exact"] == "holds"
    assert rows["XX-1"]["overall"] == "error" and rows["XX-2"]["proof"] == "error"
    assert rows["XX-9"]["overall"] == "not checked"
    for name in ("report.md", "report.html", "claims.json"):
        assert (tmp_path / name).stat().st_size > 0
    markdown = (tmp_path / "report.md").read_text()
    assert "| XX-8 | Silent-group rate | not checked | holds | **holds** |" in markdown
    assert "ZeroDivisionError" in markdown
    assert "Reproduce: `grpo-verify report --only XX-8 --kind exact --budget smoke --seed 0`" in markdown
    assert payload["meta"]["packages"]["numpy"]
    commit = payload["meta"]["commit"]  # None only outside a git checkout
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)
    assert f"commit `{commit}`" in markdown
    assert [(t["check"], t["claims"], t["error"] is not None) for t in payload["checks"]] == [
        (f"{__name__}:_crash", ["XX-1", "XX-2"], True), (f"{__name__}:_ok", ["XX-8"], False)]


def test_report_columns_are_the_kinds_the_claims_table_lists() -> None:
    assert report_kinds(FAKE) == ("proof", "exact")
    assert report_kinds(CLAIMS) == METHODS
    [row] = claim_rows([], FAKE[:1])
    assert set(row) == {"id", "title", "source", "proof", "overall", "evidence"}


def test_claim_rows_never_say_holds_without_evidence() -> None:
    assert all(r["overall"] == "not checked" for r in claim_rows([]))
