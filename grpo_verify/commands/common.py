"""What several subcommands share: the budget/out/seed options, claim ids and kinds as arguments,
argparse types that state their allowed range, checks of output and input paths made before any work
starts, and running checks of the claims table while printing their evidence.

Bad input ends in one clear line and exit status 2 (``grpo_verify.cli.main``): a number out of range is
rejected by its argparse type (``argument --steps: invalid value '0': must be an integer >= 1``), a path
by :func:`check_out_dir` / :func:`check_out_file` / :func:`read_input_text` before anything runs, so no
command starts work it cannot finish or leaves a result file behind for input it then rejects."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from evidence.io import atomic_write_json
from evidence.record import BUDGETS, Evidence, RunContext, Verdict
from grpo_verify.claims import CLAIMS, CLAIMS_BY_ID
from grpo_verify.report import run_metadata
from grpo_verify.runner import CheckCall, run_checks, select_checks

SEED_MAX = 2**32 - 1
"""Seeds are integers in [0, SEED_MAX]: numpy's generators refuse negative seeds."""


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    def show(x: float | None) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    if high is None:
        return f"{'>' if low_open else '>='} {show(low)}"
    if low is None:
        return f"{'<' if high_open else '<='} {show(high)}"
    return f"in {'(' if low_open else '['}{show(low)}, {show(high)}{')' if high_open else ']'}"


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in [low, high] (no upper end when ``high`` is None)."""
    allowed = f"an integer {_interval(low, high, False, False)}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {allowed}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {allowed}")
        return value

    return parse


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
         high_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in the interval from ``low`` to ``high`` (open ends as named)."""
    allowed = "a finite number" + ("" if low is None and high is None else
                                   f" {_interval(low, high, low_open, high_open)}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {allowed}") from None
        inside = value == value and abs(value) != float("inf")  # NaN, inf and 1e309 are out
        if low is not None:
            inside &= value > low if low_open else value >= low
        if high is not None:
            inside &= value < high if high_open else value <= high
        if not inside:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {allowed}")
        return value

    return parse


SEED = integer(0, SEED_MAX)
"""argparse type of every ``--seed``."""


def text(value: str) -> str:
    """argparse type of a name (a model, a dataset): not empty (an unset shell variable is no name)."""
    if not value.strip():
        raise argparse.ArgumentTypeError(f"invalid value {value!r}: must be a non-empty name or path")
    return value


def pathname(value: str) -> Path:
    """argparse type of a file or folder: a non-empty path (``--out ""`` would write into the current folder)."""
    return Path(text(value))


def _existing_ancestor(option: str, path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists; OSError (a name too long) as ValueError."""
    try:
        return next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())
    except OSError as exc:
        raise ValueError(f"{option}={str(path)!r} is not a usable path ({exc.strerror}); it must be one the system "
                         "can create") from None


def _check_writable(option: str, path: Path, folder: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option}={str(path)!r}: the folder {str(folder)!r} is not writable; it must be one you "
                         "can write to")


def check_out_dir(option: str, path: Path) -> Path:
    """An output folder: an existing folder or a path under one (created when written). Checked before
    any work starts, so that a run never ends in a failed write."""
    found = _existing_ancestor(option, path)
    if not found.is_dir():
        where = "is a file" if found == path else f"lies under {str(found)!r}, which is a file"
        raise ValueError(f"{option}={str(path)!r} {where}; it must be a folder (or a path where one can be created)")
    _check_writable(option, path, found)
    return path


def check_out_file(option: str, path: Path) -> Path:
    """An output file: an existing file (replaced) or a new name under a folder."""
    if str(path) in ("", ".") or path.name in ("", ".", ".."):
        raise ValueError(f"{option}={str(path)!r} must name a file")
    found = _existing_ancestor(option, path)
    if found == path and path.is_dir():
        raise ValueError(f"{option}={str(path)!r} is a folder; it must name a file")
    if found != path and not found.is_dir():
        raise ValueError(f"{option}={str(path)!r} lies under {str(found)!r}, which is a file; it must name a file "
                         "in a folder")
    _check_writable(option, path, found if found != path else path.parent)
    return path


def read_input_text(option: str, path: Path) -> str:
    """The UTF-8 text of an input file; a missing, unreadable or binary file is a ValueError naming ``option``."""
    try:
        if not path.is_file():
            raise ValueError(f"{option}={str(path)!r} is not a file; it must be an existing file")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{option}={str(path)!r} cannot be read ({exc.strerror}); it must be a readable file") \
            from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{option}={str(path)!r} is not UTF-8 text (byte {exc.start}); it must be a text file") \
            from None


@contextmanager
def option_names(**options: str) -> Iterator[None]:
    """Library errors name arguments as ``per_device_batch=7``; on the command line that argument is an
    option (``per_device_batch="--per-device-batch"``): a ValueError from the block is raised again with
    each of those names written as its option."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        for name, option in options.items():
            message = re.sub(rf"(?<![\w-]){re.escape(name)}=", f"{option}=", message)
        raise ValueError(message) from exc


def add_run_options(parser: argparse.ArgumentParser, *, default_out: str, default_budget: str = "default") -> None:
    parser.add_argument("--budget", choices=BUDGETS, default=default_budget,
                        help=f"how much work: smoke (CI), default, full (default: {default_budget})")
    parser.add_argument("--out", type=pathname, default=Path(default_out),
                        help=f"output folder (default: {default_out})")
    parser.add_argument("--seed", type=SEED, default=0,
                        help=f"seed of every random draw, in [0, {SEED_MAX}] (default: 0)")


def claim_id(value: str) -> str:
    """argparse type of a claim id: case-insensitive, one of the claims table's ids."""
    if value.upper() not in CLAIMS_BY_ID:
        raise argparse.ArgumentTypeError(f"unknown claim id {value!r}; known ids: {', '.join(CLAIMS_BY_ID)}")
    return value.upper()


def checks_of_kind(kind: str, claim_ids: Sequence[str]) -> list[CheckCall]:
    """The ``kind`` checks of ``claim_ids`` (every claim that has one if empty); ValueError naming
    the ids without such a check and the ids that have one."""
    having = [c.id for c in CLAIMS if kind in c.kinds]
    lacking = [c for c in claim_ids if c not in having]
    if lacking:
        raise ValueError(f"CLAIM_ID: {', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no {kind} "
                         f"check in the claims table; claims with one: {', '.join(having)} (must be among them)")
    return select_checks(claim_ids or None, [kind])


def command_line() -> str:
    return "grpo-verify " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def format_evidence(e: Evidence, *, steps: bool) -> str:
    lines = [f"{e.claim_id} [{e.method}] {e.title}: {e.verdict.value.upper()} ({e.seconds:.2f} s)"]
    if steps:
        lines += [f"    {i}. {s}" for i, s in enumerate(e.steps, 1)]
    if e.reason:
        lines.append(f"    reason: {e.reason}")
    lines += [f"    check {k}: {'undecided' if v is None else 'ok' if v else 'FAILED'}" for k, v in e.checks.items()]
    lines += [f"    artefact: {a}" for a in e.artefacts]
    return "\n".join(lines)


def run_and_print(calls: Sequence[CheckCall], ctx: RunContext, *, steps: bool = False) -> int:
    """Run the checks, print each record, write ``ctx.out_dir/evidence.json``; exit status 1 if any
    check crashed, else 0 (a claim that fails is a result, not an error)."""
    meta = run_metadata(ctx, command_line())
    evidence: list[Evidence] = []
    crashed = False
    for result in run_checks(calls, ctx):
        crashed |= result.error is not None
        evidence += result.evidence
        for e in result.evidence:
            print(format_evidence(e, steps=steps), flush=True)
    atomic_write_json(ctx.out_dir / "evidence.json", {"meta": meta, "evidence": [e.to_json() for e in evidence]})
    counts = {v.value: sum(e.verdict == v for e in evidence) for v in Verdict}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"\n{summary}; written to {ctx.out_dir / 'evidence.json'}")
    return 1 if crashed else 0
