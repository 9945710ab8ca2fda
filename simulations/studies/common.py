"""What the claim studies share: the study context (output folder, budget, seeds), plain-data JSON, curve
summaries with 95% CIs, the engine-validity rule of the gradient studies' verdicts, and the glue between
:mod:`evidence.verdicts` (one three-way rule: a 95% interval against a threshold) and a study's checks.

A study's judging step is a pure function of its summary numbers that returns, per check, either a
:class:`evidence.verdicts.Decision` (an interval over seeds or Monte Carlo draws against a threshold) or a
plain bool (an exact inequality, or a Monte Carlo-against-exact agreement test of the machinery);
:func:`check_values` turns those into what :meth:`evidence.record.Evidence.from_checks` takes."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evidence.io import atomic_write_json, jsonable
from evidence.record import BUDGETS, RunContext
from evidence.verdicts import Decision, decide, decide_mean
from simulations.environments import PASS_RATE_DISTRIBUTIONS
from theory.statistics import mean_ci
from theory.validation import check_choice

GRADIENTS_FOLDER = "sim-gradients"
"""Subfolder of the report folder for the gradient studies (TT-4, TT-5, TT-6, TT-8)."""
STUDY_POOLS = {
    "smoke": {"bandit": 16, "log-linear": 16, "autoregressive": 8, "bandit-continuous": 16},
    "default": {"bandit": 128, "log-linear": 128, "autoregressive": 64, "bandit-continuous": 128},
    "full": {"bandit": 256, "log-linear": 256, "autoregressive": 128, "bandit-continuous": 256},
}
"""Prompts per study environment by budget: TT-5 and TT-6 measure the same environments."""
STUDY_DISTRIBUTIONS = {"smoke": ("hard",), "default": tuple(PASS_RATE_DISTRIBUTIONS),
                       "full": tuple(PASS_RATE_DISTRIBUTIONS)}
"""Pass-rate distributions of the study environments by budget (TT-5 and TT-6)."""
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


# --- checks: the three-way rule of evidence.verdicts ----------------------------------------------------------

Outcome = Decision | bool
"""What a study's pure judging function gives per check: a Decision (interval against a threshold) or a bool
(an exact inequality or an agreement test)."""


def decide_seeds(values: ArrayLike, threshold: float, *, at_least: bool = True) -> Decision:
    """:func:`evidence.verdicts.decide_mean` of the finite per-seed ``values`` (a censored or undefined seed is
    left out) against ``threshold``; with fewer than two finite values, an undecided Decision (unbounded interval)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        return decide(float(x[0]) if x.size else None, None, None, threshold, n=int(x.size), at_least=at_least)
    return decide_mean(x, threshold, at_least=at_least)


def decide_draws(estimate: Mapping[str, float | None], threshold: float, *, draws: int,
                 at_least: bool = True) -> Decision:
    """A Monte Carlo estimate {value, ci95} (jackknife 95% half width over ``draws`` independent draws) against
    ``threshold``. An inconclusive one carries the draws at which the half width, shrinking as 1/sqrt(draws),
    would fall below the gap: ceil(draws (ci95 / |value - threshold|)^2)."""
    value, half = estimate["value"], estimate["ci95"]
    if value is None or half is None or not (math.isfinite(value) and math.isfinite(half)):
        return decide(None, None, None, threshold, n=draws, at_least=at_least)
    gap = abs(value - threshold)
    needed = math.floor(draws * (half / gap) ** 2) + 1 if gap > 0 else None
    return decide(value, value - half, value + half, threshold, n=draws, at_least=at_least, seeds_needed=needed)


def all_of(parts: Iterable[Outcome | None]) -> bool | None:
    """A check made of parts that must all hold: False if any part failed, else None if any is undecided, else
    True (a Decision counts as its ``passed``)."""
    values = [p.passed if isinstance(p, Decision) else p for p in parts]
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def check_values(outcomes: Mapping[str, Outcome | None]) -> dict[str, bool | None]:
    """The checks :meth:`evidence.record.Evidence.from_checks` takes: a Decision's ``passed`` (True, False or
    None for undecided), a bool as it is."""
    return {name: o.passed if isinstance(o, Decision) else o for name, o in outcomes.items()}


def decision_text(decision: Decision, unit: str = "seeds") -> str:
    """:meth:`Decision.text` with its replicates named ``unit`` (Monte Carlo draws are groups or batches, not
    seeds)."""
    text = decision.text()
    return text if unit == "seeds" else text.replace(" seeds", f" {unit}")


def decision_numbers(outcomes: Mapping[str, Any], unit: str = "seeds") -> dict[str, dict[str, Any]]:
    """The Decisions among ``outcomes`` as report numbers: each one's fields (verdict, estimate, interval,
    threshold, n, seeds_needed) and its text."""
    return {name: {**o.to_json(), "text": decision_text(o, unit)} for name, o in outcomes.items()
            if isinstance(o, Decision)}


def decision_reason(outcomes: Mapping[str, Any], unit: str = "seeds", *, open_only: bool = False,
                    limit: int | None = None) -> str:
    """One sentence per Decision among ``outcomes``: 'name: 0.95 [0.90, 1.00] vs >= 0.976: inconclusive ...';
    with ``open_only`` only those that did not hold; at most ``limit`` sentences, then how many were left out."""
    chosen = [(name, o) for name, o in outcomes.items()
              if isinstance(o, Decision) and not (open_only and o.passed is True)]
    shown = chosen if limit is None else chosen[:limit]
    text = " ".join(f"{name}: {decision_text(o, unit)}." for name, o in shown)
    if len(chosen) > len(shown):
        text += f" ({len(chosen) - len(shown)} more in the numbers.)"
    return text
