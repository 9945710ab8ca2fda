"""Small helpers the gradient studies share: the engine-validity rule of their verdicts and row selection."""

from __future__ import annotations

from typing import Any


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
