"""Producer ``sim-training``: whole training runs on the Monte Carlo environments (issue 6).

One study per claim, each with >= 5 seeds, JSON + PNG under ``out_dir/sim-training`` and a verdict computed
from its runs: TT-9 (:mod:`simulations.training_tt9`), VI-3 and RZ-1 (:mod:`simulations.training_variance`),
BY-2 (:mod:`simulations.training_win_rate`), BY-3 (:mod:`simulations.training_allocation`) and DR-1
(:mod:`simulations.training_difficulty`). ``grpo-verify simulate training --budget {smoke,default,full}``.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm

from evidence.record import Evidence, RunContext
from simulations import training_allocation, training_difficulty, training_tt9, training_variance, training_win_rate
from simulations.training_common import StudyContext

STUDIES: tuple[tuple[tuple[str, ...], Callable[[StudyContext], list[Evidence]]], ...] = (
    (("TT-9",), lambda study: [training_tt9.run(study)]),
    (("VI-3", "RZ-1"), training_variance.run),
    (("BY-2",), lambda study: [training_win_rate.run(study)]),
    (("BY-3",), lambda study: [training_allocation.run(study)]),
    (("DR-1",), lambda study: [training_difficulty.run(study)]),
)
"""(claims, study): each study's seeds derive from (ctx.seed, its index), so a study gives the same
numbers whether it runs alone (``ctx.claim_ids``) or with the others."""


def produce(ctx: RunContext, *, progress: bool = True) -> list[Evidence]:
    """Evidence for TT-9, VI-3, RZ-1, BY-2, BY-3 and DR-1 at ``ctx.budget`` and ``ctx.seed``."""
    evidence: list[Evidence] = []
    for key, (claims, study) in enumerate(tqdm(STUDIES, desc="sim-training", disable=not progress)):
        if any(ctx.wants(c) for c in claims):
            rows = study(StudyContext(ctx.out_dir, ctx.budget, ctx.seed, key, progress))
            evidence += [e for e in rows if ctx.wants(e.claim_id)]
    return evidence
