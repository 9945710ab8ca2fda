"""``grpo-verify bench NAME``: run a benchmark and print its side-by-side table. ``bench step --model M`` times our
GRPO step against TRL's on a pretrained LM (``grpo_verify.bench.step_pretrained``); without ``--model``, ``step``
compares the from-scratch trainer with TRL on a ~1M random model."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from evidence.io import atomic_write_json
from evidence.record import RunContext
from grpo_verify.bench import BenchReport
from grpo_verify.commands.common import check_out_file, command_line, option_names, pathname, text
from grpo_verify.report import run_metadata

HELP = "benchmarks, measured side by side in one run (grpovi, simulate, rollouts, step)"
BENCHMARKS = {
    "grpovi": "grpo_verify.bench.grpovi",      # O(n^2) reference vs O(n log n) solver vs np.argsort
    "simulate": "grpo_verify.bench.simulate",  # binary bandit kernel vs a per-group Python loop
    "rollouts": "grpo_verify.bench.rollouts",  # KV-cache sampling vs recomputing the prefix
    "step": "grpo_verify.bench.step",          # our GRPO step vs TRL's GRPOTrainer
}
PRETRAINED_STEP = "grpo_verify.bench.step_pretrained"  # bench step --model: on a pretrained LM


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", type=pathname, help="also write the table (with machine metadata) to this JSON file")
    parser.add_argument("--model", type=text,
                        help="step only: time both trainers on this pretrained LM (tiny-random, smollm2-135m or "
                             "hf:PATH) instead of the ~1M random model")


def format_report(report: BenchReport) -> str:
    cells = [[str(row.get(c, "")) for c in report.columns] for row in report.rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(report.columns)]
    lines = [report.title, "  ".join(c.rjust(w) for c, w in zip(report.columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines += [f"target: {t}: {'met' if ok else 'NOT MET'}" for t, ok in report.targets.items()]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    model = getattr(args, "model", None)
    if model is not None:
        from gpu_runs.pretrained.models import check_model_name

        if args.name != "step":
            raise ValueError(f"--model={model!r} is allowed with the step benchmark only, not {args.name!r}")
        with option_names(model="--model"):
            check_model_name(model)
    if args.json:
        check_out_file("--json", args.json)  # before the benchmark runs, not after
    meta = run_metadata(RunContext(budget="smoke", out_dir=Path(".")), command_line())  # before: the code that runs
    if model is not None:
        with option_names(model="--model"):  # a missing model file names the fetch command
            report: BenchReport = importlib.import_module(PRETRAINED_STEP).run(quick=args.quick, model=model)
    else:
        report = importlib.import_module(BENCHMARKS[args.name]).run(quick=args.quick)
    print(format_report(report))
    if args.json:
        atomic_write_json(args.json, {"meta": meta, "title": report.title, "rows": report.rows,
                                      "targets": report.targets, "notes": list(report.notes)})
        print(json.dumps({"written": str(args.json)}))
    return 0
