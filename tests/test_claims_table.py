"""The claims table (grpo_verify/claims.py) is the one map from a claim id to its checks: every
target imports, every check function names its claims, docs/THEORY.md and docs/CLAIMS.md agree
with it, and nothing points outside the repository."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from evidence.record import METHODS
from grpo_verify.claims import CLAIMS, CLAIMS_BY_ID, get_claim
from grpo_verify.commands.claims import render_markdown
from grpo_verify.runner import select_checks

ROOT = Path(__file__).resolve().parents[1]
TARGETS = sorted({check.target for claim in CLAIMS for check in claim.checks})
ROWS = [(claim.id, check.target) for claim in CLAIMS for check in claim.checks]
CLAIM_ID = re.compile(r"\b(?:TT|VI|RZ|DR|BY)-\d+\b")


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_in_the_table_imports_and_is_callable(target: str) -> None:
    check = next(c for claim in CLAIMS for c in claim.checks if c.target == target)
    function = check.load()
    assert callable(function)
    assert list(inspect.signature(function).parameters) == ["ctx"], f"{target} must be check(ctx)"


@pytest.mark.parametrize(("claim_id", "target"), ROWS, ids=[f"{c}-{t}" for c, t in ROWS])
def test_the_claim_id_is_in_the_docstring_of_every_function_its_row_names(claim_id: str, target: str) -> None:
    """One grep for a claim id finds its statement, its row here and every function that checks it."""
    check = next(c for c in get_claim(claim_id).checks if c.target == target)
    assert claim_id in (inspect.getdoc(check.load()) or ""), f"{target}'s docstring does not name {claim_id}"


def test_claim_ids_are_unique_and_every_claim_has_a_check() -> None:
    assert len(CLAIMS_BY_ID) == len(CLAIMS)
    assert [c.id for c in CLAIMS if not c.checks] == []
    assert all(CLAIM_ID.fullmatch(c.id) for c in CLAIMS)


def test_every_check_function_has_one_kind_and_runs_once() -> None:
    calls = select_checks()  # ValueError if a target were listed under two kinds
    assert sorted(call.target for call in calls) == TARGETS
    assert [METHODS.index(call.kind) for call in calls] == sorted(METHODS.index(call.kind) for call in calls)


def test_a_function_listed_under_two_claims_is_one_call_for_both() -> None:
    [call] = [c for c in select_checks(["VI-1", "VI-2"], ["exact"])]
    assert call.claim_ids == ("VI-1", "VI-2")


def test_the_claim_headings_of_theory_md_are_the_rows_of_the_table() -> None:
    """docs/THEORY.md names each claim in a heading (### TT-1 ...) or a bold bullet (- **BY-1**)."""
    text = (ROOT / "docs" / "THEORY.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith(("### ", "- **"))]
    ids = {i for line in headings for i in CLAIM_ID.findall(line)}
    assert sorted(ids) == sorted(CLAIMS_BY_ID)


def test_docs_claims_md_is_the_rendering_of_the_table() -> None:
    """Regenerate with `grpo-verify claims --markdown > docs/CLAIMS.md`."""
    assert (ROOT / "docs" / "CLAIMS.md").read_text() == render_markdown()


OUTSIDE = ("../" + "shared", "shared/" + "THEORY", "shared/" + "STYLE")


def test_nothing_in_readme_code_or_tests_refers_to_a_path_outside_the_repository() -> None:
    files = [ROOT / "README.md", ROOT / "pyproject.toml",
             *(p for folder in ("docs", "tests", "theory", "evidence", "proofs", "simulations", "gpu_runs",
                                "grpo_verify")
               for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml"))]
    hits = [f"{p.relative_to(ROOT)}: {needle}" for p in files for needle in OUTSIDE if needle in p.read_text()]
    assert hits == []
