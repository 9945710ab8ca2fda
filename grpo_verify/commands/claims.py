"""``grpo-verify claims``: print the claims table, each claim with the checks that give evidence for
it (kind and ``module:function``); ``--markdown`` renders docs/CLAIMS.md."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from grpo_verify.claims import CLAIMS, Claim

HELP = "print the claims table: each claim's id, title, source and its checks (kind, module:function)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON instead of text")
    form.add_argument("--markdown", action="store_true",
                      help="print docs/CLAIMS.md (`grpo-verify claims --markdown > docs/CLAIMS.md`)")
    form.add_argument("--readme", action="store_true",
                      help="print README's verdict tables, rendered from the committed results "
                           "(grpo_verify.readme_tables); paste each between its markers in README.md")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print each full statement (text form)")


def render_markdown(claims: Sequence[Claim] = CLAIMS) -> str:
    """docs/CLAIMS.md: every claim with its source, statement and check rows (kind, target)."""
    lines = ["# Claims and their checks", "",
             "Rendered from the claims table, `grpo_verify/claims.py`, by "
             "`grpo-verify claims --markdown > docs/CLAIMS.md`; a test keeps this file current. "
             "The theory behind each claim, in the papers' notation: [THEORY.md](THEORY.md).", "",
             "A check is a function `check(ctx: RunContext) -> list[Evidence]`, named here as `module:function`; "
             "`grpo-verify report --only ID --kind KIND` runs the checks of one kind of one claim.", ""]
    for claim in claims:
        lines += [f"## {claim.id}: {claim.title}", "", f"*{claim.source}.* {claim.statement}", "",
                  "| kind | check |", "|---|---|"]
        lines += [f"| {check.kind} | `{check.target}` |" for check in claim.checks]
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.readme:
        from grpo_verify.readme_tables import rendered_blocks

        for name, block in rendered_blocks().items():
            print(f"<!-- BEGIN {name} -->\n{block}\n<!-- END {name} -->\n")
        return 0
    if args.markdown:
        print(render_markdown(), end="")
        return 0
    if args.json:
        rows = [{"id": c.id, "title": c.title, "source": c.source, "statement": c.statement,
                 "checks": [{"kind": k.kind, "target": k.target} for k in c.checks]} for c in CLAIMS]
        print(json.dumps(rows, indent=2))
        return 0
    for c in CLAIMS:
        print(f"{c.id:<5} {c.title}  [{c.source}]")
        if args.verbose:
            print(f"      {c.statement}")
        for check in c.checks:
            print(f"      {check.kind:<10} {check.target}")
    return 0
