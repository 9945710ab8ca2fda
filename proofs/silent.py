"""TT-8: silent groups. P(all G rewards equal) = p^G + (1 - p)^G; TT v3 (App. D.3) prints the discard
rate as 1 - rbar^2 - (1 - rbar)^2, the complement of the G = 2 rate, which never exceeds 1/2; and the
rate at the mean pass rate under-estimates the mean rate (Jensen, p^G + (1-p)^G is convex).
"""

from __future__ import annotations

import itertools

import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.record import Proof, tex
from theory.expectations import silent_group_probability

p = sp.Symbol("p", nonnegative=True)
rbar = sp.Symbol(r"\bar r", nonnegative=True)
TT_V3_DISCARD = 1 - rbar**2 - (1 - rbar) ** 2
"""The discard rate as TT v3 App. D.3 prints it, in the mean pass rate rbar."""


def enumerated_silent_probability(G: int, q: sp.Expr = p) -> sp.Expr:
    """P(all G Bernoulli(q) rewards equal), summed over all 2^G outcomes."""
    return sp.expand(sp.Add(*[sp.Mul(*[q if o else 1 - q for o in outcome])
                              for outcome in itertools.product((0, 1), repeat=G) if len(set(outcome)) == 1]))


def lemma_discard_rate(pf: Proof, formula: sp.Expr, G: int = 2, name: str = "formula") -> None:
    """The statement 'formula (in p or rbar) is the probability that a group of G is silent', against the
    enumeration of all 2^G outcomes."""
    pf.identity(f"{name} equals P(silent group of {G})", formula.subs(rbar, p), enumerated_silent_probability(G),
                f"Enumerating all $2^{G}$ outcomes of a group of ${G}$",
                display=f"{tex(formula.subs(rbar, p))} = P(\\text{{silent}}) = {tex(enumerated_silent_probability(G))}")


def prove_tt8() -> Proof:
    """TT-8: the silent rate for symbolic G, TT v3's printed formula is its complement and <= 1/2, Jensen."""
    pf = Proof("TT-8", "silent-group rate p^G + (1-p)^G; TT v3's printed formula is its complement",
               "$P(\\text{all } G \\text{ rewards equal}) = p^G + (1-p)^G$; TT v3's $1 - \\bar r^2 - (1-\\bar r)^2$ is "
               "the complement of the $G = 2$ rate and never exceeds $1/2$; using $\\bar r$ instead of per-prompt "
               "$p_q$ under-estimates the rate.")
    G = sp.Symbol("G", integer=True, positive=True)
    silent = p**G + (1 - p) ** G
    pf.identity("P(K = 0) + P(K = G) = p^G + (1-p)^G (symbolic G)",
                sp.binomial(G, 0) * (1 - p) ** G + sp.binomial(G, G) * p**G, silent,
                "All $G$ equal means $K = 0$ or $K = G$ successes, disjoint events for $G \\ge 1$")
    for size in (2, 3, 5):
        lemma_discard_rate(pf, silent.subs(G, size), size, f"p^{size} + (1-p)^{size}")
    complement = rbar**2 + (1 - rbar) ** 2
    pf.identity("TT v3's formula is the complement", TT_V3_DISCARD + complement, 1,
                "TT v3's printed discard rate plus the $G = 2$ silent rate at $\\bar r$",
                display=f"\\left({tex(TT_V3_DISCARD)}\\right) + \\left({tex(complement)}\\right) = 1")
    half = sp.Rational(1, 2)
    pf.identity("TT v3's formula = 1/2 - 2 (rbar - 1/2)^2", TT_V3_DISCARD, half - 2 * (rbar - half) ** 2,
                "A square certificate: it is at most $1/2$, with equality only at $\\bar r = 1/2$")
    top = sp.calculus.util.maximum(TT_V3_DISCARD, rbar, sp.Interval(0, 1))
    pf.certify("max over rbar in [0, 1] of TT v3's formula is 1/2", top == sp.Rational(1, 2),
               f"`maximum` over $\\bar r \\in [0, 1]$: ${tex(top)}$, while the silent rate $\\bar r^2 + (1-\\bar r)^2 "
               "\\ge 1/2$")
    x, y = sp.symbols("x y", positive=True)  # x = p, y = 1 - p on 0 < p < 1, so d/dp = d/dx - d/dy

    def d_dp(expr: sp.Expr) -> sp.Expr:
        return sp.diff(expr, x) - sp.diff(expr, y)

    pf.identity("(p^G + (1-p)^G)'' = G(G-1)(p^(G-2) + (1-p)^(G-2)) (symbolic G)", d_dp(d_dp(x**G + y**G)),
                G * (G - 1) * (x ** (G - 2) + y ** (G - 2)),
                "Convexity in $p$ for symbolic $G$ ($x = p$, $y = 1 - p$, $d/dp = \\partial_x - \\partial_y$; "
                "non-negative for $G \\ge 2$)")
    pf.say("Jensen (cited): $E_q[p_q^G + (1-p_q)^G] \\ge \\bar r^G + (1 - \\bar r)^G$ with $\\bar r = E_q[p_q]$.")
    m1, m2 = sp.symbols(r"\mathrm{E}p_q \mathrm{E}p^2_q", real=True)
    c2, c1, c0 = sp.Poly(silent.subs(G, 2), p).all_coeffs()
    mean_rate = c2 * m2 + c1 * m1 + c0  # E_q is linear in the monomials p_q^2, p_q, 1
    pf.identity("G = 2: E[silent rate] - silent rate at rbar = 2 Var(p_q)", mean_rate - silent.subs(G, 2).subs(p, m1),
                2 * (m2 - m1**2), "Exactly for $G = 2$, the gap is twice the variance of the pass rates")
    f = silent
    rates = [sp.Rational(1, 20), sp.Rational(1, 2), sp.Rational(19, 20)]
    per_prompt = sp.Add(*[f.subs(G, 2).subs(p, r) for r in rates]) / 3
    mean = sp.Add(*rates) / 3
    pf.number("example pass rates", rates)
    pf.number("mean silent rate (G = 2)", per_prompt)
    pf.number("silent rate at the mean pass rate", f.subs(G, 2).subs(p, mean))
    pf.number("TT v3 printed formula at the mean pass rate", TT_V3_DISCARD.subs(rbar, mean))
    pf.agree("P(silent), G = 16, p = 0.3 vs theory.silent_group_probability", f.subs({G: 16, p: sp.Rational(3, 10)}),
             silent_group_probability(16, 0.3)[()], "Instance $G = 16$, $p = 0.3$")
    pf.note("The under-estimate uses Jensen's inequality (cited) on the convexity checked here; exact for G = 2.")
    return pf


def check_tt8(ctx: RunContext) -> list[Evidence]:
    """TT-8: P(all G rewards equal) = p^G + (1-p)^G; TT v3's 1 - rbar^2 - (1-rbar)^2 is its complement (sympy)."""
    return [prove_tt8().evidence(ctx.out_dir)]
