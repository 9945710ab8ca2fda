"""TT-7: exploration of 2 rollouts on each of m prompts.

P(at least one success among 2 rollouts on each of m prompts) = 1 - prod_{i<m} (1 - p_i)^2, which is
>= 1 - (1 - p_0)^(2m) whenever every p_i >= p_0 (TT Prop 5.4). Proof: with a_i = 1 - p_i and
b = 1 - p_0, 0 <= a_i <= b, and products of ordered non-negative numbers are ordered.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.record import Proof


def lemma_ordered_products(pf: Proof) -> None:
    """0 <= a <= b and 0 <= x <= y imply a x <= b y: b y - a x = b (y - x) + x (b - a), a sum of products of
    non-negatives; with x = a, y = b it gives a^2 <= b^2."""
    a, b, x, y = sp.symbols("a b x y", nonnegative=True)
    pf.identity("b y - a x = b (y - x) + x (b - a)", b * y - a * x, b * (y - x) + x * (b - a),
                "For $0 \\le a \\le b$ and $0 \\le x \\le y$ every factor on the right is non-negative")
    pf.identity("b^2 - a^2 = (b - a)(b + a)", b**2 - a**2, (b - a) * (b + a), "So $a^2 \\le b^2$")


def lemma_product_bound(pf: Proof, m: int) -> None:
    """For m prompts with a_i = b t_i, 0 <= t_i <= 1: b^(2m) - prod a_i^2 = b^(2m) (1 - prod t_i^2) (an
    instance of the induction, expanded exactly)."""
    b = sp.Symbol("b", nonnegative=True)
    t = sp.symbols(f"t_0:{m}", nonnegative=True)
    product = sp.Mul(*[(b * ti) ** 2 for ti in t])
    pf.identity(f"instance m = {m}: b^(2m) - prod (b t_i)^2 = b^(2m)(1 - prod t_i^2)", b ** (2 * m) - product,
                b ** (2 * m) * (1 - sp.Mul(*[ti**2 for ti in t])),
                f"Instance $m = {m}$ with $a_i = b t_i$, $t_i \\in [0, 1]$ (each $t_i^2 \\le 1$)")


def _at_least_one_success(pass_rates: np.ndarray, rollouts: int) -> float:
    """P(at least one success) by enumerating every outcome of ``rollouts`` rollouts per prompt."""
    rates = np.repeat(pass_rates, rollouts)
    total = 0.0
    for outcome in itertools.product((0, 1), repeat=rates.size):
        o = np.array(outcome)
        if o.any():
            total += float(np.prod(np.where(o == 1, rates, 1 - rates)))
    return total


def prove_tt7() -> Proof:
    """TT-7 for every m by induction on ordered products, with an enumerated instance."""
    pf = Proof("TT-7", "two rollouts on each of m prompts explore at least as well (all m, by induction)",
               "$1 - \\prod_{i<m}(1 - p_i)^2 \\ge 1 - (1 - p_0)^{2m}$ whenever every $p_i \\ge p_0$.")
    pf.say("Let $a_i = 1 - p_i$, $b = 1 - p_0$; $p_i \\ge p_0$ means $0 \\le a_i \\le b \\le 1$. "
           "The claim is $\\prod_{i<m} a_i^2 \\le b^{2m}$.")
    lemma_ordered_products(pf)
    pf.say("Induction on $m$: $m = 0$ gives $1 \\le 1$; if $0 \\le \\prod_{i<m} a_i^2 \\le b^{2m}$ then, with "
           "$0 \\le a_m^2 \\le b^2$, the ordered-product identity gives $\\prod_{i<m+1} a_i^2 \\le b^{2(m+1)}$.")
    lemma_product_bound(pf, 3)
    rates, p0 = np.array([0.1, 0.3, 0.5]), 0.1
    exact = 1 - sp.Mul(*[(1 - sp.Rational(str(r))) ** 2 for r in rates])
    pf.agree("P(at least one success), m = 3, 2 rollouts each vs enumeration", exact,
             _at_least_one_success(rates, 2), "Instance $p = (0.1, 0.3, 0.5)$, 2 rollouts each, all $2^6$ outcomes "
             "enumerated (numpy)", route="enumeration")
    bound = 1 - (1 - sp.Rational(str(p0))) ** 6
    pf.certify("instance respects the bound", exact >= bound,
               f"and it is $\\ge 1 - (1 - p_0)^{{2m}} = {float(bound):.6f}$ with $p_0 = {p0}$")
    pf.number("instance probability", exact)
    pf.number("instance bound", bound)
    return pf


def check_tt7(ctx: RunContext) -> list[Evidence]:
    """TT-7: 1 - prod_{i<m} (1 - p_i)^2 >= 1 - (1 - p_0)^(2m) whenever every p_i >= p_0 (sympy)."""
    return [prove_tt7().evidence(ctx.out_dir)]
