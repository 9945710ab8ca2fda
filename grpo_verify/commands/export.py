"""``grpo-verify export {trl,verl} --arm ARM --model NAME --dataset NAME``: one of TT-9's arms as a config
another engine runs (TRL: GRPOConfig options as YAML for ``trl grpo`` or a Python script; verl: Hydra
overrides in a launch script), printed or written to ``--out``."""

from __future__ import annotations

import argparse

from evidence.io import atomic_write_text
from gpu_runs.engines.arms import ARMS
from grpo_verify.commands.common import SEED, check_out_file, integer, option_names, pathname, text

HELP = "write a TT-9 arm (grpo16, grpo2, grpo2-rs, ...) as a TRL config or verl overrides"
ENGINES = ("trl", "verl")
FORMATS = ("yaml", "python")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engine", choices=ENGINES, help="trl (GRPOTrainer 1.16) or verl (0.9, main_ppo)")
    parser.add_argument("--arm", required=True, choices=list(ARMS),
                        help="grpo16 (32 x 16, lr 1e-6), grpo2 (256 x 2, lr 8e-6), grpo2-rs (+ resampling of "
                             "silent groups; verl only, in part), gG-fixed-p (Table 4: G at 32 prompts)")
    parser.add_argument("--model", required=True, type=text,
                        help="model name or path (TRL: model_name_or_path; verl: actor_rollout_ref.model.path)")
    parser.add_argument("--dataset", required=True, type=text,
                        help="TRL: a datasets name (dataset_name); verl: the train parquet file (data.train_files)")
    parser.add_argument("--val-dataset", type=text, help="verl: data.val_files (default: --dataset)")
    parser.add_argument("--out", type=pathname, help="write here instead of printing")
    parser.add_argument("--format", choices=FORMATS, default="yaml",
                        help="TRL only: yaml (for `trl grpo --config FILE`) or python (a runnable script) "
                             "(default: yaml)")
    parser.add_argument("--run-dir", type=text,
                        help="where the run writes its logs (TRL: output_dir; verl: rollouts and metrics.jsonl under "
                             "it) (default: runs/ARM)")
    parser.add_argument("--num-processes", type=integer(1), default=1,
                        help="TRL: processes (GPUs) of the run; the 512 rollouts per step are split over them "
                             "(default: 1)")
    parser.add_argument("--per-device-batch", type=integer(1),
                        help="TRL: per_device_train_batch_size in rollouts (default: the largest divisor <= 16)")
    parser.add_argument("--prompts-per-step", type=integer(1),
                        help="verl: data.train_batch_size, a multiple of the arm's prompts per mini-batch "
                             "(default: one mini-batch)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the run (default: 0)")


def run(args: argparse.Namespace) -> int:
    from gpu_runs.engines.trl_export import trl_script, trl_yaml
    from gpu_runs.engines.verl_export import verl_launch

    run_dir = args.run_dir or f"runs/{args.arm}"
    if args.out:
        check_out_file("--out", args.out)
    names = option_names(num_processes="--num-processes", per_device_batch="--per-device-batch",
                         prompts_per_step="--prompts-per-step", seed="--seed")
    if args.engine == "trl":
        if ARMS[args.arm].resample_silent:
            expressible = ", ".join(k for k, a in ARMS.items() if not a.resample_silent)
            raise ValueError(f"--arm={args.arm} cannot be expressed for TRL 1.16 (GRPOTrainer cannot resample silent "
                             f"groups; `export verl --arm {args.arm}` comes close); with trl it must be one of "
                             f"{expressible}")
        if args.prompts_per_step is not None or args.val_dataset is not None:
            raise ValueError("--prompts-per-step and --val-dataset are verl options and must be left out with trl: "
                             "TRL runs one mini-batch per generation batch and takes its eval set from the dataset")
        write = trl_yaml if args.format == "yaml" else trl_script
        with names:
            text = write(args.arm, model=args.model, dataset=args.dataset, output_dir=run_dir,
                         num_processes=args.num_processes, per_device_batch=args.per_device_batch, seed=args.seed)
    else:
        if args.format != "yaml" or args.per_device_batch is not None or args.num_processes != 1:
            raise ValueError("--format, --per-device-batch and --num-processes are TRL options and must be left out "
                             "with verl: its batch sizes are in prompts (--prompts-per-step) and its cluster is set in "
                             "the launch line")
        with names:
            text = verl_launch(args.arm, model=args.model, train_files=args.dataset, val_files=args.val_dataset,
                               run_dir=run_dir, prompts_per_step=args.prompts_per_step, seed=args.seed)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"written to {args.out}")
    else:
        print(text, end="")
    return 0
