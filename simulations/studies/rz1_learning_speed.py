"""RZ-1 in simulation: low reward variance under the policy means slow learning.

Environments with continuous rewards at several initial pass rates p (every prompt at p, rewards
sigmoid(1.5 (2 correct - 1) + 0.1 z)), so the initial reward variance Var spans about two decades. Time to
raise J = E[r] by gamma, in gradient-flow units lr x steps, against Var on log-log axes: exact gradient ascent
on the tabular softmax and on the autoregressive policy (RZ's setting), and the sampled estimators GRPO,
Dr. GRPO and GRPOVI on the tabular softmax. The slope of log time on log Var is fitted per seed (mean and 95% CI
over seeds) and set beside RZ 2025's Omega(Var^(-1/3)), i.e. slope <= -1/3. The tabular bound
||grad E[r | q]|| <= std(r | q) (per prompt, logits theta[q]) is checked at every policy visited (an exact
inequality). Slopes are judged by :mod:`evidence.verdicts`' three-way rule on their 95% interval over seeds
(:func:`rz1_checks`): "time grows as Var falls" holds when the whole interval is <= 0, and "slope <= -1/3" when
the whole interval is <= -1/3; each fails when the whole interval is above its bound. Check :func:`check_rz1`;
artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evidence.record import Evidence, RunContext
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.plotting import color, error_points, finish, new_figure, save_figure
from simulations.studies.common import (
    TRAINING_FOLDER,
    Outcome,
    StudyContext,
    check_values,
    decide_seeds,
    decision_numbers,
    decision_reason,
    fmt_ci,
)
from simulations.training import PolicyBatch, SimTrainConfig, TrainCurves, mean_ci, summary, time_to_gain, train

CLAIM = "RZ-1"
STUDY_KEY = 1
"""Seed key: the study's seeds are ``SeedSequence([ctx.seed, STUDY_KEY, stream])`` with streams 100 and 101 (1:
the index of the old VI-3/RZ-1 study in the old table of training studies, shared with
:mod:`simulations.studies.vi3_grpovi_training` on other streams, kept so that its numbers stay the same)."""
ENVIRONMENT_STREAM, TRAINING_STREAM = 100, 101
ESTIMATORS = ("grpo", "grpovi", "dr_grpo")
"""The sampled estimators timed on the tabular softmax."""
RZ_SLOPE = -1.0 / 3.0
"""RZ 2025: time = Omega(Var^(-1/3)), a slope of log time on log Var of at most -1/3."""
JUDGED_RUNS = ("exact gradient, tabular", "exact gradient, autoregressive")
"""The runs whose slopes are judged: exact gradient ascent on E[r], RZ's setting. Sampled GRPO and GRPOVI normalise
by the group std and are not the gradient of E[r]; their slopes are reported, not judged."""


@dataclass(frozen=True)
class RZ1Sizes:
    """Initial pass-rate ``levels``, gain ``gamma``; tabular (prompts, answers, lr, max steps), autoregressive
    (prompts, vocab, length, features, lr, max steps) and sampled (G, lr, max steps) runs; environment ``seeds``."""

    levels: tuple[float, ...]
    gamma: float
    bandit: tuple[int, int, float, int]
    autoregressive: tuple[int, int, int, int, float, int]
    sampled: tuple[int, float, int]
    seeds: int


SIZES = {
    "smoke": RZ1Sizes((0.3, 0.1, 0.03), 0.05, (8, 4, 5.0, 300), (4, 3, 3, 4, 0.25, 200), (8, 2.0, 300), 5),
    "default": RZ1Sizes((0.3, 0.1, 0.03, 0.01, 0.003), 0.05, (16, 4, 5.0, 1500), (8, 3, 4, 4, 0.25, 600),
                        (8, 2.0, 2500), 6),
    "full": RZ1Sizes((0.3, 0.1, 0.03, 0.01, 0.003, 0.001), 0.05, (16, 4, 5.0, 5000), (8, 3, 4, 4, 0.25, 2000),
                     (8, 2.0, 8000), 10),
}


def _level_environments(kind: str, rz: RZ1Sizes, seeds: list[int]) -> list:
    """One environment per (seed, level): every prompt at pass rate p, continuous rewards with noise 0.1."""
    if kind == "bandit":
        P, K = rz.bandit[:2]
        extra = {"num_answers": K}
    else:
        P, V, L, F = rz.autoregressive[:4]
        extra = {"vocab": V, "length": L, "num_features": F}
    return [make_environment(kind, np.full(P, p), rewards="continuous", reward_noise=0.1, seed=s, **extra)
            for s in seeds for p in rz.levels]


def tabular_gradient_ratio(batch: PolicyBatch) -> dict[str, np.ndarray]:
    """max_q ||grad_theta[q] E[r | q]|| / std(r | q) per run: <= 1 is RZ's tabular bound (constant 1)."""
    pi, R = batch.probs(), batch.rewards
    centred = R - (pi * R).sum(axis=-1, keepdims=True)
    grad_sq = ((pi * centred) ** 2).sum(axis=-1)
    var = (pi * centred**2).sum(axis=-1)
    return {"gradient_ratio": np.sqrt(grad_sq / np.maximum(var, 1e-300)).max(axis=-1)}


def fit_slopes(variance: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Least-squares slope of log time on log variance for each seed (rows); NaN with < 3 reached levels."""
    slopes = np.full(variance.shape[0], np.nan)
    for i, (v, t) in enumerate(zip(variance, times, strict=True)):
        ok = np.isfinite(t) & (t > 0)
        if ok.sum() >= 3:
            slopes[i] = np.polyfit(np.log(v[ok]), np.log(t[ok]), 1)[0]
    return slopes


def _run_rz1(study: StudyContext, rz: RZ1Sizes) -> dict[str, Any]:
    n, L = rz.seeds, len(rz.levels)
    env_seeds = study.seeds(ENVIRONMENT_STREAM, n)
    train_seeds = study.seeds(TRAINING_STREAM, 5)
    runs: dict[str, tuple[TrainCurves, np.ndarray, float]] = {}
    bandit_envs = _level_environments("bandit", rz, env_seeds)
    batch = PolicyBatch.stack(bandit_envs)
    variance = batch.reward_variance()
    curves = train(batch, SimTrainConfig(exact=True, updates=rz.bandit[3], label="exact, tabular"), rz.bandit[2],
                   train_seeds[0], observe=tabular_gradient_ratio, stop_gain=rz.gamma, progress=study.progress)
    runs["exact gradient, tabular"] = (curves, variance, rz.bandit[2])
    gradient_ratio = float(np.max(curves.metrics["gradient_ratio"]))
    ar = PolicyBatch.stack(_level_environments("autoregressive", rz, env_seeds))
    ar_variance = ar.reward_variance()
    runs["exact gradient, autoregressive"] = (
        train(ar, SimTrainConfig(exact=True, updates=rz.autoregressive[5], label="exact, autoregressive"),
              rz.autoregressive[4], train_seeds[1], stop_gain=rz.gamma, progress=study.progress),
        ar_variance, rz.autoregressive[4])
    G, lr, max_steps = rz.sampled
    for i, est in enumerate(ESTIMATORS):
        config = SimTrainConfig(group_size=G, prompts_per_step=rz.bandit[0], updates=max_steps, rule=UpdateRule(est),
                                label=est)
        runs[f"{est}, tabular"] = (train(PolicyBatch.stack(bandit_envs), config, lr, train_seeds[2 + i],
                                         stop_gain=rz.gamma, progress=study.progress), variance, lr)
    fits = {}
    for name, (c, var, run_lr) in runs.items():
        t = time_to_gain(c.objective, rz.gamma) * run_lr
        slopes = fit_slopes(var.reshape(n, L), t.reshape(n, L))
        ok = np.isfinite(t)
        pooled = float(np.polyfit(np.log(var[ok]), np.log(t[ok]), 1)[0]) if ok.sum() >= 3 else float("nan")
        fits[name] = {"variance": var.reshape(n, L), "time": t.reshape(n, L), "slope": summary(slopes),
                      "slopes": slopes, "pooled_slope": pooled, "censored": int((~ok).sum()), "runs": int(t.size),
                      "lr": run_lr}
    return {"fits": fits, "gradient_ratio": gradient_ratio}


def rz1_checks(gradient_ratio: float, slopes: dict[str, Any]) -> dict[str, Outcome]:
    """RZ-1's checks: the largest ||grad E[r|q]|| / std(r|q) seen (``gradient_ratio``, exact bound 1) and, for each
    run of :data:`JUDGED_RUNS`, the per-seed slopes of log time on log Var (NaN: too few levels reached, left
    out), judged three-way against 0 and against -1/3 (both "at most")."""
    checks: dict[str, Outcome] = {
        "tabular: ||grad E[r|q]|| <= std(r|q) at every policy visited": gradient_ratio <= 1.0 + 1e-9}
    for name in JUDGED_RUNS:
        checks[f"{name}: time grows as Var falls (slope <= 0)"] = decide_seeds(slopes[name], 0.0, at_least=False)
        checks[f"{name}: slope <= -1/3, as Omega(Var^-1/3)"] = decide_seeds(slopes[name], RZ_SLOPE, at_least=False)
    return checks


def _rz1_evidence(study: StudyContext, result: dict[str, Any], rz: RZ1Sizes) -> Evidence:
    fits = result["fits"]
    outcomes = rz1_checks(result["gradient_ratio"], {name: fits[name]["slopes"] for name in JUDGED_RUNS})
    rows = [f"| {name} | {f['lr']:g} | {fmt_ci(f['slope'].mean, f['slope'].half_width, 2)} ({f['slope'].n} seeds) | "
            f"{f['pooled_slope']:.2f} | {f['censored']}/{f['runs']} |" for name, f in fits.items()]
    steps = (
        f"Initial pass rates p in {list(rz.levels)} (all prompts), continuous rewards sigmoid(1.5 (2 correct - 1) + "
        f"0.1 z); {rz.seeds} environment seeds; gamma = {rz.gamma}. Time = lr x (updates until J - J_0 >= gamma); "
        f"runs that never get there within the step cap are censored and left out of the fits.",
        f"Tabular: P = {rz.bandit[0]}, K = {rz.bandit[1]}. Autoregressive: P = {rz.autoregressive[0]}, V = "
        f"{rz.autoregressive[1]}, L = {rz.autoregressive[2]}. Sampled: G = {rz.sampled[0]}, Q = P per update.",
        "| run | lr | slope of log time on log Var (mean +- 95% CI over seeds) | pooled slope | censored |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows),
        f"Tabular bound: max over prompts and visited policies of ||grad E[r|q]|| / std(r|q) = "
        f"{result['gradient_ratio']:.4f} (bound: 1, since sum pi^2 (r - m)^2 <= sum pi (r - m)^2).",
    )
    json_path = study.write_json("rz1_variance.json", {
        "claim": CLAIM, "levels": list(rz.levels), "gamma": rz.gamma, "rz_slope": RZ_SLOPE,
        "gradient_ratio": result["gradient_ratio"],
        "fits": {name: {"variance": f["variance"], "time": f["time"], "slopes": f["slopes"],
                        "slope": f["slope"].to_json(), "pooled_slope": f["pooled_slope"], "censored": f["censored"],
                        "lr": f["lr"]} for name, f in fits.items()}})
    png_path = _plot_rz1(study, fits, rz)
    numbers = {name: {"slope": f["slope"].to_json(), "pooled_slope": f["pooled_slope"], "censored": f["censored"]}
               for name, f in fits.items()} | {"gradient_ratio_max": result["gradient_ratio"], "rz_slope": RZ_SLOPE,
                                               "decisions": decision_numbers(outcomes)}
    exact = fits["exact gradient, autoregressive"]["slope"]
    tab = fits["exact gradient, tabular"]["slope"]
    reason = (f"Fitted slope of log time on log Var: autoregressive {fmt_ci(exact.mean, exact.half_width, 2)}, "
              f"tabular {fmt_ci(tab.mean, tab.half_width, 2)} (RZ: time = Omega(Var^-1/3), i.e. slope <= -1/3). "
              f"{decision_reason(outcomes)} Rule: a slope check holds when the whole 95% interval over seeds is at "
              "most its bound, fails when the whole interval is above it, and is inconclusive otherwise. Sampled "
              "GRPO / GRPOVI normalise by the group std and are not the gradient of E[r]; their slopes are reported, "
              "not judged.")
    return Evidence.from_checks(CLAIM, "simulation", "time to raise E[r] against the initial reward variance",
                                check_values(outcomes), reason=reason, numbers=numbers, steps=steps,
                                artefacts=(json_path, png_path))


def _plot_rz1(study: StudyContext, fits: dict[str, Any], rz: RZ1Sizes) -> str:
    fig, axes = new_figure(1, 2, f"RZ-1: time to raise E[r] by {rz.gamma} vs initial reward variance "
                                 f"({rz.seeds} seeds, 95% CI)", panel_size=(5.4, 4.0))
    for panel, names in enumerate((("exact gradient, tabular", "exact gradient, autoregressive"),
                                   tuple(f"{e}, tabular" for e in ESTIMATORS))):
        ax = axes[0, panel]
        for i, name in enumerate(names):
            f = fits[name]
            with np.errstate(invalid="ignore", divide="ignore"):
                log_t = np.log(f["time"])
            mean, half = mean_ci(log_t)
            x = np.exp(np.log(f["variance"]).mean(axis=0))
            ok = np.isfinite(mean)
            error_points(ax, x[ok], np.exp(mean[ok]), np.vstack([np.exp(mean[ok]) - np.exp(mean[ok] - half[ok]),
                                                                  np.exp(mean[ok] + half[ok]) - np.exp(mean[ok])]),
                         label=f"{name}: slope {f['slope'].mean:.2f} +- {f['slope'].half_width:.2f}", c=color(i))
            if ok.sum() >= 2 and np.isfinite(f["pooled_slope"]):
                intercept = np.mean(mean[ok] - f["pooled_slope"] * np.log(x[ok]))
                ax.plot(x[ok], np.exp(intercept + f["pooled_slope"] * np.log(x[ok])), color=color(i), linewidth=1)
            if i == 0 and ok.any():
                anchor = int(np.flatnonzero(ok)[0])
                ref = np.exp(mean[anchor]) * (x / x[anchor]) ** RZ_SLOPE
                ax.plot(x, ref, "k--", linewidth=1, label="slope -1/3 (RZ bound)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        finish(ax, "exact gradient ascent" if panel == 0 else "sampled estimators (G = 8), tabular",
               "time lr x updates", xlabel="initial reward variance Var_pi(r)")
    save_figure(fig, study.path("rz1_variance.png"), note="Error bars: 95% CI of the mean log time over seeds; "
                                                           "censored runs left out.")
    return study.rel("rz1_variance.png")


def check_rz1(ctx: RunContext) -> list[Evidence]:
    """RZ-1: time exact and sampled training to a gain of gamma at every initial variance level, write
    ``rz1_variance.{json,png}``; return the RZ-1 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, TRAINING_FOLDER, STUDY_KEY)
    sizes = SIZES[ctx.budget]
    return [_rz1_evidence(study, _run_rz1(study, sizes), sizes)]
