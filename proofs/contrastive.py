"""TT-1, TT-2, TT-3: the contrastive forms of GRPO's group update, of DPO's gradient, and of 2-GRPO.

TT-1: sum_i A_i = 0, so g = (1/G) sum_i A_i s_i = (W/G)(sbar+ - sbar-); binary rewards with k
successes of G: g = sqrt(pk (1 - pk)) (mean positive score - mean negative score), pk = k/G, times
sqrt((G-1)/G) with the sample std. TT-2: grad -log sigmoid(beta (h+ - h-)) =
-beta sigmoid(beta (h- - h+)) (grad h+ - grad h-). TT-3: G = 2, binary rewards: A_1 = c (r_1 - r_2).

Each ``lemma_*`` appends one statement's steps and checks to a :class:`Proof`; its keyword
arguments are the claimed expressions (defaults: the true ones), so a test can feed a wrong one.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from evidence.record import Evidence, RunContext
from proofs.record import Proof, tex
from proofs.symbolic import advantage
from theory.advantages import group_advantages
from theory.contrastive import binary_contrastive_weights, dpo_pair_weight
from theory.expectations import two_grpo_scale

# k successes and m = G - k failures, both >= 1, so 0 < k < G holds by construction; n stands for
# G - 1 (positive), which the sample std divides by. Claims are written in p_k = k/G and G.
k, m, n = sp.symbols("k m n", positive=True)
G_km = k + m
p_k, G_sym = sp.symbols("p_k G", positive=True)
s_pos, s_neg = sp.symbols(r"\bar{s}_+ \bar{s}_-")
eps = sp.Symbol("epsilon", nonnegative=True)


def claimed_binary(std: str) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """TT-1's (A+, A-, scale) in p_k = k/G: population sqrt((1-p_k)/p_k), -sqrt(p_k/(1-p_k)),
    sqrt(p_k(1-p_k)); sample: each times sqrt((G-1)/G) = sqrt(n/G)."""
    factor = sp.Integer(1) if std == "population" else sp.sqrt(n / G_sym)
    return (factor * sp.sqrt((1 - p_k) / p_k), -factor * sp.sqrt(p_k / (1 - p_k)),
            factor * sp.sqrt(p_k * (1 - p_k)))


def _in_km(expr: sp.Expr) -> sp.Expr:
    """A claim written in p_k and G, as a function of the counts k and m."""
    return sp.sympify(expr).subs({p_k: k / G_km, G_sym: G_km})


def _binary_std(std: str) -> sp.Expr:
    """The std of k ones and m zeros: sum of squared deviations over G (population) or n = G - 1."""
    pk = k / G_km
    squares = k * (1 - pk) ** 2 + m * pk**2
    return sp.sqrt(squares / (G_km if std == "population" else n))


def lemma_mass_balance(pf: Proof) -> None:
    """Real rewards, symbolic G: sum_i A_i = 0 and g = (W/G)(sbar+ - sbar-) with the positive and
    negative parts of A carrying the same mass W."""
    i, j = sp.symbols("i j", integer=True, positive=True)
    G, sigma = sp.Symbol("G", integer=True, positive=True), sp.Symbol("sigma", positive=True)
    r, s = sp.IndexedBase("r"), sp.IndexedBase("s")
    a_pos, a_neg = sp.IndexedBase("A^+"), sp.IndexedBase("A^-")
    W = sp.Symbol("W", positive=True)
    rbar = sp.Sum(r[j], (j, 1, G)) / G
    pf.identity("advantages sum to zero (symbolic G)", sp.Sum((r[i] - rbar) / (sigma + eps), (i, 1, G)), 0,
                "With $A_i = (r_i - \\bar r)/(\\sigma + \\epsilon)$ for any rewards",
                simplifier=lambda e: sp.simplify(sp.expand(e).doit().xreplace({j: i})))
    pf.say("Write $A_i = A^+_i - A^-_i$ with $A^\\pm_i = \\max(\\pm A_i, 0)$; since $\\sum_i A_i = 0$, "
           "$W = \\sum_i A^+_i = \\sum_i A^-_i$, and $\\bar s_\\pm = \\sum_i A^\\pm_i s_i / W$.")
    update = sp.Sum((a_pos[i] - a_neg[i]) * s[i], (i, 1, G)) / G
    contrast = W / G * (sp.Sum(a_pos[i] * s[i], (i, 1, G)) / W - sp.Sum(a_neg[i] * s[i], (i, 1, G)) / W)
    pf.identity("update equals (W/G)(sbar+ - sbar-) (symbolic G)", update, contrast,
                "The group update is a contrast of equal masses",
                simplifier=lambda e: sp.simplify(sp.expand(e).doit()))


def lemma_binary_weights(pf: Proof, std: str = "population", a_plus: sp.Expr | None = None,
                         a_minus: sp.Expr | None = None) -> None:
    """k ones and m zeros (symbolic k, m >= 1): A+ = (1 - pk)/std and A- = -pk/std equal the claimed forms."""
    claim_plus, claim_minus, _ = claimed_binary(std)
    a_plus = claim_plus if a_plus is None else a_plus
    a_minus = claim_minus if a_minus is None else a_minus
    pk, sigma = k / G_km, _binary_std(std)
    pf.identity(f"A+ closed form ({std} std)", (1 - pk) / sigma, _in_km(a_plus),
                f"Binary group, $p_k = k/G$, {std} std $\\sigma = {tex(sp.simplify(sigma))}$; a success gets",
                display=f"A^+ = \\frac{{1 - p_k}}{{\\sigma}} = {tex(a_plus)}")
    pf.identity(f"A- closed form ({std} std)", -pk / sigma, _in_km(a_minus), "and a failure gets",
                display=f"A^- = -\\frac{{p_k}}{{\\sigma}} = {tex(a_minus)}")


def lemma_binary_update(pf: Proof, std: str = "population", scale: sp.Expr | None = None) -> None:
    """g = (1/G)(k A+ sbar+ + m A- sbar-) equals scale * (sbar+ - sbar-) for symbolic k, m."""
    scale = claimed_binary(std)[2] if scale is None else scale
    pk, sigma = k / G_km, _binary_std(std)
    update = (k * (1 - pk) / sigma * s_pos + m * (-pk) / sigma * s_neg) / G_km
    pf.identity(f"binary update scale ({std} std)", update, _in_km(scale) * (s_pos - s_neg),
                f"Group update with {std} std, $\\bar s_\\pm$ the mean positive / negative scores",
                display=f"g = \\frac{{k A^+ \\bar s_+ + m A^- \\bar s_-}}{{G}} = {tex(scale * (s_pos - s_neg))}")


def prove_tt1() -> Proof:
    """TT-1 for symbolic G and k, both std conventions, plus a cross-check against theory.contrastive."""
    pf = Proof("TT-1", "GRPO's group update is a contrast of equal masses (symbolic G, k)",
               "$\\sum_i A_i = 0$ and $g = \\frac{W}{G}(\\bar s_+ - \\bar s_-)$; binary rewards, k successes of G: "
               "$g = \\sqrt{p_k(1-p_k)}(\\bar s_+ - \\bar s_-)$ (population std), times $\\sqrt{(G-1)/G}$ (sample).")
    lemma_mass_balance(pf)
    pf.say("Binary rewards: $k$ successes and $m = G - k$ failures, $k, m \\ge 1$ symbolic (so $0 < k < G$); "
           "$n = G - 1$ for the sample std.")
    for std in ("population", "sample"):
        lemma_binary_weights(pf, std)
        lemma_binary_update(pf, std)
    values = {p_k: sp.Rational(3, 8), G_sym: 8, n: 7}
    weights = binary_contrastive_weights(3, 8, "sample")
    numeric = group_advantages(np.array([1.0] * 3 + [0.0] * 5), "grpo", "sample", 0.0)
    pf.agree("scale at k=3, G=8, sample std vs theory.contrastive", claimed_binary("sample")[2].subs(values),
             weights[2], "Instance $k = 3$, $G = 8$, sample std: scale")
    pf.agree("A+ at k=3, G=8, sample std vs theory.advantages", claimed_binary("sample")[0].subs(values),
             numeric[0], "and $A^+$ against `group_advantages`")
    return pf


theta, beta = sp.Symbol("theta"), sp.Symbol("beta", positive=True)
h_pos, h_neg = sp.Function("h_+")(theta), sp.Function("h_-")(theta)


def sigmoid(x: sp.Expr) -> sp.Expr:
    """sigma(x) = 1 / (1 + exp(-x))."""
    return 1 / (1 + sp.exp(-x))


def lemma_dpo_gradient(pf: Proof, weight: sp.Expr | None = None) -> None:
    """d/dtheta -log sigmoid(beta (h+ - h-)) = -weight (h+' - h-') with the claimed ``weight``
    (default beta sigmoid(beta (h- - h+))), built from this module's ``beta``, ``h_pos``, ``h_neg``."""
    weight = beta * sigmoid(beta * (h_neg - h_pos)) if weight is None else weight
    loss = -sp.log(sigmoid(beta * (h_pos - h_neg)))
    pf.show("DPO loss with $h = \\log \\pi/\\pi_{ref}$ and $\\sigma(x) = 1/(1 + e^{-x})$", loss)
    pf.identity("DPO gradient has the contrastive form", sp.diff(loss, theta),
                -weight * (sp.diff(h_pos, theta) - sp.diff(h_neg, theta)),
                "Differentiating along any parameter coordinate $\\theta$")


def prove_tt2() -> Proof:
    """TT-2 by symbolic differentiation, cross-checked against theory.contrastive.dpo_pair_weight."""
    pf = Proof("TT-2", "DPO's gradient is a 1-vs-1 contrast (symbolic differentiation)",
               "$\\nabla[-\\log\\sigma(\\beta(h_+ - h_-))] = -\\beta\\sigma(\\beta(h_- - h_+))(\\nabla h_+ - \\nabla "
               "h_-)$.")
    lemma_dpo_gradient(pf)
    pf.say("This is TT-1's form with one positive and one negative and weight $\\beta\\sigma(\\beta(h_- - h_+))$ "
           "in place of $W/G$.")
    instance = {beta: sp.Rational(1, 2), h_pos: sp.Rational(3, 10), h_neg: sp.Rational(-1, 5)}
    pf.agree("weight at beta=0.5, h+=0.3, h-=-0.2 vs theory.contrastive",
             (beta * sigmoid(beta * (h_neg - h_pos))).subs(instance),
             dpo_pair_weight(0.3, -0.2, 0.5), "Instance $\\beta = 0.5$, $h_+ = 0.3$, $h_- = -0.2$: weight")
    return pf


def claimed_pair_scale(std: str, epsilon: sp.Expr = eps) -> sp.Expr:
    """c of TT-3: 1/(1 + 2 eps) (population), 1/(sqrt(2) + 2 eps) (sample); eps = 0 gives 1 and 1/sqrt(2)."""
    return 1 / (1 + 2 * epsilon) if std == "population" else 1 / (sp.sqrt(2) + 2 * epsilon)


BINARY_PAIRS = ((0, 0), (0, 1), (1, 0), (1, 1))


def lemma_pair_scale(pf: Proof, std: str, epsilon: sp.Expr, c: sp.Expr | None = None) -> None:
    """On all four binary pairs, A_1 = c (r_1 - r_2) (the whole domain, so the check is complete)."""
    epsilon = sp.sympify(epsilon)
    c = claimed_pair_scale(std, epsilon) if c is None else c
    gaps = [advantage([r1, r2], 0, "grpo", std, epsilon) - c * (r1 - r2) for r1, r2 in BINARY_PAIRS]
    pf.identity(f"A_1 = c (r_1 - r_2) on binary pairs ({std} std, eps={epsilon})", sp.Add(*[g**2 for g in gaps]), 0,
                f"{std.capitalize()} std, $\\epsilon = {tex(epsilon)}$, $c = {tex(c)}$: "
                "$\\sum_{(r_1, r_2) \\in \\{0,1\\}^2} (A_1 - c(r_1 - r_2))^2$",
                display=f"\\sum (A_1 - {tex(c)}(r_1 - r_2))^2 = 0")


def lemma_sign_form(pf: Proof, std: str, c: sp.Expr | None = None) -> None:
    """Real rewards r_1 = r_2 + d, d > 0 and d < 0, eps = 0: A_1 = c sign(d)."""
    c = claimed_pair_scale(std, sp.Integer(0)) if c is None else c
    r2 = sp.Symbol("r_2", real=True)
    for name, d in (("d > 0", sp.Symbol("d", positive=True)), ("d < 0", sp.Symbol("d", negative=True))):
        a1 = advantage([r2 + d, r2], 0, "grpo", std)
        pf.identity(f"A_1 = c sign(r_1 - r_2), {name} ({std} std)", a1, c * sp.sign(d),
                    f"Real rewards $r_1 = r_2 + d$, ${name}$, {std} std, $\\epsilon = 0$",
                    display=f"A_1 = {tex(a1)} = {tex(c)}\\,\\mathrm{{sign}}(d)")


def prove_tt3() -> Proof:
    """TT-3: the pair scale c for each convention, the sign form, and the RLOO / Dr. GRPO identities."""
    pf = Proof("TT-3", "2-GRPO's advantage is a signed pair difference (symbolic eps)",
               "$G = 2$, binary rewards: $A_1 = c(r_1 - r_2)$ with $c = 1$ (population), $1/\\sqrt2$ (sample), "
               "$1/(1 + 2\\epsilon)$ (population with $\\epsilon$); 2-GRPO = RLOO(2) = 2 x Dr.GRPO(2) on binary "
               "pairs; real rewards: $A_1 = c\\,\\mathrm{sign}(r_1 - r_2)$.")
    for std in ("population", "sample"):
        lemma_pair_scale(pf, std, sp.Integer(0))
        lemma_pair_scale(pf, std, eps)
        lemma_sign_form(pf, std)
    d = sp.Symbol("d", positive=True)
    r2 = sp.Symbol("r_2", real=True)
    pf.identity("eps > 0 keeps |d| only through |d|/(|d| + 2 eps)",
                advantage([r2 + d, r2], 0, "grpo", "population", eps),
                d / (d + 2 * eps), "With $\\epsilon > 0$ (population, $d > 0$) the magnitude enters only through")
    x, y = sp.symbols("x y", real=True)
    pf.identity("RLOO(2) = 2 x Dr.GRPO(2) for real rewards", advantage([x, y], 0, "rloo"),
                2 * advantage([x, y], 0, "dr_grpo"), "For any real rewards $(x, y)$",
                display=f"A^{{RLOO}}_1 = {tex(advantage([x, y], 0, 'rloo'))} = 2 A^{{Dr}}_1 = "
                        f"2\\left({tex(advantage([x, y], 0, 'dr_grpo'))}\\right)")
    gaps = [advantage([a, b], 0, "grpo") - advantage([a, b], 0, "rloo") for a, b in BINARY_PAIRS]
    pf.identity("2-GRPO = RLOO(2) on binary pairs", sp.Add(*[g**2 for g in gaps]), 0,
                "Population std, $\\epsilon = 0$, all binary pairs", display="\\sum (A^{GRPO}_1 - A^{RLOO}_1)^2 = 0")
    pf.say("So on real rewards RLOO(2) keeps $r_1 - r_2$ while 2-GRPO keeps only its sign: they agree exactly "
           "when $|r_1 - r_2| \\in \\{0, 1\\}$.")
    pf.agree("c at sample std, eps=0.1 vs theory.expectations.two_grpo_scale",
             claimed_pair_scale("sample", sp.Rational(1, 10)), two_grpo_scale("sample", 0.1),
             "Instance sample std, $\\epsilon = 0.1$: $c$")
    pf.agree("A_1 of (0.9, 0.2), sample std vs theory.advantages", claimed_pair_scale("sample", 0),
             group_advantages(np.array([0.9, 0.2]), "grpo", "sample", 0.0)[0],
             "Real pair $(0.9, 0.2)$, sample std: $A_1 = c$")
    return pf


def check_tt1(ctx: RunContext) -> list[Evidence]:
    """TT-1: sum_i A_i = 0 and g = (W/G)(sbar+ - sbar-); binary rewards g = sqrt(p_k(1-p_k))(sbar+ - sbar-) (sympy)."""
    return [prove_tt1().evidence(ctx.out_dir)]


def check_tt2(ctx: RunContext) -> list[Evidence]:
    """TT-2: grad -log sigmoid(beta (h+ - h-)) = -beta sigmoid(beta (h- - h+)) (grad h+ - grad h-) (sympy)."""
    return [prove_tt2().evidence(ctx.out_dir)]


def check_tt3(ctx: RunContext) -> list[Evidence]:
    """TT-3: G = 2, binary rewards: A_1 = c (r_1 - r_2); real rewards: A_1 = c sign(r_1 - r_2) (sympy)."""
    return [prove_tt3().evidence(ctx.out_dir)]
