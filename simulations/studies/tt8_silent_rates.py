"""TT-8 by Monte Carlo: the rate of silent groups (all G binary rewards equal) against p^G + (1-p)^G,
against TT v3's printed 1 - rbar^2 - (1-rbar)^2, and against rbar^G + (1-rbar)^G with the mean pass
rate rbar instead of the per-prompt rates (an under-estimate by Jensen's inequality).

Two parts: fixed pass rates p on a grid, and pools of prompts whose pass rates follow the named
distributions of :mod:`simulations.environments` (each prompt of the pool gets one group per trial).
Groups are drawn by the binary kernel (:class:`simulations.engine.BinomialSampler`), independently
of the formula; standard errors use the exact Bernoulli variance of each group's silence. The checks
(:func:`tt8_checks`) compare the Monte Carlo with exact formulas (within, or beyond, 4 SE) and check an exact
identity; none is an interval against a paper's threshold, so none is three-way. Check :func:`check_tt8`;
artefacts under ``sim-gradients/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from evidence.record import Evidence, RunContext
from simulations.engine import KERNEL_CHUNK, BinomialSampler, run_chunked
from simulations.environments import PASS_RATE_DISTRIBUTIONS, pass_rate_quantiles
from simulations.plotting import color, error_points, finish, log2_axis, new_figure, save_figure
from simulations.studies.common import GRADIENTS_FOLDER, StudyContext
from theory.expectations import silent_group_probability

CLAIM = "TT-8"
GROUP_SIZES = (2, 4, 8, 16, 32)
PASS_RATES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
STUDY_KEY = 8
"""Seed stream of the fixed-p part: cell (G, j) draws from ``[ctx.seed, STUDY_KEY, G, j]``."""
POOL_KEY = 80
"""Seed stream of the prompt pools: distribution d at G draws from ``[ctx.seed, POOL_KEY, d, G]``."""


@dataclass(frozen=True)
class Sizes:
    """``groups`` simulated per cell, ``pool`` prompts in each pass-rate pool."""

    groups: int
    pool: int


SIZES = {"smoke": Sizes(100_000, 256), "default": Sizes(2_000_000, 1024), "full": Sizes(20_000_000, 4096)}


def simulated_silent_fraction(pass_rates: np.ndarray, G: int, trials: int, seed: list[int]) -> float:
    """Fraction of silent groups (k = 0 or k = G) over ``trials`` groups of every prompt."""
    sampler = BinomialSampler(pass_rates, G)
    silent = [0]

    def work(start: int, size: int, rng: np.random.Generator) -> None:
        k = sampler.draw(rng, size)
        silent[0] += int(np.count_nonzero((k == 0) | (k == G)))

    run_chunked(trials, max(1, KERNEL_CHUNK // pass_rates.size), work, seed=seed)
    return silent[0] / (trials * pass_rates.size)


def standard_error(pass_rates: np.ndarray, G: int, trials: int) -> float:
    """SE of the simulated silent fraction over ``trials`` groups of each of P prompts: sqrt(sum_q pi_q (1 - pi_q)
    x trials) / (trials P), pi_q = p_q^G + (1 - p_q)^G (each group's silence is Bernoulli(pi_q))."""
    pi = silent_group_probability(G, pass_rates)
    return float(np.sqrt((pi * (1 - pi)).sum() * trials) / (trials * pass_rates.size))


def check_tt8(ctx: RunContext) -> list[Evidence]:
    """TT-8: simulate silent rates at fixed p (``groups`` groups per cell) and on prompt pools of size ``pool``
    (about ``groups`` groups per cell); write ``tt8_silent_groups.json`` and ``tt8_silent_groups.png``; return
    the TT-8 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, GRADIENTS_FOLDER, STUDY_KEY)
    groups, pool = SIZES[ctx.budget].groups, SIZES[ctx.budget].pool
    fixed: list[dict[str, Any]] = []
    for G in tqdm(GROUP_SIZES, desc="TT-8 fixed p", disable=not study.progress):
        p = np.array(PASS_RATES)
        for j, pj in enumerate(p):
            sim = simulated_silent_fraction(p[j:j + 1], G, groups, [study.seed, study.key, G, j])
            exact = float(silent_group_probability(G, pj))
            se = standard_error(p[j:j + 1], G, groups)
            fixed.append({"G": G, "p": float(pj), "simulated": sim, "se": se, "exact": exact, "z": (sim - exact) / se})
    pooled: list[dict[str, Any]] = []
    trials = max(1, groups // pool)
    for d, name in enumerate(tqdm(list(PASS_RATE_DISTRIBUTIONS), desc="TT-8 distributions",
                                    disable=not study.progress)):
        p = pass_rate_quantiles(name, pool)
        rbar = float(p.mean())
        for G in GROUP_SIZES:
            sim = simulated_silent_fraction(p, G, trials, [study.seed, POOL_KEY, d, G])
            se = standard_error(p, G, trials)
            per_prompt = float(silent_group_probability(G, p).mean())
            mean_rate = float(silent_group_probability(G, rbar))
            row = {"distribution": name, "G": G, "mean_pass_rate": rbar, "simulated": sim, "se": se,
                   "per_prompt_formula": per_prompt, "z": (sim - per_prompt) / se,
                   "mean_pass_rate_formula": mean_rate, "mean_pass_rate_error": mean_rate - sim,
                   "mean_pass_rate_z": (mean_rate - sim) / se}
            if G == 2:
                printed = 1 - rbar**2 - (1 - rbar) ** 2
                row |= {"tt_v3_printed_formula": printed, "tt_v3_printed_error": printed - sim,
                        "tt_v3_printed_z": (printed - sim) / se}
            pooled.append(row)
    checks = tt8_checks(fixed, pooled)
    twos = [r for r in pooled if r["G"] == 2]
    json_path = study.write_json("tt8_silent_groups.json",
                                 {"claim": CLAIM, "groups_per_cell": groups, "pool": pool, "fixed_p": fixed,
                                  "distributions": pooled})
    png_path = _plot(fixed, pooled, study.path("tt8_silent_groups.png"), groups, pool)
    numbers: dict[str, Any] = {"groups_per_cell": groups, "pool_size": pool,
                               "max_abs_z_fixed_p": round(max(abs(r["z"]) for r in fixed), 3),
                               "max_abs_z_pools": round(max(abs(r["z"]) for r in pooled), 3)}
    for r in twos:
        numbers[f"G=2 {r['distribution']}: simulated"] = round(r["simulated"], 5)
        numbers[f"G=2 {r['distribution']}: TT v3 printed"] = round(r["tt_v3_printed_formula"], 5)
        numbers[f"G=2 {r['distribution']}: mean pass rate"] = round(r["mean_pass_rate_formula"], 5)
    worst = min(pooled, key=lambda r: r["mean_pass_rate_formula"] / max(r["simulated"], 1e-300))
    steps = (
        f"Fixed p: {groups} groups per (G, p), k ~ Binomial(G, p) by the binary kernel; silent means k in {{0, G}}.",
        f"Pools: {pool} prompts at the quantiles of each pass-rate law, {trials} groups per prompt; exact rate "
        "$\\frac1P\\sum_q p_q^G + (1-p_q)^G$.",
        "TT v3 App. D.3 prints the discard rate of 2-GRPO as $1 - \\bar r^2 - (1-\\bar r)^2$: that is the "
        "probability that a group is *informative* at the mean pass rate, the complement of the silent rate.",
        f"Using $\\bar r$ instead of per-prompt $p_q$ under-estimates the silent rate (Jensen); worst here: "
        f"{worst['distribution']}, G = {worst['G']}: {worst['mean_pass_rate_formula']:.4g} vs simulated "
        f"{worst['simulated']:.4g}.",
    )
    return [Evidence.from_checks(
        CLAIM, "simulation", "Simulated silent-group rates vs p^G + (1-p)^G, TT v3's formula and the mean pass rate",
        checks, numbers=numbers, steps=steps, artefacts=(json_path, study.rel(png_path.name)),
    )]


def tt8_checks(fixed: list[dict[str, Any]], pooled: list[dict[str, Any]]) -> dict[str, bool]:
    """TT-8's checks from the study's rows: ``fixed`` (G, p, z of simulated against p^G + (1-p)^G) and ``pooled``
    (per distribution and G: z against the per-prompt formula, ``mean_pass_rate_z`` of the mean-pass-rate formula
    against the simulation, and for G = 2 TT v3's printed formula and its z)."""
    twos = [r for r in pooled if r["G"] == 2]
    return {
        "simulated silent rate within 4 SE of p^G + (1-p)^G at every fixed p and G":
            max(abs(r["z"]) for r in fixed) <= 4,
        "simulated silent rate within 4 SE of mean_q p_q^G + (1-p_q)^G on every prompt pool":
            max(abs(r["z"]) for r in pooled) <= 4,
        "TT v3's printed 1 - rbar^2 - (1-rbar)^2 is off the simulated G = 2 rate by more than 4 SE (every pool)":
            all(abs(r["tt_v3_printed_z"]) > 4 for r in twos),
        "TT v3's printed formula is the complement of rbar^2 + (1-rbar)^2 (sums to 1)":
            all(abs(r["tt_v3_printed_formula"] + r["mean_pass_rate_formula"] - 1) < 1e-12 for r in twos),
        "the mean pass rate under-estimates the silent rate by more than 4 SE (every pool and G)":
            all(r["mean_pass_rate_z"] < -4 for r in pooled),
    }


def _plot(fixed: list[dict[str, Any]], pooled: list[dict[str, Any]], path: Path, groups: int, pool: int) -> Path:
    names = list(PASS_RATE_DISTRIBUTIONS)
    fig, axes = new_figure(1, 1 + len(names), "TT-8: rate of silent groups (all G rewards equal)",
                           panel_size=(4.0, 3.6))
    ax = axes[0, 0]
    grid = np.linspace(0.0, 1.0, 201)
    for i, G in enumerate(GROUP_SIZES):
        mine = [r for r in fixed if r["G"] == G]
        ax.plot(grid, silent_group_probability(G, grid), color=color(i), linewidth=1)
        error_points(ax, [r["p"] for r in mine], [r["simulated"] for r in mine], [1.96 * r["se"] for r in mine],
                     label=f"G={G}", c=color(i))
    finish(ax, "fixed pass rate p (lines: $p^G+(1-p)^G$)", "P(group silent)", xlabel="pass rate p",
           legend_loc="upper center")
    for ax, name in zip(axes[0, 1:], names, strict=True):
        mine = [r for r in pooled if r["distribution"] == name]
        G = [r["G"] for r in mine]
        ax.plot(G, [r["per_prompt_formula"] for r in mine], "k-", linewidth=1.2, label="mean of $p_q^G+(1-p_q)^G$")
        ax.plot(G, [r["mean_pass_rate_formula"] for r in mine], color=color(1), linestyle="--", marker="s",
                markersize=4, label="mean pass rate: $\\bar r^G+(1-\\bar r)^G$")
        two = mine[0]
        ax.plot([2], [two["tt_v3_printed_formula"]], marker="X", color=color(3), linestyle="none", markersize=9,
                label="TT v3 printed (G=2)")
        error_points(ax, G, [r["simulated"] for r in mine], [1.96 * r["se"] for r in mine], label="simulated (95% CI)",
                     c=color(0))
        log2_axis(ax, GROUP_SIZES)
        finish(ax, f"pass rates ~ {name}", "P(group silent)", legend=name == names[0])
        ax.set_ylim(bottom=0)
    return save_figure(fig, path, note=f"{groups} simulated groups per point; pools of {pool} prompts at the "
                                       "quantiles of each pass-rate law.")
