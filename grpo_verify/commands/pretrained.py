"""``grpo-verify pretrained measure``: TT-5, TT-6 and TT-8 measured on a real pretrained LM (issue 16), with
evidence.json, the measurements' JSON and the figures (pass-rate histogram, rho with its permutation
control, variance / SNR / cosine against G at a fixed rollout budget, silent shares)."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace

from grpo_verify.commands.common import SEED, check_out_dir, command_line, format_evidence, integer

HELP = "measure TT-5, TT-6, TT-8 on a pretrained LM (SmolLM2-135M, a tiny random Llama, or hf:PATH)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    from evidence.record import BUDGETS
    from gpu_runs.pretrained.arithmetic import REWARDS
    from gpu_runs.pretrained.study import SIZES

    sub = parser.add_subparsers(dest="pretrained_command", required=True, metavar="SUBCOMMAND")
    m = sub.add_parser("measure", help=HELP, description=HELP + ". Budgets: " + "; ".join(
        f"{b}: {s.model}, {s.prompts} prompts x {s.pool_samples} completions" for b, s in SIZES.items()))
    m.add_argument("--model", help="tiny-random, smollm2-135m or hf:PATH (default: the budget's: "
                   + ", ".join(f"{b} -> {s.model}" for b, s in SIZES.items()) + ")")
    m.add_argument("--budget", choices=BUDGETS, default="default", help="how much work (default: default)")
    m.add_argument("--reward", choices=REWARDS,
                   help="answer: the last number equals the answer; strict: the number alone; number: any number "
                        "(default: number for tiny-random, else answer)")
    m.add_argument("--out", type=Path, default=Path("out/pretrained"), help="output folder (default: out/pretrained)")
    m.add_argument("--seed", type=SEED, default=0, help="seed of every random draw (default: 0)")
    m.add_argument("--threads", type=integer(0, 1024), default=2,
                   help="torch threads, 0 for torch's default (default: 2)")


def run(args: argparse.Namespace) -> int:
    import torch

    from evidence.io import atomic_write_json
    from evidence.record import RunContext, Verdict
    from gpu_runs.pretrained.models import TINY, check_model_name
    from gpu_runs.pretrained.study import CLAIMS, SIZES, measure
    from grpo_verify.report import run_metadata

    check_out_dir("--out", args.out)
    sizes = SIZES[args.budget]
    model = check_model_name(args.model) if args.model else sizes.model
    reward = args.reward or ("number" if model == TINY else "answer")
    sizes = replace(sizes, model=model, reward=reward)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ctx = RunContext(budget=args.budget, out_dir=args.out, seed=args.seed)
    meta = run_metadata(ctx, command_line()) | {"model": model, "reward": reward,
                                                "torch_threads": torch.get_num_threads()}
    start = time.perf_counter()
    records, data = measure(ctx, sizes, CLAIMS)
    seconds = time.perf_counter() - start
    records = [replace(r, seconds=seconds, command=command_line()) for r in records]
    meta["wall_seconds"] = seconds
    atomic_write_json(args.out / "evidence.json", {"meta": meta, "evidence": [r.to_json() for r in records]})
    for r in records:
        print(format_evidence(r, steps=True), flush=True)
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in data["seconds"].items())
    print(f"\nphases: {phases}; total {seconds:.0f} s")
    print(f"wrote {args.out / 'evidence.json'} and {args.out / 'pretrained'}/")
    return 1 if any(r.verdict == Verdict.ERROR for r in records) else 0
