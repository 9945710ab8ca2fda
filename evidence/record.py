"""The evidence record: what every check (exact, proof, simulation, llm) returns and the report
renders. Plain data, defined in the bottom package ``evidence`` so that checks never import the
report (STYLE.md, "In this project").

A verdict is never written in by hand: :func:`judge` computes it from named boolean checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from theory.validation import check_choice


class Verdict(str, Enum):
    """What the evidence says about a claim."""

    HOLDS = "holds"
    FAILS = "fails"
    PARTLY = "partly holds"
    INCONCLUSIVE = "inconclusive"
    NOT_CHECKED = "not checked"
    ERROR = "error"


METHODS = ("proof", "exact", "simulation", "llm", "pretrained")
"""``proof``: sympy derivation; ``exact``: exact enumeration / brute force in floating point;
``simulation``: Monte Carlo; ``llm``: training small language models; ``pretrained``: gradient statistics measured
on a real pretrained LM (SmolLM2-135M-Instruct)."""


def judge(checks: Mapping[str, bool | None], *, complete: bool = True) -> Verdict:
    """Verdict from named checks, each passed (True), failed (False) or undecided (None: an interval
    that straddles its threshold, see :mod:`evidence.verdicts`).

    All passed -> ``holds`` if the checks cover the claim's whole statement (``complete``), else
    ``partly holds``. None passed -> ``fails`` (undecided checks do not rescue a failed one). Some
    passed and some failed -> ``partly holds``. Some passed, none failed, some undecided ->
    ``inconclusive``; all undecided -> ``inconclusive``. No checks -> ``not checked``.

    What ``complete`` means depends on the method. A ``proof`` is complete only if it shows the
    general statement: a symbolic result checked on finitely many G is not. Empirical evidence
    (``exact``, ``simulation``, ``llm``) is always on finitely many cases, named in its reason, and
    its verdict says whether the claim held on them; it is incomplete when it leaves a part of the
    statement unchecked (e.g. one of two bounds).
    """
    if not checks:
        return Verdict.NOT_CHECKED
    values = [None if v is None else bool(v) for v in checks.values()]
    passed, failed = values.count(True), values.count(False)
    if passed == len(values):
        return Verdict.HOLDS if complete else Verdict.PARTLY
    if passed and failed:
        return Verdict.PARTLY
    if failed:
        return Verdict.FAILS
    return Verdict.INCONCLUSIVE


def combine(verdicts: list[Verdict]) -> Verdict:
    """A claim's overall verdict from its evidence rows: errors and unchecked rows are ignored
    unless nothing else exists, inconclusive rows unless nothing decided exists; agreement is kept;
    disagreement is ``partly holds``."""
    real = [v for v in verdicts if v not in (Verdict.ERROR, Verdict.NOT_CHECKED)]
    if not real:
        return Verdict.ERROR if Verdict.ERROR in verdicts else Verdict.NOT_CHECKED
    decided = [v for v in real if v != Verdict.INCONCLUSIVE]
    real = decided or real
    if all(v == real[0] for v in real):
        return real[0]
    return Verdict.PARTLY


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence about one claim.

    ``checks`` are the named outcomes the verdict was computed from (True passed, False failed,
    None undecided); ``numbers`` the measured
    values behind them; ``steps`` a readable derivation (Markdown, ``$...$`` for LaTeX);
    ``artefacts`` paths of figures / JSON relative to the report folder; ``command`` reproduces it.
    """

    claim_id: str
    method: str
    title: str
    verdict: Verdict
    reason: str
    checks: dict[str, bool | None] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    steps: tuple[str, ...] = ()
    artefacts: tuple[str, ...] = ()
    command: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        object.__setattr__(self, "verdict", Verdict(self.verdict))

    @classmethod
    def from_checks(
        cls, claim_id: str, method: str, title: str, checks: Mapping[str, bool | None], *,
        complete: bool = True, reason: str = "", **fields: Any,
    ) -> Evidence:
        """Build a record whose verdict is :func:`judge` of ``checks``; the reason lists any
        failed and any undecided check after the caller's own text."""
        checks = {k: None if v is None else bool(v) for k, v in checks.items()}
        failed = [k for k, v in checks.items() if v is False]
        undecided = [k for k, v in checks.items() if v is None]
        text = reason
        if failed:
            text = (text + " " if text else "") + "Failed: " + ", ".join(failed) + "."
        if undecided:
            text = (text + " " if text else "") + "Undecided: " + ", ".join(undecided) + "."
        if all(v is True for v in checks.values()) and not complete:
            text = text or "Every check passed on a finite set of cases; the general statement was not shown."
        return cls(claim_id, method, title, judge(checks, complete=complete), text, checks, **fields)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evidence:
        fields = dict(data)
        fields["steps"] = tuple(fields.get("steps", ()))
        fields["artefacts"] = tuple(fields.get("artefacts", ()))
        return cls(**fields)


BUDGETS = ("smoke", "default", "full")
"""smoke: seconds to a minute, for CI; default: minutes; full: as long as the study deserves."""


@dataclass(frozen=True)
class RunContext:
    """What a producer is asked to do: at which ``budget``, writing artefacts under ``out_dir``,
    seeded by ``seed``, for ``claim_ids`` only (None: all of its claims)."""

    budget: str
    out_dir: Path
    seed: int = 0
    claim_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        check_choice("budget", self.budget, BUDGETS)
        object.__setattr__(self, "out_dir", Path(self.out_dir))

    def wants(self, claim_id: str) -> bool:
        """Whether evidence for ``claim_id`` was asked for."""
        return self.claim_ids is None or claim_id in self.claim_ids
