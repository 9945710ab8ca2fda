"""``grpo-verify simulate [CLAIM_ID ...]``: run the simulation checks (Monte Carlo studies) of the
claims table."""

from __future__ import annotations

import argparse

from evidence.record import RunContext
from grpo_verify.commands.common import add_run_options, check_out_dir, checks_of_kind, claim_id, run_and_print

HELP = ("run the Monte Carlo studies: the simulation checks of the claims table, for the given claims "
        "(default: every claim with one). The old `simulate gradients|training` split is gone: name claim ids.")
OLD_STUDIES = ("gradients", "training")


def study_claim_id(value: str) -> str:
    """A claim id; the names of the old split get a message that says what replaced them."""
    if value in OLD_STUDIES:
        raise argparse.ArgumentTypeError(f"'simulate {value}' is gone: give claim ids (e.g. TT-6) or none for "
                                         "every simulation check; each must be an id `grpo-verify claims` lists")
    return claim_id(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("claim_ids", nargs="*", type=study_claim_id, metavar="CLAIM_ID",
                        help="claims to simulate (default: every claim with a simulation check)")
    add_run_options(parser, default_out="out/simulate")


def run(args: argparse.Namespace) -> int:
    calls = checks_of_kind("simulation", args.claim_ids)
    check_out_dir("--out", args.out)
    ctx = RunContext(budget=args.budget, out_dir=args.out, seed=args.seed)
    return run_and_print(calls, ctx)
