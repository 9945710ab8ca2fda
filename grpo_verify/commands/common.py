"""What several subcommands share: the budget/out/seed options and printing evidence."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from evidence.io import atomic_write_json
from evidence.record import BUDGETS, Evidence, RunContext, Verdict
from grpo_verify.producers import Producer, run_producer
from grpo_verify.report import run_metadata


def add_run_options(parser: argparse.ArgumentParser, *, default_out: str, default_budget: str = "default") -> None:
    parser.add_argument("--budget", choices=BUDGETS, default=default_budget,
                        help=f"how much work: smoke (CI), default, full (default: {default_budget})")
    parser.add_argument("--out", type=Path, default=Path(default_out), help=f"output folder (default: {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")


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


def run_producers(producers: Sequence[Producer], ctx: RunContext, *, steps: bool = False) -> int:
    """Run producers, print each record, write ``ctx.out_dir/evidence.json``; exit status 1 if any
    producer crashed, else 0 (a claim that fails is a result, not an error)."""
    meta = run_metadata(ctx, command_line())
    evidence: list[Evidence] = []
    crashed = False
    for producer in producers:
        rows, _, error = run_producer(producer, ctx)
        crashed |= error is not None
        evidence += rows
        for e in rows:
            print(format_evidence(e, steps=steps), flush=True)
    atomic_write_json(ctx.out_dir / "evidence.json", {"meta": meta, "evidence": [e.to_json() for e in evidence]})
    counts = {v.value: sum(e.verdict == v for e in evidence) for v in Verdict}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"\n{summary}; written to {ctx.out_dir / 'evidence.json'}")
    return 1 if crashed else 0
