"""``grpo-verify simulate {gradients,training}``: the Monte Carlo studies."""

from __future__ import annotations

import argparse

from evidence.record import RunContext
from grpo_verify.commands.common import add_run_options, run_producers
from grpo_verify.producers import PRODUCERS_BY_NAME

HELP = "run the Monte Carlo studies (gradient statistics, or training dynamics)"
STUDIES = {"gradients": "sim-gradients", "training": "sim-training"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", choices=sorted(STUDIES),
                        help="gradients: TT-4/5/6/8; training: TT-9, VI-3, RZ-1, BY-2/3, DR-1")
    add_run_options(parser, default_out="out/simulate")


def run(args: argparse.Namespace) -> int:
    ctx = RunContext(budget=args.budget, out_dir=args.out / args.study, seed=args.seed)
    return run_producers([PRODUCERS_BY_NAME[STUDIES[args.study]]], ctx)
