"""TT-9 in simulation: 2-GRPO vs 16-GRPO at a fixed number of rollouts per update B, with TT's protocol.

TT (Table 1, v3): 2-GRPO (B/2 prompts x 2 rollouts, 8x the lr) vs 16-GRPO (B/16 prompts x 16), 10 epochs
over the same prompts: 97.6% of 16-GRPO's score with 12.5% of the rollouts; 2-GRPO+RS (silent groups
replaced by fresh prompts' groups, budget capped at 16-GRPO's) 101.1%.

Here, two environments with binary rewards and pass rates spread uniformly on (0, 1): a softmax bandit of P
prompts, and a log-linear policy whose one theta is shared by every prompt (updates on one prompt move the
others, as in an LLM). The design is paired: evaluation seed s is one random environment (the same draw, the
same start policy) for every arm, and every arm visits the prompts in the same order (one ``order_seed`` for
all arms: each epoch the same permutation of the P prompts, cut into mini-batches of the arm's Q); only the
rollouts, which depend on G and on the policy, differ between arms (and 2-GRPO+RS's refills, fresh prompts drawn
with its rollouts).
Arms, G in {2, 4, 8, 16} with Q = B/G:

- TT's learning-rate scaling, lr_G = lr_per_prompt x Q (2-GRPO: 8x the prompts and 8x the lr of 16-GRPO);
- each G with its own lr, the best of a small sweep of multipliers of lr_G chosen on separate tuning seeds
  (environments never used for evaluation), then evaluated on the evaluation seeds. Only for the log-linear
  policy: in the bandit no binary-reward GRPO step lowers a prompt's pass rate (correct logits only go up,
  wrong ones down), so J grows with the lr without bound and "tuned" would mean "largest in the grid";
- 2-GRPO+RS at 2-GRPO's lr: up to 7 refill rounds per update, total rollouts capped at 16-GRPO's.

Every arm makes ``epochs`` passes over the P prompts (``epochs`` x P / Q updates). The ratio table is TT's:
final J of each arm as a % of 16-GRPO's, rollouts %, simulated compute % (:class:`ComputeModel`), and the
improvement ratio (J_arm - J_0) / (J_16 - J_0), each ratio of seed means with its paired Fieller 95% interval
(:func:`theory.statistics.fieller_ratio`). The verdict is :mod:`evidence.verdicts`' rule against TT's numbers
(:mod:`theory.paper`): a ratio holds when its whole interval reaches the paper's number, fails when the whole
interval falls short, and is inconclusive otherwise, with the seeds that would decide it
(:func:`tt9_checks`). Check :func:`check_tt9`; artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evidence.record import Evidence, RunContext
from evidence.verdicts import Decision, decide_ratio
from simulations.environments import make_environment
from simulations.plotting import band, color, error_points, finish, new_figure, save_figure
from simulations.studies.common import (
    TRAINING_FOLDER,
    StudyContext,
    check_values,
    curve_summary,
    decision_numbers,
    decision_reason,
    fmt_ci,
)
from simulations.training import ComputeModel, PolicyBatch, SimTrainConfig, TrainCurves, train
from theory.paper import (
    TT9_IMPROVEMENT_RATIO,
    TT9_ROLLOUT_RATIO,
    TT9_RS_SCORE_RATIO,
    TT9_SCORE_RATIO,
    TT9_WALLCLOCK_RATIO,
)
from theory.statistics import fieller_ratio, mean_ci

CLAIM = "TT-9"
STUDY_KEY = 0
"""Seed key: the study's seeds are ``SeedSequence([ctx.seed, STUDY_KEY, stream])`` (0: its index in the old
table of training studies, kept so that its numbers stay the same)."""
GROUP_SIZES = (2, 4, 8, 16)
RS_ROUNDS = 7


@dataclass(frozen=True)
class TT9Setting:
    """One environment of the study: ``kind`` (bandit or log-linear), prompts P, answers K, features F
    (log-linear), rollouts per update B, epochs, the lr per prompt of a mini-batch (TT's scaling
    lr_G = lr_per_prompt x Q) and the multipliers of the lr sweep (empty: no own-lr arms)."""

    kind: str
    prompts: int
    answers: int
    features: int
    B: int
    epochs: int
    lr_per_prompt: float
    multipliers: tuple[float, ...] = ()

    @property
    def tuned(self) -> bool:
        return bool(self.multipliers)


@dataclass(frozen=True)
class TT9Sizes:
    """The settings, evaluation seeds and tuning seeds of a budget."""

    settings: tuple[TT9Setting, ...]
    seeds: int
    tuning_seeds: int


SIZES = {
    "smoke": TT9Sizes((TT9Setting("bandit", 32, 4, 0, 32, 3, 0.75),
                        TT9Setting("log-linear", 32, 4, 32, 32, 3, 2.0, (0.5, 2.0, 8.0))), 5, 2),
    "default": TT9Sizes((TT9Setting("bandit", 512, 4, 0, 128, 10, 0.75),
                          TT9Setting("log-linear", 128, 4, 128, 64, 10, 2.0, (0.25, 0.5, 1.0, 2.0, 4.0, 8.0))),
                         10, 3),
    "full": TT9Sizes((TT9Setting("bandit", 1024, 4, 0, 256, 10, 0.75),
                       TT9Setting("log-linear", 256, 4, 256, 128, 10, 2.0,
                                  (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0))), 20, 5),
}


def arm_config(group_size: int, setting: TT9Setting, *, resample: bool = False) -> SimTrainConfig:
    """G-GRPO at B rollouts per update for ``epochs`` passes over the prompts (RS: refills, capped at
    16-GRPO's total rollouts)."""
    G = group_size
    Q = setting.B // G
    return SimTrainConfig(group_size=G, prompts_per_step=Q, updates=setting.epochs * setting.prompts // Q,
                          schedule="epochs", resample_rounds=RS_ROUNDS if resample else 0,
                          rollout_cap=setting.epochs * setting.prompts * 16 if resample else None,
                          label=f"{G}-GRPO{'+RS' if resample else ''}")


def _environments(setting: TT9Setting, seeds: list[int]) -> list:
    return [make_environment(setting.kind, "uniform", num_prompts=setting.prompts, num_answers=setting.answers,
                             num_features=max(setting.features, 1), seed=s) for s in seeds]


def _fieller(numerator: np.ndarray, denominator: np.ndarray) -> dict[str, float | None]:
    value, low, high = fieller_ratio(numerator, denominator, paired=True)
    return {"value": value, "low": low, "high": high}


def _ratios(arm: TrainCurves, ref: TrainCurves, start: np.ndarray, B: int, cost: ComputeModel) -> dict[str, Any]:
    final_mean, final_half = mean_ci(arm.final)
    return {
        "final_J": {"mean": float(final_mean), "ci95": float(final_half)},
        "score_ratio": _fieller(arm.final, ref.final),
        "improvement_ratio": _fieller(arm.final - start, ref.final - start),
        "rollouts_ratio": float(arm.rollouts[:, -1].mean() / ref.rollouts[:, -1].mean()),
        "compute_ratio": float(cost.cost(arm, B)[:, -1].mean() / cost.cost(ref, B)[:, -1].mean()),
        "updates_ratio": float(arm.updates[:, -1].mean() / ref.updates[:, -1].mean()),
        "rollouts": float(arm.rollouts[:, -1].mean()),
    }


@dataclass
class SettingResult:
    """The runs of one setting: curves per arm (TT lr scaling, own tuned lr), the lr sweep, the ratio table."""

    setting: TT9Setting
    initial_J: np.ndarray
    scaled: dict[str, TrainCurves]
    tuned: dict[str, TrainCurves]
    sweep: dict[int, dict[str, Any]]
    table: dict[str, dict[str, Any]]
    rs_cap: int


def run_setting(study: StudyContext, setting: TT9Setting, sizes: TT9Sizes, index: int) -> SettingResult:
    """Train every arm of one setting on the evaluation seeds (and the sweeps on the tuning seeds)."""
    cost = ComputeModel()
    eval_envs = _environments(setting, study.seeds(10 * index, sizes.seeds))
    tune_envs = _environments(setting, study.seeds(10 * index + 1, sizes.tuning_seeds)) if setting.tuned else []
    J0 = np.array([env.objective() for env in eval_envs])
    train_seeds = study.seeds(10 * index + 2, 3 * len(GROUP_SIZES) + 1)
    eval_order, tune_order = study.seeds(10 * index + 3, 2)  # one prompt order for every arm (paired design)
    scaled: dict[str, TrainCurves] = {}
    tuned: dict[str, TrainCurves] = {}
    sweep: dict[int, dict[str, Any]] = {}
    mults = np.asarray(setting.multipliers)
    for i, G in enumerate(GROUP_SIZES):
        config = arm_config(G, setting)
        lr = setting.lr_per_prompt * config.prompts_per_step
        scaled[config.name] = train(PolicyBatch.stack(eval_envs), config, lr, train_seeds[3 * i],
                                    order_seed=eval_order, progress=study.progress)
        if not setting.tuned:
            continue
        curves = train(PolicyBatch.stack(tune_envs * len(mults)), config, lr * np.repeat(mults, len(tune_envs)),
                       train_seeds[3 * i + 1], order_seed=tune_order, progress=study.progress)
        mean, half = mean_ci(curves.final.reshape(len(mults), len(tune_envs)), axis=1)
        best = int(np.argmax(mean))
        sweep[G] = {"multipliers": mults.tolist(), "lr": (lr * mults).tolist(), "tuning_final_J": mean.tolist(),
                    "ci95": half.tolist(), "chosen_multiplier": float(mults[best]),
                    "chosen_lr": float(lr * mults[best]), "at_grid_edge": best in (0, len(mults) - 1)}
        tuned[config.name] = train(PolicyBatch.stack(eval_envs), config, lr * mults[best], train_seeds[3 * i + 2],
                                   order_seed=eval_order, progress=study.progress)
    rs = arm_config(2, setting, resample=True)
    scaled[rs.name] = train(PolicyBatch.stack(eval_envs), rs, setting.lr_per_prompt * rs.prompts_per_step,
                            train_seeds[-1], order_seed=eval_order, progress=study.progress)
    table = {"TT lr scaling": {name: _ratios(c, scaled["16-GRPO"], J0, setting.B, cost) for name, c in scaled.items()}}
    if tuned:
        table["own tuned lr"] = {name: _ratios(c, tuned["16-GRPO"], J0, setting.B, cost) for name, c in tuned.items()}
    return SettingResult(setting, J0, scaled, tuned, sweep, table, int(rs.rollout_cap or 0))


def finals_of(result: SettingResult) -> dict[str, Any]:
    """The per-seed numbers :func:`tt9_checks` judges: J_0 and each arm's final J, per lr group."""
    out: dict[str, Any] = {"initial_J": result.initial_J,
                           "TT lr scaling": {name: c.final for name, c in result.scaled.items()}}
    if result.tuned:
        out["own tuned lr"] = {name: c.final for name, c in result.tuned.items()}
    return out


def tt9_checks(finals: dict[str, dict[str, Any]]) -> dict[str, Decision]:
    """TT-9's checks from per-seed numbers: ``finals[kind]`` holds ``initial_J`` (J_0 per seed), ``TT lr scaling``
    ({arm: final J per seed} with 2-GRPO, 16-GRPO and 2-GRPO+RS) and optionally ``own tuned lr`` (2-GRPO and
    16-GRPO). Each ratio of seed means, paired over seeds, against TT's number (:func:`evidence.verdicts.decide_ratio`):
    2-GRPO's score J_2 / J_16 >= 97.6%, its improvement (J_2 - J_0) / (J_16 - J_0) >= 95%, at TT's lr scaling and at
    each G's own tuned lr; 2-GRPO+RS's score >= 101.1%."""
    checks: dict[str, Decision] = {}
    for kind, f in finals.items():
        J0 = np.asarray(f["initial_J"], dtype=np.float64)
        groups = [("TT lr", f["TT lr scaling"])]
        if "own tuned lr" in f:
            groups.append(("own tuned lr", f["own tuned lr"]))
        for lr_name, arms in groups:
            two, ref = np.asarray(arms["2-GRPO"]), np.asarray(arms["16-GRPO"])
            checks[f"{kind}: 2-GRPO score ratio ({lr_name}) >= {TT9_SCORE_RATIO:.1%}"] = decide_ratio(
                two, ref, TT9_SCORE_RATIO)
            checks[f"{kind}: 2-GRPO improvement ratio ({lr_name}) >= {TT9_IMPROVEMENT_RATIO:.0%}"] = decide_ratio(
                two - J0, ref - J0, TT9_IMPROVEMENT_RATIO)
        scaled = f["TT lr scaling"]
        checks[f"{kind}: 2-GRPO+RS score ratio >= {TT9_RS_SCORE_RATIO:.1%}"] = decide_ratio(
            np.asarray(scaled["2-GRPO+RS"]), np.asarray(scaled["16-GRPO"]), TT9_RS_SCORE_RATIO)
    return checks


def _pct(r: dict[str, float | None]) -> str:
    def fmt(x: float | None, inf: str) -> str:
        return inf if x is None else f"{x:.1%}"

    return f"{fmt(r['value'], 'undefined')} [{fmt(r['low'], '-inf')}, {fmt(r['high'], 'inf')}]"


def _steps(result: SettingResult, sizes: TT9Sizes) -> list[str]:
    s = result.setting
    env = (f"softmax bandit, P = {s.prompts} prompts, K = {s.answers} answers" if s.kind == "bandit" else
           f"log-linear policy (one shared theta of F = {s.features} random features), P = {s.prompts} prompts, "
           f"K = {s.answers} answers")
    if s.tuned:
        chosen = ", ".join(f"G={G}: x{w['chosen_multiplier']:g}{' (grid edge)' if w['at_grid_edge'] else ''}"
                           for G, w in result.sweep.items())
        tuning = (f"Own tuned lr, best multiplier of lr_G in {list(s.multipliers)} on {sizes.tuning_seeds} separate "
                  f"tuning seeds: {chosen}.")
    else:
        tuning = ("No own-lr arms: in the bandit no binary-reward GRPO step lowers a pass rate, so J only grows "
                  "with the lr.")
    rows = [f"| {group} | {name} | {fmt_ci(r['final_J']['mean'], r['final_J']['ci95'])} | {_pct(r['score_ratio'])} | "
            f"{_pct(r['improvement_ratio'])} | {r['rollouts_ratio']:.1%} | {r['compute_ratio']:.1%} |"
            for group, arms in result.table.items() for name, r in arms.items()]
    return [
        f"**{s.kind}**: {env}, binary rewards, initial pass rates uniform on (0, 1); B = {s.B} rollouts per update; "
        f"{s.epochs} epochs; {sizes.seeds} evaluation seeds (one random environment each, shared by all arms). "
        f"TT lr scaling: lr_G = {s.lr_per_prompt:g} x Q. {tuning} 2-GRPO+RS: <= {RS_ROUNDS} refill rounds per "
        f"update, total rollouts capped at {result.rs_cap} (16-GRPO's); max used "
        f"{int(result.scaled['2-GRPO+RS'].rollouts[:, -1].max())}.",
        "| lr | arm | final J (mean +- 95% CI) | score % of 16-GRPO [paired Fieller 95% CI] | improvement % "
        "[95% CI] | rollouts % | "
        "compute % |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows),
    ]


def _summary(result: SettingResult) -> tuple[str, dict[str, Any]]:
    two, two_rs = result.table["TT lr scaling"]["2-GRPO"], result.table["TT lr scaling"]["2-GRPO+RS"]
    numbers = {"score_ratio_tt_lr": two["score_ratio"], "improvement_ratio_tt_lr": two["improvement_ratio"],
               "rs_score_ratio": two_rs["score_ratio"], "rs_rollouts_ratio": two_rs["rollouts_ratio"],
               "rollouts_ratio": two["rollouts_ratio"], "compute_ratio": two["compute_ratio"],
               "rs_compute_ratio": two_rs["compute_ratio"]}
    if "own tuned lr" in result.table:
        tuned = result.table["own tuned lr"]["2-GRPO"]
        numbers |= {"score_ratio_tuned": tuned["score_ratio"], "improvement_ratio_tuned": tuned["improvement_ratio"]}
    text = (f"{result.setting.kind}: 2-GRPO used {two['rollouts_ratio']:.1%} and 2-GRPO+RS "
            f"{two_rs['rollouts_ratio']:.1%} of 16-GRPO's rollouts.")
    return text, numbers


def check_tt9(ctx: RunContext) -> list[Evidence]:
    """TT-9: run every setting, write ``tt9_training.json`` and one figure per setting; return the TT-9 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, TRAINING_FOLDER, STUDY_KEY)
    sizes = SIZES[ctx.budget]
    cost = ComputeModel()
    results = [run_setting(study, setting, sizes, i) for i, setting in enumerate(sizes.settings)]
    decisions = tt9_checks({r.setting.kind: finals_of(r) for r in results})
    steps: list[str] = []
    numbers: dict[str, Any] = {"seeds": sizes.seeds, "decisions": decision_numbers(decisions)}
    summaries = []
    for result in results:
        steps += _steps(result, sizes)
        text, numbers[result.setting.kind] = _summary(result)
        summaries.append(text)
    steps.append(cost.describe() + ". At fixed B every term that scales with rollouts or updates gives the same "
                 "ratio, so compute % departs from rollouts % only through per-group costs and RS's extra "
                 "generations; TT's 21% is measured wall-clock, which this model does not claim to reproduce.")
    data = {"claim": CLAIM, "compute_model": cost.describe(), "seeds": sizes.seeds,
            "tuning_seeds": sizes.tuning_seeds,
            "settings": [{"setting": r.setting.__dict__, "per_seed": finals_of(r), "ratio_table": r.table,
                          "lr_sweep": r.sweep, "rs_rollout_cap": r.rs_cap,
                          "curves": {group: {name: {"J": curve_summary(c.objective),
                                                    "rollouts": curve_summary(c.rollouts),
                                                    "compute": curve_summary(cost.cost(c, r.setting.B))}
                                             for name, c in arms.items()}
                                     for group, arms in (("TT lr scaling", r.scaled), ("own tuned lr", r.tuned))
                                     if arms}}
                         for r in results]}
    artefacts = [study.write_json("tt9_training.json", data)] + [_plot(study, r, sizes) for r in results]
    reason = (" ".join(summaries) + " " + decision_reason(decisions) + " Rule: a ratio of seed means with its paired "
              "Fieller 95% interval holds when the whole interval reaches TT's number "
              f"({TT9_SCORE_RATIO:.1%} score, {TT9_IMPROVEMENT_RATIO:.0%} improvement, {TT9_RS_SCORE_RATIO:.1%} for "
              "2-GRPO+RS), fails when the whole interval falls short, and is inconclusive otherwise. Simulated softmax "
              "policies, not the LLM experiment.")
    return [Evidence.from_checks(CLAIM, "simulation", "2-GRPO vs 16-GRPO training at fixed rollouts per update",
                                 check_values(decisions), reason=reason, numbers=numbers, steps=tuple(steps),
                                 artefacts=tuple(artefacts))]


def _plot(study: StudyContext, result: SettingResult, sizes: TT9Sizes) -> str:
    s = result.setting
    rows = 2 if s.tuned else 1
    fig, axes = new_figure(rows, 2, f"{CLAIM}: G-GRPO on the {s.kind} at B = {s.B} rollouts per update "
                                    f"({sizes.seeds} seeds, 95% CI)", panel_size=(5.2, 3.6))
    for i, (name, c) in enumerate(result.scaled.items()):
        mean, half = mean_ci(c.objective)
        band(axes[0, 0], np.arange(c.objective.shape[1]), mean, half, label=name, c=color(i), marker="")
        band(axes[0, 1], c.rollouts.mean(axis=0), mean, half, label=name, c=color(i), marker="")
    axes[0, 1].set_xscale("log")
    finish(axes[0, 0], "TT lr scaling (lr ∝ prompts per update)", "J (mean pass rate)", xlabel="updates")
    finish(axes[0, 1], "TT lr scaling, against rollouts", "J (mean pass rate)", xlabel="rollouts consumed")
    if s.tuned:
        for i, ((name, c), (G, w)) in enumerate(zip(result.tuned.items(), result.sweep.items(), strict=True)):
            mean, half = mean_ci(c.objective)
            band(axes[1, 0], c.rollouts.mean(axis=0), mean, half, label=f"{name} (lr x{w['chosen_multiplier']:g})",
                 c=color(i), marker="")
            error_points(axes[1, 1], np.array(w["multipliers"]) * (1 + 0.04 * i), w["tuning_final_J"], w["ci95"],
                         label=f"G={G}", c=color(i))
        axes[1, 0].set_xscale("log")
        axes[1, 1].set_xscale("log", base=2)
        finish(axes[1, 0], "each G at its own tuned lr", "J (mean pass rate)", xlabel="rollouts consumed")
        finish(axes[1, 1], f"lr sweep ({sizes.tuning_seeds} tuning seeds)", "final J",
               xlabel="multiplier of the TT-scaled lr")
    two = result.table["TT lr scaling"]["2-GRPO"]
    note = (f"2-GRPO / 16-GRPO at TT's lr: score {_pct(two['score_ratio'])}, improvement "
            f"{_pct(two['improvement_ratio'])}, rollouts {two['rollouts_ratio']:.1%}, simulated compute "
            f"{two['compute_ratio']:.1%} (TT: {TT9_SCORE_RATIO:.1%} score, {TT9_ROLLOUT_RATIO:.1%} rollouts, "
            f"{TT9_WALLCLOCK_RATIO:.0%} wall-clock)")
    name = f"tt9_training_{s.kind}.png"
    save_figure(fig, study.path(name), note=note)
    return study.rel(name)
