"""The exact checks of TT-1, TT-2, TT-3, TT-4, TT-8 and BY-2: each returns only the claims asked for, passes at
smoke budget, and draws from its own stream, so it gives the same numbers alone as beside the others (the old
producer shared one generator, so a check's numbers depended on which checks ran before it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence.record import BUDGETS, RunContext, Verdict
from simulations.exact import enumeration

CHECKS = {"TT-1": enumeration.check_tt1, "TT-2": enumeration.check_tt2, "TT-3": enumeration.check_tt3,
          "TT-4": enumeration.check_tt4, "TT-8": enumeration.check_tt8, "BY-2": enumeration.check_by2}


def run_all(ctx: RunContext) -> list:
    return [e for check in CHECKS.values() for e in check(ctx)]


def test_every_exact_check_holds_at_smoke_budget(tmp_path: Path) -> None:
    evidence = run_all(RunContext("smoke", tmp_path, seed=0))
    assert [e.claim_id for e in evidence] == list(CHECKS)
    for e in evidence:
        assert e.method == "exact" and e.verdict == Verdict.HOLDS and all(e.checks.values()), (e.claim_id, e.reason)
        assert e.command == "" and e.seconds == 0.0  # the runner fills both
        json.dumps(e.to_json(), allow_nan=False)


@pytest.mark.parametrize("claim", list(CHECKS))
def test_exact_check_returns_only_the_claims_asked(claim: str, tmp_path: Path) -> None:
    others = frozenset(CHECKS) - {claim}
    assert CHECKS[claim](RunContext("smoke", tmp_path, seed=0, claim_ids=others)) == []
    [record] = CHECKS[claim](RunContext("smoke", tmp_path, seed=0, claim_ids=frozenset({claim})))
    assert record.claim_id == claim


def test_exact_checks_give_the_same_numbers_alone_as_beside_the_others(tmp_path: Path) -> None:
    together = {e.claim_id: e.numbers for e in run_all(RunContext("smoke", tmp_path, seed=5))}
    for claim in reversed(list(CHECKS)):
        [alone] = CHECKS[claim](RunContext("smoke", tmp_path, seed=5, claim_ids=frozenset({claim})))
        assert alone.numbers == together[claim], claim


def test_random_checks_depend_on_the_seed(tmp_path: Path) -> None:
    first = enumeration.check_by2(RunContext("smoke", tmp_path, seed=0))
    other = enumeration.check_by2(RunContext("smoke", tmp_path, seed=1))
    assert first[0].numbers["max_gap"] != other[0].numbers["max_gap"]


def test_every_check_has_sizes_for_every_budget_and_streams_differ() -> None:
    for sizes in (enumeration.TT1_GROUPS, enumeration.TT2_POLICIES, enumeration.TT3_PAIRS,
                  enumeration.TT4_MAX_GROUP_SIZE, enumeration.BY2_LAWS):
        assert set(sizes) == set(BUDGETS)
        assert sizes["smoke"] <= sizes["default"] <= sizes["full"]
    assert len(set(enumeration.STREAMS.values())) == len(enumeration.STREAMS)
