"""Benchmarks: each module has ``run(quick: bool) -> BenchReport``; ``grpo-verify bench NAME``
prints it. Targets are measured side by side in one run and stated as ratios, never asserted in
unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BenchReport:
    """A benchmark's table: ``rows`` of dicts keyed by ``columns``; ``targets`` maps a target's
    description to whether this run met it; ``notes`` say what was measured on what."""

    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    targets: dict[str, bool] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
