"""TT-5: is the negative part of a group's update a control variate for the positive part?

A group's update splits into g = g+ - g-, g+ = (1/G) sum_{A_i > 0} A_i s_i, g- = (1/G) sum_{A_i < 0} |A_i| s_i.
Prop 4.1 of TT: Var(g+ - c g-) <= Var(g+) iff 0 <= c <= 2 Cov(g+, g-)/Var(g-) (variances as traces); GRPO
uses c = 1, inside the range iff rho >= (1/2) sqrt(Var(g-)/Var(g+)). Measured on every study environment
and pass-rate distribution for G in {2, 4, 8, 16}, for one group of a uniformly drawn prompt, with the
same-group pairing and with random pairing across prompts (g- taken from an independent group, as TT's
0.087 vs 0.0013 on a real LLM). Exact twins by enumeration where the outcomes are few.

Judged (:func:`tt5_checks`): per environment, "c = 1 reduces the variance" (Var(g+ - g-)/Var(g+) <= 1) and
"same-group rho > 0", each at every distribution and G. Where the exact value exists it decides (an exact
inequality); elsewhere the Monte Carlo estimate's 95% jackknife interval is judged by :mod:`evidence.verdicts`'
three-way rule (whole interval on the claimed side: holds; wholly on the other: fails; else undecided). A check
over many settings fails if any setting fails and is undecided if none fails and some are undecided. The Monte
Carlo's agreement with enumeration is a validity check of the machinery (4 SE), shown only when it fails. Check
:func:`check_tt5`; artefacts under ``sim-gradients/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from evidence.record import Evidence, RunContext
from simulations.engine import CHUNK_FLOATS, BlockSums, UpdateRule, batch_updates, exact_group_moments, run_chunked
from simulations.environments import STUDY_ENVIRONMENTS, Environment, make_environment
from simulations.plotting import band, color, finish, key_legend, log2_axis, new_figure, save_figure
from simulations.studies.common import (
    GRADIENTS_FOLDER,
    STUDY_DISTRIBUTIONS,
    STUDY_POOLS,
    Outcome,
    StudyContext,
    all_of,
    claim_checks,
    decide_draws,
    decision_numbers,
    decision_reason,
    rows_of,
    validity_numbers,
)

CLAIM = "TT-5"
GROUP_SIZES = (2, 4, 8, 16)
RULE = UpdateRule("grpo", std="sample")
EXACT_OUTCOMES = 8
TT_CORRELATIONS = {"same group": 0.087, "random pairing": 0.0013}
"""TT's measured correlations on a real LLM."""
REASON_LIMIT = 8
"""At most this many open (failed or undecided) Monte Carlo Decisions are spelled out in the reason."""
MC_DECISIONS = "decisions (Monte Carlo, n = groups)"
"""Key of the report numbers that hold the three-way Decisions of the settings without an exact twin."""
STUDY_KEY = 5
"""Seed stream: setting i is simulated from ``[ctx.seed, STUDY_KEY, i]``; the prompt pools from ``ctx.seed``."""


@dataclass(frozen=True)
class Sizes:
    """How much the study simulates: ``groups`` per (environment, distribution, G), prompts per study
    environment (``pools``), and the pass-rate ``distributions``."""

    groups: int
    pools: dict[str, int]
    distributions: tuple[str, ...]


SIZES = {budget: Sizes(count, STUDY_POOLS[budget], STUDY_DISTRIBUTIONS[budget])
         for budget, count in (("smoke", 1_000), ("default", 10_000), ("full", 100_000))}


def _derived(var_p: float, var_n: float, cov: float, cov_random: float) -> dict[str, float]:
    """rho, the variance-reducing range of c, c*, and Var(g+ - g-)/Var(g+)."""
    root = math.sqrt(var_p * var_n) if var_p > 0 and var_n > 0 else math.nan
    return {"var_pos": var_p, "var_neg": var_n, "cov": cov, "rho": cov / root, "rho_random": cov_random / root,
            "rho_gap": (cov - cov_random) / root, "threshold": 0.5 * math.sqrt(var_n / var_p),
            "c_upper": 2 * cov / var_n, "c_star": cov / var_n, "ratio_c1": (var_p - 2 * cov + var_n) / var_p}


def simulate_split(env: Environment, G: int, groups: int, seed: list[int]) -> dict[str, Any]:
    """Monte Carlo of the :func:`_derived` quantities over ``groups`` groups (one uniformly drawn prompt each);
    random pairing takes g- from the previous group of the chunk (an independent prompt and group)."""
    sums = BlockSums(groups, 20)
    per_group = env.dim * 4 + env.num_prompts * env.num_outcomes + G * (env.dim if env.gathers_scores else 8)
    centers: list[tuple[np.ndarray, np.ndarray]] = []

    def work(start: int, size: int, rng: np.random.Generator) -> None:
        out = batch_updates(env, G, RULE, rng, Q=1, trials=size, split=True)
        if not centers:
            centers.append((out.positive.mean(0), out.negative.mean(0)))
        dp, dn = out.positive - centers[0][0], out.negative - centers[0][1]
        sums.add(start, sp=dp, sn=dn, pp=np.einsum("td,td->t", dp, dp), nn=np.einsum("td,td->t", dn, dn),
                 pn=np.einsum("td,td->t", dp, dn), pr=np.einsum("td,td->t", dp, np.roll(dn, 1, axis=0)))

    run_chunked(groups, max(2, CHUNK_FLOATS // per_group), work, seed=seed)
    return {k: v.to_json() for k, v in sums.estimates(split_statistics).items()}


def split_statistics(t: dict[str, np.ndarray]) -> dict[str, float]:
    """The :func:`_derived` quantities from sums over n groups of the centred parts dp, dn: ``sp`` = sum dp,
    ``sn`` = sum dn, ``pp`` = sum ||dp||^2, ``nn`` = sum ||dn||^2, ``pn`` = sum <dp, dn>, ``pr`` = sum <dp, dn'>
    (dn' of another group); unbiased traces of (co)variances, (sum x y - (sum x)(sum y)/n) / (n - 1)."""
    n = float(t["n"])
    cross = float(t["sp"] @ t["sn"]) / n
    var_p = (float(t["pp"]) - float(t["sp"] @ t["sp"]) / n) / (n - 1)
    var_n = (float(t["nn"]) - float(t["sn"] @ t["sn"]) / n) / (n - 1)
    return _derived(var_p, var_n, (float(t["pn"]) - cross) / (n - 1), (float(t["pr"]) - cross) / (n - 1))


def exact_split(env: Environment, G: int) -> dict[str, float]:
    """The :func:`_derived` quantities exactly, by enumerating a group's outcomes (random pairing: Cov = 0), and
    ``rho_within_prompt``: E_q Cov(g+, g- | q) / sqrt(E_q Var(g+ | q) E_q Var(g- | q)), the prompt held fixed."""
    m = exact_group_moments(env, G, RULE)
    gram, P = env.gram(), env.num_prompts
    mp, mn = env.direction(m.positive_mean / P), env.direction(m.negative_mean / P)

    def second(M: np.ndarray) -> float:
        return float(np.einsum("qoe,qoe->", M, gram)) / P

    out = _derived(second(m.second_pp) - mp @ mp, second(m.second_nn) - mn @ mn, second(m.second_pn) - mp @ mn, 0.0)

    def within(a: np.ndarray, Ma: np.ndarray, b: np.ndarray) -> float:  # E_q Cov(g_a, g_b | q)
        return second(Ma) - float(np.einsum("qo,qoe,qe->", a, gram, b)) / P

    pos, neg = m.positive_mean, m.negative_mean
    out["rho_within_prompt"] = within(pos, m.second_pn, neg) / math.sqrt(
        within(pos, m.second_pp, pos) * within(neg, m.second_nn, neg))
    return out


def check_tt5(ctx: RunContext) -> list[Evidence]:
    """TT-5: every (environment, distribution, G); write ``tt5_control_variate.json`` and ``.png``; return the
    TT-5 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, GRADIENTS_FOLDER, STUDY_KEY)
    sizes = SIZES[ctx.budget]
    pools, groups, distributions = sizes.pools, sizes.groups, sizes.distributions
    rows: list[dict[str, Any]] = []
    configs = [(e, d, G) for e in STUDY_ENVIRONMENTS for d in distributions for G in GROUP_SIZES]
    envs: dict[tuple[str, str], Environment] = {}
    for i, (env_name, dist, G) in enumerate(tqdm(configs, desc="TT-5 control variate", disable=not study.progress)):
        if (env_name, dist) not in envs:
            kind, rewards = STUDY_ENVIRONMENTS[env_name]
            envs[(env_name, dist)] = make_environment(kind, dist, num_prompts=pools[env_name], rewards=rewards,
                                                      seed=study.seed)
        env = envs[(env_name, dist)]
        exact = exact_split(env, G) if env.num_outcomes <= EXACT_OUTCOMES else None
        rows.append({"environment": env_name, "distribution": dist, "G": G, "groups": groups,
                     "mc": simulate_split(env, G, groups, [study.seed, study.key, i]), "exact": exact})
    claim, validity, numbers, parts = tt5_checks(rows)
    checks = claim_checks(claim, validity)
    numbers |= validity_numbers(validity)
    json_path = study.write_json("tt5_control_variate.json",
                                 {"claim": CLAIM, "rule": RULE.label, "groups": groups, "pools": pools,
                                  "tt_correlations": TT_CORRELATIONS, "rows": rows})
    png_path = _plot(rows, distributions, study.path("tt5_control_variate.png"), groups)
    inside = [f"{r['environment']}/{r['distribution']}/G={r['G']}" for r in rows if _best(r, "ratio_c1") <= 1]
    steps = (
        f"One group of a uniformly drawn prompt, {groups} groups per point, rule {RULE.label}; traces of "
        "covariances; jackknife 95% intervals; exact enumeration for the environments with 4 answers.",
        "Prop 4.1 is algebra: $Var(g^+ - c g^-) = Var(g^+) - 2c\\,Cov + c^2 Var(g^-)$. The question is whether "
        "GRPO's c = 1 lies in $[0, 2 Cov/Var(g^-)]$, i.e. $\\rho \\ge \\frac12\\sqrt{Var(g^-)/Var(g^+)}$.",
        f"c = 1 reduces the variance in {len(inside)} of {len(rows)} settings"
        + (f": {', '.join(inside)}." if inside else "."),
        "Measured rho (exact where enumerated): " + "; ".join(
            f"{k.split(':')[0]} {v[0]:+.3f} .. {v[1]:+.3f}" for k, v in numbers.items() if k.endswith("rho range"))
        + ". Holding the prompt fixed does not change the sign (rho_within_prompt in the JSON). In a tabular "
        "softmax, scores of different answers have <e_a - pi, e_b - pi> < 0, and E g- points against E g+.",
        f"TT on a real LLM: rho = {TT_CORRELATIONS['same group']} same group vs {TT_CORRELATIONS['random pairing']} "
        "random pairing; here random pairing has rho = 0 exactly (independent groups). Even TT's rho = 0.087 puts "
        "c = 1 in the variance-reducing range only if Var(g-)/Var(g+) <= (2 x 0.087)^2 = 0.03.",
    )
    reason = ("Settings with an exact twin are decided by the exact value; the others by the 95% jackknife interval "
              "of the Monte Carlo estimate (three-way). "
              + decision_reason(parts, "groups", open_only=True, limit=REASON_LIMIT))
    return [Evidence.from_checks(
        CLAIM, "simulation", "Negative samples as a control variate: Cov(g+, g-), rho, and c = 1", checks,
        reason=reason, numbers=numbers, steps=steps, artefacts=(json_path, study.rel(png_path.name)),
    )]


def _best(row: dict[str, Any], name: str) -> float:
    """The exact value if there is one, else the Monte Carlo estimate."""
    return float(row["exact"][name]) if row["exact"] else float(row["mc"][name]["value"])


def _judge(row: dict[str, Any], name: str, threshold: float, *, at_least: bool) -> Outcome:
    """``name`` of one setting against ``threshold``: the exact value if there is one (an exact inequality; strict
    for "at least", as rho > 0), else the Monte Carlo estimate's interval, three-way."""
    if row["exact"]:
        value = float(row["exact"][name])
        return value > threshold if at_least else value <= threshold
    return decide_draws(row["mc"][name], threshold, draws=row["groups"], at_least=at_least)


def tt5_checks(rows: list[dict[str, Any]]) -> tuple[dict[str, bool | None], dict[str, bool], dict[str, Any],
                                                     dict[str, Outcome]]:
    """(claim checks, validity checks, numbers, parts) from the rows of the study: each row one (environment,
    distribution, G) with its Monte Carlo estimates ``mc`` ({value, se, ci95} per quantity of :func:`_derived`,
    from ``groups`` groups) and ``exact`` quantities (or None). ``parts``: the outcome of every setting (a bool
    where exact, a Decision where Monte Carlo), of which each claim check is :func:`all_of`; numbers include every
    Monte Carlo Decision."""
    checks: dict[str, bool | None] = {}
    validity: dict[str, bool] = {}
    numbers: dict[str, Any] = {}
    decisions: dict[str, Any] = {}
    for env_name in dict.fromkeys(r["environment"] for r in rows):  # in order of appearance
        mine = [r for r in rows if r["environment"] == env_name]
        exact = [r for r in mine if r["exact"]]
        if exact:
            worst = max(abs(r["mc"][k]["value"] - r["exact"][k]) / r["mc"][k]["se"]
                        for r in exact for k in ("var_pos", "var_neg", "cov"))
            validity[f"{env_name}: Monte Carlo Var(g+), Var(g-), Cov within 4 SE of exact enumeration"] = worst <= 4
        reduces = {f"{env_name}/{r['distribution']}/G={r['G']}: Var(g+ - g-)/Var(g+) <= 1":
                   _judge(r, "ratio_c1", 1.0, at_least=False) for r in mine}
        positive = {f"{env_name}/{r['distribution']}/G={r['G']}: rho > 0": _judge(r, "rho", 0.0, at_least=True)
                    for r in mine}
        checks[f"{env_name}: c = 1 reduces the variance (rho >= threshold) at every distribution and G"] = all_of(
            reduces.values())
        checks[f"{env_name}: same-group rho > 0, as TT's 0.087 (every distribution and G)"] = all_of(
            positive.values())
        decisions |= reduces | positive
        numbers[f"{env_name}: rho range"] = [round(min(_best(r, "rho") for r in mine), 4),
                                             round(max(_best(r, "rho") for r in mine), 4)]
        numbers[f"{env_name}: Var(g+ - g-)/Var(g+) range"] = [round(min(_best(r, "ratio_c1") for r in mine), 4),
                                                              round(max(_best(r, "ratio_c1") for r in mine), 4)]
        if exact:
            numbers[f"{env_name}: rho with the prompt held fixed (exact) range"] = [
                round(min(r["exact"]["rho_within_prompt"] for r in exact), 4),
                round(max(r["exact"]["rho_within_prompt"] for r in exact), 4)]
        numbers[f"{env_name}: random-pairing rho max |MC|"] = round(max(abs(r["mc"]["rho_random"]["value"])
                                                                        for r in mine), 4)
    numbers[MC_DECISIONS] = decision_numbers(decisions, unit="groups")
    return checks, validity, numbers, decisions


def _plot(rows: list[dict[str, Any]], distributions: tuple[str, ...], path: Path, groups: int) -> Path:
    names = list(STUDY_ENVIRONMENTS)
    fig, axes = new_figure(2, len(names), f"TT-5: the negative sample as a control variate ({RULE.label})")
    for col, env_name in enumerate(names):
        for d, dist in enumerate(distributions):
            mine = rows_of(rows, environment=env_name, distribution=dist)
            G = [r["G"] for r in mine]
            mc = [r["mc"] for r in mine]
            band(axes[0, col], G, [m["rho"]["value"] for m in mc], [m["rho"]["ci95"] for m in mc], label=dist,
                 c=color(d))
            axes[0, col].plot(G, [m["threshold"]["value"] for m in mc], color=color(d), linestyle="--", linewidth=1)
            axes[0, col].plot(G, [m["rho_random"]["value"] for m in mc], color=color(d), linestyle=":", linewidth=1)
            band(axes[1, col], G, [m["ratio_c1"]["value"] for m in mc], [m["ratio_c1"]["ci95"] for m in mc],
                 label=dist, c=color(d))
            if all(r["exact"] for r in mine):
                axes[1, col].plot(G, [r["exact"]["ratio_c1"] for r in mine], "k:", linewidth=1,
                                  label="exact" if d == 0 else None)
        axes[1, col].axhline(1.0, color="k", linewidth=1)
        for row, (ylabel, title) in enumerate((("correlation", "ρ(g+, g-) vs the ρ c = 1 needs"),
                                               ("Var(g+ - g-) / Var(g+)", "c = 1 helps iff below 1"))):
            log2_axis(axes[row, col], GROUP_SIZES)
            finish(axes[row, col], f"{env_name}: {title}", ylabel, legend=col == 0 and row == 1, legend_size=6.5)
        if col == 0:
            key_legend(axes[0, col], {d: color(i) for i, d in enumerate(distributions)},
                       {"ρ, same group (95% band)": "-", "needed: ½√(Var-/Var+)": "--", "ρ, random pairing": ":"},
                       size=6.5, loc="center right")
    return save_figure(fig, path, note=f"{groups} groups per point (Monte Carlo, 95% bands); dotted black: exact "
                                       "enumeration; dotted coloured: g- from an independent group of another prompt.")
