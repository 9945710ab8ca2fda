"""The evidence record, the claims registry, the report writer and the CLI's claims/report commands."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from evidence.io import atomic_path, atomic_write_json
from evidence.record import Evidence, RunContext, Verdict, combine, judge
from grpo_verify import cli
from grpo_verify.claims import CLAIMS, CLAIMS_BY_ID, get_claim
from grpo_verify.producers import PRODUCERS, Producer, run_producer, select_producers
from grpo_verify.report import claim_rows, write_report

THEORY = Path(__file__).resolve().parents[2] / "shared" / "THEORY.md"


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


def test_registry_has_every_claim_id_of_theory_md() -> None:
    if not THEORY.is_file():
        assert not os.environ.get("CI"), f"{THEORY} is missing in CI"
        pytest.skip("shared/THEORY.md is not beside this checkout")
    ids = set(re.findall(r"\b(?:TT|VI|RZ|DR|BY)-\d\b", THEORY.read_text()))
    assert ids == set(CLAIMS_BY_ID)


def test_every_producer_claim_is_registered() -> None:
    for producer in PRODUCERS:
        assert set(producer.claims) <= set(CLAIMS_BY_ID), producer.name
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)
    with pytest.raises(ValueError, match="claim_id='XX-1' is unknown"):
        get_claim("XX-1")
    with pytest.raises(ValueError, match="producer 'nope' is unknown"):
        select_producers(["nope"])


def _ok(ctx: RunContext) -> list[Evidence]:
    return [Evidence.from_checks("TT-8", "exact", "fake", {"x": True}, artefacts=("fake/a.json",))]


def _crash(ctx: RunContext) -> list[Evidence]:
    raise ZeroDivisionError("boom")


OK = Producer("ok", f"{__name__}:_ok", ("TT-8",), "exact")
CRASH = Producer("crash", f"{__name__}:_crash", ("TT-1", "TT-2"), "proof")


def test_a_crashing_producer_is_an_error_for_its_claims_only(tmp_path: Path) -> None:
    evidence, _, error = run_producer(CRASH, RunContext("smoke", tmp_path, claim_ids=frozenset({"TT-1"})))
    assert "ZeroDivisionError" in error
    assert [(e.claim_id, e.verdict) for e in evidence] == [("TT-1", Verdict.ERROR)]


def test_report_is_written_with_unchecked_claims_and_errors(tmp_path: Path) -> None:
    payload = write_report(RunContext("smoke", tmp_path), [CRASH, OK], "test")
    rows = {r["id"]: r for r in payload["claims"]}
    assert rows["TT-8"]["overall"] == "holds" and rows["TT-8"]["exact"] == "holds"
    assert rows["TT-1"]["overall"] == "error"
    assert rows["TT-9"]["overall"] == "not checked"
    for name in ("report.md", "report.html", "claims.json"):
        assert (tmp_path / name).stat().st_size > 0
    markdown = (tmp_path / "report.md").read_text()
    assert "| TT-8 | Silent-group rate |" in markdown and "ZeroDivisionError" in markdown
    assert payload["meta"]["packages"]["numpy"]
    commit = payload["meta"]["commit"]  # None only outside a git checkout
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)
    assert f"commit `{commit}`" in markdown
    assert [t["producer"] for t in payload["producers"]] == ["crash", "ok"]


def test_claim_rows_never_say_holds_without_evidence() -> None:
    assert all(r["overall"] == "not checked" for r in claim_rows([]))


def test_cli_claims_lists_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["claims"]) == 0
    out = capsys.readouterr().out
    assert all(c.id in out for c in CLAIMS)


def test_cli_report_runs_the_theory_producer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--budget", "smoke", "--out", str(tmp_path), "--only", "theory"]) == 0
    out = capsys.readouterr().out
    assert "TT-3" in out and "holds" in out
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert {e["claim_id"] for e in claims["evidence"]} == {"TT-1", "TT-2", "TT-3", "TT-4", "TT-8", "BY-2"}


def test_cli_rejects_bad_budget(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["report", "--budget", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
