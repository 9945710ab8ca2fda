"""The runner: selects checks from the claims table (:mod:`grpo_verify.claims`) by claim id and kind,
and runs each distinct check function once.

A check function listed under several claims (``simulations.exact.grpovi_brute_force:check_vi1_vi2``)
is one :class:`CheckCall`: it runs once, with ``ctx.claim_ids`` = the selected claims that list it,
and only the records of those claims are kept. The runner fills two fields of every record:

- ``command``: the command that reproduces that one record's check, e.g.
  ``grpo-verify report --only TT-6 --kind simulation --budget smoke --seed 0``;
- ``seconds``: the wall time of the whole call, as is, on each of its records (a call that serves
  two claims puts its full time on both; the report's checks table counts each call once).

A check that raises, returns a record of another kind than the table lists, or returns no record
for a claim it was asked for becomes one ``error`` record per wanted claim, carrying the traceback's
tail; the other checks still run.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from tqdm import tqdm

from evidence.record import METHODS, Evidence, RunContext, Verdict
from grpo_verify.claims import CLAIMS, Check, Claim


@dataclass(frozen=True)
class CheckCall:
    """One call of a check function: its ``kind``, its ``target`` (``module:function``) and the
    selected ``claim_ids`` whose rows list it, in table order."""

    kind: str
    target: str
    claim_ids: tuple[str, ...]


@dataclass(frozen=True)
class CheckResult:
    """What one call gave: the kept ``evidence``, its wall time in ``seconds`` and the traceback's
    tail if it crashed (else None)."""

    call: CheckCall
    evidence: tuple[Evidence, ...]
    seconds: float
    error: str | None


def _checked_names(argument: str, values: Iterable[str] | None, allowed: Sequence[str],
                   what: str) -> set[str] | None:
    if values is None:
        return None
    chosen = set(values)
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise ValueError(f"{argument}: unknown {what} {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(allowed)}")
    return chosen


def select_checks(claim_ids: Iterable[str] | None = None, kinds: Iterable[str] | None = None, *,
                  claims: Sequence[Claim] = CLAIMS) -> list[CheckCall]:
    """The distinct checks of ``claims`` listed for ``claim_ids`` (all if None) of ``kinds`` (all
    if None), in the order of ``METHODS`` (proofs first), then of the table. ValueError naming the
    argument and the allowed values for an unknown id or kind, or for a target the table lists
    under two kinds."""
    ids = _checked_names("claim_ids", claim_ids, [c.id for c in claims], "claim id")
    wanted_kinds = _checked_names("kinds", kinds, METHODS, "kind")
    kind_of: dict[str, str] = {}
    listed_by: dict[str, list[str]] = {}
    for claim in claims:
        for check in claim.checks:
            if kind_of.setdefault(check.target, check.kind) != check.kind:
                raise ValueError(f"target={check.target!r} is listed as {kind_of[check.target]!r} and as "
                                 f"{check.kind!r}; a check function has one kind")
            if (ids is None or claim.id in ids) and (wanted_kinds is None or check.kind in wanted_kinds):
                listed_by.setdefault(check.target, []).append(claim.id)
    calls = [CheckCall(kind_of[target], target, tuple(dict.fromkeys(listing)))
             for target, listing in listed_by.items()]
    return sorted(calls, key=lambda call: METHODS.index(call.kind))  # stable: table order within a kind


def reproduce_command(claim_id: str, kind: str, ctx: RunContext) -> str:
    """The command that runs the ``kind`` checks of ``claim_id`` alone, at this run's budget and seed."""
    return f"grpo-verify report --only {claim_id} --kind {kind} --budget {ctx.budget} --seed {ctx.seed}"


def _records(call: CheckCall, ctx: RunContext) -> list[Evidence]:
    """Call the check and keep the records of the wanted claims; a record of another kind, or a wanted
    claim without a record, is a bug of the check (ValueError)."""
    returned = Check(call.kind, call.target).load()(ctx)
    records = [e for e in returned if e.claim_id in call.claim_ids]
    wrong = sorted({e.method for e in records} - {call.kind})
    if wrong:
        raise ValueError(f"{call.target} returned {', '.join(wrong)} records; the claims table lists it as "
                         f"{call.kind}")
    missing = [c for c in call.claim_ids if all(e.claim_id != c for e in records)]
    if missing:
        raise ValueError(f"{call.target} returned no record for {', '.join(missing)}, which the claims table "
                         "says it checks")
    return records


def run_check(call: CheckCall, ctx: RunContext) -> CheckResult:
    """Run one check for ``call.claim_ids`` (``ctx.claim_ids`` is replaced by them) and fill each
    record's ``command`` and ``seconds``. A crash becomes one ``error`` record per wanted claim."""
    ctx = replace(ctx, claim_ids=frozenset(call.claim_ids))
    start = time.perf_counter()
    try:
        records = _records(call, ctx)
        error = None
    except Exception as exc:  # a crashing check must not take the report down
        error = "".join(traceback.format_exception(exc)[-6:])
        records = [Evidence(claim_id=c, method=call.kind, title=f"check {call.target} crashed",
                            verdict=Verdict.ERROR, reason=f"{type(exc).__name__}: {exc}",
                            steps=(f"```\n{error}\n```",))
                   for c in call.claim_ids]
    seconds = time.perf_counter() - start
    evidence = tuple(replace(e, command=reproduce_command(e.claim_id, call.kind, ctx), seconds=seconds)
                     for e in records)
    return CheckResult(call, evidence, seconds, error)


def run_checks(calls: Sequence[CheckCall], ctx: RunContext, *, progress: bool = True) -> list[CheckResult]:
    """Run ``calls`` in order, with a progress bar over checks on stderr."""
    results = []
    bar = tqdm(calls, desc="checks", unit="check", file=sys.stderr, disable=not progress)
    for call in bar:
        bar.set_postfix_str(call.target)
        results.append(run_check(call, ctx))
    return results
