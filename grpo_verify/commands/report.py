"""``grpo-verify report``: run every producer and write the claims report."""

from __future__ import annotations

import argparse

from evidence.record import METHODS, RunContext
from grpo_verify.commands.common import add_run_options, command_line
from grpo_verify.producers import PRODUCERS_BY_NAME, select_producers
from grpo_verify.report import verdict_counts, write_report

HELP = "run the evidence producers and write report.md, report.html and claims.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser, default_out="report", default_budget="smoke")
    parser.add_argument("--only", nargs="+", metavar="PRODUCER", choices=sorted(PRODUCERS_BY_NAME),
                        help=f"run only these producers ({', '.join(PRODUCERS_BY_NAME)})")
    parser.add_argument("--skip", nargs="+", metavar="PRODUCER", choices=sorted(PRODUCERS_BY_NAME), default=[],
                        help="run every producer but these")


def run(args: argparse.Namespace) -> int:
    producers = [p for p in select_producers(args.only) if p.name not in args.skip]
    ctx = RunContext(budget=args.budget, out_dir=args.out, seed=args.seed)
    payload = write_report(ctx, producers, command_line())
    width = max(len(r["title"]) for r in payload["claims"])
    print(f"{'id':<5}  {'claim':<{width}}  " + "  ".join(f"{m:<12}" for m in METHODS) + "  overall")
    for r in payload["claims"]:
        cells = "  ".join(f"{r[m]:<12}" for m in METHODS)
        print(f"{r['id']:<5}  {r['title']:<{width}}  {cells}  {r['overall']}")
    counts = verdict_counts(payload["claims"])
    print("\n" + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    print(f"wrote {args.out / 'report.md'}, {args.out / 'report.html'}, {args.out / 'claims.json'} "
          f"in {payload['meta']['wall_seconds']:.1f} s")
    return 1 if any(t["error"] for t in payload["producers"]) else 0
