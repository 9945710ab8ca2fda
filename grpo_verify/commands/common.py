"""What several subcommands share: the budget/out/seed options, claim ids and kinds as arguments,
and running checks of the claims table while printing their evidence."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from evidence.io import atomic_write_json
from evidence.record import BUDGETS, Evidence, RunContext, Verdict
from grpo_verify.claims import CLAIMS, CLAIMS_BY_ID
from grpo_verify.report import run_metadata
from grpo_verify.runner import CheckCall, run_checks, select_checks


def add_run_options(parser: argparse.ArgumentParser, *, default_out: str, default_budget: str = "default") -> None:
    parser.add_argument("--budget", choices=BUDGETS, default=default_budget,
                        help=f"how much work: smoke (CI), default, full (default: {default_budget})")
    parser.add_argument("--out", type=Path, default=Path(default_out), help=f"output folder (default: {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")


def claim_id(value: str) -> str:
    """argparse type of a claim id: case-insensitive, one of the claims table's ids."""
    if value.upper() not in CLAIMS_BY_ID:
        raise argparse.ArgumentTypeError(f"unknown claim id {value!r}; known ids: {', '.join(CLAIMS_BY_ID)}")
    return value.upper()


def checks_of_kind(kind: str, claim_ids: Sequence[str]) -> list[CheckCall]:
    """The ``kind`` checks of ``claim_ids`` (every claim that has one if empty); ValueError naming
    the ids without such a check and the ids that have one."""
    having = [c.id for c in CLAIMS if kind in c.kinds]
    lacking = [c for c in claim_ids if c not in having]
    if lacking:
        raise ValueError(f"CLAIM_ID: {', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no {kind} "
                         f"check in the claims table; claims with one: {', '.join(having)}")
    return select_checks(claim_ids or None, [kind])


def command_line() -> str:
    return "grpo-verify " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def format_evidence(e: Evidence, *, steps: bool) -> str:
    lines = [f"{e.claim_id} [{e.method}] {e.title}: {e.verdict.value.upper()} ({e.seconds:.2f} s)"]
    if steps:
        lines += [f"    {i}. {s}" for i, s in enumerate(e.steps, 1)]
    if e.reason:
        lines.append(f"    reason: {e.reason}")
    lines += [f"    check {k}: {'ok' if v else 'FAILED'}" for k, v in e.checks.items()]
    lines += [f"    artefact: {a}" for a in e.artefacts]
    return "\n".join(lines)


def run_and_print(calls: Sequence[CheckCall], ctx: RunContext, *, steps: bool = False) -> int:
    """Run the checks, print each record, write ``ctx.out_dir/evidence.json``; exit status 1 if any
    check crashed, else 0 (a claim that fails is a result, not an error)."""
    meta = run_metadata(ctx, command_line())
    evidence: list[Evidence] = []
    crashed = False
    for result in run_checks(calls, ctx):
        crashed |= result.error is not None
        evidence += result.evidence
        for e in result.evidence:
            print(format_evidence(e, steps=steps), flush=True)
    atomic_write_json(ctx.out_dir / "evidence.json", {"meta": meta, "evidence": [e.to_json() for e in evidence]})
    counts = {v.value: sum(e.verdict == v for e in evidence) for v in Verdict}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"\n{summary}; written to {ctx.out_dir / 'evidence.json'}")
    return 1 if crashed else 0
