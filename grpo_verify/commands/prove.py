"""``grpo-verify prove [CLAIM_ID ...]``: run the proof checks of the claims table and print each
derivation."""

from __future__ import annotations

import argparse

from evidence.record import RunContext
from grpo_verify.commands.common import add_run_options, check_out_dir, checks_of_kind, claim_id, run_and_print

HELP = "prove claims symbolically (sympy): the proof checks of the claims table, with statement, derivation, verdict"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("claim_ids", nargs="*", type=claim_id, metavar="CLAIM_ID",
                        help="claims to prove (default: every claim with a proof check)")
    add_run_options(parser, default_out="out/prove")


def run(args: argparse.Namespace) -> int:
    calls = checks_of_kind("proof", args.claim_ids)
    check_out_dir("--out", args.out)
    ctx = RunContext(budget=args.budget, out_dir=args.out, seed=args.seed)
    return run_and_print(calls, ctx, steps=True)
