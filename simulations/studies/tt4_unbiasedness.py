"""TT-4 by Monte Carlo: E[A | r] and lambda_G(p) = E[A | r=1] - E[A | r=0] from sampled binary groups,
against the exact values of :mod:`theory.expectations`, for G in {2, 3, 4, 8, 16, 32} on a grid of p.

Each sampled group gives one draw of (r_1, A_1) (rollout 1 only, so draws are independent); A is
computed by name on the sampled rewards, E[A | r] is a conditional sample mean with its standard
error, and every deviation from the exact value must stay within 4 standard errors. The checks
(:func:`tt4_checks`) are agreement tests of the Monte Carlo against exact values and exact inequalities of
lambda_G; none is an interval against a paper's threshold, so none is three-way. Check :func:`check_tt4`;
artefacts under ``sim-gradients/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from evidence.record import Evidence, RunContext
from simulations.engine import CHUNK_FLOATS, UpdateRule, rule_advantages, run_chunked
from simulations.plotting import color, error_points, finish, new_figure, save_figure
from simulations.studies.common import GRADIENTS_FOLDER, StudyContext
from theory.expectations import expected_advantage, gradient_scale, two_grpo_scale

CLAIM = "TT-4"
STUDY_KEY = 4
"""Seed stream: the groups of cell i are drawn from ``[ctx.seed, STUDY_KEY, i]``."""
GROUPS_PER_CELL = {"smoke": 4_000, "default": 200_000, "full": 2_000_000}
"""Sampled groups per (G, p) cell."""
GROUP_SIZES = (2, 3, 4, 8, 16, 32)
PASS_RATES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
RULES = (UpdateRule("grpo", std="population", eps=0.0), UpdateRule("grpo", std="sample", eps=0.0),
         UpdateRule("dr_grpo", eps=0.0))
PAPER_LAMBDA_16 = {0.5: 1.93, 0.05: 3.27}
"""lambda_16(p) as the statement of TT-4 gives it (population std), two decimals."""


def conditional_advantages(G: int, p: float, rules: tuple[UpdateRule, ...], groups: int, seed: list[int]) -> dict:
    """Monte Carlo E[A_1 | r_1 = r] for r in {0, 1} and each rule: {label: {r: (mean, se, count)}}."""
    sums = {rule.label: np.zeros((2, 3)) for rule in rules}  # per r: count, sum A, sum A^2

    def work(start: int, size: int, rng: np.random.Generator) -> None:
        rewards = (rng.random((size, G)) < p).astype(np.float64)
        first = rewards[:, 0] == 1.0
        for rule in rules:
            a1 = rule_advantages(rule, rewards)[:, 0]
            for r, mask in ((1, first), (0, ~first)):
                sums[rule.label][r] += (mask.sum(), a1[mask].sum(), (a1[mask] ** 2).sum())

    run_chunked(groups, max(1, CHUNK_FLOATS // (4 * G)), work, seed=seed)
    return {label: {r: conditional_mean(*s[r]) for r in (0, 1)} for label, s in sums.items()}


def conditional_mean(count: float, total: float, total_sq: float) -> tuple[float, float, int]:
    """(mean, standard error, n) of n values from their count, sum and sum of squares: the mean sum/n and
    sqrt(s^2 / n) with the unbiased s^2 = (sum x^2 - n mean^2) / (n - 1); NaN where n is too small."""
    n = int(count)
    mean = total / n if n else float("nan")
    var = max(total_sq / n - mean**2, 0.0) * n / (n - 1) if n > 1 else float("nan")
    return mean, float(np.sqrt(var / n)) if n > 1 else float("nan"), n


def check_tt4(ctx: RunContext) -> list[Evidence]:
    """TT-4: simulate every (G, p), compare with the exact values, write ``tt4_unbiasedness.json`` and
    ``tt4_lambda.png``; return the TT-4 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, GRADIENTS_FOLDER, STUDY_KEY)
    groups = GROUPS_PER_CELL[ctx.budget]
    rows: list[dict[str, Any]] = []
    cells = [(G, p) for G in GROUP_SIZES for p in PASS_RATES]
    for i, (G, p) in enumerate(tqdm(cells, desc="TT-4 unbiasedness", disable=not study.progress)):
        mc = conditional_advantages(G, p, RULES, groups, [study.seed, study.key, i])
        for rule in RULES:
            exact = {r: float(expected_advantage(G, p, r, rule.estimator, rule.std, rule.eps)) for r in (0, 1)}
            (m0, se0, _), (m1, se1, _) = mc[rule.label][0], mc[rule.label][1]
            lam, lam_se = m1 - m0, float(np.hypot(se0, se1))
            lam_exact = float(gradient_scale(G, p, rule.estimator, rule.std, rule.eps))
            rows.append({"G": G, "p": p, "rule": rule.label, "groups": groups,
                         "E[A|r=1]": m1, "se1": se1, "exact1": exact[1], "z1": (m1 - exact[1]) / se1,
                         "E[A|r=0]": m0, "se0": se0, "exact0": exact[0], "z0": (m0 - exact[0]) / se0,
                         "lambda": lam, "lambda_se": lam_se, "lambda_exact": lam_exact,
                         "z_lambda": (lam - lam_exact) / lam_se})
    checks = tt4_checks(rows)
    max_z = max(max(abs(r["z1"]), abs(r["z0"]), abs(r["z_lambda"])) for r in rows)
    lam_mc = {(r["rule"], r["G"], r["p"]): r for r in rows}
    pop = "grpo(population)"
    lambda_3_range = float(np.ptp(gradient_scale(3, np.linspace(0.01, 0.99, 99), "grpo", "population", 0.0)))
    data = {"claim": CLAIM, "groups_per_cell": groups, "rows": rows}
    json_path = study.write_json("tt4_unbiasedness.json", data)
    png_path = _plot(rows, study.path("tt4_lambda.png"), groups)
    numbers = {"max_abs_z": round(max_z, 3), "comparisons": 3 * len(rows), "groups_per_cell": groups,
               **{f"lambda_{G}({p}) {pop} exact": round(lam_mc[(pop, G, p)]["lambda_exact"], 4)
                  for G in (2, 16) for p in (0.05, 0.5)},
               **{f"lambda_{G}({p}) {pop} MC": round(lam_mc[(pop, G, p)]["lambda"], 4)
                  for G in (2, 16) for p in (0.05, 0.5)},
               "lambda_3 range over p in [0.01, 0.99] (population, exact)": lambda_3_range}
    steps = (
        f"For each G in {list(GROUP_SIZES)} and p in {list(PASS_RATES)}, {groups} groups of G Bernoulli(p) rewards; "
        "A computed by name (`grpo` population / sample std with eps = 0, `dr_grpo`) on the sampled rewards.",
        "E[A_1 | r_1 = r] is the mean of rollout 1's advantage over groups with r_1 = r; its standard error is "
        "the sample standard deviation over sqrt(count). $\\lambda_G(p) = E[A|r=1] - E[A|r=0]$.",
        f"Largest |deviation| / SE over {3 * len(rows)} comparisons with `theory.expectations`: {max_z:.2f}.",
        "lambda_2 equals c at every p (2-GRPO is an unbiased gradient of mean accuracy times c); for G >= 4 "
        "lambda_G grows toward p = 0 or 1, approaching $1/\\sqrt{p(1-p)}$: the direction changes, not only the scale. "
        "dr_grpo has the constant lambda_G = (G-1)/G.",
    )
    return [Evidence.from_checks(
        CLAIM, "simulation", "Monte Carlo E[A|r] and lambda_G(p) vs exact expectations", checks,
        numbers=numbers, steps=steps, artefacts=(json_path, study.rel(png_path.name)),
    )]


def tt4_checks(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """TT-4's checks from the study's rows (one per rule, G and p: Monte Carlo E[A|r=1], E[A|r=0] and lambda with
    their SEs and z against the exact values, and the exact lambda): the Monte Carlo within 4 SE of the exact
    values everywhere; 2-GRPO's E[A|r] = c (r - p) within 4 SE; and exact facts of lambda_G (re-weighting from
    G = 4, convergence to 1/sqrt(p(1-p)), TT's two printed values). Needs the population-std rows of G = 8, 16, 32
    at every p of :data:`PASS_RATES`."""
    max_z = max(max(abs(r["z1"]), abs(r["z0"]), abs(r["z_lambda"])) for r in rows)
    two = [r for r in rows if r["rule"].startswith("grpo") and r["G"] == 2]
    c_of = {"grpo(population)": two_grpo_scale("population", 0.0), "grpo(sample)": two_grpo_scale("sample", 0.0)}
    lam = {(r["rule"], r["G"], r["p"]): r["lambda_exact"] for r in rows}
    pop = "grpo(population)"
    exact_gap = {G: float(np.diff(gradient_scale(G, np.array([0.5, 0.05]), "grpo", "population", 0.0))[0])
                 for G in GROUP_SIZES}
    gap = {(G, p): abs(lam[(pop, G, p)] - 1 / np.sqrt(p * (1 - p))) for G in (8, 32) for p in PASS_RATES}
    lambda_3_range = float(np.ptp(gradient_scale(3, np.linspace(0.01, 0.99, 99), "grpo", "population", 0.0)))
    return {
        "every Monte Carlo E[A|r] and lambda_G(p) within 4 standard errors of theory.expectations": max_z <= 4.0,
        "2-GRPO: E[A|r] = c (r - p) at every p (c = 1 population, 1/sqrt(2) sample; within 4 SE)": all(
            abs(r["E[A|r=1]"] - c_of[r["rule"]] * (1 - r["p"])) <= 4 * r["se1"]
            and abs(r["E[A|r=0]"] + c_of[r["rule"]] * r["p"]) <= 4 * r["se0"] for r in two),
        "exact lambda_G(0.05) > lambda_G(0.5) for every G >= 4 (population std; the Monte Carlo agrees within 4 SE): "
        "larger groups re-weight prompts": all(exact_gap[G] > 1e-3 for G in GROUP_SIZES if G >= 4),
        "exact lambda_32 is closer than lambda_8 to the limit 1/sqrt(p(1-p)) at every p":
            all(gap[(32, p)] < gap[(8, p)] for p in PASS_RATES),
        "exact lambda_3 is constant in p (population std), so G >= 4 is where re-weighting starts":
            lambda_3_range < 1e-12,
        "lambda_16(0.5) and lambda_16(0.05) round to TT's 1.93 and 3.27 (population std)": all(
            round(lam[(pop, 16, p)], 2) == v for p, v in PAPER_LAMBDA_16.items()),
    }


def _plot(rows: list[dict[str, Any]], path: Path, groups: int) -> Path:
    fig, axes = new_figure(1, len(RULES), "TT-4: gradient scale $\\lambda_G(p)$ = E[A|r=1] - E[A|r=0]",
                           panel_size=(5.0, 4.0))
    grid = np.linspace(0.02, 0.98, 193)
    for ax, rule in zip(axes[0], RULES, strict=True):
        for i, G in enumerate(GROUP_SIZES):
            ax.plot(grid, gradient_scale(G, grid, rule.estimator, rule.std, rule.eps), color=color(i), linewidth=1.2)
            mine = [r for r in rows if r["rule"] == rule.label and r["G"] == G]
            error_points(ax, [r["p"] for r in mine], [r["lambda"] for r in mine], [1.96 * r["lambda_se"] for r in mine],
                         label=f"G={G}", c=color(i))
        if rule.estimator == "grpo":
            ax.plot(grid, 1 / np.sqrt(grid * (1 - grid)), "k--", linewidth=1.2, label="G → ∞: 1/√(p(1-p))")
            ax.set_ylim(0, 5.5)
        else:
            ax.axhline(1.0, color="k", linestyle="--", linewidth=1.2, label="G → ∞: 1")
        finish(ax, f"{rule.label}, eps = 0", "$\\lambda_G(p)$", xlabel="pass rate p",
               legend_loc="upper center" if rule.estimator == "grpo" else "center right")
    return save_figure(fig, path, note=f"Lines: exact (theory.expectations). Points: Monte Carlo, {groups} groups per "
                                       "point, 95% error bars.")
