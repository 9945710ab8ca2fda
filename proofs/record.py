"""A proof record: statement, derivation steps (Markdown with $LaTeX$), named checks -> Evidence.

Every check is run here: an identity is ``simplify(lhs - rhs) == 0``, a certificate is a boolean
the caller computed exactly (a finite enumeration, a sign decided by sympy), a cross-check compares
the symbolic value with the numeric layer ``theory``. The verdict is :func:`evidence.record.judge`
of those checks (via :meth:`Evidence.from_checks`); nothing here writes a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from evidence.io import atomic_write_json
from evidence.record import Evidence

ARTEFACT_DIR = "proofs"
"""Sub-folder of the run's out_dir holding the proofs' attachments."""


def tex(expr: Any) -> str:
    """LaTeX of a sympy expression (or of anything sympify accepts)."""
    return sp.latex(expr)


def to_json_number(value: Any) -> float | int | str:
    """A JSON-safe number for ``Evidence.numbers``: ints stay ints, finite reals become floats,
    anything else (a symbolic expression) its string."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, sp.Integer)):
        return int(value)
    try:
        number = float(sp.N(value, 30)) if isinstance(value, sp.Basic) else float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(value)


@dataclass
class Proof:
    """A derivation under construction for one claim (``claim_id``), titled ``title``, proving
    ``statement``. Steps and checks are appended in order by the helper methods."""

    claim_id: str
    title: str
    statement: str
    steps: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    attachments: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    reason: str = ""

    def note(self, reason: str) -> None:
        """Add to the record's reason (what was cited, what a check covers) without changing its scope."""
        self.reason = f"{self.reason} {reason}".strip()

    def limit(self, reason: str) -> None:
        """Mark the proof as covering less than the general statement (finitely many cases, a part not
        proved): all checks passing then gives ``partly holds``, never ``holds``."""
        self.complete = False
        self.note(reason)

    def say(self, text: str) -> None:
        """A step of the argument that is not itself a check (a definition, a cited fact)."""
        self.steps.append(text)

    def show(self, text: str, expr: Any) -> None:
        """A step displaying ``expr``: ``text: $expr$``."""
        self.steps.append(f"{text}: ${tex(expr)}$")

    def _record(self, name: str, ok: bool) -> bool:
        if name in self.checks:
            raise ValueError(f"check name={name!r} is already recorded in {self.claim_id}; names must be unique")
        self.checks[name] = bool(ok)
        return bool(ok)

    def identity(
        self, name: str, lhs: Any, rhs: Any, text: str, *,
        simplifier: Callable[[Any], Any] = sp.simplify, display: str | None = None,
    ) -> bool:
        """Check ``simplifier(lhs - rhs) == 0`` and record the step ``text: $lhs = rhs$`` with its
        outcome; ``display`` replaces the LaTeX of the equation when that would be unreadably long."""
        difference = simplifier(sp.sympify(lhs) - sp.sympify(rhs))
        ok = difference.is_zero_matrix if isinstance(difference, sp.MatrixBase) else difference == 0
        equation = display if display is not None else f"{tex(lhs)} = {tex(rhs)}"
        outcome = "checked: simplify(lhs - rhs) = 0" if ok else f"FAILS: simplify(lhs - rhs) = ${tex(difference)}$"
        self.steps.append(f"{text}: ${equation}$ ({outcome})")
        return self._record(name, ok)

    def certify(self, name: str, ok: bool, text: str) -> bool:
        """Record a check decided by the caller (an exact finite enumeration, a sign sympy decided)."""
        self.steps.append(f"{text} ({'checked' if ok else 'FAILS'})")
        return self._record(name, ok)

    def agree(self, name: str, symbolic: Any, numeric: Any, text: str, *, tol: float = 1e-9,
              route: str = "theory") -> bool:
        """Cross-check: the symbolic value and the value of an independent numeric ``route`` (the
        ``theory`` layer unless stated) agree within ``tol`` (absolute and relative); both go into ``numbers``."""
        exact = float(sp.N(symbolic, 30))
        measured = float(numeric)
        ok = math.isfinite(measured) and abs(exact - measured) <= tol * max(1.0, abs(exact))
        self.numbers[f"{name} (sympy)"] = exact
        self.numbers[f"{name} ({route})"] = measured
        self.steps.append(f"{text}: sympy {exact:.12g}, {route} {measured:.12g} "
                          f"({'agree' if ok else 'DISAGREE'} within {tol:g})")
        return self._record(name, ok)

    def number(self, name: str, value: Any) -> None:
        """Keep a measured value (converted to a JSON-safe number or list)."""
        if isinstance(value, (list, tuple)):
            self.numbers[name] = [to_json_number(v) for v in value]
        else:
            self.numbers[name] = to_json_number(value)

    def attach(self, filename: str, data: Any) -> None:
        """JSON data written to ``out_dir/proofs/filename`` when the evidence is built with an out_dir."""
        self.attachments[filename] = data

    def evidence(self, out_dir: str | Path | None = None) -> Evidence:
        """The Evidence record (method ``proof``): verdict from the checks and the proof's scope
        (:meth:`limit`), attachments written under ``out_dir/proofs``. ``command`` and ``seconds`` stay
        empty: the runner that calls the check fills them."""
        artefacts: list[str] = []
        if out_dir is not None:
            for filename, data in self.attachments.items():
                relative = f"{ARTEFACT_DIR}/{filename}"
                atomic_write_json(Path(out_dir) / relative, data)
                artefacts.append(relative)
        return Evidence.from_checks(
            self.claim_id, "proof", self.title, self.checks, complete=self.complete, reason=self.reason,
            numbers=dict(self.numbers), steps=(f"**Statement.** {self.statement}", *self.steps),
            artefacts=tuple(artefacts),
        )
