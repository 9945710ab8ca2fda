"""BY-2: 2-GRPO's expected advantage under a discrete reward law is a self-win-rate.

With eps = 0, A_1(r, r') = c sign(r - r') (0 for a tie), so for any law of the partner's reward r',
E[A_1 | r_1 = r] = c (P(r' < r) - P(r' > r)): it depends on r only through its rank, not r - E[r].
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.contrastive import claimed_pair_scale
from proofs.record import Proof, tex
from proofs.symbolic import advantage
from theory.expectations import expected_pair_advantage

r = sp.Symbol("r", real=True)


def lemma_pair_sign(pf: Proof, std: str) -> None:
    """A_1(r, r + d) = -c for d > 0, +c for d < 0, 0 for d = 0."""
    c = claimed_pair_scale(std, sp.Integer(0))
    up, down = sp.Symbol("d", positive=True), sp.Symbol("d", negative=True)
    values = [advantage([r, r + up], 0, "grpo", std), advantage([r, r + down], 0, "grpo", std), advantage([r, r], 0)]
    pf.identity(f"A_1(r, r') = c (1[r' < r] - 1[r' > r]) ({std} std)",
                sp.Add(*[(v - target) ** 2 for v, target in zip(values, (-c, c, 0), strict=True)]), 0,
                f"Partner above, below, equal ({std} std, $\\epsilon = 0$)",
                display=f"(A_1(r, r + |d|), A_1(r, r - |d|), A_1(r, r)) = ({', '.join(tex(v) for v in values)}) = "
                        f"(-c, c, 0)")


def lemma_expected_winrate(pf: Proof, std: str, claimed: sp.Expr | None = None) -> None:
    """A 4-atom law of r' (two below r, one tie, one above; symbolic gaps and probabilities):
    E[A_1 | r] equals ``claimed`` (default c (P(r' < r) - P(r' > r)))."""
    c = claimed_pair_scale(std, sp.Integer(0))
    a, b, e = sp.symbols("a b e", positive=True)
    q = sp.symbols("q_1:5", positive=True)
    atoms = [r - a, r - b, r, r + e]
    expected = sp.Add(*[qi * advantage([r, v], 0, "grpo", std) for qi, v in zip(q, atoms, strict=True)])
    claimed = c * ((q[0] + q[1]) - q[3]) if claimed is None else claimed
    pf.identity(f"E[A_1 | r] = c (P(r' < r) - P(r' > r)) ({std} std)", expected, claimed,
                f"Law $r' \\in \\{{r - a, r - b, r, r + e\\}}$ w.p. $q_1..q_4$ ($a, b, e > 0$), {std} std",
                display=f"E[A_1 \\mid r] = {tex(expected)} = {tex(claimed)}")


def prove_by2() -> Proof:
    """BY-2: the per-pair sign identity (both std), the expectation on a symbolic law, a counterexample to
    r - E[r], cross-checked against theory.expectations.expected_pair_advantage."""
    pf = Proof("BY-2", "2-GRPO's expected advantage is a self-win-rate, not r - E[r]",
               "$E[A_1 \\mid r_1 = r] = c\\,(P(r' < r) - P(r' > r))$ for 2-GRPO ($\\epsilon = 0$) under any discrete "
               "law of $r'$.")
    for std in ("population", "sample"):
        lemma_pair_sign(pf, std)
    pf.say("Every term of $E[A_1 \\mid r] = \\sum_v P(r' = v) A_1(r, v)$ is $c$, $-c$ or $0$ by the order of $v$ and "
           "$r$, so $E[A_1 \\mid r] = c(P(r' < r) - P(r' > r))$ for any discrete law; any strictly increasing "
           "transform of the rewards leaves it unchanged.")
    for std in ("population", "sample"):
        lemma_expected_winrate(pf, std)
    half = sp.Rational(1, 2)
    win = sp.Integer(1) * half - half  # r = 0.9 against r' in {0, 1} w.p. 1/2 each
    pf.certify("win-rate differs from r - E[r] on a two-point law", win == 0 and sp.Rational(9, 10) - half != 0,
               "Counterexample: $r' \\in \\{0, 1\\}$ w.p. $1/2$ each, $r = 0.9$: $E[A_1 \\mid r] = c(1/2 - 1/2) = 0$ "
               "while $r - E[r'] = 0.4$")
    values, probs = np.array([0.0, 0.3, 0.9]), np.array([0.2, 0.5, 0.3])
    pf.agree("E[A | r=0.5], law {0: .2, .3: .5, .9: .3}, sample std vs theory.expected_pair_advantage",
             claimed_pair_scale("sample", sp.Integer(0)) * (sp.Rational(7, 10) - sp.Rational(3, 10)),
             expected_pair_advantage(values, probs, 0.5, "sample", 0.0),
             "Instance $r' \\in \\{0, 0.3, 0.9\\}$ w.p. $(0.2, 0.5, 0.3)$, $r = 0.5$, sample std")
    return pf


def check_by2(ctx: RunContext) -> list[Evidence]:
    """BY-2: 2-GRPO's E[A_1 | r_1 = r] = c (P(r' < r) - P(r' > r)), not c (r - E[r']) (sympy)."""
    return [prove_by2().evidence(ctx.out_dir)]
