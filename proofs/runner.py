"""Producer ``proofs``: run the sympy derivation of every requested claim, one Evidence (method ``proof``) each.

TT-4 has two records (the exact part and the G -> infinity limit). The budget sets the largest group size
of the finite enumerations (lambda_G closed forms, DR-1's convexity) and the largest symbolic n of the
GRPOVI vertex enumeration.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

from evidence.record import Evidence, RunContext
from proofs import (
    contrastive,
    exploration,
    grpovi,
    learning_speed,
    length_bias,
    silent,
    unbiasedness,
    variance,
    winrate,
)
from proofs.record import Proof

G_MAX = {"smoke": 16, "default": 16, "full": 24}
"""Largest G of the lambda_G closed forms (TT-4) and of DR-1's convexity check."""
VI_N_MAX = {"smoke": 3, "default": 4, "full": 5}
"""Largest symbolic n of the GRPOVI vertex enumeration and comparison (VI-2)."""

PROOFS: tuple[tuple[str, Callable[[RunContext], Proof]], ...] = (
    ("TT-1", lambda ctx: contrastive.prove_tt1()),
    ("TT-2", lambda ctx: contrastive.prove_tt2()),
    ("TT-3", lambda ctx: contrastive.prove_tt3()),
    ("TT-4", lambda ctx: unbiasedness.prove_tt4(G_MAX[ctx.budget])),
    ("TT-4", lambda ctx: unbiasedness.prove_tt4_limit()),
    ("TT-5", lambda ctx: variance.prove_tt5()),
    ("TT-6", lambda ctx: variance.prove_tt6()),
    ("TT-7", lambda ctx: exploration.prove_tt7()),
    ("TT-8", lambda ctx: silent.prove_tt8()),
    ("RZ-1", lambda ctx: learning_speed.prove_rz1(ctx.seed)),
    ("DR-1", lambda ctx: unbiasedness.prove_dr1(G_MAX[ctx.budget])),
    ("DR-2", lambda ctx: length_bias.prove_dr2()),
    ("BY-2", lambda ctx: winrate.prove_by2()),
    ("VI-1", lambda ctx: grpovi.prove_vi1()),
    ("VI-2", lambda ctx: grpovi.prove_vi2(VI_N_MAX[ctx.budget])),
    ("VI-4", lambda ctx: grpovi.prove_vi4()),
    ("BY-1", lambda ctx: grpovi.prove_by1()),
)
"""(claim id, builder) in running order; the GRPOVI proofs last."""


def produce(ctx: RunContext) -> list[Evidence]:
    """Evidence (method ``proof``) for every claim of this producer that ``ctx`` wants; attachments under
    ``ctx.out_dir/proofs``. A proof's time is its own (Evidence.seconds)."""
    chosen = [build for claim_id, build in PROOFS if ctx.wants(claim_id)]
    return [build(ctx).evidence(ctx.out_dir)
            for build in tqdm(chosen, desc="proofs", unit="proof", file=sys.stderr, leave=False)]
