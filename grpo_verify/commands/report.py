"""``grpo-verify report``: run the checks of the claims table (all, or chosen by claim id and kind)
and write the claims report."""

from __future__ import annotations

import argparse

from evidence.record import METHODS, RunContext
from grpo_verify.claims import CLAIMS
from grpo_verify.commands.common import add_run_options, check_out_dir, claim_id, command_line
from grpo_verify.report import report_kinds, verdict_counts, write_report
from grpo_verify.runner import select_checks

HELP = "run the checks of the claims table and write report.md, report.html and claims.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser, default_out="report", default_budget="smoke")
    parser.add_argument("--only", nargs="+", type=claim_id, metavar="CLAIM_ID",
                        help="check only these claims (default: all; `grpo-verify claims` lists them)")
    parser.add_argument("--skip", nargs="+", type=claim_id, metavar="CLAIM_ID", default=[],
                        help="check every claim but these")
    parser.add_argument("--kind", nargs="+", choices=METHODS, metavar="KIND",
                        help=f"run only checks of these kinds: {', '.join(METHODS)} (default: all)")


def run(args: argparse.Namespace) -> int:
    check_out_dir("--out", args.out)
    claims = [c for c in CLAIMS if (args.only is None or c.id in args.only) and c.id not in args.skip]
    if not claims:
        raise ValueError("--skip: every claim chosen by --only is skipped; it must leave at least one claim to check")
    calls = select_checks([c.id for c in claims], args.kind)
    if not calls:
        raise ValueError(f"--kind: the chosen claims have no check of kind {', '.join(args.kind)}; "
                         f"their kinds: {', '.join(report_kinds(claims))} (must be among them)")
    ctx = RunContext(budget=args.budget, out_dir=args.out, seed=args.seed)
    payload = write_report(ctx, calls, command_line(), claims)
    kinds = report_kinds(claims)
    width = max(len(r["title"]) for r in payload["claims"])
    print(f"{'id':<5}  {'claim':<{width}}  " + "  ".join(f"{m:<12}" for m in kinds) + "  overall")
    for r in payload["claims"]:
        cells = "  ".join(f"{r[m]:<12}" for m in kinds)
        print(f"{r['id']:<5}  {r['title']:<{width}}  {cells}  {r['overall']}")
    counts = verdict_counts(payload["claims"])
    print("\n" + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    print(f"wrote {args.out / 'report.md'}, {args.out / 'report.html'}, {args.out / 'claims.json'} "
          f"in {payload['meta']['wall_seconds']:.1f} s")
    return 1 if any(t["error"] for t in payload["checks"]) else 0
