"""One rule for every empirical verdict (simulation, llm, pretrained, ingested runs): a 95% interval
against the paper's threshold.

For a claim "the quantity is at least ``threshold``":

- ``holds`` when the whole interval clears it (lower bound >= threshold),
- ``fails`` when the whole interval misses it (upper bound < threshold),
- ``inconclusive`` otherwise, with the seeds that would decide it if the per-seed spread stays as
  measured and the estimate stays where it is (:func:`theory.statistics.seeds_to_resolve`).

A claim "at most ``threshold``" mirrors it (``at_least=False``). An unbounded end of an interval (a
Fieller set whose denominator is not significantly away from 0) decides nothing on its side.
:attr:`Decision.passed` is what :meth:`evidence.record.Evidence.from_checks` takes: True, False, or None
for undecided.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evidence.record import Verdict
from theory import statistics
from theory.validation import check_integer, check_real, check_real_array


@dataclass(frozen=True)
class Decision:
    """``verdict`` of ``estimate`` [``low``, ``high``] (None: unbounded) against ``threshold`` from
    ``n`` seeds; ``seeds_needed`` decides an inconclusive one (None when decided or out of reach)."""

    verdict: Verdict
    estimate: float | None
    low: float | None
    high: float | None
    threshold: float
    at_least: bool
    n: int
    seeds_needed: int | None = None

    @property
    def passed(self) -> bool | None:
        """True for holds, False for fails, None for inconclusive."""
        return {Verdict.HOLDS: True, Verdict.FAILS: False}.get(self.verdict)

    def text(self, digits: int = 3) -> str:
        """'0.812 [0.701, 0.934] vs >= 0.95: fails (8 seeds)' and, when inconclusive, the seeds needed."""
        def fmt(x: float | None, inf: str) -> str:
            return inf if x is None else f"{x:.{digits}f}"

        out = (f"{fmt(self.estimate, 'undefined')} [{fmt(self.low, '-inf')}, {fmt(self.high, 'inf')}] vs "
               f"{'>=' if self.at_least else '<='} {self.threshold:g}: {self.verdict.value} "
               f"({self.n} seed{'s' if self.n != 1 else ''})")
        if self.verdict == Verdict.INCONCLUSIVE:
            if self.n < 2:
                out += "; one seed has no spread to judge by: run >= 2 seeds per arm"
            elif self.seeds_needed:
                out += f"; about {self.seeds_needed} seeds would decide it"
            else:
                out += "; no number of seeds decides it at this estimate"
        return out

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value}


def _check_bound(name: str, value: float | None) -> None:
    """An estimate or an end of an interval: a real number (an infinite end too) or None (undefined,
    unbounded); never NaN, text or an array."""
    if value is not None and math.isnan(check_real(name, value, finite=False)):
        raise ValueError(f"{name}=nan must be a real number or None (unbounded)")


def decide(estimate: float | None, low: float | None, high: float | None, threshold: float, *, n: int,
           at_least: bool = True, seeds_needed: int | None = None) -> Decision:
    """Three-way verdict of an interval [low, high] (None: unbounded) against ``threshold`` from ``n`` >= 0
    seeds (0: nothing measured); ``seeds_needed``: None or an integer >= 1."""
    check_real("threshold", threshold)
    check_integer("n", n, 0)
    for name, value in (("estimate", estimate), ("low", low), ("high", high)):
        _check_bound(name, value)
    if not isinstance(at_least, (bool, np.bool_)):
        raise ValueError(f"at_least={at_least!r} must be True (at least the threshold) or False (at most)")
    if seeds_needed is not None:
        check_integer("seeds_needed", seeds_needed, 1)
    if low is not None and high is not None and low > high:
        raise ValueError(f"low={low!r} must be <= high={high!r}")
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    if at_least:
        verdict = Verdict.HOLDS if lo >= threshold else Verdict.FAILS if hi < threshold else Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.HOLDS if hi <= threshold else Verdict.FAILS if lo > threshold else Verdict.INCONCLUSIVE
    return Decision(verdict, estimate, low, high, threshold, at_least, n,
                    seeds_needed if verdict == Verdict.INCONCLUSIVE else None)


def decide_mean(values: ArrayLike, threshold: float, *, at_least: bool = True,
                level: float = statistics.LEVEL) -> Decision:
    """Mean of per-seed ``values`` with its Student-t interval against ``threshold``."""
    check_real("threshold", threshold)
    x = check_real_array("values", values).ravel()
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"values={x!r} must hold >= 2 finite numbers (one per seed)")
    mean, half = (float(v) for v in statistics.mean_ci(x, level=level))
    needed = statistics.seeds_to_resolve(float(x.std(ddof=1)), mean - threshold, level)
    return decide(mean, mean - half, mean + half, threshold, n=x.size, at_least=at_least, seeds_needed=needed)


def decide_ratio(numerator: ArrayLike, denominator: ArrayLike, threshold: float, *, paired: bool = True,
                 at_least: bool = True, level: float = statistics.LEVEL) -> Decision:
    """Ratio of means mean(a) / mean(b) with Fieller's interval (paired: the same seeds in both, the
    design of every experiment here) against ``threshold``. The seeds needed come from the linearised
    per-seed values a_s - R b_s, whose mean has standard error |bbar| times the ratio's (delta method)."""
    check_real("threshold", threshold)
    a = check_real_array("numerator", numerator).ravel()
    b = check_real_array("denominator", denominator).ravel()
    value, low, high = statistics.fieller_ratio(a, b, paired=paired, level=level)  # finite, paired, level checked
    n = min(a.size, b.size)
    needed = None
    if value is not None and n >= 2:
        spread = float(np.std(a - value * b, ddof=1)) if paired else float(
            math.sqrt(a.var(ddof=1) + value * value * b.var(ddof=1)))
        needed = statistics.seeds_to_resolve(spread / abs(float(b.mean())), value - threshold, level)
    return decide(value, low, high, threshold, n=n, at_least=at_least, seeds_needed=needed)
