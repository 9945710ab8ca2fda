"""VI-3 in simulation: GRPOVI trains faster than GRPO when the rewards' variance under the initial policy is low.

Reward-model-like rewards R = sigmoid(1.5 (2 correct - 1) + 0.3 z), one correct
answer of K, initial pass rates the quantiles of Beta(1, 19) (mean 0.05), so the reward variance under the
initial policy is small. GRPO, GRPOVI (rewards adjusted by :func:`theory.grpovi.adjust_rewards` every step,
weights pi_ref(o | q) of the initial policy) and Dr. GRPO train with the same G, Q and number of updates;
the lr of each comes from a sweep on separate tuning seeds. Compared: J of GRPOVI vs GRPO after 25%, 50% and
all of the updates, at GRPO's tuned lr (VI's comparison: same hyper-parameters) and at each estimator's own
tuned lr, paired over seeds. Check :func:`check_vi3`; artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import beta as beta_law

from evidence.record import Evidence, RunContext
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.plotting import band, color, finish, new_figure, save_figure
from simulations.studies.common import TRAINING_FOLDER, StudyContext, curve_summary, fmt_ci, paired_difference
from simulations.training import (
    PolicyBatch,
    SimTrainConfig,
    TrainCurves,
    gather_rewards,
    mean_ci,
    sample_outcomes,
    summary,
    train,
)
from theory.grpovi import adjust_rewards

CLAIM = "VI-3"
STUDY_KEY = 1
"""Seed key: the study's seeds are ``SeedSequence([ctx.seed, STUDY_KEY, stream])`` (1: the index of the old
VI-3/RZ-1 study in the old table of training studies, shared with :mod:`simulations.studies.rz1_learning_speed`
on other streams, kept so that its numbers stay the same)."""
ESTIMATORS = ("grpo", "grpovi", "dr_grpo")
CHECKPOINTS = (0.25, 0.5, 1.0)
"""Fractions of the updates at which GRPOVI and GRPO are compared (VI claims faster training, not only a
higher end point)."""
LOW_VARIANCE_LAW = (1.0, 19.0)
"""Beta(a, b) of the initial pass rates in VI-3 (mean 0.05)."""


@dataclass(frozen=True)
class VI3Setting:
    """A VI-3 environment: ``kind``, prompts P, answers K, features F (log-linear); ``group_size`` G,
    ``prompts_per_step`` Q, updates and the lr grid."""

    kind: str
    prompts: int
    answers: int
    features: int
    group_size: int
    prompts_per_step: int
    updates: int
    lrs: tuple[float, ...]


@dataclass(frozen=True)
class VI3Sizes:
    """The settings, evaluation seeds and tuning seeds of a budget."""

    settings: tuple[VI3Setting, ...]
    seeds: int
    tuning_seeds: int


SIZES = {
    "smoke": VI3Sizes((VI3Setting("bandit", 32, 8, 0, 8, 8, 40, (4.0, 16.0)),
                       VI3Setting("log-linear", 32, 8, 64, 8, 8, 40, (30.0, 100.0))), 5, 2),
    "default": VI3Sizes((VI3Setting("bandit", 64, 8, 0, 8, 16, 150, (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)),
                         VI3Setting("log-linear", 64, 8, 128, 8, 16, 150, (10.0, 30.0, 100.0, 300.0))), 6, 3),
    "full": VI3Sizes((VI3Setting("bandit", 128, 8, 0, 8, 32, 300, (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)),
                      VI3Setting("log-linear", 128, 8, 256, 8, 32, 300, (10.0, 30.0, 100.0, 300.0, 1000.0))), 10, 5),
}


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


def _run_vi3(study: StudyContext, setting: VI3Setting, sizes: VI3Sizes, index: int) -> dict[str, Any]:
    envs = [low_variance_environment(setting, s) for s in study.seeds(10 * index, sizes.seeds)]
    tune = [low_variance_environment(setting, s) for s in study.seeds(10 * index + 1, sizes.tuning_seeds)]
    seeds = study.seeds(10 * index + 2, 3 * len(ESTIMATORS) + 1)
    lrs = np.asarray(setting.lrs)
    chosen: dict[str, float] = {}
    sweep: dict[str, Any] = {}
    for i, est in enumerate(ESTIMATORS):
        config = SimTrainConfig(group_size=setting.group_size, prompts_per_step=setting.prompts_per_step,
                                updates=setting.updates, rule=UpdateRule(est), label=est)
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
        config = SimTrainConfig(group_size=setting.group_size, prompts_per_step=setting.prompts_per_step,
                                updates=setting.updates, rule=UpdateRule(est), label=est)
        same[est] = train(PolicyBatch.stack(envs), config, chosen["grpo"], seeds[3 * i + 1], progress=study.progress)
        own[est] = (same[est] if chosen[est] == chosen["grpo"] else
                    train(PolicyBatch.stack(envs), config, chosen[est], seeds[3 * i + 2], progress=study.progress))
    start = PolicyBatch.stack(envs)
    return {"setting": setting, "sweep": sweep, "same": same, "own": own,
            "initial_J": start.objective(), "initial_variance": start.reward_variance(),
            "group_variance": adjusted_variance(start, setting.group_size, np.random.default_rng(seeds[-1])),
            "diff_same": _checkpoint_differences(same), "diff_own": _checkpoint_differences(own)}


def _checkpoint_differences(curves: dict[str, TrainCurves]) -> dict[str, dict[str, float]]:
    """GRPOVI - GRPO in J at each checkpoint (fraction of the updates), paired over seeds."""
    U = curves["grpo"].objective.shape[1] - 1
    return {f"{c:g}": paired_difference(curves["grpovi"].objective[:, round(c * U)],
                                        curves["grpo"].objective[:, round(c * U)]) for c in CHECKPOINTS}


def _vi3_evidence(study: StudyContext, results: list[dict[str, Any]], sizes: VI3Sizes) -> Evidence:
    checks: dict[str, bool] = {}
    steps: list[str] = []
    numbers: dict[str, Any] = {"seeds": sizes.seeds}
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
            f"G = {s.group_size}, Q = {s.prompts_per_step}, {s.updates} updates; "
            f"initial J = {np.mean(r['initial_J']):.3f}, initial reward "
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
        "claim": CLAIM, "seeds": sizes.seeds, "tuning_seeds": sizes.tuning_seeds,
        "settings": [{"setting": r["setting"].__dict__, "lr_sweep": r["sweep"], "numbers": numbers[r["setting"].kind],
                      "curves_same_lr": {k: curve_summary(v.objective) for k, v in r["same"].items()},
                      "curves_own_lr": {k: curve_summary(v.objective) for k, v in r["own"].items()}}
                     for r in results]})
    png_path = _plot_vi3(study, results, sizes)
    reason = (" ".join(summaries) + " A check passes when the paired 95% CI of GRPOVI - GRPO (J after the same "
              "number of updates, same seeds) lies above 0; VI claims higher reward after the same number of steps.")
    return Evidence.from_checks(CLAIM, "simulation", "GRPOVI vs GRPO vs Dr. GRPO with low-variance continuous rewards",
                                checks, reason=reason, numbers=numbers, steps=tuple(steps),
                                artefacts=(json_path, png_path))


def _plot_vi3(study: StudyContext, results: list[dict[str, Any]], sizes: VI3Sizes) -> str:
    fig, axes = new_figure(len(results), 2, f"VI-3: GRPO vs GRPOVI vs Dr. GRPO, low-variance continuous rewards "
                                            f"({sizes.seeds} seeds, 95% CI)", panel_size=(5.0, 3.4))
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


def check_vi3(ctx: RunContext) -> list[Evidence]:
    """VI-3: tune and train GRPO, GRPOVI and Dr. GRPO on every setting, write ``vi3_training.{json,png}``; return
    the VI-3 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, TRAINING_FOLDER, STUDY_KEY)
    sizes = SIZES[ctx.budget]
    results = [_run_vi3(study, setting, sizes, i) for i, setting in enumerate(sizes.settings)]
    return [_vi3_evidence(study, results, sizes)]
