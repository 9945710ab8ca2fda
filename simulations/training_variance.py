"""VI-3 and RZ-1 in simulation: continuous rewards whose variance under the initial policy is low.

VI-3 (GRPOVI trains faster): reward-model-like rewards R = sigmoid(1.5 (2 correct - 1) + 0.3 z), one correct
answer of K, initial pass rates the quantiles of Beta(1, 19) (mean 0.05), so the reward variance under the
initial policy is small. GRPO, GRPOVI (rewards adjusted by :func:`theory.grpovi.adjust_rewards` every step,
weights pi_ref(o | q) of the initial policy) and Dr. GRPO train with the same G, Q and number of updates;
the lr of each comes from a sweep on separate tuning seeds. Compared: J of GRPOVI vs GRPO after 25%, 50% and
all of the updates, at GRPO's tuned lr (VI's comparison: same hyper-parameters) and at each estimator's own
tuned lr, paired over seeds.

RZ-1 (low reward variance means slow learning): the same environment family at several initial pass rates
p (every prompt at p, rewards with a small noise 0.1), so the initial reward variance Var spans about two
decades. Time to raise J = E[r] by gamma, in gradient-flow units lr x steps, against Var on log-log axes:
exact gradient ascent on the tabular softmax and on the autoregressive policy (RZ's setting), and the sampled
estimators GRPO, Dr. GRPO and GRPOVI on the tabular softmax. The slope of log time on log Var is fitted per
seed (mean and 95% CI over seeds) and set beside RZ 2025's Omega(Var^(-1/3)), i.e. slope <= -1/3. The tabular
bound ||grad E[r | q]|| <= std(r | q) (per prompt, logits theta[q]) is checked at every policy visited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import beta as beta_law

from evidence.record import Evidence
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.plotting import band, color, error_points, finish, new_figure, save_figure
from simulations.training import (
    PolicyBatch,
    TrainConfig,
    TrainCurves,
    gather_rewards,
    mean_ci,
    sample_outcomes,
    summary,
    time_to_gain,
    train,
)
from simulations.training_common import StudyContext, curve_summary, fmt_ci, paired_difference
from theory.grpovi import adjust_rewards

ESTIMATORS = ("grpo", "grpovi", "dr_grpo")
CHECKPOINTS = (0.25, 0.5, 1.0)
"""Fractions of the updates at which GRPOVI and GRPO are compared (VI claims faster training, not only a
higher end point)."""
RZ_SLOPE = -1.0 / 3.0
LOW_VARIANCE_LAW = (1.0, 19.0)
"""Beta(a, b) of the initial pass rates in VI-3 (mean 0.05)."""


@dataclass(frozen=True)
class VI3Setting:
    """A VI-3 environment: ``kind``, prompts P, answers K, features F (log-linear); G, Q, updates and the lr grid."""

    kind: str
    prompts: int
    answers: int
    features: int
    G: int
    Q: int
    updates: int
    lrs: tuple[float, ...]


@dataclass(frozen=True)
class RZ1Budget:
    """Initial pass-rate ``levels``, gain ``gamma``; tabular (prompts, answers, lr, max steps), autoregressive
    (prompts, vocab, length, features, lr, max steps) and sampled (G, lr, max steps) runs."""

    levels: tuple[float, ...]
    gamma: float
    bandit: tuple[int, int, float, int]
    autoregressive: tuple[int, int, int, int, float, int]
    sampled: tuple[int, float, int]


@dataclass(frozen=True)
class VarianceBudget:
    vi3: tuple[VI3Setting, ...]
    rz1: RZ1Budget
    seeds: int
    tuning_seeds: int


BUDGETS = {
    "smoke": VarianceBudget((VI3Setting("bandit", 32, 8, 0, 8, 8, 40, (4.0, 16.0)),
                             VI3Setting("log-linear", 32, 8, 64, 8, 8, 40, (30.0, 100.0))),
                            RZ1Budget((0.3, 0.1, 0.03), 0.05, (8, 4, 5.0, 300), (4, 3, 3, 4, 0.25, 200),
                                      (8, 2.0, 300)), 5, 2),
    "default": VarianceBudget((VI3Setting("bandit", 64, 8, 0, 8, 16, 150, (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)),
                               VI3Setting("log-linear", 64, 8, 128, 8, 16, 150, (10.0, 30.0, 100.0, 300.0))),
                              RZ1Budget((0.3, 0.1, 0.03, 0.01, 0.003), 0.05, (16, 4, 5.0, 1500),
                                        (8, 3, 4, 4, 0.25, 600), (8, 2.0, 2500)), 6, 3),
    "full": VarianceBudget((VI3Setting("bandit", 128, 8, 0, 8, 32, 300, (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)),
                            VI3Setting("log-linear", 128, 8, 256, 8, 32, 300, (10.0, 30.0, 100.0, 300.0, 1000.0))),
                           RZ1Budget((0.3, 0.1, 0.03, 0.01, 0.003, 0.001), 0.05, (16, 4, 5.0, 5000),
                                     (8, 3, 4, 4, 0.25, 2000), (8, 2.0, 8000)), 10, 5),
}


# --- VI-3 -------------------------------------------------------------------------------------------------

def low_variance_environment(setting: VI3Setting, seed: int):
    """Continuous rewards (noise 0.3), pass rates the Beta(1, 19) quantiles: low reward variance at the start."""
    P = setting.prompts
    p = beta_law.ppf((np.arange(P) + 0.5) / P, *LOW_VARIANCE_LAW)
    return make_environment(setting.kind, p, rewards="continuous", num_answers=setting.answers,
                            num_features=max(setting.features, 1), reward_noise=0.3, seed=seed)


def adjusted_variance(batch: PolicyBatch, G: int, rng: np.random.Generator) -> dict[str, float]:
    """Mean within-group reward variance of one batch of groups (every prompt once) before and after GRPOVI's
    adjustment (weights from the reference policy): VI's mechanism, measured at the initial policy."""
    prompts = np.tile(np.arange(batch.num_prompts), (batch.size, 1))
    outcomes = sample_outcomes(batch, prompts, G, rng)
    raw = gather_rewards(batch, prompts, outcomes)
    ref = batch.ref_log_probs[np.arange(batch.size)[:, None, None], prompts[..., None], outcomes]
    adjusted = adjust_rewards(raw, lo=batch.reward_range[0], hi=batch.reward_range[1], ties="keep", log_probs=ref)
    return {"raw": float(raw.var(axis=-1).mean()), "adjusted": float(adjusted.var(axis=-1).mean())}


def _run_vi3(study: StudyContext, setting: VI3Setting, budget: VarianceBudget, index: int) -> dict[str, Any]:
    envs = [low_variance_environment(setting, s) for s in study.seeds(10 * index, budget.seeds)]
    tune = [low_variance_environment(setting, s) for s in study.seeds(10 * index + 1, budget.tuning_seeds)]
    seeds = study.seeds(10 * index + 2, 3 * len(ESTIMATORS) + 1)
    lrs = np.asarray(setting.lrs)
    chosen: dict[str, float] = {}
    sweep: dict[str, Any] = {}
    for i, est in enumerate(ESTIMATORS):
        config = TrainConfig(G=setting.G, Q=setting.Q, updates=setting.updates, rule=UpdateRule(est), label=est)
        curves = train(PolicyBatch.stack(tune * len(lrs)), config, np.repeat(lrs, len(tune)), seeds[3 * i],
                       progress=study.progress)
        mean, half = mean_ci(curves.final.reshape(len(lrs), len(tune)), axis=1)
        best = int(np.argmax(mean))
        chosen[est] = float(lrs[best])
        sweep[est] = {"lr": lrs.tolist(), "tuning_final_J": mean.tolist(), "ci95": half.tolist(),
                      "chosen_lr": chosen[est], "at_grid_edge": best in (0, len(lrs) - 1)}
    same: dict[str, TrainCurves] = {}
    own: dict[str, TrainCurves] = {}
    for i, est in enumerate(ESTIMATORS):
        config = TrainConfig(G=setting.G, Q=setting.Q, updates=setting.updates, rule=UpdateRule(est), label=est)
        same[est] = train(PolicyBatch.stack(envs), config, chosen["grpo"], seeds[3 * i + 1], progress=study.progress)
        own[est] = (same[est] if chosen[est] == chosen["grpo"] else
                    train(PolicyBatch.stack(envs), config, chosen[est], seeds[3 * i + 2], progress=study.progress))
    start = PolicyBatch.stack(envs)
    return {"setting": setting, "sweep": sweep, "same": same, "own": own,
            "initial_J": start.objective(), "initial_variance": start.reward_variance(),
            "group_variance": adjusted_variance(start, setting.G, np.random.default_rng(seeds[-1])),
            "diff_same": _checkpoint_differences(same), "diff_own": _checkpoint_differences(own)}


def _checkpoint_differences(curves: dict[str, TrainCurves]) -> dict[str, dict[str, float]]:
    """GRPOVI - GRPO in J at each checkpoint (fraction of the updates), paired over seeds."""
    U = curves["grpo"].objective.shape[1] - 1
    return {f"{c:g}": paired_difference(curves["grpovi"].objective[:, round(c * U)],
                                        curves["grpo"].objective[:, round(c * U)]) for c in CHECKPOINTS}


def _vi3_evidence(study: StudyContext, results: list[dict[str, Any]], budget: VarianceBudget,
                  seconds: float) -> Evidence:
    checks: dict[str, bool] = {}
    steps: list[str] = []
    numbers: dict[str, Any] = {"seeds": budget.seeds}
    summaries: list[str] = []
    for r in results:
        s: VI3Setting = r["setting"]
        for c in (CHECKPOINTS[0], CHECKPOINTS[-1]):
            for key, lr_name in (("diff_same", "GRPO's tuned lr"), ("diff_own", "each one's tuned lr")):
                checks[f"{s.kind}: GRPOVI J > GRPO's after {c:.0%} of the updates at {lr_name} (paired CI above 0)"] = (
                    r[key][f"{c:g}"]["low"] > 0)
        finals = {k: summary(v.final) for k, v in r["own"].items()}
        finals_same = {k: summary(v.final) for k, v in r["same"].items()}
        numbers[s.kind] = {"grpovi_minus_grpo_same_lr": r["diff_same"], "grpovi_minus_grpo_own_lr": r["diff_own"],
                           "final_J_same_lr": {k: v.to_json() for k, v in finals_same.items()},
                           "final_J_own_lr": {k: v.to_json() for k, v in finals.items()},
                           "chosen_lr": {k: v["chosen_lr"] for k, v in r["sweep"].items()},
                           "initial_reward_variance": float(np.mean(r["initial_variance"])),
                           "group_reward_variance": r["group_variance"]}
        steps.append(
            f"**{s.kind}** (P = {s.prompts}, K = {s.answers}{f', F = {s.features}' if s.kind == 'log-linear' else ''}; "
            f"G = {s.G}, Q = {s.Q}, {s.updates} updates; initial J = {np.mean(r['initial_J']):.3f}, initial reward "
            f"variance {np.mean(r['initial_variance']):.4f}; mean within-group variance of one batch "
            f"{r['group_variance']['raw']:.4f} raw -> {r['group_variance']['adjusted']:.4f} after GRPOVI's "
            "adjustment). Tuned lr: "
            + ", ".join(f"{k} {v['chosen_lr']:g}{' (grid edge)' if v['at_grid_edge'] else ''}"
                        for k, v in r["sweep"].items())
            + ". Final J at GRPO's lr: "
            + ", ".join(f"{k} {fmt_ci(v.mean, v.half_width)}" for k, v in finals_same.items())
            + "; at own lr: " + ", ".join(f"{k} {fmt_ci(v.mean, v.half_width)}" for k, v in finals.items()) + ".")
        diffs = {key: ", ".join(f"{float(c):.0%}: {fmt_ci(d['mean'], d['ci95'])}" for c, d in r[key].items())
                 for key in ("diff_same", "diff_own")}
        summaries.append(f"{s.kind}: GRPOVI - GRPO in J at GRPO's lr ({diffs['diff_same']}), at own lrs "
                         f"({diffs['diff_own']}).")
    json_path = study.write_json("vi3_training.json", {
        "claim": "VI-3", "seeds": budget.seeds, "tuning_seeds": budget.tuning_seeds,
        "settings": [{"setting": r["setting"].__dict__, "lr_sweep": r["sweep"], "numbers": numbers[r["setting"].kind],
                      "curves_same_lr": {k: curve_summary(v.objective) for k, v in r["same"].items()},
                      "curves_own_lr": {k: curve_summary(v.objective) for k, v in r["own"].items()}}
                     for r in results]})
    png_path = _plot_vi3(study, results, budget)
    reason = (" ".join(summaries) + " A check passes when the paired 95% CI of GRPOVI - GRPO (J after the same "
              "number of updates, same seeds) lies above 0; VI claims higher reward after the same number of steps.")
    return Evidence.from_checks("VI-3", "simulation", "GRPOVI vs GRPO vs Dr. GRPO with low-variance continuous rewards",
                                checks, reason=reason, numbers=numbers, steps=tuple(steps),
                                artefacts=(json_path, png_path), command=study.command, seconds=seconds)


def _plot_vi3(study: StudyContext, results: list[dict[str, Any]], budget: VarianceBudget) -> str:
    fig, axes = new_figure(len(results), 2, f"VI-3: GRPO vs GRPOVI vs Dr. GRPO, low-variance continuous rewards "
                                            f"({budget.seeds} seeds, 95% CI)", panel_size=(5.0, 3.4))
    for row, r in enumerate(results):
        for col, key in enumerate(("same", "own")):
            for i, (est, curves) in enumerate(r[key].items()):
                mean, half = mean_ci(curves.objective)
                lr = r["sweep"]["grpo" if key == "same" else est]["chosen_lr"]
                band(axes[row, col], np.arange(mean.size), mean, half, label=f"{est} (lr {lr:g})", c=color(i),
                     marker="")
            which = "GRPO-tuned lr for all" if key == "same" else "own tuned lr"
            finish(axes[row, col], f"{r['setting'].kind}: {which}", "J = E[r]", xlabel="updates")
    save_figure(fig, study.path("vi3_training.png"), note="GRPOVI weights: pi_ref = initial policy; rewards in [0, 1].")
    return study.rel("vi3_training.png")


# --- RZ-1 -------------------------------------------------------------------------------------------------

def _level_environments(kind: str, rz: RZ1Budget, seeds: list[int]) -> list:
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


def _run_rz1(study: StudyContext, budget: VarianceBudget) -> dict[str, Any]:
    rz = budget.rz1
    n, L = budget.seeds, len(rz.levels)
    env_seeds = study.seeds(100, n)
    train_seeds = study.seeds(101, 5)
    runs: dict[str, tuple[TrainCurves, np.ndarray, float]] = {}
    bandit_envs = _level_environments("bandit", rz, env_seeds)
    batch = PolicyBatch.stack(bandit_envs)
    variance = batch.reward_variance()
    curves = train(batch, TrainConfig(exact=True, updates=rz.bandit[3], label="exact, tabular"), rz.bandit[2],
                   train_seeds[0], observe=tabular_gradient_ratio, stop_gain=rz.gamma, progress=study.progress)
    runs["exact gradient, tabular"] = (curves, variance, rz.bandit[2])
    gradient_ratio = float(np.max(curves.metrics["gradient_ratio"]))
    ar = PolicyBatch.stack(_level_environments("autoregressive", rz, env_seeds))
    ar_variance = ar.reward_variance()
    runs["exact gradient, autoregressive"] = (
        train(ar, TrainConfig(exact=True, updates=rz.autoregressive[5], label="exact, autoregressive"),
              rz.autoregressive[4], train_seeds[1], stop_gain=rz.gamma, progress=study.progress),
        ar_variance, rz.autoregressive[4])
    G, lr, max_steps = rz.sampled
    for i, est in enumerate(ESTIMATORS):
        config = TrainConfig(G=G, Q=rz.bandit[0], updates=max_steps, rule=UpdateRule(est), label=est)
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


def _rz1_evidence(study: StudyContext, result: dict[str, Any], budget: VarianceBudget, seconds: float) -> Evidence:
    rz = budget.rz1
    fits = result["fits"]
    checks = {"tabular: ||grad E[r|q]|| <= std(r|q) at every policy visited": result["gradient_ratio"] <= 1.0 + 1e-9}
    for name in ("exact gradient, tabular", "exact gradient, autoregressive"):
        s = fits[name]["slope"]
        checks[f"{name}: time grows as Var falls (slope CI below 0)"] = s.n >= 2 and s.high < 0
        checks[f"{name}: slope consistent with Omega(Var^-1/3) (CI lower end <= -1/3)"] = s.n >= 2 and s.low <= RZ_SLOPE
    rows = [f"| {name} | {f['lr']:g} | {fmt_ci(f['slope'].mean, f['slope'].half_width, 2)} ({f['slope'].n} seeds) | "
            f"{f['pooled_slope']:.2f} | {f['censored']}/{f['runs']} |" for name, f in fits.items()]
    steps = (
        f"Initial pass rates p in {list(rz.levels)} (all prompts), continuous rewards sigmoid(1.5 (2 correct - 1) + "
        f"0.1 z); {budget.seeds} environment seeds; gamma = {rz.gamma}. Time = lr x (updates until J - J_0 >= gamma); "
        f"runs that never get there within the step cap are censored and left out of the fits.",
        f"Tabular: P = {rz.bandit[0]}, K = {rz.bandit[1]}. Autoregressive: P = {rz.autoregressive[0]}, V = "
        f"{rz.autoregressive[1]}, L = {rz.autoregressive[2]}. Sampled: G = {rz.sampled[0]}, Q = P per update.",
        "| run | lr | slope of log time on log Var (mean +- 95% CI over seeds) | pooled slope | censored |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows),
        f"Tabular bound: max over prompts and visited policies of ||grad E[r|q]|| / std(r|q) = "
        f"{result['gradient_ratio']:.4f} (bound: 1, since sum pi^2 (r - m)^2 <= sum pi (r - m)^2).",
    )
    json_path = study.write_json("rz1_variance.json", {
        "claim": "RZ-1", "levels": list(rz.levels), "gamma": rz.gamma, "rz_slope": RZ_SLOPE,
        "gradient_ratio": result["gradient_ratio"],
        "fits": {name: {"variance": f["variance"], "time": f["time"], "slopes": f["slopes"],
                        "slope": f["slope"].to_json(), "pooled_slope": f["pooled_slope"], "censored": f["censored"],
                        "lr": f["lr"]} for name, f in fits.items()}})
    png_path = _plot_rz1(study, fits, budget)
    numbers = {name: {"slope": f["slope"].to_json(), "pooled_slope": f["pooled_slope"], "censored": f["censored"]}
               for name, f in fits.items()} | {"gradient_ratio_max": result["gradient_ratio"], "rz_slope": RZ_SLOPE}
    exact = fits["exact gradient, autoregressive"]["slope"]
    tab = fits["exact gradient, tabular"]["slope"]
    reason = (f"Fitted slope of log time on log Var: autoregressive {fmt_ci(exact.mean, exact.half_width, 2)}, "
              f"tabular {fmt_ci(tab.mean, tab.half_width, 2)} (RZ: time = Omega(Var^-1/3), i.e. slope <= -1/3; a slope "
              "whose CI lies wholly above -1/3 would contradict it). Sampled GRPO / GRPOVI normalise by the group std "
              "and are not the gradient of E[r]; their slopes are reported, not judged.")
    return Evidence.from_checks("RZ-1", "simulation", "time to raise E[r] against the initial reward variance",
                                checks, reason=reason, numbers=numbers, steps=steps,
                                artefacts=(json_path, png_path), command=study.command, seconds=seconds)


def _plot_rz1(study: StudyContext, fits: dict[str, Any], budget: VarianceBudget) -> str:
    fig, axes = new_figure(1, 2, f"RZ-1: time to raise E[r] by {budget.rz1.gamma} vs initial reward variance "
                                 f"({budget.seeds} seeds, 95% CI)", panel_size=(5.4, 4.0))
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


def run(study: StudyContext) -> list[Evidence]:
    """VI-3 and RZ-1: write ``vi3_training.{json,png}`` and ``rz1_variance.{json,png}``; return both records."""
    budget = BUDGETS[study.budget]
    start = time.perf_counter()
    vi3 = [_run_vi3(study, setting, budget, i) for i, setting in enumerate(budget.vi3)]
    vi3_evidence = _vi3_evidence(study, vi3, budget, time.perf_counter() - start)
    start = time.perf_counter()
    rz1 = _run_rz1(study, budget)
    return [vi3_evidence, _rz1_evidence(study, rz1, budget, time.perf_counter() - start)]
