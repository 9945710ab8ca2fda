"""``grpo-verify prove [CLAIM_ID ...]``: run the sympy derivations and print them."""

from __future__ import annotations

import argparse

from evidence.record import RunContext
from grpo_verify.claims import get_claim
from grpo_verify.commands.common import add_run_options, run_producers
from grpo_verify.producers import PRODUCERS_BY_NAME

HELP = "prove claims symbolically (sympy) and print statement, derivation and verdict"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("claim_ids", nargs="*", metavar="CLAIM_ID", help="claims to prove (default: all)")
    add_run_options(parser, default_out="out/prove")


def run(args: argparse.Namespace) -> int:
    ids = frozenset(get_claim(c).id for c in args.claim_ids) or None
    ctx = RunContext(budget=args.budget, out_dir=args.out, seed=args.seed, claim_ids=ids)
    return run_producers([PRODUCERS_BY_NAME["proofs"]], ctx, steps=True)
