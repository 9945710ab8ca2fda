"""``grpo-verify claims``: list every registered claim."""

from __future__ import annotations

import argparse
import json

from grpo_verify.claims import CLAIMS
from grpo_verify.producers import PRODUCERS

HELP = "list every claim of THEORY.md with its id, source and the producers that check it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each full statement")


def run(args: argparse.Namespace) -> int:
    rows = [{"id": c.id, "title": c.title, "source": c.source, "statement": c.statement,
             "producers": [p.name for p in PRODUCERS if c.id in p.claims]} for c in CLAIMS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:<5} {r['title']}  [{r['source']}; checked by: {', '.join(r['producers']) or 'nothing yet'}]")
        if args.verbose:
            print(f"      {r['statement']}")
    return 0
