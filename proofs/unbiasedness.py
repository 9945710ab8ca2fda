"""TT-4 and DR-1: E[A | r] under Bernoulli(p) rewards, lambda_G(p), its symmetry, shape and limit.

For rollout 1 with reward r, its G - 1 partners' successes K ~ Binomial(G - 1, p), so
E[A | r] = sum_k Binom(k; G-1, p) A_1(r, k), and lambda_G(p) = E[A | r=1] - E[A | r=0] is a
polynomial in p of degree G - 1 (a Bernstein polynomial with coefficients d_k = A_1(1, k) - A_1(0, k)).
Population std and eps = 0 unless stated (the sample std multiplies every A by sqrt((G-1)/G)).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.contrastive import claimed_pair_scale, eps
from proofs.record import Proof, tex
from proofs.symbolic import advantage
from theory.expectations import expected_advantage, gradient_scale, limit_expected_advantage

p = sp.Symbol("p", positive=True)
"""The pass rate, 0 < p < 1."""

NONCONSTANT_FROM = 4
"""lambda_G depends on p for G >= 4; lambda_2 = 1 and lambda_3 = sqrt(2) are constant (population std):
for G <= 3 every non-silent binary group has the same std."""

DIGITS = 60
"""Significant digits of the numeric sign certificates (an error far below the smallest value certified)."""

CHECK_POINTS = (0.05, 0.3, 0.5)
"""Pass rates at which every closed form is compared with theory.expectations.gradient_scale."""

LARGEST_GROUP_SIZE = {"smoke": 16, "default": 16, "full": 24}
"""Per budget: the largest G of the lambda_G closed forms (TT-4) and of DR-1's convexity check."""


@cache
def bernstein_coefficients(G: int) -> tuple[sp.Expr, ...]:
    """d_k = A_1(r_1 = 1, k partner successes) - A_1(r_1 = 0, k partner successes), k = 0..G-1."""
    return tuple(
        advantage([1] + [1] * j + [0] * (G - 1 - j)) - advantage([0] + [1] * j + [0] * (G - 1 - j))
        for j in range(G)
    )


def binomial_weight(n: int | sp.Expr, j: int | sp.Expr, q: sp.Expr) -> sp.Expr:
    """Binom(j; n, q) = C(n, j) q^j (1 - q)^(n - j)."""
    return sp.binomial(n, j) * q**j * (1 - q) ** (n - j)


@cache
def lambda_closed_form(G: int) -> sp.Expr:
    """lambda_G(p) = sum_k Binom(k; G-1, p) d_k, expanded into a polynomial in p (population std, eps = 0)."""
    d = bernstein_coefficients(G)
    return sp.expand(sp.Add(*[binomial_weight(G - 1, j, p) * d[j] for j in range(G)]))


def lemma_pair_unbiased(pf: Proof, std: str, c: sp.Expr | None = None) -> None:
    """G = 2, partner ~ Bernoulli(p), symbolic eps: E[A_1 | r] = c (r - p) for r = 0 and r = 1."""
    c = claimed_pair_scale(std, eps) if c is None else c
    for r in (0, 1):
        expected = (1 - p) * advantage([r, 0], 0, "grpo", std, eps) + p * advantage([r, 1], 0, "grpo", std, eps)
        pf.identity(f"E[A | r={r}] = c (r - p) at G = 2 ({std} std)", expected, c * (r - p),
                    f"$G = 2$, {std} std, symbolic $\\epsilon$, $r = {r}$",
                    display=f"E[A \\mid r = {r}] = {tex(sp.factor(expected))} = {tex(c)}({r} - p)")


def lemma_lambda_constant(pf: Proof, G: int) -> None:
    """The statement 'lambda_G is constant in p': d lambda_G / dp == 0."""
    pf.identity(f"lambda_{G} is constant in p", sp.diff(lambda_closed_form(G), p), 0,
                f"$\\lambda_{{{G}}}(p) = {tex(lambda_closed_form(G))}$ (population std); is "
                f"$d\\lambda_{{{G}}}/dp = 0$?",
                display=f"\\frac{{d\\lambda_{{{G}}}}}{{dp}} = {tex(sp.diff(lambda_closed_form(G), p))}")


def lemma_lambda_varies(pf: Proof, G_values: range) -> None:
    """lambda_G(1/20) > lambda_G(1/2) for every G in ``G_values`` (the difference evaluated to ``DIGITS`` digits)."""
    low, half = sp.Rational(1, 20), sp.Rational(1, 2)
    varies = {G: sp.N(lambda_closed_form(G).subs(p, low) - lambda_closed_form(G).subs(p, half), DIGITS)
              > sp.Float(10) ** (20 - DIGITS)
              for G in G_values}
    pf.certify(f"lambda_G depends on p for G = {G_values.start}..{G_values.stop - 1}", all(varies.values()),
               f"$\\lambda_G(1/20) > \\lambda_G(1/2)$ for every $G$ in {G_values.start}..{G_values.stop - 1} "
               f"(evaluated to {DIGITS} digits; fails for: {[G for G, ok in varies.items() if not ok] or 'none'})")


def lemma_lambda_slope_at_zero(pf: Proof, G_values: range) -> None:
    """lambda_G'(0) = n (d_1 - d_0), n = G - 1, with d_0 = sqrt(n) and d_1 = sqrt((n-1)/2) + sqrt(1/n): negative
    exactly for n > 2, so lambda_G depends on p for every G >= 4 (symbolic n), and zero for G = 2, 3."""
    n = sp.Symbol("n", positive=True)
    d0, d1 = sp.symbols("d_0 d_1")
    head = (1 - p) ** n * d0 + n * p * (1 - p) ** (n - 1) * d1
    pf.identity("lambda_G'(0) = n (d_1 - d_0) (symbolic n)", sp.diff(head, p).subs(p, 0), n * (d1 - d0),
                "Symbolic $n = G - 1$: every term $k \\ge 2$ of the Bernstein sum carries $p^k$, so at $p = 0$ only "
                "$k = 0, 1$ contribute", display="\\lambda_G'(0) = n(d_1 - d_0)")
    slope_d0, slope_d1 = sp.sqrt(n), sp.sqrt((n - 1) / 2) + sp.sqrt(1 / n)
    mismatched = [G for G in G_values if sp.simplify(bernstein_coefficients(G)[0] - slope_d0.subs(n, G - 1)) != 0
                  or sp.simplify(bernstein_coefficients(G)[1] - slope_d1.subs(n, G - 1)) != 0]
    pf.certify(f"d_0 = sqrt(n), d_1 = sqrt((n-1)/2) + sqrt(1/n) match the coefficients for G = {G_values.start}.."
               f"{G_values.stop - 1}", not mismatched,
               f"From TT-1 ($A = \\sqrt{{(G-K)/K}}$ for a success, $-\\sqrt{{K/(G-K)}}$ for a failure, $K$ successes): "
               f"$d_0 = {tex(slope_d0)}$ (the failure's group is silent), $d_1 = {tex(slope_d1)}$; equal to the "
               f"computed coefficients for $G$ in {G_values.start}..{G_values.stop - 1} (mismatch: "
               f"{mismatched or 'none'})")
    negative = sp.solveset(slope_d0 - slope_d1 > 0, n, sp.Interval(1, sp.oo))
    pf.certify("d_1 < d_0 exactly for n > 2, i.e. G >= 4", negative == sp.Interval.open(2, sp.oo),
               f"`solveset` of $d_0 - d_1 > 0$ over $n \\ge 1$: ${tex(negative)}$. So $\\lambda_G'(0) < 0$ and "
               "$\\lambda_G$ depends on $p$ for every $G \\ge 4$; at $G = 2, 3$ the slope is 0")


def lemma_lambda_symmetric(pf: Proof, G_values: range) -> None:
    """lambda_G(p) = lambda_G(1-p): by re-indexing k -> G-1-k for symbolic G, and expanded exactly per G."""
    # j partner successes and i = n - j partner failures, n = G - 1 = i + j; with K successes of G a
    # success gets sqrt((G-K)/K) and a failure -sqrt(K/(G-K)) (TT-1).
    i, j = sp.symbols("i j", integer=True, nonnegative=True)
    success = binomial_weight(i + j, j, p) * sp.sqrt(sp.Integer(1) * i / (j + 1))
    failure = -binomial_weight(i + j, j, p) * sp.sqrt(sp.Integer(1) * j / (i + 1))
    mirrored = success.subs({i: j, j: i}, simultaneous=True).subs(p, 1 - p)
    pf.identity("E[A|r=1](1-p) = -E[A|r=0](p) term by term (symbolic G)", mirrored, -failure,
                "Symbolic $G = i + j + 1$ ($j$ partner successes, $i$ failures): the success summand at $1 - p$ "
                "with $i \\leftrightarrow j$ (re-indexing $k \\to G - 1 - k$) is minus the failure summand at $p$",
                display=f"{tex(mirrored)} = {tex(-failure)}")
    pf.say("Summing over $k = 0..n$ (the silent terms are 0 on both sides): $E[A \\mid 1](1-p) = -E[A \\mid 0](p)$, "
           "and with $p \\to 1 - p$ also $E[A \\mid 0](1-p) = -E[A \\mid 1](p)$, so "
           "$\\lambda_G(1-p) = \\lambda_G(p)$ for every $G$.")
    asymmetric = [G for G in G_values
                  if sp.expand(lambda_closed_form(G) - lambda_closed_form(G).subs(p, 1 - p)) != 0]
    pf.certify(f"lambda_G(p) = lambda_G(1-p) expanded exactly for G = {G_values.start}..{G_values.stop - 1}",
               not asymmetric, f"Exact expansion of $\\lambda_G(p) - \\lambda_G(1-p)$ for each $G$ in "
               f"{G_values.start}..{G_values.stop - 1} (non-zero for: {asymmetric or 'none'})")


def prove_tt4(G_max: int = 16) -> Proof:
    """TT-4 (exact part): G = 2 unbiased, lambda_G closed forms for G = 2..G_max, symmetry, constancy
    for G <= 3, dependence on p for G >= 4, cross-checked against theory.expectations."""
    pf = Proof("TT-4", f"E[A | r] and lambda_G(p) in closed form, G = 2..{G_max}",
               "$E[A \\mid r] = c(r - p)$ exactly for $G = 2$; $\\lambda_G(p) = E[A \\mid 1] - E[A \\mid 0]$ is "
               "constant for $G = 2$ (and 3), depends on $p$ for $G \\ge 4$, and $\\lambda_G(p) = \\lambda_G(1-p)$; "
               "$\\lambda_{16}(0.5) = 1.93$, $\\lambda_{16}(0.05) = 3.27$ (population std).")
    for std in ("population", "sample"):
        lemma_pair_unbiased(pf, std)
    pf.say("Hence $\\lambda_2 = c$: with population std and $\\epsilon = 0$, $\\lambda_2 = 1$.")
    lemma_lambda_constant(pf, 2)
    lemma_lambda_constant(pf, 3)
    pf.say("$G = 3$ is constant too: its non-silent groups (1 or 2 successes of 3) share the std $\\sqrt2/3$, so "
           "$E[A \\mid r] = \\sqrt2 (r - p)$ exactly.")
    for G in (4, 5):
        pf.show(f"Closed form (population std) $\\lambda_{{{G}}}(p)$", lambda_closed_form(G))
    lemma_lambda_slope_at_zero(pf, range(2, G_max + 1))
    lemma_lambda_varies(pf, range(NONCONSTANT_FROM, G_max + 1))
    lemma_lambda_symmetric(pf, range(2, G_max + 1))
    gaps = [float(sp.N(lambda_closed_form(G).subs(p, sp.Rational(str(q))), 20))
            - float(gradient_scale(G, q, "grpo", "population", 0.0)) for G in range(2, G_max + 1) for q in CHECK_POINTS]
    worst = max(abs(g) for g in gaps)
    pf.certify(f"closed forms match theory.gradient_scale at p in {CHECK_POINTS} for G = 2..{G_max}", worst < 1e-9,
               f"Every closed form against `theory.expectations.gradient_scale` at $p \\in {CHECK_POINTS}$: "
               f"largest gap {worst:.2e}")
    pf.number("max |closed form - theory| over G and p", worst)
    if G_max >= 16:
        at_half = lambda_closed_form(16).subs(p, sp.Rational(1, 2))
        at_low = lambda_closed_form(16).subs(p, sp.Rational(1, 20))
        pf.certify("lambda_16(0.5) rounds to 1.93 and lambda_16(0.05) to 3.27",
                   round(float(sp.N(at_half)), 2) == 1.93 and round(float(sp.N(at_low)), 2) == 3.27,
                   f"$\\lambda_{{16}}(1/2) = {float(sp.N(at_half)):.6f}$, $\\lambda_{{16}}(1/20) = "
                   f"{float(sp.N(at_low)):.6f}$")
        pf.agree("lambda_16(0.05) vs theory.gradient_scale", at_low,
                 gradient_scale(16, 0.05, "grpo", "population", 0.0),
                 "Headline instance $\\lambda_{16}(0.05)$")
    pf.agree("lambda_8(0.3), sample std = sqrt(7/8) lambda_8(0.3) vs theory.gradient_scale",
             sp.sqrt(sp.Rational(7, 8)) * lambda_closed_form(8).subs(p, sp.Rational(3, 10)),
             gradient_scale(8, 0.3, "grpo", "sample", 0.0), "Sample std multiplies every $A$ by $\\sqrt{(G-1)/G}$: "
             "$\\lambda^{sample}_8(0.3)$")
    pf.number("G", list(range(2, G_max + 1)))
    pf.number("lambda_G(0.5)", [lambda_closed_form(G).subs(p, sp.Rational(1, 2)) for G in range(2, G_max + 1)])
    pf.number("lambda_G(0.05)", [lambda_closed_form(G).subs(p, sp.Rational(1, 20)) for G in range(2, G_max + 1)])
    pf.attach("tt4_lambda_closed_forms.json", {
        "description": "lambda_G(p) = E[A|r=1] - E[A|r=0], population std, eps = 0, as a polynomial in p (TT-4)",
        "closed_forms": {str(G): {"sympy": str(lambda_closed_form(G)), "latex": tex(lambda_closed_form(G))}
                         for G in range(2, G_max + 1)}})
    return pf


def prove_tt4_limit() -> Proof:
    """TT-4 (limit): E[A | r] -> (r - p)/sqrt(p(1-p)) as G -> infinity, by a Hoeffding squeeze whose
    every analytic step sympy checks, plus exact values along G = 2..256 against theory."""
    pf = Proof("TT-4", "E[A | r] -> (r - p)/sqrt(p(1-p)) as G -> infinity (squeeze)",
               "$\\lim_{G\\to\\infty} E[A \\mid r] = (r - p)/\\sqrt{p(1-p)}$ for $0 < p < 1$ (population or sample "
               "std, $\\epsilon = 0$).")
    n, x, delta, q = sp.symbols("n x delta q", positive=True)
    f = sp.sqrt((n - x) / (x + 1))
    pf.say("With $n = G - 1$ partners, $K \\sim \\mathrm{Bin}(n, p)$ successes among them, a success gets "
           "$A = f_n(K)$ with $f_n(x) = \\sqrt{(n - x)/(x + 1)}$ (TT-1 with $K + 1$ successes of $G$; "
           "$f_n(n) = 0$ is the silent group).")
    pf.identity("f_n is decreasing", sp.diff(f, x), -(n + 1) / (2 * (x + 1) ** 2 * f),
                "$f_n$ is decreasing on $[0, n)$ and bounded by $f_n(0) = \\sqrt n$",
                display=f"f_n'(x) = {tex(-(n + 1) / (2 * (x + 1) ** 2 * f))} < 0")
    pf.say("Hoeffding (cited): $P(|K/n - p| > \\delta) \\le 2e^{-2n\\delta^2}$. On the complement "
           "$f_n(n(p+\\delta)) \\le f_n(K) \\le f_n(n(p-\\delta))$, so for $0 < \\delta < \\min(p, 1-p)$: "
           "$f_n(n(p+\\delta))(1 - 2e^{-2n\\delta^2}) \\le E[A \\mid 1] \\le f_n(n(p-\\delta)) + 2\\sqrt n "
           "e^{-2n\\delta^2}$.")
    tail = 2 * sp.sqrt(n) * sp.exp(-2 * n * delta**2)
    target = sp.sqrt((1 - q) / q)
    upper = sp.limit(f.subs(x, n * q) + tail, n, sp.oo)
    lower = sp.limit(f.subs(x, n * q) * (1 - tail / sp.sqrt(n)), n, sp.oo)
    pf.identity("upper bound -> sqrt((1-q)/q), q = p - delta", upper, target,
                "As $n \\to \\infty$ the upper bound with $q = p - \\delta$ tends to",
                display=f"\\lim_n \\left(f_n(nq) + {tex(tail)}\\right) = {tex(upper)}")
    pf.identity("lower bound -> sqrt((1-q)/q), q = p + delta", lower, target,
                "and the lower bound with $q = p + \\delta$ to",
                display=f"\\lim_n f_n(nq)\\left(1 - {tex(tail / sp.sqrt(n))}\\right) = {tex(lower)}")
    squeeze = sp.limit(target.subs(q, p - delta), delta, 0, "+") - sp.limit(target.subs(q, p + delta), delta, 0, "+")
    pf.identity("both bounds meet as delta -> 0", squeeze, 0,
                "Letting $\\delta \\to 0^+$ both bounds meet, so $E[A \\mid 1] \\to \\sqrt{(1-p)/p}$",
                display=f"\\lim_{{\\delta\\to 0^+}}\\left(\\sqrt{{\\tfrac{{1-p+\\delta}}{{p-\\delta}}}} - "
                        f"\\sqrt{{\\tfrac{{1-p-\\delta}}{{p+\\delta}}}}\\right) = {tex(squeeze)}")
    u = sp.Symbol("u", positive=True)
    pf.say("By the symmetry $E[A \\mid 0](p) = -E[A \\mid 1](1-p)$ (TT-4, exact part) the failure limit is "
           "$-\\sqrt{p/(1-p)}$. Both are $(r - p)/\\sqrt{p(1-p)}$; with $u = 1 - p > 0$:")
    pf.identity("success limit equals (1 - p)/sqrt(p(1-p))", sp.sqrt(u / p), u / sp.sqrt(p * u), "$r = 1$",
                display="\\sqrt{u/p} = \\frac{u}{\\sqrt{pu}}")
    pf.identity("failure limit equals (0 - p)/sqrt(p(1-p))", -sp.sqrt(p / u), -p / sp.sqrt(p * u), "$r = 0$",
                display="-\\sqrt{p/u} = \\frac{0 - p}{\\sqrt{pu}}")
    G = sp.Symbol("G", positive=True)
    pf.identity("sample-std factor sqrt((G-1)/G) -> 1", sp.limit(sp.sqrt((G - 1) / G), G, sp.oo), 1,
                "The sample std multiplies by $\\sqrt{(G-1)/G}$, whose limit is",
                display="\\lim_{G\\to\\infty}\\sqrt{(G-1)/G} = 1")
    _exact_path(pf)
    pf.note("Squeeze with Hoeffding's inequality (cited, not re-derived); every limit and the monotonicity of f_n "
            "checked by sympy for symbolic n, p, delta.")
    return pf


def _exact_path(pf: Proof) -> None:
    """Numbers beside the squeeze: exact E[A | r=1] for G = 2, 4, ..., 256 at p = 0.2 (sympy summation),
    against theory.expectations, and the gap to the limit."""
    q = sp.Rational(1, 5)
    sizes = [2**e for e in range(1, 9)]
    values = []
    for G in sizes:
        terms = [binomial_weight(G - 1, j, q) * sp.sqrt(sp.Rational(G - 1 - j, j + 1)) for j in range(G - 1)]
        values.append(float(sp.N(sp.Add(*terms), 20)))
    limit = float(sp.sqrt((1 - q) / q))
    pf.number("G (exact path, p = 0.2)", sizes)
    pf.number("E[A | r=1] at p = 0.2", values)
    pf.number("limit sqrt((1-p)/p) at p = 0.2", limit)
    gaps = np.abs(np.array(values) - limit)
    pf.say(f"Exact $E[A \\mid 1]$ at $p = 0.2$ for $G = {sizes}$: gaps to the limit {[f'{g:.3g}' for g in gaps]}.")
    pf.agree("E[A | r=1] at G=256, p=0.2 vs theory.expected_advantage", values[-1],
             expected_advantage(256, 0.2, 1, "grpo", "population", 0.0)[()], "$G = 256$, $p = 0.2$")
    pf.agree("limit at p=0.2, r=1 vs theory.limit_expected_advantage", limit,
             limit_expected_advantage(0.2, 1)[()], "Limit at $p = 0.2$, $r = 1$")


def lemma_dr_grpo_constant(pf: Proof) -> None:
    """Dr. GRPO, symbolic G: E[A | r] = (G-1)(r - p)/G, so lambda^Dr = (G-1)/G for every p; RLOO: E[A | r] = r - p."""
    G, r = sp.symbols("G r", positive=True)
    partners_mean = (G - 1) * p
    pf.identity("Dr. GRPO: E[A | r] = (G-1)(r-p)/G (symbolic G)", r - (r + partners_mean) / G, (G - 1) * (r - p) / G,
                "Dr. GRPO $A_1 = r_1 - (r_1 + K)/G$ is linear in $K$, and $E[K] = (G-1)p$",
                display=f"E[A \\mid r] = r - \\frac{{r + (G-1)p}}{{G}} = {tex((G - 1) * (r - p) / G)}")
    pf.identity("RLOO: E[A | r] = r - p (symbolic G)", r - partners_mean / (G - 1), r - p,
                "RLOO $A_1 = r_1 - K/(G-1)$", display="E[A \\mid r] = r - \\frac{(G-1)p}{G-1} = r - p")
    pf.say("So without the std both are unbiased up to a constant for every $G$: $\\lambda^{Dr} = (G-1)/G$, "
           "$\\lambda^{RLOO} = 1$.")


def lemma_bernstein_second_derivative(pf: Proof, G_values: range) -> None:
    """For generic coefficients d_0..d_n (n = G - 1): d^2/dp^2 sum_k Binom(k; n, p) d_k =
    n(n-1) sum_k Binom(k; n-2, p) Delta^2 d_k, expanded exactly for each G."""
    failed = []
    for G in G_values:
        deg = G - 1
        d = sp.symbols(f"d_0:{G}")
        poly = sp.Add(*[binomial_weight(deg, j, p) * d[j] for j in range(G)])
        bernstein = deg * (deg - 1) * sp.Add(*[binomial_weight(deg - 2, j, p) * (d[j + 2] - 2 * d[j + 1] + d[j])
                                               for j in range(deg - 1)])
        if sp.expand(sp.diff(poly, p, 2) - bernstein) != 0:
            failed.append(G)
    span = f"{G_values.start}..{G_values.stop - 1}"
    pf.certify(f"Bernstein second-derivative identity for G = {span}", not failed,
               f"For symbolic $d_0, \\dots, d_n$: $\\frac{{d^2}}{{dp^2}}\\sum_k \\binom{{n}}{{k}} p^k (1-p)^{{n-k}} "
               f"d_k = n(n-1)\\sum_k \\binom{{n-2}}{{k}} p^k (1-p)^{{n-2-k}} \\Delta^2 d_k$, expanded exactly for $G$ "
               f"in {span} (fails for: {failed or 'none'})")


def lemma_lambda_convex(pf: Proof, G_values: range) -> None:
    """Every second difference Delta^2 d_k of lambda_G's Bernstein coefficients is > 0 (evaluated to
    ``DIGITS`` significant digits), so lambda_G'' > 0 on [0, 1]."""
    not_convex, smallest = [], []
    for G in G_values:
        d = [sp.N(v, DIGITS) for v in bernstein_coefficients(G)]
        second = [d[j + 2] - 2 * d[j + 1] + d[j] for j in range(G - 2)]
        smallest.append(min(second))
        if not all(s > sp.Float(10) ** (20 - DIGITS) for s in second):
            not_convex.append(G)
    span = f"{G_values.start}..{G_values.stop - 1}"
    pf.certify(f"every Delta^2 d_k > 0 for G = {span}", not not_convex,
               f"Every second difference $\\Delta^2 d_k$ is positive for $G$ in {span} (each $d_k$ evaluated to "
               f"{DIGITS} digits; smallest {float(min(smallest)):.3g}), so $\\lambda_G'' > 0$ on $[0, 1]$ "
               f"(fails for: {not_convex or 'none'})")
    pf.number(f"min Delta^2 d_k per G (G = {span})", smallest)


def prove_dr1(G_max: int = 16) -> Proof:
    """DR-1: std normalisation up-weights p near 0 or 1 (lambda_G strictly convex and symmetric, G = 4..G_max);
    Dr. GRPO and RLOO have a constant lambda for every G."""
    pf = Proof("DR-1", f"std normalisation up-weights p near 0 and 1 (G = {NONCONSTANT_FROM}..{G_max}); Dr. GRPO does "
                       "not",
               "$\\lambda_G(p)$ of GRPO is smallest at $p = 1/2$ and grows toward $p = 0$ and $1$; without the std "
               "(Dr. GRPO) $\\lambda$ is constant in $p$.")
    lemma_dr_grpo_constant(pf)
    pf.say("GRPO (population std): $\\lambda_G(p) = \\sum_k \\binom{n}{k} p^k (1-p)^{n-k} d_k$, $n = G - 1$, "
           "$d_k = A_1(1, k) - A_1(0, k)$; for $G = 3$ all $d_k = \\sqrt2$ (constant, TT-4).")
    lemma_bernstein_second_derivative(pf, range(NONCONSTANT_FROM, G_max + 1))
    lemma_lambda_convex(pf, range(NONCONSTANT_FROM, G_max + 1))
    lemma_lambda_symmetric(pf, range(NONCONSTANT_FROM, G_max + 1))
    pf.say("Strictly convex and symmetric about $1/2$: $\\lambda_G$ has its minimum at $p = 1/2$ and increases "
           "strictly as $p$ moves toward 0 or 1, i.e. prompts with $p$ near 0 or 1 get more weight.")
    ratios = [lambda_closed_form(G).subs(p, sp.Rational(1, 20)) / lambda_closed_form(G).subs(p, sp.Rational(1, 2))
              for G in range(NONCONSTANT_FROM, G_max + 1)]
    pf.number("G (DR-1)", list(range(NONCONSTANT_FROM, G_max + 1)))
    pf.number("lambda_G(0.05) / lambda_G(0.5)", ratios)
    pf.agree("lambda^Dr_8(0.3) = 7/8 vs theory.gradient_scale(dr_grpo)", sp.Rational(7, 8),
             gradient_scale(8, 0.3, "dr_grpo", "population", 0.0), "Dr. GRPO instance $G = 8$, $p = 0.3$")
    pf.limit(f"Dr. GRPO and RLOO proved for every G, and lambda_G'(0) < 0 for every G >= 4 (TT-4); that lambda_G is "
             f"smallest at p = 1/2 (strict convexity) was checked for G = {NONCONSTANT_FROM}..{G_max} only. For G = 2 "
             f"and 3 the std does not re-weight prompts (lambda constant).")
    return pf


def check_tt4(ctx: RunContext) -> list[Evidence]:
    """TT-4: E[A | r] = c (r - p) for G = 2, lambda_G(p) in closed form for G = 2..LARGEST_GROUP_SIZE, and
    E[A | r] -> (r - p)/sqrt(p(1-p)) as G -> infinity (sympy): two records, the exact part and the limit."""
    return [prove_tt4(LARGEST_GROUP_SIZE[ctx.budget]).evidence(ctx.out_dir), prove_tt4_limit().evidence(ctx.out_dir)]


def check_dr1(ctx: RunContext) -> list[Evidence]:
    """DR-1: lambda_G(p) is strictly convex and symmetric about 1/2 for G = 4..LARGEST_GROUP_SIZE, constant
    for Dr. GRPO and RLOO (sympy)."""
    return [prove_dr1(LARGEST_GROUP_SIZE[ctx.budget]).evidence(ctx.out_dir)]
