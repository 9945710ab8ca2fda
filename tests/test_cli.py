"""The grpo-verify command line over the claims table: selection by claim id and kind, clear errors
(exit 2, no traceback), the claims listing and the thread settings made in the entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grpo_verify import cli
from grpo_verify.claims import CLAIMS
from grpo_verify.commands.claims import render_markdown

ROOT = Path(__file__).resolve().parents[1]
KNOWN_IDS = ", ".join(c.id for c in CLAIMS)


def _exit_code(argv: list[str]) -> int:
    """main's return value, or the status argparse exits with."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_only_with_an_unknown_id_exits_2_naming_only_and_the_known_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["report", "--only", "XX-99"]) == 2
    err = capsys.readouterr().err
    assert f"argument --only: unknown claim id 'XX-99'; known ids: {KNOWN_IDS}" in err
    assert "Traceback" not in err


def test_an_unknown_kind_exits_2_naming_kind_and_the_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["report", "--kind", "guess"]) == 2
    err = capsys.readouterr().err
    assert "argument --kind: invalid choice: 'guess'" in err and "'proof', 'exact', 'simulation', 'llm'" in err


def test_claim_ids_are_case_insensitive_in_skip(tmp_path: Path) -> None:
    assert _exit_code(["report", "--only", "tt-7", "--skip", "TT-7", "--out", str(tmp_path)]) == 2


def test_a_kind_the_chosen_claims_lack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["report", "--only", "TT-7", "--kind", "llm"]) == 2
    assert "--kind: the chosen claims have no check of kind llm; their kinds: proof" in capsys.readouterr().err


def test_prove_a_claim_without_a_proof_check_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["prove", "TT-9"]) == 2
    err = capsys.readouterr().err
    assert "CLAIM_ID: TT-9 has no proof check in the claims table; claims with one: TT-1, TT-2" in err


def test_simulate_with_the_old_study_names_says_what_replaced_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["simulate", "gradients"]) == 2
    assert "'simulate gradients' is gone: give claim ids" in capsys.readouterr().err


def test_claims_lists_every_claim_with_its_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["claims"]) == 0
    out = capsys.readouterr().out
    for claim in CLAIMS:
        block = out[out.index(f"{claim.id:<5} {claim.title}"):]
        for check in claim.checks:
            assert f"{check.kind:<10} {check.target}" in block


def test_claims_json_is_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["claims", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], [(k["kind"], k["target"]) for k in r["checks"]]) for r in rows] == [
        (c.id, [(k.kind, k.target) for k in c.checks]) for c in CLAIMS]


def test_claims_markdown_prints_docs_claims_md(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["claims", "--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown() == (ROOT / "docs" / "CLAIMS.md").read_text()


def test_main_sets_the_thread_policy_before_any_command(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    calls = []
    monkeypatch.setattr(cli, "configure_omp_wait_policy", lambda: calls.append("omp"))
    monkeypatch.setattr(cli, "build_parser", lambda: calls.append("parser") or cli.argparse.ArgumentParser())
    with pytest.raises(SystemExit):
        cli.main(["claims"])
    capsys.readouterr()
    assert calls == ["omp", "parser"]


def test_cli_rejects_bad_budget(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["report", "--budget", "huge"]) == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_report_runs_only_the_chosen_claim_and_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--only", "TT-7", "--kind", "proof", "--out", str(tmp_path)]) == 0
    assert "TT-7" in capsys.readouterr().out
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [(r["id"], r["proof"]) for r in claims["claims"]] == [("TT-7", "holds")]
    assert [(e["claim_id"], e["method"], e["command"]) for e in claims["evidence"]] == [
        ("TT-7", "proof", "grpo-verify report --only TT-7 --kind proof --budget smoke --seed 0")]
    assert [t["check"] for t in claims["checks"]] == ["proofs.exploration:check_tt7"]
