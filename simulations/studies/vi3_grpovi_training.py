"""VI-3 in simulation: GRPOVI trains faster than GRPO when the rewards' variance under the initial policy is low.

Reward-model-like rewards R = sigmoid(1.5 (2 correct - 1) + 0.3 z), one correct
answer of K, initial pass rates the quantiles of Beta(1, 19) (mean 0.05), so the reward variance under the
initial policy is small. GRPO, GRPOVI (rewards adjusted by :func:`theory.grpovi.adjust_rewards` every step,
weights pi_ref(o | q) of the initial policy) and Dr. GRPO train with the same G, Q and number of updates;
the lr of each comes from a sweep on separate tuning seeds. Compared: J of GRPOVI vs GRPO after 25%, 50% and
all of the updates, at GRPO's tuned lr (VI's comparison: same hyper-parameters) and at each estimator's own
tuned lr, paired over seeds: evaluation seed s is one environment (same rewards, same start policy) for every
estimator, and every estimator draws the same prompts at every update (one ``order_seed``; all have the same
G and Q), so the arms differ only in their rollouts and advantages. A check holds when the paired 95% interval of
GRPOVI - GRPO lies wholly above 0, fails when it lies wholly below, and is inconclusive otherwise
(:func:`vi3_checks`, :mod:`evidence.verdicts`). Check :func:`check_vi3`; artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import beta as beta_law

from evidence.record import Evidence, RunContext
from evidence.verdicts import Decision
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.plotting import band, color, finish, new_figure, save_figure
from simulations.studies.common import (
    TRAINING_FOLDER,
    StudyContext,
    check_values,
    curve_summary,
    decide_seeds,
    decision_numbers,
    decision_reason,
    fmt_ci,
)
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
JUDGED_CHECKPOINTS = (0.25, 1.0)
"""The checkpoints a check is made at: early (faster training) and at the end (higher reward)."""
LR_GROUPS = {"same": "GRPO's tuned lr", "own": "each one's tuned lr"}
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
    eval_order, tune_order = study.seeds(10 * index + 3, 2)  # the same prompts for every estimator (paired design)
    lrs = np.asarray(setting.lrs)
    chosen: dict[str, float] = {}
    sweep: dict[str, Any] = {}
    for i, est in enumerate(ESTIMATORS):
        config = SimTrainConfig(group_size=setting.group_size, prompts_per_step=setting.prompts_per_step,
                                updates=setting.updates, rule=UpdateRule(est), label=est)
        curves = train(PolicyBatch.stack(tune * len(lrs)), config, np.repeat(lrs, len(tune)), seeds[3 * i],
                       order_seed=tune_order, progress=study.progress)
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
        same[est] = train(PolicyBatch.stack(envs), config, chosen["grpo"], seeds[3 * i + 1], order_seed=eval_order,
                          progress=study.progress)
        own[est] = (same[est] if chosen[est] == chosen["grpo"] else
                    train(PolicyBatch.stack(envs), config, chosen[est], seeds[3 * i + 2], order_seed=eval_order,
                          progress=study.progress))
    start = PolicyBatch.stack(envs)
    return {"setting": setting, "sweep": sweep, "same": same, "own": own,
            "initial_J": start.objective(), "initial_variance": start.reward_variance(),
            "group_variance": adjusted_variance(start, setting.group_size, np.random.default_rng(seeds[-1])),
            "differences": {key: checkpoint_differences(r) for key, r in (("same", same), ("own", own))}}


def checkpoint_differences(curves: dict[str, TrainCurves]) -> dict[str, np.ndarray]:
    """GRPOVI - GRPO in J per seed at each checkpoint (fraction of the updates, as text): {checkpoint: (S,)}."""
    U = curves["grpo"].objective.shape[1] - 1
    return {f"{c:g}": curves["grpovi"].objective[:, round(c * U)] - curves["grpo"].objective[:, round(c * U)]
            for c in CHECKPOINTS}


def vi3_checks(differences: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Decision]:
    """VI-3's checks from per-seed differences: ``differences[kind][lr][checkpoint]`` is J_GRPOVI - J_GRPO per seed
    (``lr`` "same": both at GRPO's tuned lr, "own": each at its own; checkpoints as text, "0.25" and "1" judged).
    Each: the paired mean difference > 0, three-way against 0 (:func:`simulations.studies.common.decide_seeds`)."""
    checks: dict[str, Decision] = {}
    for kind, by_lr in differences.items():
        for c in JUDGED_CHECKPOINTS:
            for key, lr_name in LR_GROUPS.items():
                checks[f"{kind}: GRPOVI J > GRPO's after {c:.0%} of the updates at {lr_name}"] = decide_seeds(
                    by_lr[key][f"{c:g}"], 0.0)
    return checks


def _difference_summary(per_seed: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {c: {"mean": float(m), "ci95": float(h)} for c, d in per_seed.items() for m, h in [mean_ci(d)]}


def _vi3_evidence(study: StudyContext, results: list[dict[str, Any]], sizes: VI3Sizes) -> Evidence:
    decisions = vi3_checks({r["setting"].kind: r["differences"] for r in results})
    steps: list[str] = []
    numbers: dict[str, Any] = {"seeds": sizes.seeds, "decisions": decision_numbers(decisions)}
    summaries: list[str] = []
    for r in results:
        s: VI3Setting = r["setting"]
        diff = {key: _difference_summary(r["differences"][key]) for key in LR_GROUPS}
        finals = {k: summary(v.final) for k, v in r["own"].items()}
        finals_same = {k: summary(v.final) for k, v in r["same"].items()}
        numbers[s.kind] = {"grpovi_minus_grpo_same_lr": diff["same"], "grpovi_minus_grpo_own_lr": diff["own"],
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
        diffs = {key: ", ".join(f"{float(c):.0%}: {fmt_ci(d['mean'], d['ci95'])}" for c, d in diff[key].items())
                 for key in LR_GROUPS}
        summaries.append(f"{s.kind}: GRPOVI - GRPO in J at GRPO's lr ({diffs['same']}), at own lrs "
                         f"({diffs['own']}).")
    json_path = study.write_json("vi3_training.json", {
        "claim": CLAIM, "seeds": sizes.seeds, "tuning_seeds": sizes.tuning_seeds,
        "settings": [{"setting": r["setting"].__dict__, "lr_sweep": r["sweep"], "numbers": numbers[r["setting"].kind],
                      "per_seed_differences": r["differences"],
                      "curves_same_lr": {k: curve_summary(v.objective) for k, v in r["same"].items()},
                      "curves_own_lr": {k: curve_summary(v.objective) for k, v in r["own"].items()}}
                     for r in results]})
    png_path = _plot_vi3(study, results, sizes)
    reason = (" ".join(summaries) + " " + decision_reason(decisions) + " Rule: GRPOVI - GRPO in J after the same "
              "number of updates, paired over seeds (same environment, same prompts); a check holds when its 95% "
              "interval lies wholly above 0, fails when wholly below, and is inconclusive otherwise. VI claims higher "
              "reward after the same number of steps.")
    return Evidence.from_checks(CLAIM, "simulation", "GRPOVI vs GRPO vs Dr. GRPO with low-variance continuous rewards",
                                check_values(decisions), reason=reason, numbers=numbers, steps=tuple(steps),
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
