"""``grpo-verify``: the command line. Each subcommand lives in ``grpo_verify.commands``.

Thread settings are made here, in the entry point, and nowhere at import time: :func:`main` first
calls ``gpu_runs.cores.configure_omp_wait_policy()``, which sets ``OMP_WAIT_POLICY=PASSIVE`` (by
``setdefault``: a value you set wins) when other work holds half of this process's cores, so that
OpenMP threads sleep instead of spinning while they wait. It must happen before torch loads its
OpenMP runtime, hence before any command (or its imports) runs. On free cores the default (spin,
then sleep) stays, which is faster for the many small ops of sampling a small model.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gpu_runs.cores import configure_omp_wait_policy

COMMANDS = ("claims", "report", "prove", "simulate", "llm", "bench", "export", "ingest", "advise", "models",
            "pretrained")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grpo-verify",
        description="Check the claims of group-relative RL papers by proof, simulation and small-LM training.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"grpo_verify.commands.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def check_single_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """An option of one value holds one: argparse before Python 3.12 parses ``--seed=--`` into an empty
    list, which no type check sees. Walks the subcommands chosen in ``args``; exits 2 like argparse."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(args, action.dest, None)
            if chosen in action.choices:
                check_single_values(action.choices[chosen], args)
        elif (isinstance(action, argparse._StoreAction) and action.option_strings and action.nargs in (None, "?")
              and isinstance(getattr(args, action.dest, None), list)):
            parser.error(f"argument {'/'.join(action.option_strings)}: expected one argument")


def main(argv: Sequence[str] | None = None) -> int:
    configure_omp_wait_policy()  # before any command imports torch (see the module docstring)
    parser = build_parser()
    args = parser.parse_args(argv)
    check_single_values(parser, args)
    try:
        return args.run(args)
    except ValueError as exc:  # bad input: one clear line, no traceback
        print(f"grpo-verify {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
