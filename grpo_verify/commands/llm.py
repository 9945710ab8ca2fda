"""``grpo-verify llm {train,experiment}``: train a small transformer LM with GRPO (cached supervised
warm start, then one run per group size) on the device ``--device`` names (auto: CUDA when
present, else CPU); ``experiment`` is :mod:`grpo_verify.commands.llm_experiment` (TT-9 in
miniature). Both take the same ``--preset`` names for the same models: tiny (~0.1M parameters),
small (~1M), gpu (~14M)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from gpu_runs.config import DEVICES, PRESETS, TrainConfig, preset, with_group_size
from gpu_runs.tasks import REWARDS, TASKS
from grpo_verify.commands import llm_experiment
from grpo_verify.commands.common import SEED, check_out_dir, integer, option_names, pathname, real
from theory.advantages import STD_MODES
from theory.estimators import ALL_ESTIMATORS

PRESET_HELP = ("model preset, the same in `llm train` and `llm experiment`: tiny (~0.1M parameters, a minute on "
               "one core), small (~1M, sized for 2 CPU cores), gpu (~14M, for one GPU) (default: tiny)")
DEVICE_HELP = "auto: CUDA when present, else CPU; cpu or cuda forces one (default: auto)"
HELP = ("small-LM RL test bed: `llm train` trains a warm start then GRPO for each group size; "
        "`llm experiment` runs TT-9 in miniature (CPU or CUDA)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="llm_command", required=True, metavar="SUBCOMMAND")
    train = sub.add_parser("train", help="supervised warm start (cached) then GRPO, one run per group size",
                           description="Supervised warm start (cached by its config hash) then GRPO, one run per "
                                       "group size with the same rollouts per step. A run directory that holds a "
                                       "checkpoint of the same config is resumed.")
    train.add_argument("--preset", choices=list(PRESETS), default="tiny", help=PRESET_HELP)
    train.add_argument("--group-size", "-G", type=integer(2), nargs="+", default=[2, 16], metavar="G",
                       help="group sizes to train, one run each (default: 2 16)")
    train.add_argument("--rollouts-per-step", type=integer(2), metavar="N",
                       help="rollouts per generation batch, so prompts per step = N / G (default: the preset's)")
    train.add_argument("--rollouts-per-minibatch", type=integer(2), metavar="N",
                       help="rollouts per optimizer step, so prompts per mini-batch = N / G (default: the preset's)")
    train.add_argument("--steps", type=integer(1), help="RL steps (default: the preset's)")
    train.add_argument("--lr", type=real(0.0, low_open=True),
                       help="AdamW learning rate of the RL phase (default: the preset's)")
    train.add_argument("--estimator", choices=ALL_ESTIMATORS, help="advantage estimator (default: grpo)")
    train.add_argument("--std", choices=STD_MODES, help="std of the grpo estimator (default: sample)")
    train.add_argument("--loss-type", type=loss_type,
                       help="loss aggregation, TRL's names: grpo, bnpo, dr_grpo, dapo (default: grpo)")
    train.add_argument("--eps-low", type=real(0.0, 1.0, high_open=True),
                       help="lower clip range of the ratio, in [0, 1) (default: 0.2)")
    train.add_argument("--eps-high", type=real(0.0), help="upper clip range of the ratio, >= 0 (default: 0.28)")
    train.add_argument("--beta", type=real(0.0), help="k3 KL coefficient to the warm start, >= 0 (default: 0)")
    train.add_argument("--ppo-epochs", type=integer(1), help="passes over each generation batch (default: 1)")
    train.add_argument("--resample-silent", action="store_true",
                       help="2-GRPO+RS: replace silent groups by fresh prompts' groups, up to the rollout cap")
    train.add_argument("--task", choices=TASKS, default="addition", help="task (default: addition)")
    train.add_argument("--reward", choices=REWARDS,
                       help="binary verifier, partial credit or format (default: binary)")
    train.add_argument("--device", choices=DEVICES, help=DEVICE_HELP)
    train.add_argument("--threads", type=integer(0),
                       help="torch threads on CPU, 0 for every available core (default: 0)")
    train.add_argument("--seed", type=SEED, default=0, help="RL seed; the warm start keeps its own (default: 0)")
    train.add_argument("--out", type=pathname, default=Path("out/llm"),
                       help="folder of the run directories (default: out/llm)")
    train.add_argument("--cache-dir", type=pathname, default=Path("out/warmstarts"),
                       help="warm-start cache, shared by every run (default: out/warmstarts)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    experiment = sub.add_parser("experiment", help=llm_experiment.HELP, description=llm_experiment.HELP)
    llm_experiment.add_arguments(experiment)


def loss_type(value: str) -> str:
    """argparse type of --loss-type: one of gpu_runs.losses.LOSS_TYPES (imported only when given: torch)."""
    from gpu_runs.losses import LOSS_TYPES

    if value not in LOSS_TYPES:
        raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {', '.join(LOSS_TYPES)})")
    return value


OVERRIDES = ("steps", "lr", "estimator", "std", "loss_type", "eps_low", "eps_high", "beta", "ppo_epochs",
             "reward", "device", "threads", "seed")


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The preset with every option given on the command line applied (group size excluded)."""
    config = preset(args.preset, args.task)
    changes: dict[str, Any] = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    if args.resample_silent:
        changes["resample_silent"] = True
    with option_names(**{name: "--" + name.replace("_", "-") for name in OVERRIDES}):
        return dataclasses.replace(config, **changes)


def build_arms(args: argparse.Namespace) -> list[TrainConfig]:
    """One config per --group-size, every constraint between the options checked, with their names, before
    anything trains."""
    check_out_dir("--out", args.out)
    check_out_dir("--cache-dir", args.cache_dir)
    sizes = args.group_size
    if len(set(sizes)) < len(sizes):
        raise ValueError(f"--group-size={' '.join(map(str, sizes))} names a group size twice; each size is one run")
    base = build_config(args)
    per_step = args.rollouts_per_step or base.rollouts_per_step
    per_minibatch = args.rollouts_per_minibatch or base.prompts_per_minibatch * base.group_size
    for option, value, given in (("--rollouts-per-step", per_step, args.rollouts_per_step),
                                 ("--rollouts-per-minibatch", per_minibatch, args.rollouts_per_minibatch)):
        odd = [G for G in sizes if value % G]
        if odd:
            raise ValueError(f"{option}={value}{'' if given else ' (the preset default)'} must be a multiple of "
                             f"every --group-size; {', '.join(map(str, odd))} does not divide it")
    if per_step % per_minibatch:
        raise ValueError(f"--rollouts-per-minibatch={per_minibatch} must divide --rollouts-per-step={per_step} "
                         "(each generation batch is split into whole mini-batches)")
    train_size = base.warm_start.task.train_size
    if per_step // min(sizes) > train_size:
        raise ValueError(f"--rollouts-per-step={per_step} / --group-size={min(sizes)} = {per_step // min(sizes)} "
                         f"prompts per step must be <= the {train_size} training prompts of --preset {args.preset}")
    cap = base.resample_rollouts_per_prompt
    if args.resample_silent and max(sizes) > cap:
        raise ValueError(f"--group-size={max(sizes)} must be <= {cap} with --resample-silent, which caps the "
                         f"rollouts per prompt at {cap} (16-GRPO's)")
    # Without resampling the cap is unused; a group larger than it raises the cap of that arm alone.
    return [with_group_size(base if G <= cap else dataclasses.replace(base, resample_rollouts_per_prompt=G), G,
                            per_step, per_minibatch) for G in sizes]


def run_name(config: TrainConfig) -> str:
    """CleanRL-style run name from the hyperparameters that tell runs apart."""
    rs = "+rs" if config.resample_silent else ""
    return f"G{config.group_size}{rs}-{config.estimator}-{config.loss_type}-seed{config.seed}"


def format_histogram(histogram: dict[str, Any]) -> list[str]:
    bins, counts = histogram["bins"], histogram["counts"]
    width = max(max(counts), 1)
    lines = [f"    p in [{lo:.1f}, {hi:.1f}{']' if hi == 1 else ')'}: {'#' * round(40 * c / width):<40} {c}"
             for lo, hi, c in zip(bins[:-1], bins[1:], counts, strict=True)]
    lines.append(f"    share with 0.1 < p < 0.9: {histogram['share_informative']:.1%}  "
                 f"(mean p {histogram['mean_pass_rate']:.3f}; non-silent groups expected: "
                 f"G=2 {histogram['signal_groups_G2']:.1%}, G=16 {histogram['signal_groups_G16']:.1%})")
    return lines


def run_train(args: argparse.Namespace) -> int:
    arms = build_arms(args)
    from gpu_runs.trainer import train  # imports torch: only when training
    summaries = []
    for config in arms:
        run_dir = args.out / run_name(config)
        summary = train(config, run_dir, args.cache_dir, progress=not args.quiet)
        if not summaries:
            ws = summary["warm_start"]
            print(f"warm start {ws['key']} ({'cache hit' if ws['cache_hit'] else 'trained'}; {ws['folder']}): "
                  f"pass-rate histogram of {ws['histogram']['prompts']} training prompts at T = 1")
            print("\n".join(format_histogram(ws["histogram"])))
        final, start = summary["final"] or {}, summary["start"] or {}
        s = summary["seconds"]
        print(f"{run_dir}: G={config.group_size} x {config.prompts_per_step} prompts, {summary['steps']} steps, "
              f"{summary['rollouts_total']} rollouts; held-out pass rate {start.get('heldout_pass_rate', 0):.3f} -> "
              f"{final.get('heldout_pass_rate', 0):.3f}, greedy {final.get('heldout_greedy_accuracy', 0):.3f}; "
              f"seconds rollout {s['rollout']:.1f} update {s['update']:.1f} eval {s['eval']:.1f}")
        summaries.append({"run_dir": str(run_dir), **summary})
    print(json.dumps({"runs": [s["run_dir"] for s in summaries]}))
    return 0


def run(args: argparse.Namespace) -> int:
    return run_train(args) if args.llm_command == "train" else llm_experiment.run(args)
