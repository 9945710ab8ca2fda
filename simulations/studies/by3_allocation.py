"""BY-3 in simulation: the compute-optimal group size at a fixed total rollout budget, and an adaptive allocation.

Fixed G: every update draws Q = B/G prompts uniformly and G rollouts each (B rollouts per update). Adaptive
(:func:`train_adaptive`): every update spends at most B rollouts in pairs, giving prompt q a share proportional
to p_hat_q (1 - p_hat_q), where p_hat_q = alpha_q / (alpha_q + beta_q) is a Beta estimate of its pass rate from
its past groups (prior Beta(1, 1), old counts halved at each new visit, so the estimate follows the policy),
and skipping saturated prompts (p_hat outside [delta, 1 - delta] after at least ``min_evidence`` rollouts).
The pairs are drawn as counts c ~ Multinomial(B/2, shares); prompt q gets a group of G_q = 2 c_q rollouts
(capped at ``max_group``; rollouts above the cap are not spent). Advantages are GRPO's within each group,
and g = (1/B) sum over every rollout of A s.

For each pass-rate distribution of :data:`simulations.environments.PASS_RATE_DISTRIBUTIONS` the same number
of updates (so the same total rollouts, B x updates) is given to G in {2, 4, 8, 16} and to the adaptive
allocation; each arm's lr is the best of a sweep on separate tuning seeds, and the best fixed G is also chosen
on the tuning seeds. Reported: final J per arm with 95% CI, the winner per distribution, and whether the
adaptive allocation is at least as good as the best fixed G: the final J of the adaptive allocation minus that of
the best fixed G, paired over evaluation seeds (seed s is one environment, the same draw and start policy, for
every arm; prompts and rollouts are each arm's own), judged by :mod:`evidence.verdicts`' three-way rule against 0
(:func:`by3_checks`): holds when the whole 95% interval is >= 0, fails when the whole interval is < 0,
inconclusive when it straddles 0 (a tie stays inconclusive: "at least as good" has no margin here). Check
:func:`check_by3`; artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from evidence.record import Evidence, RunContext
from evidence.verdicts import Decision
from simulations.engine import UpdateRule, rule_advantages
from simulations.environments import PASS_RATE_DISTRIBUTIONS, make_environment
from simulations.plotting import band, color, error_points, finish, new_figure, save_figure
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
from simulations.training import PolicyBatch, SimTrainConfig, TrainCurves, check_count, check_lrs, summary, train
from theory.statistics import mean_ci
from theory.validation import check_choice, check_nonnegative, check_probability

CLAIM = "BY-3"
STUDY_KEY = 3
"""Seed key: the study's seeds are ``SeedSequence([ctx.seed, STUDY_KEY, stream])`` (3: its index in the old
table of training studies, kept so that its numbers stay the same)."""
GROUP_SIZES = (2, 4, 8, 16)
SHARES = ("variance", "uniform")


@dataclass(frozen=True)
class Allocation:
    """The adaptive allocation's knobs. Per prompt, decayed counts n_q (rollouts) and k_q (successes): at each
    visit n <- ``decay`` n + G, k <- ``decay`` k + successes, and after every update both shrink by ``forget``
    (so a skipped prompt is tried again once its evidence has faded: the shared parameters may have moved it).
    A prompt is saturated when n_q >= ``min_evidence``
    and k_q / n_q <= ``delta`` or >= 1 - ``delta``. Shares: ``variance`` ∝ p_hat (1 - p_hat) with
    p_hat = (k + 1)/(n + 2), or ``uniform`` over unsaturated prompts. At most ``max_group`` rollouts per prompt."""

    shares: str = "variance"
    delta: float = 0.05
    min_evidence: float = 4.0
    decay: float = 0.7
    forget: float = 0.98
    max_group: int = 16

    def __post_init__(self) -> None:
        check_choice("shares", self.shares, SHARES)
        check_probability("delta", self.delta)
        check_probability("decay", self.decay)
        check_probability("forget", self.forget)
        check_nonnegative("min_evidence", self.min_evidence)
        check_count("max_group", self.max_group, 2)
        if self.max_group % 2:
            raise ValueError(f"max_group={self.max_group} must be even (rollouts are allocated in pairs)")

    @property
    def name(self) -> str:
        return "adaptive p(1-p)" if self.shares == "variance" else "skip saturated"


ALLOCATIONS = (Allocation("variance"), Allocation("uniform"))


def allocate(successes: np.ndarray, rollouts: np.ndarray, B: int, allocation: Allocation,
             rng: np.random.Generator) -> np.ndarray:
    """Group sizes G_q (S, P), even, sum <= B per run: B/2 pairs ~ Multinomial(shares) over unsaturated prompts
    (over all prompts if every one is saturated), sizes capped at ``max_group``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(rollouts > 0, successes / rollouts, 0.5)
    saturated = (rollouts >= allocation.min_evidence) & ((rate <= allocation.delta) | (rate >= 1 - allocation.delta))
    p_hat = (successes + 1.0) / (rollouts + 2.0)
    share = np.where(saturated, 0.0, p_hat * (1 - p_hat) if allocation.shares == "variance" else 1.0)
    share = np.where(share.sum(axis=1, keepdims=True) > 0, share, 1.0)
    pairs = rng.multinomial(B // 2, share / share.sum(axis=1, keepdims=True))
    return np.minimum(2 * pairs, allocation.max_group)


def _sample_flat(batch: PolicyBatch, runs: np.ndarray, prompts: np.ndarray, G: int,
                 rng: np.random.Generator) -> np.ndarray:
    """G outcomes for each (run, prompt) pair, (n, G), by inverse CDF: o = #{o' < O - 1: F(o') <= u}."""
    cdf = np.cumsum(batch.probs()[runs, prompts], axis=-1)[:, None, :-1]  # (n, 1, O-1)
    return (cdf <= rng.random((runs.size, G))[..., None]).sum(axis=-1)


@dataclass(frozen=True)
class RaggedGroups:
    """Groups of one size G: run index ``runs`` and prompt ``prompts`` (n,), ``outcomes`` and ``rewards`` (n, G)."""

    runs: np.ndarray
    prompts: np.ndarray
    outcomes: np.ndarray
    rewards: np.ndarray


def ragged_update(batch: PolicyBatch, sizes: np.ndarray, rule: UpdateRule,
                  rng: np.random.Generator) -> tuple[np.ndarray, list[RaggedGroups]]:
    """g_s = (1/B_s) sum_q sum_{i <= G_sq} A_i s_s(q, o_i) with B_s = sum_q G_sq: one group of G_sq rollouts of
    prompt q in run s (none where G_sq = 0), advantages within each group by ``rule``. Returns g (S, D) and
    the groups, bucketed by size (sizes increasing)."""
    sizes = np.asarray(sizes)
    if sizes.shape != batch.rewards.shape[:2] or np.any(sizes < 0) or np.any(sizes == 1):
        raise ValueError(f"sizes has shape {sizes.shape}; it must be (S, P) = {batch.rewards.shape[:2]} with entries "
                         "0 (no group) or >= 2")
    used = sizes.sum(axis=1)
    weights = np.zeros(batch.rewards.shape)
    groups = []
    for G in np.unique(sizes[sizes > 0]):
        runs, prompts = np.nonzero(sizes == G)
        outcomes = _sample_flat(batch, runs, prompts, int(G), rng)  # (n, G)
        rewards = batch.rewards[runs[:, None], prompts[:, None], outcomes]
        adv = rule_advantages(rule, rewards)
        np.add.at(weights, (runs[:, None], prompts[:, None], outcomes), adv / used[runs][:, None])
        groups.append(RaggedGroups(runs, prompts, outcomes, rewards))
    return batch.direction(weights), groups


def train_adaptive(batch: PolicyBatch, B: int, updates: int, lr: float | np.ndarray, seed: int, *,
                   rule: UpdateRule | None = None, allocation: Allocation | None = None,
                   progress: bool = False) -> TrainCurves:
    """The adaptive allocation for ``updates`` updates of at most B rollouts each (binary rewards); the same
    curves as :func:`simulations.training.train` (``silent``: fraction of the update's groups that were silent)."""
    if not batch.binary:
        raise ValueError("the adaptive allocation estimates pass rates from binary rewards; the batch's are not binary")
    B = check_count("B", B, 2)
    U = check_count("updates", updates, 1)
    rule = rule or UpdateRule()
    allocation = allocation or Allocation()
    lr = check_lrs(lr, batch.size)
    rng = np.random.default_rng(seed)
    S, P = batch.size, batch.num_prompts
    successes, seen = np.zeros((S, P)), np.zeros((S, P))
    counts = {k: np.zeros((S, U + 1)) for k in ("rollouts", "groups", "trained", "updates")}
    objective = np.zeros((S, U + 1))
    silent_frac = np.zeros((S, U))
    objective[:, 0] = batch.objective()
    for t in tqdm(range(U), disable=not progress, desc="adaptive", leave=False):
        sizes = allocate(successes, seen, B, allocation, rng)  # (S, P)
        update, buckets = ragged_update(batch, sizes, rule, rng)
        silent = np.zeros(S)
        for g in buckets:
            G = g.outcomes.shape[1]
            k = g.rewards.sum(axis=1)
            successes[g.runs, g.prompts] = allocation.decay * successes[g.runs, g.prompts] + k
            seen[g.runs, g.prompts] = allocation.decay * seen[g.runs, g.prompts] + G
            np.add.at(silent, g.runs, (k == 0) | (k == G))
        successes *= allocation.forget
        seen *= allocation.forget
        groups, used = (sizes > 0).sum(axis=1), sizes.sum(axis=1)
        batch.step(update, lr)
        silent_frac[:, t] = silent / np.maximum(groups, 1)
        counts["rollouts"][:, t + 1] = counts["rollouts"][:, t] + used
        counts["groups"][:, t + 1] = counts["groups"][:, t] + groups
        counts["trained"][:, t + 1] = counts["trained"][:, t] + used
        counts["updates"][:, t + 1] = counts["updates"][:, t] + 1
        objective[:, t + 1] = batch.objective()
    return TrainCurves(objective, silent=silent_frac, **counts)


@dataclass(frozen=True)
class AllocationSizes:
    """Log-linear environments of P prompts, K answers and F = P features; B rollouts per update, updates,
    evaluation and tuning seeds, and the lr grid every arm is tuned on."""

    prompts: int
    answers: int
    B: int
    updates: int
    seeds: int
    tuning_seeds: int
    lrs: tuple[float, ...]


SIZES = {"smoke": AllocationSizes(16, 4, 32, 20, 5, 2, (16.0, 64.0)),
           "default": AllocationSizes(128, 4, 64, 150, 8, 3, (8.0, 16.0, 32.0, 64.0, 128.0, 256.0)),
           "full": AllocationSizes(256, 4, 128, 300, 16, 4, (4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0))}


def _train_arm(arm: str, envs: list, setup: AllocationSizes, lr: float | np.ndarray, seed: int,
               progress: bool) -> TrainCurves:
    batch = PolicyBatch.stack(envs)
    for allocation in ALLOCATIONS:
        if arm == allocation.name:
            return train_adaptive(batch, setup.B, setup.updates, lr, seed, allocation=allocation, progress=progress)
    G = int(arm.split("-")[0])
    return train(batch, SimTrainConfig(group_size=G, prompts_per_step=setup.B // G, updates=setup.updates,
                                       label=arm), lr, seed, progress=progress)


def _run_distribution(study: StudyContext, distribution: str, setup: AllocationSizes, index: int) -> dict[str, Any]:
    def envs(stream: int, n: int) -> list:
        return [make_environment("log-linear", distribution, num_prompts=setup.prompts, num_answers=setup.answers,
                                 num_features=setup.prompts, seed=s) for s in study.seeds(stream, n)]

    eval_envs, tune_envs = envs(10 * index, setup.seeds), envs(10 * index + 1, setup.tuning_seeds)
    fixed = [f"{G}-GRPO" for G in GROUP_SIZES]
    arms = fixed + [a.name for a in ALLOCATIONS]
    seeds = study.seeds(10 * index + 2, 2 * len(arms))
    lrs = np.asarray(setup.lrs)
    curves: dict[str, TrainCurves] = {}
    sweep: dict[str, Any] = {}
    for i, arm in enumerate(arms):
        tuned = _train_arm(arm, tune_envs * len(lrs), setup, np.repeat(lrs, len(tune_envs)), seeds[2 * i],
                           study.progress)
        mean, half = mean_ci(tuned.final.reshape(len(lrs), len(tune_envs)), axis=1)
        best = int(np.argmax(mean))
        sweep[arm] = {"lr": lrs.tolist(), "tuning_final_J": mean.tolist(), "ci95": half.tolist(),
                      "chosen_lr": float(lrs[best]), "tuning_best_J": float(mean[best]),
                      "at_grid_edge": best in (0, len(lrs) - 1)}
        curves[arm] = _train_arm(arm, eval_envs, setup, float(lrs[best]), seeds[2 * i + 1], study.progress)
    best_fixed = max(fixed, key=lambda a: sweep[a]["tuning_best_J"])
    finals = {a: summary(c.final) for a, c in curves.items()}
    ranking = sorted(arms, key=lambda a: -finals[a].mean)
    return {"distribution": distribution, "curves": curves, "sweep": sweep, "finals": finals, "best_fixed": best_fixed,
            "winner": ranking[0], "runner_up": ranking[1],
            "winner_margin": _difference(curves[ranking[0]].final - curves[ranking[1]].final),
            "versus_best_fixed": {a.name: curves[a.name].final - curves[best_fixed].final for a in ALLOCATIONS},
            "initial_J": float(np.mean([e.objective() for e in eval_envs]))}


def _difference(per_seed: np.ndarray) -> dict[str, float]:
    """Mean of a paired per-seed difference with its 95% t interval: {mean, ci95, low, high}."""
    mean, half = mean_ci(per_seed)
    return {"mean": float(mean), "ci95": float(half), "low": float(mean - half), "high": float(mean + half)}


def by3_checks(versus_best_fixed: dict[str, Any], adaptive: str = ALLOCATIONS[0].name) -> dict[str, Decision]:
    """BY-3's checks: ``versus_best_fixed[distribution][best fixed G]`` the per-seed final J of the ``adaptive``
    allocation minus that of that best fixed G (chosen on tuning seeds), judged three-way against 0."""
    return {f"{dist}: {adaptive} at least as good as the best fixed G ({best})": decide_seeds(diff, 0.0)
            for dist, by_best in versus_best_fixed.items() for best, diff in by_best.items()}


def check_by3(ctx: RunContext) -> list[Evidence]:
    """BY-3: every pass-rate distribution, fixed G against the adaptive allocation; write
    ``by3_allocation.{json,png}``; return the BY-3 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, TRAINING_FOLDER, STUDY_KEY)
    setup = SIZES[ctx.budget]
    results = [_run_distribution(study, d, setup, i) for i, d in enumerate(PASS_RATE_DISTRIBUTIONS)]
    adaptive = ALLOCATIONS[0].name
    decisions = by3_checks({r["distribution"]: {r["best_fixed"]: r["versus_best_fixed"][adaptive]} for r in results},
                           adaptive)
    arms = list(results[0]["finals"])
    rows = []
    for r in results:
        cells = " | ".join(fmt_ci(r["finals"][a].mean, r["finals"][a].half_width) for a in arms)
        m = r["winner_margin"]
        rows.append(f"| {r['distribution']} | {r['initial_J']:.3f} | {cells} | {r['winner']} (+{m['mean']:.3f} "
                    f"[{m['low']:.3f}, {m['high']:.3f}] over {r['runner_up']}) |")
    header = "| pass rates | initial J | " + " | ".join(f"final J {a}" for a in arms) + " | winner (paired margin) |"
    steps = (
        f"Log-linear policy (shared theta, F = P = {setup.prompts} random features), K = {setup.answers} answers, "
        f"binary rewards; B = {setup.B} rollouts per update, {setup.updates} updates (total budget "
        f"{setup.B * setup.updates} rollouts per run); {setup.seeds} evaluation seeds, {setup.tuning_seeds} tuning "
        f"seeds; lr of each arm the best of {list(setup.lrs)} on the tuning seeds. Adaptive arms: "
        + "; ".join(f"{a.name}: {a}" for a in ALLOCATIONS) + ".",
        header + "\n" + "|---" * (len(arms) + 3) + "|\n" + "\n".join(rows),
        "Chosen lr: " + "; ".join(f"{r['distribution']}: " + ", ".join(
            f"{a} {s['chosen_lr']:g}{'*' if s['at_grid_edge'] else ''}" for a, s in r["sweep"].items())
                                  for r in results) + " (* at the grid's edge).",
    )
    data = {"claim": CLAIM, "budget": setup.__dict__, "allocations": [a.__dict__ for a in ALLOCATIONS],
            "distributions": [{"distribution": r["distribution"], "initial_J": r["initial_J"], "lr_sweep": r["sweep"],
                               "final_J": {a: v.to_json() for a, v in r["finals"].items()}, "winner": r["winner"],
                               "winner_margin": r["winner_margin"], "best_fixed_on_tuning": r["best_fixed"],
                               "versus_best_fixed": {a: _difference(d) for a, d in r["versus_best_fixed"].items()},
                               "per_seed_versus_best_fixed": r["versus_best_fixed"],
                               "curves": {a: curve_summary(c.objective) for a, c in r["curves"].items()}}
                              for r in results]}
    json_path = study.write_json("by3_allocation.json", data)
    png_path = _plot(study, results, setup)
    other = ALLOCATIONS[1].name
    versus = "; ".join(f"{r['distribution']} {fmt_ci(d['mean'], d['ci95'])}"
                       for r in results for d in [_difference(r["versus_best_fixed"][other])])
    reason = ("Winners (highest mean final J): " + "; ".join(f"{r['distribution']}: {r['winner']}" for r in results)
              + f". {adaptive} minus the best fixed G, paired over seeds: {decision_reason(decisions)} {other} minus "
              f"the best fixed G (reported, not judged): {versus}. Rule: a check holds when the whole 95% interval of "
              "the difference is >= 0, fails when it is wholly below 0, and is inconclusive otherwise.")
    numbers = {r["distribution"]: {"winner": r["winner"], "best_fixed_on_tuning": r["best_fixed"],
                                   "versus_best_fixed": {a: _difference(d) for a, d in r["versus_best_fixed"].items()},
                                   "final_J": {a: v.to_json() for a, v in r["finals"].items()}} for r in results}
    numbers["decisions"] = decision_numbers(decisions)
    return [Evidence.from_checks(CLAIM, "simulation", "compute-optimal group size at a fixed rollout budget",
                                 check_values(decisions), reason=reason, numbers=numbers, steps=steps,
                                 artefacts=(json_path, png_path))]


def _plot(study: StudyContext, results: list[dict[str, Any]], setup: AllocationSizes) -> str:
    fig, axes = new_figure(2, len(results), f"{CLAIM}: J at a fixed budget of {setup.B * setup.updates} rollouts "
                                            f"({setup.seeds} seeds, 95% CI)", panel_size=(3.9, 3.3))
    for col, r in enumerate(results):
        for i, (arm, c) in enumerate(r["curves"].items()):
            final = r["finals"][arm]
            band(axes[0, col], c.rollouts.mean(axis=0), *mean_ci(c.objective), label=arm, c=color(i), marker="")
            error_points(axes[1, col], [i], [final.mean], [final.half_width], label=arm, c=color(i))
        axes[1, col].set_xticks(range(len(r["curves"])))
        axes[1, col].set_xticklabels(list(r["curves"]), rotation=30, fontsize=7)
        finish(axes[0, col], f"pass rates: {r['distribution']}", "J (mean pass rate)", xlabel="rollouts consumed",
               legend=col == 0)
        finish(axes[1, col], f"final J (winner: {r['winner']})", "final J", xlabel="arm", legend=False)
    save_figure(fig, study.path("by3_allocation.png"),
                note="Each arm at its own lr (best on tuning seeds). Adaptive: pairs allocated ∝ p_hat(1 - p_hat) "
                     "or uniformly, saturated prompts skipped.")
    return study.rel("by3_allocation.png")
