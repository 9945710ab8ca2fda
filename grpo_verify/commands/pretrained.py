"""``grpo-verify pretrained measure``: TT-5, TT-6 and TT-8 measured on a real pretrained LM (issue 16), with
evidence.json, the measurements' JSON and the figures (pass-rate histogram, rho with its permutation
control, variance / SNR / cosine against G at a fixed rollout budget, silent shares).

``grpo-verify pretrained train``: short GRPO runs on the same LM, one arm per group size at equal prompts
(2-GRPO against 16-GRPO), paired over seeds, with the held-out pass-rate change, the improvement and wall-clock
ratios and their three-way verdicts (:mod:`gpu_runs.pretrained.grpo_compare`); resumable."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

from grpo_verify.commands.common import (
    SEED,
    check_out_dir,
    command_line,
    format_evidence,
    integer,
    option_names,
    pathname,
    real,
)

HELP = "measure TT-5, TT-6, TT-8 on a pretrained LM (SmolLM2-135M, a tiny random Llama, or hf:PATH), or train it " \
       "with GRPO (2-GRPO vs 16-GRPO)"
MEASURE_HELP = "measure TT-5, TT-6, TT-8 on a pretrained LM (SmolLM2-135M, a tiny random Llama, or hf:PATH)"
TRAIN_HELP = ("a short GRPO run on a pretrained LM: each group size at equal prompts (2-GRPO vs 16-GRPO), paired "
              "over seeds, held-out pass rate before and after")


def trainable_mode(value: str) -> str:
    """argparse type of ``--trainable``: full, lora or topK (K >= 1)."""
    from gpu_runs.pretrained.trainable import check_mode

    try:
        return check_mode(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {value!r}: must be full, lora or topK with K an integer "
                                         ">= 1 (e.g. top2)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from evidence.record import BUDGETS
    from gpu_runs.pretrained.arithmetic import REWARDS
    from gpu_runs.pretrained.study import SIZES

    sub = parser.add_subparsers(dest="pretrained_command", required=True, metavar="SUBCOMMAND")
    m = sub.add_parser("measure", help=MEASURE_HELP, description=MEASURE_HELP + ". Budgets: " + "; ".join(
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
    add_train_arguments(sub)


def add_train_arguments(sub: argparse._SubParsersAction) -> None:
    from evidence.record import BUDGETS
    from gpu_runs.pretrained.arithmetic import REWARDS
    from gpu_runs.pretrained.grpo_compare import SIZES
    from gpu_runs.pretrained.trainable import LEARNING_RATES

    t = sub.add_parser("train", help=TRAIN_HELP, description=TRAIN_HELP + ". Budgets: " + "; ".join(
        f"{b}: {s.model}, G in {list(s.group_sizes)}, {s.seeds} seeds x {s.steps} steps x {s.prompts_per_step} "
        f"prompts, {s.trainable}" for b, s in SIZES.items()) + ". Options below override the budget's sizes.")
    t.add_argument("--model", help="tiny-random, smollm2-135m or hf:PATH (default: the budget's: "
                   + ", ".join(f"{b} -> {s.model}" for b, s in SIZES.items()) + ")")
    t.add_argument("--budget", choices=BUDGETS, default="default", help="how much work (default: default)")
    t.add_argument("--group-sizes", type=integer(2, 256), nargs="+", metavar="G",
                   help="the arms: two or more different group sizes, each in [2, 256] (default: 2 16)")
    t.add_argument("--seeds", type=integer(2, 100), help="seeds per arm, in [2, 100] (paired over arms)")
    t.add_argument("--steps", type=integer(1, 100_000), help="optimizer steps per run")
    t.add_argument("--prompts-per-step", type=integer(1, 4096), help="prompts per step (the same in every arm)")
    t.add_argument("--trainable", type=trainable_mode,
                   help="full, lora or topK (the top K decoder layers; default: the budget's, top2)")
    t.add_argument("--lora-rank", type=integer(1, 1024), help="LoRA rank r for --trainable lora (default: 16)")
    t.add_argument("--lr", type=real(0.0, 1.0, low_open=True, high_open=True),
                   help="learning rate in (0, 1) (AdamW, linear decay to 0; default by mode: "
                        + ", ".join(f"{k} {v:g}" for k, v in LEARNING_RATES.items()) + ", after TRL's 1e-6)")
    t.add_argument("--max-new-tokens", type=integer(1, 4096), help="tokens per completion at most")
    t.add_argument("--eval-prompts", type=integer(1, 100_000), help="held-out problems")
    t.add_argument("--eval-samples", type=integer(1, 4096), help="completions per held-out problem")
    t.add_argument("--reward", choices=REWARDS,
                   help="answer: the last number equals the answer; strict: the number alone; number: any number "
                        "(default: number for tiny-random, else answer)")
    t.add_argument("--out", type=pathname, default=Path("out/pretrained-grpo"),
                   help="output folder; finished runs in it are kept and skipped (default: out/pretrained-grpo)")
    t.add_argument("--seed", type=SEED, default=0, help="first seed; the runs use seed, seed + 1, ... (default: 0)")
    t.add_argument("--threads", type=integer(0, 1024), default=2,
                   help="torch threads, 0 for torch's default (default: 2)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.pretrained_command == "train":
        return run_train(args)
    return run_measure(args)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from evidence.record import RunContext
    from gpu_runs.pretrained.grpo_compare import SIZES, compare, with_overrides
    from gpu_runs.pretrained.models import TINY, check_model_name, load_model
    from grpo_verify.report import run_metadata

    names = {"group_sizes": "--group-sizes", "seeds": "--seeds", "steps": "--steps",
             "prompts_per_step": "--prompts-per-step", "trainable": "--trainable", "lora_rank": "--lora-rank",
             "learning_rate": "--lr", "max_new_tokens": "--max-new-tokens", "eval_prompts": "--eval-prompts",
             "eval_samples": "--eval-samples", "reward": "--reward", "model": "--model", "out": "--out"}
    with option_names(**names):
        model = check_model_name(args.model) if args.model else SIZES[args.budget].model
        reward = args.reward or ("number" if model == TINY else None)
        sizes = with_overrides(SIZES[args.budget], model=model, reward=reward,
                               group_sizes=tuple(args.group_sizes) if args.group_sizes else None,
                               seeds=args.seeds, steps=args.steps, prompts_per_step=args.prompts_per_step,
                               trainable=args.trainable, lora_rank=args.lora_rank, learning_rate=args.lr,
                               max_new_tokens=args.max_new_tokens, eval_prompts=args.eval_prompts,
                               eval_samples=args.eval_samples)
    check_out_dir("--out", args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meta = run_metadata(RunContext(budget=args.budget, out_dir=args.out, seed=args.seed), command_line())
    start = time.perf_counter()
    with option_names(**names):
        lm = load_model(sizes.model, seed=args.seed)
        summary = compare(lm, sizes, args.out, seed=args.seed, progress=not args.quiet)
    print(format_summary(summary))
    print(f"wall-clock {time.perf_counter() - start:.0f} s (torch threads {torch.get_num_threads()}); "
          f"commit {meta['commit']}; wrote {args.out}/")
    return 0


def format_summary(summary: dict) -> str:
    """The comparison as text lines (what ``pretrained train`` prints)."""
    from statistics import mean

    from evidence.record import Verdict
    from evidence.verdicts import Decision

    def decision(d: dict) -> str:
        return Decision(**{**d, "verdict": Verdict(d["verdict"])}).text()

    held = summary["held_out"]
    lines = [summary["label"],
             f"model {summary['model']['name']}; trainable {summary['trainable']['mode']}: "
             f"{summary['trainable']['parameters']:,} parameters; lr {summary['settings']['learning_rate']:g}",
             f"held-out pass rate before: {held['pass_rate_before']:.3f} ({held['problems']} problems x "
             f"{held['samples_per_problem']} samples)"]
    for G, arm in summary["arms"].items():
        impr = ", ".join(f"{x:+.3f}" for x in arm["improvement"])
        lines.append(f"  {G}-GRPO: improvement per seed {impr}; mean {decision(arm['improves'])}; "
                     f"{arm['rollouts']} rollouts; train {mean(arm['seconds_train']):.0f} s per run; "
                     f"silent groups {arm['silent_fraction']:.0%}")
    c = summary["comparison"]
    small, large = c["arms"]
    lines.append(f"improvement ratio {small}-GRPO / {large}-GRPO: {decision(c['improvement_ratio'])}")
    lines.append(f"wall-clock ratio {small}-GRPO / {large}-GRPO: {decision(c['wallclock_ratio'])}; rollout ratio "
                 f"{c['rollout_ratio']:.3f}")
    return "\n".join(lines)


def run_measure(args: argparse.Namespace) -> int:
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
