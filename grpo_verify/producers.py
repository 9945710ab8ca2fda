"""Evidence producers: one row per producer, imported lazily by ``module:function``.

A producer is ``produce(ctx: evidence.record.RunContext) -> list[Evidence]``. It writes its
artefacts under ``ctx.out_dir`` (paths in the records are relative to it) and honours
``ctx.budget``, ``ctx.seed`` and ``ctx.claim_ids``. A producer that raises is reported as an
``error`` for each of its claims; the others still run (see :func:`run_producer`).
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from evidence.record import Evidence, RunContext, Verdict


@dataclass(frozen=True)
class Producer:
    """``name`` (CLI-visible), ``target`` (``module:function``), the ``claims`` it gives
    evidence for, and its ``method`` (proof, exact, simulation, llm)."""

    name: str
    target: str
    claims: tuple[str, ...]
    method: str

    def load(self) -> Callable[[RunContext], list[Evidence]]:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


PRODUCERS: tuple[Producer, ...] = (
    Producer("theory", "theory.checks:produce",
             ("TT-1", "TT-2", "TT-3", "TT-4", "TT-8", "BY-2"), "exact"),
    Producer("grpovi", "theory.grpovi_checks:produce", ("VI-1", "VI-2", "VI-4", "BY-1"), "exact"),
    Producer("proofs", "proofs.runner:produce",
             ("TT-1", "TT-2", "TT-3", "TT-4", "TT-5", "TT-6", "TT-7", "TT-8",
              "VI-1", "VI-2", "VI-4", "RZ-1", "DR-1", "DR-2", "BY-1", "BY-2"), "proof"),
    Producer("peers", "gpu_runs.peer_checks:produce", ("TT-3", "BY-4"), "exact"),
    Producer("sim-gradients", "simulations.gradient_studies:produce",
             ("TT-4", "TT-5", "TT-6", "TT-8"), "simulation"),
    Producer("sim-training", "simulations.training_studies:produce",
             ("TT-9", "VI-3", "RZ-1", "BY-2", "BY-3", "DR-1"), "simulation"),
    Producer("llm", "gpu_runs.experiment:produce", ("TT-9", "VI-3"), "llm"),
)

PRODUCERS_BY_NAME = {p.name: p for p in PRODUCERS}


def select_producers(names: Iterable[str] | None = None, claim_ids: Iterable[str] | None = None) -> list[Producer]:
    """Producers by name (all if None) that cover at least one of ``claim_ids`` (all if None)."""
    if names is None:
        chosen = list(PRODUCERS)
    else:
        unknown = [n for n in names if n not in PRODUCERS_BY_NAME]
        if unknown:
            raise ValueError(f"producer {unknown[0]!r} is unknown; choose from {', '.join(PRODUCERS_BY_NAME)}")
        chosen = [PRODUCERS_BY_NAME[n] for n in names]
    if claim_ids is not None:
        wanted = set(claim_ids)
        chosen = [p for p in chosen if wanted & set(p.claims)]
    return chosen


def run_producer(producer: Producer, ctx: RunContext) -> tuple[list[Evidence], float, str | None]:
    """Run one producer; returns (evidence, seconds, error text or None). A crash becomes one
    ``error`` record per requested claim of the producer, carrying the traceback's tail."""
    start = time.perf_counter()
    try:
        evidence = list(producer.load()(ctx))
        error = None
    except Exception as exc:  # a crashing producer must not take the report down
        error = "".join(traceback.format_exception(exc)[-6:])
        evidence = [
            Evidence(claim_id=c, method=producer.method, title=f"producer '{producer.name}' crashed",
                     verdict=Verdict.ERROR, reason=f"{type(exc).__name__}: {exc}",
                     steps=(f"```\n{error}\n```",))
            for c in producer.claims if ctx.wants(c)
        ]
    seconds = time.perf_counter() - start
    evidence = [e if e.seconds else replace(e, seconds=seconds) for e in evidence]
    return evidence, seconds, error
