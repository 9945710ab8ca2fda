"""``grpo-verify ingest RUN_DIR [RUN_DIR ...] [--compare A B]``: read TRL or verl runs and judge TT-8 (silent
share against p^G + (1-p)^G) on each and, with ``--compare``, TT-9 (2-GRPO runs A against 16-GRPO runs B);
writes evidence.json, ingest.png, summary.md and runs.json under ``--out``."""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

from grpo_verify.commands.common import check_out_dir, integer, pathname

HELP = "read TRL / verl run logs: TT-8 silent share vs prediction, TT-9 ratios with --compare A B"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", type=pathname, metavar="RUN_DIR",
                        help="a TRL output folder (trainer_state.json, completions/*.parquet) or a verl run "
                             "folder / rollout_data_dir ({step}.jsonl, metrics.jsonl)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="TT-9: A = the 2-GRPO run(s), B = the 16-GRPO run(s), each a comma-separated list of "
                             "run folders (globs allowed), one per seed")
    parser.add_argument("--out", type=pathname,
                        help="output folder (default: RUN_DIR/ingest for one run, else ingest/)")
    parser.add_argument("--group-size", type=integer(2),
                        help="group size G of the logged rollouts, >= 2 (default: inferred per step)")
    parser.add_argument("--rollouts-per-step", type=integer(1),
                        help="TRL: rollouts per optimizer step (default: rows of each step's completions parquet)")


def expand(spec: str, side: str) -> list[Path]:
    """A comma-separated list of folders, each possibly a glob, in order (a glob's matches sorted)."""
    paths: list[Path] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        matches = sorted(glob.glob(part)) if any(c in part for c in "*?[") else [part]
        if not matches:
            raise ValueError(f"--compare: {part!r} matches no folder; each entry must be a folder or a glob of some")
        paths += [Path(m) for m in matches]
    if not paths:
        raise ValueError(f"--compare: {side}={spec!r} must name one or more run folders (comma-separated, globs "
                         "allowed)")
    return paths


def check_run_dir(path: Path, option: str = "RUN_DIR") -> Path:
    """``path`` must be a folder (a name too long for the system is no folder either)."""
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise ValueError(f"{option}={str(path)!r} is not a usable path ({exc.strerror}); it must be a run folder") \
            from None
    if not is_dir:
        raise ValueError(f"{option}={str(path)!r} is not a folder; it must be a TRL or verl run folder")
    return path


def read_run(path: Path, group_size: int | None, rollouts_per_step: int | None, option: str = "RUN_DIR"):
    """The RunLog of ``path``: TRL when it (or a checkpoint in it) has trainer_state.json, else verl. Any
    failure to read it (a truncated, corrupted or foreign log) is a ValueError naming ``option`` and the path."""
    from gpu_runs.engines.trl_logs import STATE_FILE, read_trl_run
    from gpu_runs.engines.verl_logs import find_rollout_dir, read_verl_run

    check_run_dir(path, option)
    try:
        if (path / STATE_FILE).is_file() or any(path.glob(f"checkpoint-*/{STATE_FILE}")):
            return read_trl_run(path, group_size=group_size, rollouts_per_step=rollouts_per_step)
        if find_rollout_dir(path) is not None:
            if rollouts_per_step is not None:
                raise ValueError("--rollouts-per-step must be left out for a verl run: its rollout files hold every "
                                 "rollout of a step")
            return read_verl_run(path, group_size=group_size)
    except ValueError as exc:
        raise ValueError(f"{option}={str(path)!r} must be a TRL or verl run as their trainers write it: {exc}") \
            from None
    except (OSError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # a malformed log that the reader does not check field by field
        raise ValueError(f"{option}={str(path)!r} must be a TRL or verl run as their trainers write it: "
                         f"{type(exc).__name__}: {exc}") from None
    raise ValueError(f"{option}={str(path)!r} is neither a TRL output folder ({STATE_FILE}, or checkpoint-*/"
                     f"{STATE_FILE}) nor a verl run ({{step}}.jsonl in it or in rollouts/); it must be one of them")


def unique_names(paths: list[Path]) -> list[str]:
    """Run names: the folder name, with as many parent folders as make them distinct."""
    for depth in range(1, 1 + max(len(p.resolve().parts) for p in paths)):
        names = ["/".join(p.resolve().parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    raise ValueError("RUN_DIR: the same folder is given twice; each run folder must be given once")


def run(args: argparse.Namespace) -> int:
    from evidence.io import atomic_write_json
    from evidence.record import RunContext
    from gpu_runs.engines.evidence import verdict_line, write_ingest
    from grpo_verify.commands.common import command_line
    from grpo_verify.report import run_metadata

    side_a, side_b = (expand(args.compare[0], "A"), expand(args.compare[1], "B")) if args.compare else ([], [])
    paths = list(dict.fromkeys([*args.runs, *side_a, *side_b]))
    if not paths:
        raise ValueError("RUN_DIR: one or more run folders (or --compare A B) must be given")
    option = {path: "RUN_DIR" if path in args.runs else "--compare" for path in paths}
    for path in paths:
        check_run_dir(path, option[path])
    out = check_out_dir("--out", args.out or (paths[0] / "ingest" if len(paths) == 1 else Path("ingest")))
    names = unique_names(paths)
    by_path = dict(zip(paths, names, strict=True))
    runs = {name: read_run(path, args.group_size, args.rollouts_per_step, option[path])
            for path, name in by_path.items()}
    compare = ([by_path[p] for p in side_a], [by_path[p] for p in side_b]) if args.compare else None
    meta = run_metadata(RunContext("default", out), command_line())
    records = write_ingest(runs, out, compare=compare)
    atomic_write_json(out / "evidence.json", {"meta": meta, "evidence": [e.to_json() for e in records]})
    for record in records:
        print(verdict_line(record))
    print(f"\nwritten to {out} (evidence.json, summary.md, ingest.png, runs.json)")
    return 0
