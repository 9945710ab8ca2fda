"""``grpo-verify llm experiment``: TT-9 in miniature. 2-GRPO against 16-GRPO on a small LM (Table-1
and Table-4 analogues, equal-rollout arm, GRPOVI on partial credit for VI-3), every arm over
several seeds, every arm tuned on the same lr grid; writes the ratio table with three-way verdicts,
plots, per-run results and evidence.json. Resumable: a finished (arm, seed) is skipped, a killed one
resumes from its checkpoint. ``--jobs N`` runs independent runs in N processes; ``--ladder DIR ...``
builds the scale ladder (``gpu_runs.tt9.ladder``) from finished experiments instead of running one.

Wired by ``grpo_verify.commands.llm`` as its ``experiment`` subcommand: ``add_arguments(parser)``
fills that subparser, ``run(args)`` runs it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from evidence.io import atomic_write_json, folder_lock
from evidence.record import BUDGETS, RunContext
from gpu_runs.config import DEVICES, PRESETS
from gpu_runs.tasks import TASKS
from gpu_runs.tt9.experiment import (
    ARM_KEYS,
    DEFAULT_CACHE_DIR,
    THREADS,
    ExperimentConfig,
    experiment_config,
    run_experiment,
)
from grpo_verify.commands.common import SEED, check_out_dir, command_line, integer, option_names, pathname

HELP = ("TT-9 in miniature: 2-GRPO vs 16-GRPO (and 2-GRPO+RS, G at fixed prompts, equal rollouts, GRPOVI) "
        "on a small LM over seeds; ratio tables with 95 percent CIs, plots, evidence")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(PRESETS), default="tiny",
                        help="model preset, the same as `llm train`'s: tiny (~0.1M parameters, sized for 2 CPU "
                             "cores), small (~1M), gpu (~14M, TT's 32 x 16 vs 256 x 2, for one GPU) (default: tiny)")
    parser.add_argument("--budget", choices=BUDGETS, default="default",
                        help="smoke: pipeline check (~3 min for tiny on 2 cores); default: 8 seeds, every arm tuned, "
                             "10 epochs or until 16-GRPO plateaus; full: 16 seeds, 2 tuning seeds (default: default)")
    parser.add_argument("--task", choices=TASKS, default="addition", help="task (default: addition)")
    parser.add_argument("--model", default="gpt",
                        help="gpt (the test bed's transformer, supervised warm start) or hf:PATH (a local Hugging "
                             "Face causal LM and tokenizer, used as the start policy) (default: gpt)")
    parser.add_argument("--arms", nargs="+", choices=ARM_KEYS, metavar="ARM",
                        help=f"arms to run (default: all): {', '.join(ARM_KEYS)}")
    parser.add_argument("--out", type=pathname,
                        help="results folder (default: results/llm-PRESET-BUDGET, with -hf for a Hugging Face model)")
    parser.add_argument("--cache-dir", type=pathname, default=DEFAULT_CACHE_DIR,
                        help=f"warm-start cache shared with `llm train` (default: {DEFAULT_CACHE_DIR})")
    parser.add_argument("--seed", type=SEED, default=0,
                        help="first RL seed; seeds are SEED..SEED+n-1, tuning seeds SEED+1000.. (default: 0)")
    parser.add_argument("--threads", type=integer(0),
                        help="torch threads on CPU, 0 for every core (default: "
                             + ", ".join(f"{n} for {p}" for p, n in THREADS.items()) + ")")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA when present, else CPU; cpu or cuda forces one; the preset never changes "
                             "with the device (default: auto)")
    parser.add_argument("--jobs", type=integer(1), default=1,
                        help="worker processes running independent (arm, seed) runs, one torch thread each; each "
                             "run's training seconds are measured in its own process (default: 1)")
    parser.add_argument("--ladder", type=pathname, nargs="+", metavar="DIR",
                        help="instead of running: build the scale ladder (ladder.json, ladder.md, ladder.png) into "
                             "--out (default results/llm-ladder) from these finished experiment folders")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def default_out(preset: str, budget: str, model: str) -> Path:
    return Path("results") / f"llm-{preset}-{budget}{'-hf' if model != 'gpt' else ''}"


LADDER_NOTES = ("The gpu rung (`--preset gpu`, ~14M parameters) is configured (gpu_runs.tt9.experiment.SIZES) "
                "but was not run for this ladder: it needs a GPU.",)


def check_experiment_folder(folder: Path) -> Path:
    """A rung of ``--ladder``: a folder holding a finished experiment's ``experiment.json`` (os.path.isfile:
    a name the system cannot use is no such folder either)."""
    if not os.path.isfile(folder / "experiment.json"):
        raise ValueError(f"--ladder={str(folder)!r} must be a finished experiment folder (with experiment.json: run "
                         "`llm experiment` into it first)")
    return folder


def run(args: argparse.Namespace) -> int:
    """Every option checked first, in either mode (an option the ladder does not use is no less wrong), then
    the ladder built or the experiment run."""
    with option_names(model="--model", arms="--arms"):
        exp = experiment_config(args.preset, args.budget, args.task, model=args.model, arms=args.arms,
                                threads=args.threads, device=args.device)
    default = Path("results") / "llm-ladder" if args.ladder else default_out(args.preset, args.budget, args.model)
    out = check_out_dir("--out", args.out or default)
    check_out_dir("--cache-dir", args.cache_dir)
    if args.ladder:
        from gpu_runs.tt9.ladder import write_ladder

        write_ladder([check_experiment_folder(folder) for folder in args.ladder], out, notes=LADDER_NOTES)
        print((out / "ladder.md").read_text())
        print(f"written to {out}")
        return 0
    with folder_lock(out):  # one writer per results folder: a second run exits 2 naming the holder
        return _run_locked(args, exp, out)


def _run_locked(args: argparse.Namespace, exp: ExperimentConfig, out: Path) -> int:
    """Run the experiment into ``out`` (locked by the caller), write its report and evidence, print them."""
    from gpu_runs.tt9.report import write_report  # matplotlib: only when running
    from grpo_verify.report import run_metadata

    command = command_line()
    meta = run_metadata(RunContext(args.budget, out, args.seed), command)  # before the run: the code that runs
    started = time.perf_counter()
    results = run_experiment(exp, out, args.cache_dir, seed=args.seed, jobs=args.jobs, progress=not args.quiet)
    spread = results["start"]["spread"]
    print(f"start policy: {spread['share_informative']:.1%} of {spread['prompts']} training prompts with pass rate in "
          f"(0.1, 0.9) (required >= {spread['required']:.0%}); histogram in tenths: {spread['histogram']}")
    evidence = write_report(exp, results, out, command=command)
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    meta["jobs"] = args.jobs
    atomic_write_json(out / "evidence.json", {"meta": meta, "evidence": [e.to_json() for e in evidence]})
    print((out / "ratio_table.md").read_text())
    for e in evidence:  # each check three-way: an undecided one (None) prints as inconclusive, never as failed
        print(f"{e.claim_id} [{e.method}] {e.title}: {e.verdict.value.upper()}")
        for name, value in e.checks.items():
            print(f"    check {name}: {({True: 'holds', False: 'fails'}).get(value, 'inconclusive')}")
    print(f"\nwritten to {out}")
    return 0
