"""``grpo-verify llm experiment``: TT-9 in miniature. 2-GRPO against 16-GRPO on a small LM (Table-1
and Table-4 analogues, equal-rollout arm, GRPOVI on partial credit for VI-3), every arm over
several seeds; writes the ratio table, plots, per-run results and evidence.json. Resumable: a
finished (arm, seed) is skipped, a killed one resumes from its checkpoint.

Wired by ``grpo_verify.commands.llm`` as its ``experiment`` subcommand: ``add_arguments(parser)``
fills that subparser, ``run(args)`` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evidence.io import atomic_write_json
from evidence.record import BUDGETS, RunContext
from gpu_runs.config import DEVICES, PRESETS
from gpu_runs.tasks import TASKS
from gpu_runs.tt9.experiment import ARM_KEYS, DEFAULT_CACHE_DIR, THREADS, experiment_config, run_experiment

HELP = ("TT-9 in miniature: 2-GRPO vs 16-GRPO (and 2-GRPO+RS, G at fixed prompts, equal rollouts, GRPOVI) "
        "on a small LM over seeds; ratio tables with 95 percent CIs, plots, evidence")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(PRESETS), default="tiny",
                        help="model preset, the same as `llm train`'s: tiny (~0.1M parameters, sized for 2 CPU "
                             "cores), small (~1M), gpu (~14M, TT's 32 x 16 vs 256 x 2, for one GPU) (default: tiny)")
    parser.add_argument("--budget", choices=BUDGETS, default="default",
                        help="smoke: pipeline check (~3 min for tiny on 2 cores); default: 3 seeds, every arm; "
                             "full: 5 seeds, twice the epochs (default: default)")
    parser.add_argument("--task", choices=TASKS, default="addition", help="task (default: addition)")
    parser.add_argument("--model", default="gpt",
                        help="gpt (the test bed's transformer, supervised warm start) or hf:PATH (a local Hugging "
                             "Face causal LM and tokenizer, used as the start policy) (default: gpt)")
    parser.add_argument("--arms", nargs="+", choices=ARM_KEYS, metavar="ARM",
                        help=f"arms to run (default: all): {', '.join(ARM_KEYS)}")
    parser.add_argument("--out", type=Path,
                        help="results folder (default: results/llm-PRESET-BUDGET, with -hf for a Hugging Face model)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help=f"warm-start cache shared with `llm train` (default: {DEFAULT_CACHE_DIR})")
    parser.add_argument("--seed", type=int, default=0,
                        help="first RL seed; seeds are SEED..SEED+n-1, tuning seeds SEED+1000.. (default: 0)")
    parser.add_argument("--threads", type=int,
                        help="torch threads on CPU, 0 for every core (default: "
                             + ", ".join(f"{n} for {p}" for p, n in THREADS.items()) + ")")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA when present, else CPU; cpu or cuda forces one; the preset never changes "
                             "with the device (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def default_out(preset: str, budget: str, model: str) -> Path:
    return Path("results") / f"llm-{preset}-{budget}{'-hf' if model != 'gpt' else ''}"


def run(args: argparse.Namespace) -> int:
    from gpu_runs.tt9.report import write_report  # matplotlib: only when running
    from grpo_verify.commands.common import command_line, format_evidence
    from grpo_verify.report import run_metadata

    exp = experiment_config(args.preset, args.budget, args.task, model=args.model, arms=args.arms,
                            threads=args.threads, device=args.device)
    out = args.out or default_out(args.preset, args.budget, args.model)
    command = command_line()
    meta = run_metadata(RunContext(args.budget, out, args.seed), command)  # before the run: the code that runs
    results = run_experiment(exp, out, args.cache_dir, seed=args.seed, progress=not args.quiet)
    evidence = write_report(exp, results, out, command=command)
    atomic_write_json(out / "evidence.json", {"meta": meta, "evidence": [e.to_json() for e in evidence]})
    print((out / "ratio_table.md").read_text())
    for e in evidence:
        print(format_evidence(e, steps=False))
    print(f"\nwritten to {out}")
    return 0
