"""Checks of method ``exact`` for VI-1, VI-2, VI-4 and BY-1: the solver of :mod:`theory.grpovi` against
an independent brute force (every vertex of the feasible polytope) and VI's O(n^2) enumeration, its
properties on seeded random groups, and the 2-GRPO no-op. Each check writes its details to its own JSON
under ``ctx.out_dir / "grpovi"`` and draws from its own stream ``[ctx.seed, STREAMS[check]]``.

The brute force shares nothing with the solver but the problem statement: it writes the constraints of
VI-1 as rows (bounds, the order of consecutive responses, the mean, and in ``keep`` mode the equalities
of tied rewards), solves every square system of n linearly independent active constraints, keeps the
feasible points and takes the largest sum p z^2. n <= 6 keeps it to a few thousand 6 x 6 systems.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evidence.io import atomic_write_json, jsonable
from evidence.record import Evidence, RunContext
from theory.advantages import group_advantages
from theory.grpovi import BUCKET_MIN_N, TIES, adjust_rewards, adjust_rewards_reference

FOLDER = "grpovi"
"""Subfolder of ``ctx.out_dir`` that the checks write their JSON to."""
SIZES = {"smoke": 1, "default": 8, "full": 40}
"""Instances per budget, as a multiple of the smoke counts below."""
STREAMS = {"check_vi1_vi2": 0, "check_vi4": 1, "check_by1": 2}
"""Seed stream of each check: its generator is ``np.random.default_rng([ctx.seed, STREAMS[check]])``."""
TOL = 1e-9
"""Agreement of objective and solution with the brute force, relative to max(1, |lo|, |hi|) (squared for
the objective); the mean and the variance hold to 1e-12 of the same scale, idempotence to 1e-9 (a fractional
response of weight 1e-6 is exact to about eps / 1e-6)."""


def brute_force_adjust(
    rewards: NDArray[np.float64], weights: NDArray[np.float64], lo: float, hi: float, ties: str
) -> tuple[NDArray[np.float64], float]:
    """(z, sum p z^2) maximising VI-1 for one group (n <= 6) by enumerating the polytope's vertices.

    Order: z_a >= z_b for consecutive responses a, b of r sorted descending, equal rewards by input
    position (``split``), or z_a = z_b where r_a = r_b (``keep``). Equalities (the mean, ties) are always
    active; every choice of the remaining n - #equalities active inequalities is solved; points within
    1e-10 (x scale) of feasibility are kept and the best objective wins, compared as the variance
    sum p (z - mean)^2 (the same order, without the offset mean^2 that rounding would hide it under).
    """
    n = rewards.size
    if n > 6:
        raise ValueError(f"rewards has n={n} responses; the brute force enumerates vertices for n <= 6 only")
    p = weights / weights.sum()
    order = sorted(range(n), key=lambda i: (-rewards[i], i))
    eq_rows, eq_rhs = [p / np.linalg.norm(p)], [float(p @ rewards) / np.linalg.norm(p)]
    ineq_rows, ineq_rhs = [], []  # rows . z >= rhs
    for a, b in itertools.pairwise(order):
        row = np.zeros(n)
        row[a], row[b] = 1.0, -1.0
        if ties == "keep" and rewards[a] == rewards[b]:
            eq_rows.append(row / np.sqrt(2.0))
            eq_rhs.append(0.0)
        else:
            ineq_rows.append(row / np.sqrt(2.0))
            ineq_rhs.append(0.0)
    for i in range(n):
        ineq_rows += [np.eye(n)[i], -np.eye(n)[i]]
        ineq_rhs += [lo, -hi]
    E, e = np.array(eq_rows), np.array(eq_rhs)
    G, g = np.array(ineq_rows), np.array(ineq_rhs)
    choices = list(itertools.combinations(range(len(G)), n - len(E)))
    choices = np.array(choices, dtype=int).reshape(len(choices), n - len(E))
    A = np.concatenate([np.broadcast_to(E, (len(choices), *E.shape)), G[choices]], axis=1)  # (K, n, n)
    b = np.concatenate([np.broadcast_to(e, (len(choices), len(e))), g[choices]], axis=1)  # (K, n)
    singular = np.linalg.svd(A, compute_uv=False)
    regular = singular[:, -1] > 1e-9 * singular[:, 0]
    z = np.linalg.solve(A[regular], b[regular][..., None])[..., 0]  # (K', n)
    scale = max(1.0, abs(lo), abs(hi))
    feasible = np.all(z @ G.T >= g - 1e-10 * scale, axis=1) & np.all(np.abs(z @ E.T - e) <= 1e-10 * scale, axis=1)
    z = np.clip(z[feasible], lo, hi)
    best = int(np.argmax((z - p @ rewards) ** 2 @ p))  # sum p z^2 - mean^2: no lo^2 offset to round away
    return z[best], float(z[best] ** 2 @ p)


@dataclass(frozen=True)
class Instance:
    """One group: rewards in [lo, hi], weights (probabilities, not necessarily normalised), and its kind."""

    rewards: NDArray[np.float64]
    weights: NDArray[np.float64]
    lo: float
    hi: float
    kind: str


REWARD_KINDS = ("continuous", "ties", "binary", "all-equal")
WEIGHT_KINDS = ("uniform", "random", "near 0 and 1", "with zeros")


def random_instance(rng: np.random.Generator, n: int) -> Instance:
    """A seeded random group of size n: rewards continuous, with ties, binary or all equal; weights
    uniform, random, near 0 and 1 (one response holds almost all), or with exact zeros."""
    lo = float(rng.choice([0.0, -1.0, float(rng.uniform(-3, 3))]))
    hi = lo + float(rng.choice([1.0, float(rng.uniform(0.01, 5.0))]))
    reward_kind, weight_kind = rng.choice(REWARD_KINDS), rng.choice(WEIGHT_KINDS)
    if reward_kind == "continuous":
        u = rng.uniform(size=n)
    elif reward_kind == "ties":
        u = rng.choice(np.append(rng.uniform(size=2), [0.0, 1.0]), size=n)
    elif reward_kind == "binary":
        u = rng.choice([0.0, 1.0], size=n)
    else:
        u = np.full(n, rng.choice([0.0, 1.0, float(rng.uniform())]))
    rewards = np.clip(lo * (1 - u) + hi * u, lo, hi)
    if weight_kind == "uniform":
        weights = np.ones(n)
    elif weight_kind == "random":
        weights = rng.uniform(0.05, 1.0, size=n)
    elif weight_kind == "near 0 and 1":
        weights = np.full(n, 1e-6)
        weights[rng.integers(n)] = 1.0
    else:
        weights = rng.uniform(size=n) * (rng.uniform(size=n) < 0.6)
        weights[rng.integers(n)] = 1.0
    return Instance(rewards, weights, lo, hi, f"{reward_kind} rewards, {weight_kind} weights")


def weighted_variance(z: NDArray[np.float64], p: NDArray[np.float64]) -> float:
    """sum p (z - sum p z)^2 with p normalised."""
    p = p / p.sum()
    return float(p @ (z - p @ z) ** 2)


def order_kept(z: NDArray[np.float64], r: NDArray[np.float64], ties: str) -> bool:
    """z_a >= z_b whenever r_a > r_b, or r_a = r_b with a before b (``split``); z_a = z_b when r_a = r_b
    (``keep``)."""
    higher = r[:, None] > r[None, :]
    earlier_tie = (r[:, None] == r[None, :]) & np.triu(np.ones((r.size, r.size), dtype=bool), 1)
    weak = np.all(z[:, None] >= z[None, :], where=higher | (earlier_tie if ties == "split" else False))
    return bool(weak and (ties == "split" or np.all(z[:, None] == z[None, :], where=r[:, None] == r[None, :])))


def _vi1_vi2(rng: np.random.Generator, size: int) -> tuple[Evidence, Evidence, dict]:
    """VI-1 (properties of the adjusted rewards) and VI-2 (global optimum: brute force, O(n^2) reference,
    extreme-point structure, the ties example)."""
    n_brute, n_reference, n_large = 60 * size, 10 * size, 1 * size
    worst = {"objective_vs_brute_force": 0.0, "solution_vs_brute_force": 0.0, "objective_vs_reference": 0.0,
             "mean_shift": 0.0, "bound_excess": 0.0, "variance_decrease": 0.0, "idempotence_gap": 0.0}
    agree = {"brute_force": 0, "reference": 0}
    failures = {"order": 0, "structure": 0}
    unchecked_picks_infeasible = 0
    counted = 0
    for trial in range(n_brute + n_reference + n_large):
        brute = trial < n_brute
        if brute:
            n = int(rng.integers(1, 7))
        else:  # the last n_large groups are large enough for the bucket selection
            n = int(rng.integers(7, 200)) if trial < n_brute + n_reference else BUCKET_MIN_N + int(rng.integers(512))
        inst = random_instance(rng, n)
        p = inst.weights / inst.weights.sum()
        scale = max(1.0, abs(inst.lo), abs(inst.hi))
        for ties in TIES:
            counted += 1
            z = adjust_rewards(inst.rewards, inst.weights, lo=inst.lo, hi=inst.hi, ties=ties)
            objective = float(p @ z**2)
            if brute:
                z_ref, objective_ref = brute_force_adjust(inst.rewards, inst.weights, inst.lo, inst.hi, ties)
                gap_z = float(np.abs(z - z_ref)[p > 0].max())
                gap_f = abs(objective - objective_ref) / scale**2
                worst["solution_vs_brute_force"] = max(worst["solution_vs_brute_force"], gap_z / scale)
                worst["objective_vs_brute_force"] = max(worst["objective_vs_brute_force"], gap_f)
                agree["brute_force"] += gap_z <= TOL * scale and gap_f <= TOL
                unchecked_picks_infeasible += _unchecked_enumeration_is_infeasible(inst, ties)
            else:
                z_ref = adjust_rewards_reference(inst.rewards, inst.weights, lo=inst.lo, hi=inst.hi, ties=ties)
                gap_f = abs(objective - float(p @ z_ref**2)) / scale**2
                worst["objective_vs_reference"] = max(worst["objective_vs_reference"], gap_f)
                agree["reference"] += gap_f <= TOL
            twice = adjust_rewards(z, inst.weights, lo=inst.lo, hi=inst.hi, ties=ties)
            worst["mean_shift"] = max(worst["mean_shift"], abs(float(p @ z - p @ inst.rewards)) / scale)
            worst["bound_excess"] = max(worst["bound_excess"], float(max(inst.lo - z.min(), z.max() - inst.hi)))
            worst["variance_decrease"] = max(
                worst["variance_decrease"], (weighted_variance(inst.rewards, p) - weighted_variance(z, p)) / scale**2)
            worst["idempotence_gap"] = max(worst["idempotence_gap"], float(np.abs(twice - z).max()) / scale)
            failures["order"] += not order_kept(z, inst.rewards, ties)
            failures["structure"] += not _extreme_point_structure(z, inst, ties)
    example = {ties: adjust_rewards([0.5] * 4, lo=0.0, hi=1.0, ties=ties).tolist() for ties in TIES}
    spurious = float(np.abs(group_advantages(np.array(example["split"]), "grpo", "sample")).max())
    silent = float(np.abs(group_advantages(np.array(example["keep"]), "grpo", "sample")).max())
    vi1_numbers = {"groups": counted, **{f"max_{k}": worst[k] for k in
                                         ("mean_shift", "bound_excess", "variance_decrease", "idempotence_gap")},
                   "order_violations": failures["order"]}
    vi2_numbers = {"instances_brute_force": 2 * n_brute, "agree_brute_force": agree["brute_force"],
                   "instances_reference": 2 * (n_reference + n_large), "agree_reference": agree["reference"],
                   **{f"max_{k}": worst[k] for k in
                      ("objective_vs_brute_force", "solution_vs_brute_force", "objective_vs_reference")},
                   "structure_violations": failures["structure"],
                   "unchecked_enumeration_picks_infeasible_point": unchecked_picks_infeasible,
                   "ties_example_split": example["split"], "ties_example_keep": example["keep"],
                   "ties_example_split_grpo_advantage_max": spurious, "ties_example_keep_grpo_advantage_max": silent}
    vi1 = Evidence.from_checks(
        "VI-1", "exact", "adjusted rewards keep the mean, the order and the bounds; variance never decreases",
        {"p-weighted mean preserved (1e-12)": worst["mean_shift"] <= 1e-12,
         "order kept (weak for split, ties equal for keep)": failures["order"] == 0,
         "bounds [lo, hi] kept": worst["bound_excess"] <= 0.0,
         "p-weighted variance not decreased (1e-12)": worst["variance_decrease"] <= 1e-12,
         "adjusting twice changes nothing (1e-9)": worst["idempotence_gap"] <= TOL},
        reason=f"{counted} seeded random groups (n = 1..199 and {BUCKET_MIN_N}..{BUCKET_MIN_N + 511}; continuous, "
               "tied, binary and all-equal rewards; uniform, random, near-0-and-1 and zero weights), both tie modes.",
        numbers=vi1_numbers)
    vi2 = Evidence.from_checks(
        "VI-2", "exact", "the O(n log n) greedy is the global optimum (brute force, O(n^2) enumeration)",
        {"solver equals the brute-force vertex enumeration, objective and solution (1e-9, n <= 6)":
             agree["brute_force"] == 2 * n_brute,
         "solver equals VI's O(n^2) enumeration with its feasibility check (objective 1e-9, n = 7..199 "
         f"and {BUCKET_MIN_N}..{BUCKET_MIN_N + 511}, bucket selection)":
             agree["reference"] == 2 * (n_reference + n_large),
         "every solution is hi on a prefix, one value on a block, lo on the rest": failures["structure"] == 0,
         "ties example (all 0.5, uniform, n = 4): split gives (1,1,0,0) as THEORY.md states":
             example["split"] == [1.0, 1.0, 0.0, 0.0],
         "keep leaves the all-equal group unchanged and GRPO-silent": example["keep"] == [0.5] * 4 and silent == 0},
        reason="The paper's model (ties='split') gives an all-equal group, which GRPO silences, a spurious "
               f"signal: (0.5, 0.5, 0.5, 0.5) -> {example['split']}, GRPO advantages up to +-{spurious:.3f} "
               "(sample std). ties='keep' (equal rewards stay equal) does not. "
               "Without the feasibility check lo <= c <= hi (missing from VI's published enumeration), the "
               "enumeration of extreme points would return an infeasible point on "
               f"{unchecked_picks_infeasible} of {2 * n_brute} small instances.",
        numbers=vi2_numbers)
    return vi1, vi2, {"worst": worst, "agree": agree, "failures": failures, "ties_example": example}


def _extreme_point_structure(z: NDArray[np.float64], inst: Instance, ties: str) -> bool:
    """At most one value strictly inside (lo, hi) among the positive-weight responses, held by one
    response (split) or one tie of equal rewards (keep)."""
    inside = (z > inst.lo) & (z < inst.hi) & (inst.weights > 0)
    if not inside.any():
        return True
    values, rewards = np.unique(z[inside]), np.unique(inst.rewards[inside])
    return values.size == 1 and (inside.sum() == 1 or (ties == "keep" and rewards.size == 1))


def _unchecked_enumeration_is_infeasible(inst: Instance, ties: str) -> bool:
    """Whether VI's enumeration of (prefix a, block end b) without the check lo <= c <= hi picks a point
    whose middle value c lies outside [lo, hi]."""
    order = np.argsort(-inst.rewards, kind="stable")
    r, p = inst.rewards[order], inst.weights[order] / inst.weights.sum()
    tau = float(p @ (r - inst.lo)) / (inst.hi - inst.lo)
    prefix = np.concatenate([[0.0], np.cumsum(p)])
    cuts = np.arange(r.size + 1)
    if ties == "keep":
        cuts = cuts[np.concatenate([[True], r[1:] != r[:-1], [True]])]
    best, best_c = -np.inf, 0.0
    for a, b in itertools.combinations(cuts, 2):
        mass = prefix[b] - prefix[a]
        if mass > 0:
            c = (tau - prefix[a]) / mass
            if prefix[a] + mass * c**2 > best:
                best, best_c = prefix[a] + mass * c**2, c
    return not -1e-12 <= best_c <= 1 + 1e-12


def _vi4(rng: np.random.Generator, size: int) -> tuple[Evidence, dict]:
    """VI-4: rewards in {lo, hi} come back unchanged, exactly, under any weights and both tie modes."""
    changed = {"exhaustive": 0, "random": 0}
    total = {"exhaustive": 0, "random": 0}
    for n in range(1, 11):  # every binary group of size <= 10, uniform weights, [0, 1]
        groups = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
        for ties in TIES:
            changed["exhaustive"] += int(np.any(adjust_rewards(groups, lo=0.0, hi=1.0, ties=ties) != groups,
                                                axis=-1).sum())
            total["exhaustive"] += len(groups)
    for _ in range(40 * size):  # random [lo, hi], 10 groups each; log-prob spreads up to hundreds of nats
        lo = float(rng.uniform(-3, 3))
        hi = lo + float(rng.uniform(0.01, 5))
        n = int(rng.integers(2, 65))
        rewards = np.where(rng.uniform(size=(10, n)) < rng.uniform(size=(10, 1)), hi, lo)
        log_probs = rng.normal(size=(10, n)) * rng.choice([1.0, 30.0, 400.0], size=(10, 1))  # 400: exact 0s
        for ties in TIES:
            z = adjust_rewards(rewards, lo=lo, hi=hi, ties=ties, log_probs=log_probs)
            changed["random"] += int(np.any(z != rewards, axis=-1).sum())
            total["random"] += len(rewards)
    evidence = Evidence.from_checks(
        "VI-4", "exact", "rewards in {lo, hi} are a fixed point of the adjustment (bit for bit)",
        {"every binary group of size <= 10 unchanged (uniform weights, both tie modes)": changed["exhaustive"] == 0,
         "random {lo, hi} groups unchanged under log-prob weights, incl. weights that underflow to 0":
             changed["random"] == 0},
        reason=f"All 2^n binary groups for n = 1..10 ({total['exhaustive']} with both tie modes) and "
               f"{total['random']} random groups (n = 2..64, random [lo, hi], sequence log-probs with spreads "
               "up to hundreds of nats, so some weights are exactly 0), both tie modes.",
        numbers={"groups": total, "changed": changed})
    return evidence, {"groups": total, "changed": changed}


def _by1(rng: np.random.Generator, size: int) -> tuple[Evidence, dict]:
    """BY-1: G = 2 with distinct rewards, grpo advantages of adjusted and raw rewards agree (eps = 0);
    an equal pair strictly inside (lo, hi) gets a signal under split only.

    Both equal c sign(r_1 - r_2) exactly (TT-3; c = 1 population, 1/sqrt(2) sample), so the adjusted
    advantages are checked against that value, to 1e-13 of their condition max(1, |z|) / |z_1 - z_2| (the
    rounding of the mean and std of a nearly equal pair); the computed raw ones carry the rounding of
    r_1 - r_2 (reported), the adjusted ones less (|z_1 - z_2| >= |r_1 - r_2|).
    """
    stds = {"sample": 1 / np.sqrt(2.0), "population": 1.0}
    gaps = {f"{ties}, {std}": 0.0 for ties in TIES for std in stds}
    gap_raw, gap_eps, pairs = 0.0, 0.0, 0
    for _ in range(20 * size):  # random [lo, hi], 100 pairs each, a quarter with one reward on a bound
        lo = float(rng.uniform(-3, 3))
        hi = lo + float(rng.uniform(0.01, 5))
        rewards = np.clip(lo + (hi - lo) * rng.uniform(size=(100, 2)), lo, hi)
        rewards[:25, 1] = rng.choice([lo, hi], size=25)
        rewards = rewards[rewards[:, 0] != rewards[:, 1]]
        weights = rng.dirichlet([0.3, 0.3], size=len(rewards))
        pairs += len(rewards)
        for ties in TIES:
            z = adjust_rewards(rewards, weights, lo=lo, hi=hi, ties=ties)
            for std, c in stds.items():
                exact = c * np.sign(rewards[:, :1] - rewards[:, 1:]) * np.array([1.0, -1.0])
                condition = np.maximum(1.0, np.abs(z).max(axis=-1)) / np.abs(z[:, 0] - z[:, 1])
                gap = np.abs(group_advantages(z, "grpo", std, 0.0) - exact).max(axis=-1) / condition
                gaps[f"{ties}, {std}"] = max(gaps[f"{ties}, {std}"], float(gap.max()))
                gap_raw = max(gap_raw, float(np.abs(group_advantages(z, "grpo", std, 0.0)
                                                    - group_advantages(rewards, "grpo", std, 0.0)).max()))
            gap = group_advantages(z, "grpo", "sample", 1e-6) - group_advantages(rewards, "grpo", "sample", 1e-6)
            gap_eps = max(gap_eps, float(np.abs(gap).max()))
    equal = np.full(2, 0.3)
    signal = {ties: float(np.abs(group_advantages(adjust_rewards(equal, lo=0.0, hi=1.0, ties=ties), "grpo",
                                                  "sample")).max()) for ties in TIES}
    checks = {f"distinct pairs: grpo advantages of adjusted rewards == c sign(r_1 - r_2) ({k}, eps 0, 1e-13 x "
              "condition)": v <= 1e-13 for k, v in gaps.items()}
    checks["equal pair (0.3, 0.3) in [0, 1]: split gives a signal, keep stays silent"] = (
        signal["split"] > 0.5 and signal["keep"] == 0.0)
    evidence = Evidence.from_checks(
        "BY-1", "exact", "GRPOVI is a no-op for 2-GRPO, except where ties split", checks,
        reason=f"{pairs} random pairs with distinct rewards (a quarter with one reward on a bound), random "
               "[lo, hi] and Dirichlet(0.3) weights, both tie modes and both std modes. The raw advantages "
               "equal c sign(r_1 - r_2) exactly (TT-3); computed from nearly equal raw rewards they differ from "
               f"the adjusted ones by up to {gap_raw:.1e} (rounding of r_1 - r_2). With eps > 0 the normaliser "
               f"differs between raw and adjusted rewards: max gap {gap_eps:.2e} at eps = 1e-6. An equal pair "
               f"(0.3, 0.3) gets advantages +-{signal['split']:.4f} under split (sample std).",
        numbers={"pairs": pairs, **{f"max_gap_to_exact_over_condition[{k}]": v for k, v in gaps.items()},
                 "max_gap_to_computed_raw": gap_raw, "max_gap_eps_1e-6": gap_eps,
                 "equal_pair_advantage_split": signal["split"], "equal_pair_advantage_keep": signal["keep"]})
    return evidence, {"gaps": gaps, "equal_pair_advantage": signal}



def _rng(ctx: RunContext, check: str) -> np.random.Generator:
    """The check's own generator: ``ctx.seed`` and its stream."""
    return np.random.default_rng([ctx.seed, STREAMS[check]])


def _write(ctx: RunContext, name: str, details: dict[str, Any]) -> str:
    """Write a check's details (with budget and seed) to ``grpovi/<name>``; return that relative path."""
    path = f"{FOLDER}/{name}"
    atomic_write_json(ctx.out_dir / path, jsonable({"budget": ctx.budget, "seed": ctx.seed, **details}))
    return path


def check_vi1_vi2(ctx: RunContext) -> list[Evidence]:
    """VI-1 and VI-2 from one computation (the same random groups): the records of those ``ctx`` wants;
    details in ``grpovi/vi1_vi2.json``."""
    wanted = [claim for claim in ("VI-1", "VI-2") if ctx.wants(claim)]
    if not wanted:
        return []
    *evidence, details = _vi1_vi2(_rng(ctx, "check_vi1_vi2"), SIZES[ctx.budget])
    artefact = _write(ctx, "vi1_vi2.json", details)
    return [replace(e, artefacts=(artefact,)) for e in evidence if e.claim_id in wanted]


def check_vi4(ctx: RunContext) -> list[Evidence]:
    """VI-4: rewards in {lo, hi} are a fixed point of the adjustment; details in ``grpovi/vi4.json``."""
    if not ctx.wants("VI-4"):
        return []
    evidence, details = _vi4(_rng(ctx, "check_vi4"), SIZES[ctx.budget])
    return [replace(evidence, artefacts=(_write(ctx, "vi4.json", details),))]


def check_by1(ctx: RunContext) -> list[Evidence]:
    """BY-1: GRPOVI is a no-op for 2-GRPO except where ties split; details in ``grpovi/by1.json``."""
    if not ctx.wants("BY-1"):
        return []
    evidence, details = _by1(_rng(ctx, "check_by1"), SIZES[ctx.budget])
    return [replace(evidence, artefacts=(_write(ctx, "by1.json", details),))]
