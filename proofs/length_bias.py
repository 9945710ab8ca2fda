"""DR-2: per-sequence length normalisation biases response length.

With the loss of response o_i divided by its length |o_i|, each of its tokens gets weight w = A_i / |o_i|:
dw/d|o| = -A/|o|^2, negative for A > 0 (a shorter correct answer gets more weight per token) and positive
for A < 0 (a longer wrong answer gets a smaller penalty per token). A constant normaliser M gives
w = A/M, which does not depend on the length.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.record import Proof, tex

L = sp.Symbol("L", positive=True)
M = sp.Symbol("M", positive=True)


def lemma_length_sign(pf: Proof, advantage_sign: str, weight: sp.Expr | None = None) -> None:
    """For A of the given sign, the per-token weight (default A/L) moves with L as claimed: decreasing for
    A > 0, its magnitude decreasing for A < 0 (signs decided by sympy's assumptions)."""
    A = sp.Symbol("A", positive=True) if advantage_sign == "positive" else sp.Symbol("A", negative=True)
    weight = A / L if weight is None else weight.subs(sp.Symbol("A"), A)
    slope = sp.simplify(sp.diff(sp.Abs(weight), L))
    ok = bool(slope.is_negative)
    what = ("a shorter correct answer gets more weight per token" if advantage_sign == "positive"
            else "a longer wrong answer gets a smaller penalty per token")
    pf.certify(f"A {advantage_sign}: |per-token weight| decreases with L", ok,
               f"$A {'> 0' if advantage_sign == 'positive' else '< 0'}$: $w = {tex(weight)}$, "
               f"$\\partial_L |w| = {tex(slope)} < 0$: {what}")


def prove_dr2() -> Proof:
    """DR-2 symbolically, with a numeric instance of the per-token gradient by finite differences."""
    pf = Proof("DR-2", "per-sequence length normalisation favours short correct and long wrong answers",
               "Per-token weight $A/|o|$: for $A > 0$ shorter responses get more weight per token, for $A < 0$ "
               "longer responses get less penalty per token; a constant normaliser removes the dependence on $|o|$.")
    pf.say("The per-sequence loss of response $o$ is $-\\frac{A}{|o|}\\sum_t \\log\\pi(o_t \\mid o_{<t})$: "
           "each token's log-probability gets weight $w = A/|o|$.")
    lemma_length_sign(pf, "positive")
    lemma_length_sign(pf, "negative")
    A = sp.Symbol("A", real=True)
    L1, L2 = sp.symbols("L_1 L_2", positive=True)
    pf.identity("per-token weight ratio of two equal-A responses is L2/L1", (A / L1) / (A / L2), L2 / L1,
                "Two responses with the same $A$ and lengths $L_1 < L_2$: the shorter gets $L_2/L_1$ times the weight")
    pf.identity("constant normaliser: dw/dL = 0", sp.diff(A / M, L), 0,
                "Dr. GRPO's constant normaliser $M$ (e.g. the maximal length): $w = A/M$",
                display="\\partial_L (A/M) = 0")
    advantages, lengths = np.array([1.0, 1.0, -1.0, -1.0]), np.array([5, 20, 5, 20])

    def loss(log_probs: np.ndarray) -> float:  # per-sequence normalisation, log_probs (4, 20) padded
        mask = np.arange(20)[None, :] < lengths[:, None]
        return float(-(advantages / lengths * (log_probs * mask).sum(axis=1)).mean())

    base, h = np.zeros((4, 20)), 1e-6
    per_token = []
    for i in range(4):
        bump = np.zeros((4, 20))
        bump[i, 0] = h
        per_token.append(-(loss(base + bump) - loss(base - bump)) / (2 * h))
    pf.agree("per-token weight of the 5-token correct answer vs finite differences", sp.Rational(1, 5) / 4,
             per_token[0], "Instance: $A = (1, 1, -1, -1)$, lengths $(5, 20, 5, 20)$, $G = 4$: $w/G$ of the short "
             "correct answer against central differences of the loss (numpy)", tol=1e-7, route="finite differences")
    pf.number("per-token weights (A, L) = (1,5), (1,20), (-1,5), (-1,20)", per_token)
    return pf


def check_dr2(ctx: RunContext) -> list[Evidence]:
    """DR-2: the per-token weight A/|o| falls with |o| for A > 0 and its magnitude falls for A < 0; A/M does
    not depend on |o| (sympy)."""
    return [prove_dr2().evidence(ctx.out_dir)]
