"""What the training studies (TT-9, VI-3, RZ-1, BY-2, BY-3, DR-1) share: the study context (output folder,
budget, seeds), plain-data conversion for JSON and Evidence numbers, and curve summaries with 95% CIs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evidence.io import atomic_write_json, jsonable
from evidence.record import BUDGETS
from theory.statistics import mean_ci
from theory.validation import check_choice

PRODUCER = "sim-training"
COMMAND = "grpo-verify simulate training --budget {budget} --seed {seed}"


@dataclass(frozen=True)
class StudyContext:
    """Where a study writes (``root``/sim-training), at which ``budget``, from which seed sequence."""

    root: Path
    budget: str
    seed: int
    key: int
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice("budget", self.budget, BUDGETS)

    @property
    def folder(self) -> Path:
        return self.root / PRODUCER

    def path(self, name: str) -> Path:
        """Absolute path of an artefact."""
        return self.folder / name

    def rel(self, name: str) -> str:
        """An artefact's path relative to the report folder (what Evidence.artefacts holds)."""
        return f"{PRODUCER}/{name}"

    @property
    def command(self) -> str:
        return COMMAND.format(budget=self.budget, seed=self.seed)

    def seeds(self, stream: int, n: int) -> list[int]:
        """n integer seeds of ``stream`` of this study: the same (seed, key, stream) give the same seeds."""
        state = np.random.SeedSequence([self.seed, self.key, stream]).generate_state(n, dtype=np.uint32)
        return [int(s) for s in state]

    def write_json(self, name: str, data: Any) -> str:
        """Write ``data`` (made plain) atomically; return its relative path."""
        atomic_write_json(self.path(name), jsonable(data))
        return self.rel(name)


def curve_summary(values: ArrayLike, points: int = 101) -> dict[str, list[float]]:
    """Mean and 95% CI half width over seeds (axis 0) of curves (S, T), at <= ``points`` evenly spaced t."""
    x = np.asarray(values, dtype=np.float64)
    idx = np.unique(np.linspace(0, x.shape[1] - 1, min(points, x.shape[1])).round().astype(int))
    mean, half = mean_ci(x[:, idx])
    return {"index": idx.tolist(), "mean": mean.tolist(), "ci95": half.tolist()}


def paired_difference(a: ArrayLike, b: ArrayLike) -> dict[str, float]:
    """Mean of a - b over paired seeds with its 95% t interval: {mean, ci95, low, high}."""
    mean, half = mean_ci(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return {"mean": float(mean), "ci95": float(half), "low": float(mean - half), "high": float(mean + half)}


def fmt_ci(mean: float, half: float, digits: int = 3) -> str:
    """'m +- h' with ``digits`` decimals."""
    return f"{mean:.{digits}f} +- {half:.{digits}f}"
