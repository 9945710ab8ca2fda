"""BY-2 in simulation: 2-GRPO improves its win-rate against itself, not its expected reward.

For 2-GRPO with any real rewards, E[A_1 | r_1 = r] = c (P(r' < r) - P(r' > r)) (BY-2): the update climbs a
self-win-rate. The environment makes that differ from E[r]: each prompt q offers a *safe* answer M with a
frequent small reward m_q and a *risky* strategy whose outcome is H (reward 1) with probability rho_q or L
(reward 0) otherwise, with m_q < rho_q < 1/2. The policy chooses only between strategies (a log-linear policy,
one parameter theta_q per prompt on the two risky outcomes, so it cannot tell H from L apart):
pi(risky | q) = x_q = sigmoid(theta_q), x_q = 1/2 at the start.

E[r | q] = x rho + (1 - x) m rises with x (rho > m), while the 2-GRPO direction is proportional to 2 rho - 1 < 0
for every x (the risky strategy loses to the safe one more often than it wins). Large-G GRPO tends to
(r - E r)/std, the direction of E[r]. Measured over training, for G in {2, 4, 16, 64} at B rollouts per
update and the same lr: J = E[r] and the win-rate against the initial policy
W = E_{o ~ pi, o' ~ pi_0}[sign(r_o - r_o')] (0 at the start). The expected update direction of each theta_q
at the initial policy is computed exactly, for G = 2 from :func:`theory.expectations.expected_pair_advantage`
and for every G from :func:`simulations.engine.exact_group_moments`, and set beside the measured change.
Each change is judged by :mod:`evidence.verdicts`' three-way rule on its 95% interval over seeds against 0, in
the stated direction (:func:`by2_checks`); the agreement of the two exact routes is an exact check. Seed s is one
environment for every G. Check :func:`check_by2`; artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evidence.record import Evidence, RunContext
from simulations.engine import UpdateRule, exact_group_moments
from simulations.environments import LogLinearPolicy
from simulations.plotting import band, color, error_points, finish, new_figure, save_figure
from simulations.studies.common import (
    TRAINING_FOLDER,
    Outcome,
    StudyContext,
    check_values,
    curve_summary,
    decide_seeds,
    decision_numbers,
    decision_reason,
    fmt_ci,
)
from simulations.training import PolicyBatch, SimTrainConfig, TrainCurves, summary, train
from theory.expectations import expected_pair_advantage
from theory.statistics import mean_ci

CLAIM = "BY-2"
STUDY_KEY = 2
"""Seed key: the study's seeds are ``SeedSequence([ctx.seed, STUDY_KEY, stream])`` (2: its index in the old
table of training studies, kept so that its numbers stay the same)."""
GROUP_SIZES = (2, 4, 16, 64)
LARGE_G = 64
RISK_RANGE = (0.15, 0.35)
"""rho_q, the risky strategy's success probability, uniform on this range (< 1/2)."""
SAFE_FRACTION = (0.3, 0.9)
"""m_q / rho_q, uniform on this range (so m_q < rho_q: the risky strategy has the higher mean)."""


@dataclass(frozen=True)
class WinRateSizes:
    """Prompts per environment, rollouts per update B, updates, lr and seeds of a budget."""

    prompts: int
    B: int
    updates: int
    lr: float
    seeds: int


SIZES = {"smoke": WinRateSizes(8, 128, 100, 20.0, 5), "default": WinRateSizes(32, 128, 300, 20.0, 8),
           "full": WinRateSizes(64, 256, 600, 20.0, 16)}


def risky_safe_environment(prompts: int, seed: int) -> LogLinearPolicy:
    """Outcomes (H, L, M) of prompt q: rewards (1, 0, m_q), logits (theta_q + log rho, theta_q + log(1 - rho), 0)."""
    rng = np.random.default_rng(seed)
    rho = rng.uniform(*RISK_RANGE, size=prompts)
    safe = rng.uniform(*SAFE_FRACTION, size=prompts) * rho
    features = np.zeros((prompts, 3, prompts))
    features[np.arange(prompts), 0, np.arange(prompts)] = 1.0
    features[np.arange(prompts), 1, np.arange(prompts)] = 1.0
    offsets = np.stack([np.log(rho), np.log1p(-rho), np.zeros(prompts)], axis=1)
    rewards = np.stack([np.ones(prompts), np.zeros(prompts), safe], axis=1)
    return LogLinearPolicy(features, offsets, rewards, np.zeros(prompts))


def win_rate(batch: PolicyBatch) -> dict[str, np.ndarray]:
    """W = (1/P) sum_q E_{o ~ pi, o' ~ pi_0}[sign(R[q, o] - R[q, o'])] per run, (S,)."""
    sign = np.sign(batch.rewards[..., :, None] - batch.rewards[..., None, :])
    w = np.einsum("spo,spe,spoe->sp", batch.probs(), np.exp(batch.ref_log_probs), sign)
    return {"win_rate": w.mean(axis=-1)}


def expected_direction(env: LogLinearPolicy, G: int) -> np.ndarray:
    """E[g] at the current policy for G-GRPO (population std, eps = 0), exact by enumerating groups: (P,)."""
    moments = exact_group_moments(env, G, UpdateRule("grpo", std="population", eps=0.0))
    return env.direction(moments.mean)


def pair_direction(env: LogLinearPolicy) -> np.ndarray:
    """E[g] = sum_{q,o} pi(o|q) E[A_1 | r = R[q, o]] s(q, o) for 2-GRPO, with E[A_1 | r] = c (P(r' < r) - P(r' > r))
    from :func:`theory.expectations.expected_pair_advantage` (BY-2): (P,), one entry per theta_q."""
    pi, R = env.probs(), env.rewards
    adv = np.array([[expected_pair_advantage(R[q], pi[q], r, std="population") for r in R[q]]
                    for q in range(env.num_prompts)])
    return env.direction(pi * adv)


def check_by2(ctx: RunContext) -> list[Evidence]:
    """BY-2: train each G, write ``by2_win_rate.{json,png}``; return the BY-2 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, TRAINING_FOLDER, STUDY_KEY)
    sizes = SIZES[ctx.budget]
    envs = [risky_safe_environment(sizes.prompts, s) for s in study.seeds(0, sizes.seeds)]
    seeds = study.seeds(1, len(GROUP_SIZES))
    curves: dict[int, TrainCurves] = {}
    moved: dict[int, np.ndarray] = {}
    theta0 = PolicyBatch.stack(envs).params()
    for i, G in enumerate(GROUP_SIZES):
        batch = PolicyBatch.stack(envs)
        config = SimTrainConfig(group_size=G, prompts_per_step=sizes.B // G, updates=sizes.updates,
                                label=f"{G}-GRPO")
        curves[G] = train(batch, config, sizes.lr, seeds[i], observe=win_rate, progress=study.progress)
        moved[G] = batch.params() - theta0  # (S, P)
    predicted = {2: np.stack([pair_direction(env) for env in envs]),
                 LARGE_G: np.stack([expected_direction(env, LARGE_G) for env in envs])}
    enumerated_2 = np.stack([expected_direction(env, 2) for env in envs])
    per_seed = {"delta_J": {G: c.final - c.objective[:, 0] for G, c in curves.items()},
                "delta_W": {G: c.metrics["win_rate"][:, -1] - c.metrics["win_rate"][:, 0] for G, c in curves.items()},
                "along": {G: (moved[G] * np.sign(predicted[G])).mean(axis=1) for G in predicted}}
    delta_J = {G: summary(v) for G, v in per_seed["delta_J"].items()}
    delta_W = {G: summary(v) for G, v in per_seed["delta_W"].items()}
    along = {G: summary(v) for G, v in per_seed["along"].items()}
    agree = {G: float((np.sign(moved[G]) == np.sign(predicted[G])).mean()) for G in predicted}
    routes_gap = float(np.abs(predicted[2] - enumerated_2).max())
    outcomes = by2_checks(per_seed, routes_gap)
    checks = check_values(outcomes)
    table = [f"| {G} | {sizes.B // G} | {fmt_ci(delta_J[G].mean, delta_J[G].half_width, 4)} | "
             f"{fmt_ci(delta_W[G].mean, delta_W[G].half_width, 4)} |" for G in GROUP_SIZES]
    steps = (
        f"{sizes.prompts} prompts per environment, rho_q ~ U{RISK_RANGE}, m_q = U{SAFE_FRACTION} x rho_q, x_q = 1/2 "
        f"at the start; {sizes.seeds} seeds (one environment each); B = {sizes.B} rollouts per update, "
        f"{sizes.updates} updates, lr {sizes.lr:g}, grpo with sample std, prompts drawn uniformly.",
        "| G | Q | change of J = E[r] (mean +- 95% CI) | change of win-rate vs initial policy |\n|---|---|---|---|\n"
        + "\n".join(table),
        f"Exact expected update at the initial policy: 2-GRPO's theta_q-component has the sign of 2 rho_q - 1 < 0; "
        f"measured theta changes agree in sign for {agree[2]:.1%} of (seed, prompt) pairs (2-GRPO) and "
        f"{agree[LARGE_G]:.1%} ({LARGE_G}-GRPO, exact direction by enumerating groups). The win-rate form of "
        f"theory.expectations and the enumeration of the engine differ by at most {routes_gap:.1e}.",
    )
    data = {"claim": CLAIM, "budget": sizes.__dict__,
            "delta_J": {G: v.to_json() for G, v in delta_J.items()},
            "delta_win_rate": {G: v.to_json() for G, v in delta_W.items()},
            "sign_agreement": agree, "along_predicted": {G: v.to_json() for G, v in along.items()},
            "routes_gap": routes_gap,
            "curves": {G: {"J": curve_summary(c.objective), "win_rate": curve_summary(c.metrics["win_rate"])}
                       for G, c in curves.items()}}
    json_path = study.write_json("by2_win_rate.json", data)
    png_path = _plot(study, curves, delta_J, delta_W, sizes)
    reason = (f"{LARGE_G}-GRPO changes the win-rate against the initial policy by "
              f"{fmt_ci(delta_W[LARGE_G].mean, delta_W[LARGE_G].half_width, 4)}. {decision_reason(outcomes)} Rule: "
              "a check holds when the whole 95% interval over seeds lies on the stated side of 0, fails when the "
              "whole interval lies on the other side, and is inconclusive otherwise.")
    numbers = {"delta_J": {str(G): v.to_json() for G, v in delta_J.items()},
               "delta_win_rate": {str(G): v.to_json() for G, v in delta_W.items()},
               "sign_agreement": {str(G): v for G, v in agree.items()}, "routes_gap": routes_gap,
               "decisions": decision_numbers(outcomes)}
    return [Evidence.from_checks(CLAIM, "simulation", "2-GRPO climbs self-win-rate, large-G GRPO climbs E[r]", checks,
                                 reason=reason, numbers=numbers, steps=steps, artefacts=(json_path, png_path))]


def by2_checks(per_seed: dict[str, dict[int, Any]], routes_gap: float) -> dict[str, Outcome]:
    """BY-2's checks from per-seed changes: ``per_seed["delta_J"][G]`` and ``["delta_W"][G]`` the change of J and of
    the win-rate over training, ``["along"][G]`` the mean movement of theta along the sign of its exact expected
    direction (G = 2 and LARGE_G), each judged three-way against 0; ``routes_gap`` the largest gap between the two
    exact routes to 2-GRPO's expected direction (an exact check, 1e-9)."""
    dJ, dW, along = per_seed["delta_J"], per_seed["delta_W"], per_seed["along"]
    return {
        "2-GRPO: mean reward J falls (change <= 0)": decide_seeds(dJ[2], 0.0, at_least=False),
        "2-GRPO: win-rate against the initial policy rises (change >= 0)": decide_seeds(dW[2], 0.0),
        f"{LARGE_G}-GRPO: mean reward J rises (change >= 0)": decide_seeds(dJ[LARGE_G], 0.0),
        "2-GRPO moves theta along its exact expected direction (win-rate form, >= 0)": decide_seeds(along[2], 0.0),
        f"{LARGE_G}-GRPO moves theta along its exact expected direction (>= 0)": decide_seeds(along[LARGE_G], 0.0),
        "exact 2-GRPO direction: win-rate form == enumeration of groups (1e-9)": routes_gap < 1e-9,
    }


def _plot(study: StudyContext, curves: dict[int, TrainCurves], delta_J: dict[int, Any], delta_W: dict[int, Any],
          sizes: WinRateSizes) -> str:
    fig, axes = new_figure(1, 3, f"{CLAIM}: mean reward vs self-win-rate, rare large vs frequent small reward "
                                 f"({sizes.seeds} seeds, 95% CI)", panel_size=(4.6, 3.6))
    for i, (G, c) in enumerate(curves.items()):
        x = np.arange(c.objective.shape[1])
        band(axes[0, 0], x, *mean_ci(c.objective), label=f"{G}-GRPO", c=color(i), marker="")
        band(axes[0, 1], x, *mean_ci(c.metrics["win_rate"]), label=f"{G}-GRPO", c=color(i), marker="")
        error_points(axes[0, 2], [delta_J[G].mean], [delta_W[G].mean], [delta_W[G].half_width], label=f"{G}-GRPO",
                     c=color(i))
        axes[0, 2].errorbar([delta_J[G].mean], [delta_W[G].mean], xerr=[delta_J[G].half_width], color=color(i),
                            capsize=2, linewidth=1)
    axes[0, 2].axhline(0, color="k", linewidth=0.8)
    axes[0, 2].axvline(0, color="k", linewidth=0.8)
    finish(axes[0, 0], "expected reward", "J = E[r]", xlabel="updates")
    finish(axes[0, 1], "win-rate against the initial policy", "E sign(r - r'), r' ~ pi_0", xlabel="updates")
    finish(axes[0, 2], "change after training", "change of win-rate", xlabel="change of J")
    save_figure(fig, study.path("by2_win_rate.png"),
                note=f"B = {sizes.B} rollouts per update, lr {sizes.lr:g}; risky strategy: reward 1 w.p. rho < 1/2, "
                     "else 0; safe: reward m < rho.")
    return study.rel("by2_win_rate.png")
