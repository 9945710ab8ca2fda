"""What the claim studies share: the study context (output folder, budget, seeds), plain-data JSON, curve
summaries with 95% CIs, and the engine-validity rule of the gradient studies' verdicts."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evidence.io import atomic_write_json, jsonable
from evidence.record import BUDGETS, RunContext
from theory.statistics import mean_ci
from theory.validation import check_choice

GRADIENTS_FOLDER = "sim-gradients"
"""Subfolder of the report folder for the gradient studies (TT-4, TT-5, TT-6, TT-8)."""
TRAINING_FOLDER = "sim-training"
"""Subfolder of the report folder for the training studies (TT-9, VI-3, RZ-1, BY-2, BY-3, DR-1)."""


def show_progress() -> bool:
    """Progress bars only on a terminal (stderr a TTY), so that logs and CI output stay clean."""
    return sys.stderr.isatty()


@dataclass(frozen=True)
class StudyContext:
    """Where a study writes (``root``/``folder``), at which ``budget``, from which seeds: ``seed`` is the run's,
    ``key`` the study's own constant, so a study gives the same numbers alone or beside the others."""

    root: Path
    folder: str
    budget: str
    seed: int
    key: int
    progress: bool = False

    def __post_init__(self) -> None:
        check_choice("budget", self.budget, BUDGETS)

    @classmethod
    def of(cls, ctx: RunContext, folder: str, key: int) -> StudyContext:
        """The context of a study with constant ``key`` writing under ``folder``, for a check's ``ctx``."""
        return cls(ctx.out_dir, folder, ctx.budget, ctx.seed, key, show_progress())

    @property
    def folder_path(self) -> Path:
        """The study's folder, ``root``/``folder``."""
        return self.root / self.folder

    def path(self, name: str) -> Path:
        """Absolute path of an artefact."""
        return self.folder_path / name

    def rel(self, name: str) -> str:
        """An artefact's path relative to the report folder (what Evidence.artefacts holds)."""
        return f"{self.folder}/{name}"

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


def claim_checks(claim: dict[str, bool], validity: dict[str, bool]) -> dict[str, bool]:
    """The checks a verdict is computed from: the claim's own checks, plus every *failed* validity check of the
    machinery (Monte Carlo against exact enumeration). A passed validity check says nothing about the claim
    and must not lift a failed claim to "partly holds"; a failed one makes the evidence suspect and shows."""
    return {**claim, **{name: ok for name, ok in validity.items() if not ok}}


def validity_numbers(validity: dict[str, bool]) -> dict[str, str]:
    """The validity checks as report numbers ("passed" / "FAILED")."""
    return {f"validation: {name}": "passed" if ok else "FAILED" for name, ok in validity.items()}


def rows_of(rows: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """Rows whose fields equal ``match``, sorted by group size G."""
    return sorted((r for r in rows if all(r[k] == v for k, v in match.items())), key=lambda r: r["G"])
