"""BY-3 advice from pass rates: group size and rollout allocation, predicted by the exact engine and measured.

Every prediction is made on the 2-answer softmax bandit whose initial pass rates are the given p_q
(:func:`bandit`; pass rates 0 and 1 are moved to 1e-9 and 1 - 1e-9, which a softmax with finite logits
needs), with the exact moments of :func:`simulations.engine.exact_group_moments`:

- :func:`group_size_table`: uniform G at B rollouts per update, Q = B/G prompts drawn uniformly with
  replacement (the engine's batch), by :func:`simulations.engine.exact_update_statistics`: silent share,
  non-zero-gradient ratio, SNR = ||E g||^2 / tr Cov g, cosine to grad J and
  gain = cos^2 SNR / (1 + SNR) (the one-step improvement at the best step size, :mod:`theory.allocation`),
  each also relative to G = 16.
- :func:`allocation_statistics`: a fixed allocation n_q over the P prompts, from the same per-prompt moments
  (E g = (1/B) sum_q n_q E W_q mapped by ``env.direction``; tr Cov g = (1/B^2) sum_q n_q^2 tr Cov(W_q s)),
  the engine's twin of :func:`theory.allocation.allocation_statistics`.
- :func:`advise`: both tables for uniform G, Knapsack RL, the VIP-style allocation and ours
  (:mod:`theory.allocation`), and the recommendation.

Measured twins: :func:`measure_group_sizes` (Monte Carlo SNR and silent share of uniform G by
:func:`simulations.engine.simulate_update_statistics`) and :func:`measure_training_gain` (the reward gained per
1,000 rollouts by training a test bed with each arm, every allocator re-run each step on the current true pass
rates, with 95% CIs over seeds). The test bed of ``grpo-verify advise --measure`` is the log-linear policy
(shared parameters, so the prompts' updates interact, which the prediction ignores): on the 2-answer bandit
every non-silent group raises its prompt's pass rate, so the largest step always wins and noise never costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulations.engine import (
    UpdateRule,
    exact_group_moments,
    exact_update_statistics,
    rule_advantages,
    sample_rollouts,
    simulate_update_statistics,
)
from simulations.environments import Environment, make_environment
from theory import allocation
from theory.statistics import mean_ci

REFERENCE_GROUP_SIZE = 16
"""Every SNR and gain is also given relative to uniform G = 16 (16-GRPO, TT's reference arm)."""
GROUP_SIZES = (2, 4, 8, 16)
OPEN_EPS = 1e-9
"""Pass rates 0 and 1 become OPEN_EPS and 1 - OPEN_EPS: a softmax with finite logits has 0 < p < 1."""
RULE = UpdateRule("grpo", std="sample", eps=0.0)
"""GRPO with the sample std (TRL's and verl's default), eps = 0 as in :mod:`theory.allocation`."""
ALLOCATORS = ("knapsack", "variance", "ours")
ALLOCATOR_TITLES = {"knapsack": "Knapsack RL (2509.25849)", "variance": "VIP-style variance (2602.01601)",
                    "ours": "ours (max gain)"}


def bandit(pass_rates: ArrayLike, *, num_answers: int = 2, seed: int = 0, kind: str = "bandit") -> Environment:
    """The softmax bandit (or another ``kind`` of :func:`simulations.environments.make_environment`) whose
    initial pass rates are ``pass_rates`` (clipped into the open interval)."""
    p = allocation.check_pass_rates(pass_rates)
    return make_environment(kind, np.clip(p, OPEN_EPS, 1 - OPEN_EPS), num_answers=num_answers, seed=seed)


def _summary(snr: float, cosine: float, silent: float, rollouts: int) -> dict[str, float]:
    gain = cosine * cosine * snr / (1 + snr) if np.isfinite(snr) and np.isfinite(cosine) else float("nan")
    return {"silent_share": silent, "nonzero_ratio": 1.0 - silent, "snr": snr, "snr_per_rollout": snr / rollouts,
            "cosine": cosine, "gain": gain}


def group_size_table(pass_rates: ArrayLike, budget: int, group_sizes: Sequence[int] = GROUP_SIZES, *,
                     rule: UpdateRule = RULE) -> dict[int, dict[str, float]]:
    """Exact statistics of uniform G (Q = B/G prompts drawn with replacement) for each G dividing B; adds
    ``snr_vs_16`` and ``gain_vs_16`` (ratios to G = 16 when it is in ``group_sizes`` and divides B)."""
    env = bandit(pass_rates)
    table: dict[int, dict[str, float]] = {}
    for G in group_sizes:
        if budget % G:
            continue
        stats = exact_update_statistics(env, budget // G, exact_group_moments(env, G, rule), rule)
        table[G] = {"prompts": budget // G, **_summary(stats["snr"].value, stats["cosine"].value,
                                                        stats["silent_fraction"].value, budget)}
    if not table:
        raise ValueError(f"budget={budget} is a multiple of none of group_sizes={tuple(group_sizes)}")
    _relative(table, table.get(REFERENCE_GROUP_SIZE))
    return table


def _relative(rows: dict[Any, dict[str, float]], reference: dict[str, float] | None) -> None:
    for row in rows.values():
        for key in ("snr", "gain"):
            row[f"{key}_vs_16"] = row[key] / reference[key] if reference and reference[key] > 0 else float("nan")


def allocation_statistics(env: Environment, sizes: ArrayLike, *, rule: UpdateRule = RULE) -> dict[str, float]:
    """Exact statistics of the update g = (1/B) sum_q n_q sum_o W_q[o] s(q, o) of a fixed allocation n_q (one
    group of n_q rollouts on prompt q, prompts independent): E g from the engine's E W, tr Cov g as the sum of
    the groups' (n_q/B)^2 (E[W^T Gram W] - E W^T Gram E W)."""
    n = allocation.check_allocation(sizes, env.num_prompts)
    B = int(n.sum())
    gram = env.gram()
    mean_w = np.zeros((env.num_prompts, env.num_outcomes))
    trace, silent = 0.0, 0.0
    for size in np.unique(n[n > 0]):
        rows = np.flatnonzero(n == size)
        moments = exact_group_moments(env, int(size), rule)
        scale = size / B
        mean_w[rows] = scale * moments.mean[rows]
        second = np.einsum("qoe,qoe->q", moments.second[rows], gram[rows])
        first = np.einsum("qo,qoe,qe->q", moments.mean[rows], gram[rows], moments.mean[rows])
        trace += float((scale * scale * (second - first)).sum())
        silent += float(moments.silent[rows].sum())
    mean = env.direction(mean_w)
    grad = env.true_gradient()
    norm_sq = float(mean @ mean)
    cosine = float(mean @ grad) / np.sqrt(norm_sq * float(grad @ grad)) if norm_sq > 0 else float("nan")
    return _summary(norm_sq / trace if trace > 0 else float("nan"), cosine, silent / np.count_nonzero(n), B)


@dataclass(frozen=True)
class Advice:
    """What :func:`advise` found: ``recommended_group_size`` (max gain among uniform G), the engine's
    ``group_sizes`` table, the ``allocations`` table (uniform G, each allocator) with statistics relative to
    uniform G = 16, the allocators' ``allocations_n`` (rollouts per prompt), the batch's ``pass_rates``."""

    budget: int
    pass_rates: NDArray[np.float64]
    recommended_group_size: int
    group_sizes: dict[int, dict[str, float]]
    allocations: dict[str, dict[str, float]]
    allocations_n: dict[str, NDArray[np.int64]]

    def to_json(self) -> dict[str, Any]:
        return {"budget": self.budget, "prompts": int(self.pass_rates.size),
                "recommended_group_size": self.recommended_group_size,
                "group_sizes": {str(k): v for k, v in self.group_sizes.items()},
                "allocations": self.allocations,
                "allocation_histograms": {k: {str(s): int(c) for s, c in zip(*np.unique(v, return_counts=True),
                                                                                 strict=True)}
                                          for k, v in self.allocations_n.items()}}


def allocate(name: str, pass_rates: ArrayLike, budget: int, *, max_group: int = 64) -> NDArray[np.int64]:
    """The allocation of allocator ``name`` (:data:`ALLOCATORS`) from :mod:`theory.allocation`."""
    if name == "knapsack":
        return allocation.knapsack_allocation(pass_rates, budget, max_group=max_group)
    if name == "variance":
        return allocation.variance_allocation(pass_rates, budget, max_group=max_group)
    if name == "ours":
        return allocation.gain_allocation(pass_rates, budget, max_group=max_group)
    raise ValueError(f"allocator={name!r} is not allowed; choose one of {', '.join(ALLOCATORS)}")


def advise(pass_rates: ArrayLike, budget: int, *, batch: ArrayLike | None = None,
           group_sizes: Sequence[int] = GROUP_SIZES, max_group: int = 64) -> Advice:
    """Recommended G: max exact gain among uniform G at B rollouts per update, Q = B/G prompts drawn with
    replacement from ``pass_rates`` (the pool). Allocations of B rollouts over a ``batch`` of prompts (pass
    rates; default: the pool): uniform G (B/G prompts of the batch, drawn without replacement when
    B/G <= P, else with; expected statistics of :mod:`theory.allocation`), Knapsack RL, the VIP-style
    allocation and ours, each fixed allocation with the engine's exact statistics. The VIP-style allocation
    gives every prompt >= 2 rollouts, so it needs 2 P <= B."""
    pool = allocation.check_pass_rates(pass_rates)
    p = pool if batch is None else allocation.check_pass_rates(batch)
    table = group_size_table(pool, budget, group_sizes)
    recommended = max(table, key=lambda G: table[G]["gain"])
    env = bandit(p)
    rows: dict[str, dict[str, float]] = {}
    for G in group_sizes:
        if budget % G == 0:
            replace = budget // G > p.size
            stats = allocation.uniform_statistics(p, G, budget, replace=replace)
            label = f"uniform G={G}" + (" (prompts repeat)" if replace else "")
            rows[label] = _summary(stats.snr, stats.cosine, stats.silent_share, budget)
    chosen: dict[str, NDArray[np.int64]] = {}
    for name in ALLOCATORS:
        if name == "variance" and budget < allocation.MIN_GROUP * p.size:
            continue
        chosen[name] = allocate(name, p, budget, max_group=max_group)
        row = allocation_statistics(env, chosen[name])
        row["nonzero_ratio"] = allocation.allocation_statistics(p, chosen[name]).nonzero_ratio
        rows[ALLOCATOR_TITLES[name]] = row
    reference = next((v for k, v in rows.items() if k.startswith(f"uniform G={REFERENCE_GROUP_SIZE}")), None)
    _relative(rows, reference)
    return Advice(budget, p, recommended, table, rows, chosen)


@dataclass(frozen=True)
class MeasuredGroupSize:
    """Monte Carlo estimates (value, 95% half width) of uniform G's SNR and silent share."""

    group_size: int
    snr: tuple[float, float]
    silent_share: tuple[float, float]


def measure_group_sizes(pass_rates: ArrayLike, budget: int, group_sizes: Sequence[int] = GROUP_SIZES, *,
                        trials: int, seed: int, num_answers: int = 2) -> dict[int, MeasuredGroupSize]:
    """SNR and silent share of uniform G measured by Monte Carlo (``trials`` batches of Q = B/G prompts,
    :func:`simulations.engine.simulate_update_statistics`) on the ``num_answers``-answer bandit."""
    env = bandit(pass_rates, num_answers=num_answers, seed=seed)
    out = {}
    for G in group_sizes:
        stats = simulate_update_statistics(env, G, budget // G, RULE, trials=trials, seed=(seed, G))
        out[G] = MeasuredGroupSize(G, (stats["snr"].value, stats["snr"].half_width),
                                   (stats["silent_fraction"].value, stats["silent_fraction"].half_width))
    return out


Groups = dict[int, NDArray[np.int64]]
"""The groups of one update: group size -> the prompts that get a group of that size (a prompt may repeat)."""
Arm = Callable[[NDArray[np.float64], np.random.Generator], Groups]
"""An arm maps the current pass rates (P,) and an rng to the groups of the next update."""


def uniform_arm(group_size: int, budget: int) -> Arm:
    """Uniform G: B/G prompts drawn uniformly each update (without replacement when B/G <= P), G rollouts each."""
    def arm(p: NDArray[np.float64], rng: np.random.Generator) -> Groups:
        Q = budget // group_size
        return {group_size: rng.choice(p.size, Q, replace=Q > p.size)}
    return arm


def allocator_arm(name: str, budget: int, *, max_group: int = 64) -> Arm:
    """Allocator ``name`` re-run on the current (true) pass rates before every update."""
    def arm(p: NDArray[np.float64], rng: np.random.Generator) -> Groups:
        n = allocate(name, p, budget, max_group=max_group)
        return {int(size): np.flatnonzero(n == size) for size in np.unique(n[n > 0])}
    return arm


def _update(env: Environment, groups: Groups, rng: np.random.Generator) -> NDArray[np.float64]:
    """g = (1/B) sum over every group and rollout of A_i s(q, o_i), GRPO advantages within each group."""
    B = sum(size * prompts.size for size, prompts in groups.items())
    g = np.zeros(env.dim)
    for size, prompts in groups.items():
        rollouts = sample_rollouts(env, size, rng, prompts=prompts)
        adv = rule_advantages(RULE, rollouts.rewards)
        g += env.rollout_direction(rollouts.prompts, rollouts.outcomes, adv / B)[0]
    return g


def train_arm(pass_rates: ArrayLike, arm: Arm, *, steps: int, lr: float, seed: int,
              kind: str = "bandit") -> NDArray[np.float64]:
    """J after each of ``steps`` updates by ``arm`` (J[0] at the start), shape (steps + 1,), on the environment
    ``kind`` (bandit or log-linear, 2 answers) with the given initial pass rates."""
    env = bandit(pass_rates, kind=kind)
    rng = np.random.default_rng(seed)
    curve = [env.objective()]
    for _ in range(steps):
        env.step(_update(env, arm(env.pass_rates(), rng), rng), lr)
        curve.append(env.objective())
    return np.array(curve)


@dataclass(frozen=True)
class MeasuredGain:
    """Reward (J) gained per 1,000 rollouts over ``steps`` updates: mean and 95% half width over seeds, at the
    arm's ``lr`` (the best of the grid on separate tuning seeds)."""

    gain_per_1000: float
    half_width: float
    lr: float
    seeds: int


def measure_training_gain(pass_rates: ArrayLike, budget: int, arms: dict[str, Arm], *, steps: int, seeds: int,
                          lrs: Sequence[float], tuning_seeds: int = 2, seed: int = 0,
                          kind: str = "bandit") -> dict[str, MeasuredGain]:
    """For each arm: lr = argmax over ``lrs`` of mean J after ``steps`` updates on ``tuning_seeds`` seeds
    (seed + 1000 + i), then (J_T - J_0) * 1000 / (steps B) on ``seeds`` evaluation seeds (seed + i), all on the
    environment ``kind`` (:func:`train_arm`)."""
    if seeds < 2:
        raise ValueError(f"seeds={seeds} must be >= 2 for a confidence interval")
    out = {}
    for name, arm in arms.items():
        tuned = {lr: np.mean([train_arm(pass_rates, arm, steps=steps, lr=lr, seed=seed + 1000 + i, kind=kind)[-1]
                              for i in range(tuning_seeds)]) for lr in lrs}
        lr = max(tuned, key=tuned.__getitem__)
        curves = [train_arm(pass_rates, arm, steps=steps, lr=lr, seed=seed + i, kind=kind) for i in range(seeds)]
        gains = np.array([c[-1] - c[0] for c in curves])
        mean, half = mean_ci(gains * 1000 / (steps * budget))
        out[name] = MeasuredGain(float(mean), float(half), float(lr), seeds)
    return out
