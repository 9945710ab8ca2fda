"""BY-3: spending B rollouts on P prompts of known pass rates p_q, predicted exactly, and four allocators.

The model of one update (binary rewards, group advantages, prompts independent): prompt q gets a group of
n_q rollouts (n_q = 0 skips it; n_q = 1 gives no baseline and is not allowed). A prompt is a Bernoulli(p_q)
logit, as in the 2-answer softmax bandit of ``simulations.environments``: the score of a correct rollout is
(1 - p) d_q and of a wrong one -p d_q, d_q = e_correct - e_wrong, so the group adds U_q d_q with

    U_q = sum_i A_i (r_i - p_q) = k A+(k)          (k successes; sum_i A_i = 0)

and the update is g = (1/B) sum_q U_q d_q, B = sum_q n_q, while grad J = (1/P) sum_q a_q d_q, a = p (1 - p).
Per prompt (exact, by the binomial law of k): m_n(p) = E U = n a lambda_n(p) (TT-4) and
s_n(p) = E U^2 (= (n - 1)^2 a for GRPO with the sample std). The d_q are orthogonal and ||d_q||^2 = 2
cancels in every ratio below:

    silent share            = mean over groups of p^n + (1 - p)^n                      (TT-8)
    non-zero-gradient ratio = sum_q n_q (1 - p^n - (1-p)^n) / B    (rollouts with A != 0; Knapsack RL's metric)
    SNR                     = ||E g||^2 / tr Cov g = sum m^2 / sum (s - m^2)
    cosine                  = <E g, grad J> / (||E g|| ||grad J||)
    gain                    = <E g, grad J>^2 / (||grad J||^2 E||g||^2) = cos^2 SNR / (1 + SNR)
                            = (sum a m)^2 / (sum a^2 sum s).

``gain`` is the first-order improvement of J by one step at the best step size, in units of
||grad J||^2 / (2 L) (E[dJ] = eta <grad J, E g> - (L/2) eta^2 E||g||^2, maximised over eta). SNR alone
rewards concentrating the budget: a single prompt's update has the highest SNR and a useless direction.
``gain`` charges the off-gradient part of E g as noise, so it is what our allocator maximises.

Allocators (each returns integer n_q summing to B exactly):

- uniform G: Q = B/G prompts drawn uniformly without replacement, G rollouts each (statistics in
  expectation over the draw, :func:`uniform_statistics`);
- Knapsack RL (arXiv 2509.25849): maximise sum_q (1 - p^n - (1-p)^n) InfoGain(p), InfoGain = p (1-p)^2,
  a multiple-choice knapsack solved exactly by dynamic programming (:func:`knapsack_allocation`);
- VIP-style (arXiv 2602.01601): minimise the predicted variance sum_q a_q / n_q of the prompt-averaged
  gradient under the budget, a convex problem: n_q = clip(sqrt(a_q / nu), n_min, n_max) with
  sum n_q = B (:func:`variance_allocation_continuous`), rounded by greedy marginal steps, optimal for the
  separable convex integer problem (:func:`variance_allocation`);
- ours: maximise ``gain`` (:func:`gain_allocation`).
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from theory.expectations import GROUP_ESTIMATORS, binary_group_advantage, binomial_pmf
from theory.validation import check_choice, check_probability

MIN_GROUP = 2
"""The smallest group that carries a signal (a group of one has no baseline)."""


def _check_int(name: str, value: int, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
        high is not None and value > high
    ):
        upper = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{name}={value!r} must be an integer >= {low}{upper}")
    return int(value)


def check_pass_rates(pass_rates: ArrayLike) -> NDArray[np.float64]:
    """Pass rates as a non-empty 1-d float array in [0, 1]."""
    p = check_probability("pass_rates", pass_rates)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"pass_rates must be a non-empty 1-d array of values in [0, 1], got shape {p.shape}")
    return p


def silent_probability(p: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """p^n + (1 - p)^n, elementwise (TT-8); 0 where n = 0 (no group, nothing silent)."""
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n)
    return np.where(n > 0, p**n + (1 - p) ** n, 0.0)


def group_update_moments(pass_rates: ArrayLike, max_group: int, *, estimator: str = "grpo",
                         std: str = "sample") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """m[q, n] = E U and s[q, n] = E U^2 of U = k A+(k), k ~ Binomial(n, p_q), for n = 0..max_group.

    A+(k) is the advantage of a success in a binary group of n with k successes, computed by name
    (:func:`theory.expectations.binary_group_advantage`, eps = 0); columns 0 and 1 are 0 (no signal).
    """
    p = check_pass_rates(pass_rates)
    max_group = _check_int("max_group", max_group, MIN_GROUP)
    check_choice("estimator", estimator, GROUP_ESTIMATORS)
    m = np.zeros((p.size, max_group + 1))
    s = np.zeros((p.size, max_group + 1))
    for n in range(MIN_GROUP, max_group + 1):
        k = np.arange(n + 1)
        a_plus = np.concatenate([[0.0], binary_group_advantage(n, 1, estimator, std, 0.0)])  # A+(k), k = 0..n
        u = k * a_plus  # (n + 1,)
        pmf = binomial_pmf(n, p)  # (P, n + 1)
        m[:, n], s[:, n] = pmf @ u, pmf @ (u * u)
    return m, s


@dataclass(frozen=True)
class AllocationStatistics:
    """Predicted statistics of one update (module docstring): ``rollouts`` B, expected ``groups``,
    ``silent_share`` of groups, ``nonzero_ratio`` of rollouts, ``snr``, ``snr_per_rollout`` = snr / B,
    ``cosine`` to grad J and ``gain``."""

    rollouts: int
    groups: float
    silent_share: float
    nonzero_ratio: float
    snr: float
    snr_per_rollout: float
    cosine: float
    gain: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def _statistics(rollouts: int, groups: float, silent: float, nonzero: float, am: float, a2: float, m2: float,
                s: float) -> AllocationStatistics:
    """From sums: am = <E g, grad J>-part sum a m, a2 = sum a^2, m2 = ||E g||^2-part, s = E||g||^2-part."""
    snr = _ratio(m2, s - m2)
    cosine = _ratio(am, np.sqrt(a2 * m2)) if a2 > 0 and m2 > 0 else float("nan")
    gain = _ratio(am * am, a2 * s) if a2 > 0 else float("nan")
    return AllocationStatistics(rollouts, groups, _ratio(silent, groups), _ratio(nonzero, rollouts), snr,
                                snr / rollouts, cosine, gain)


def allocation_statistics(pass_rates: ArrayLike, allocation: ArrayLike, *, estimator: str = "grpo",
                          std: str = "sample") -> AllocationStatistics:
    """Statistics of a fixed allocation n_q (module docstring): SNR = sum m^2 / sum (s - m^2),
    gain = (sum a m)^2 / (sum a^2 sum s), silent share and non-zero-gradient ratio."""
    p = check_pass_rates(pass_rates)
    n = check_allocation(allocation, p.size)
    m_table, s_table = group_update_moments(p, max(int(n.max()), MIN_GROUP), estimator=estimator, std=std)
    rows = np.arange(p.size)
    m, s = m_table[rows, n], s_table[rows, n]
    a = p * (1 - p)
    silent = silent_probability(p, n)
    return _statistics(int(n.sum()), float(np.count_nonzero(n)), float(silent.sum()),
                       float((n * (1 - silent) * (n > 0)).sum()), float(a @ m), float(a @ a), float(m @ m),
                       float(s.sum()))


def uniform_statistics(pass_rates: ArrayLike, group_size: int, budget: int, *, replace: bool = False,
                       estimator: str = "grpo", std: str = "sample") -> AllocationStatistics:
    """E g = (pi/B) sum_q m_q d_q, E||g||^2 = (2/B^2) [pi sum s + (replace) Q (Q-1)/P^2 sum m^2], pi = Q/P: uniform G,
    Q = B/G prompts drawn uniformly without (or, as the engine draws them, with) replacement; statistics in
    expectation over the draw."""
    p = check_pass_rates(pass_rates)
    G = _check_int("group_size", group_size, MIN_GROUP)
    budget = _check_int("budget", budget, G)
    if budget % G:
        raise ValueError(f"budget={budget} must be a multiple of group_size={G}")
    P, Q = p.size, budget // G
    if not replace and Q > P:
        raise ValueError(f"group_size={G} needs budget/group_size = {Q} prompts; only {P} given "
                         f"(group_size must be >= budget/P = {budget / P:g} without replacement)")
    m_table, s_table = group_update_moments(p, G, estimator=estimator, std=std)
    m, s = m_table[:, G], s_table[:, G]
    a = p * (1 - p)
    silent = float(silent_probability(p, G).mean())
    pi = Q / P  # E[times prompt q is drawn]
    second = pi * s.sum() + (Q * (Q - 1) / P**2 * (m @ m) if replace else 0.0)  # E||g||^2 in units 2/B^2
    mean_sq = pi * pi * float(m @ m)
    return _statistics(budget, float(Q), silent * Q, (1 - silent) * budget, pi * float(a @ m), float(a @ a),
                       mean_sq, float(second))


def check_allocation(allocation: ArrayLike, num_prompts: int) -> NDArray[np.int64]:
    """n_q as int64 (P,): integers >= 0, none equal to 1."""
    try:
        n = np.asarray(allocation)
    except ValueError:  # ragged
        n = np.asarray(None)
    if n.shape != (num_prompts,) or n.dtype.kind not in "iu" or np.any(n < 0) or np.any(n == 1) or not n.any():
        raise ValueError(f"allocation must be {num_prompts} integers, each 0 or >= {MIN_GROUP}, not all 0; got {n!r}")
    return n.astype(np.int64)


def _check_budget(budget: int, num_prompts: int, min_group: int, max_group: int, allow_skip: bool) -> int:
    low = MIN_GROUP if allow_skip else min_group * num_prompts
    high = max_group * num_prompts
    budget = _check_int("budget", budget, low, high)
    if min_group == max_group and budget % min_group:
        raise ValueError(f"budget={budget} must be a multiple of {min_group} when every group has {min_group} rollouts "
                         f"(min_group = max_group = {min_group})")
    return budget


def _choices(min_group: int, max_group: int, allow_skip: bool) -> NDArray[np.int64]:
    sizes = np.arange(min_group, max_group + 1)
    return np.concatenate([[0], sizes]) if allow_skip else sizes


def knapsack_dp(values: ArrayLike, sizes: ArrayLike, budget: int) -> NDArray[np.int64]:
    """argmax_{c} sum_q values[q, c_q] subject to sum_q sizes[c_q] = budget (each prompt picks one size):
    the multiple-choice knapsack by dynamic programming over the budget, O(P C B). Returns n_q = sizes[c_q];
    ties go to the earlier choice. Raises ValueError when no choice meets the budget exactly."""
    v = np.asarray(values, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != sizes.size or not np.all(np.isfinite(v)):
        raise ValueError(f"values must be finite of shape (P, {sizes.size}); got {v.shape}")
    budget = _check_int("budget", budget, 0)
    P = v.shape[0]
    best = np.full(budget + 1, -np.inf)
    best[0] = 0.0
    pick = np.zeros((P, budget + 1), dtype=np.int64)
    source = np.arange(budget + 1)[None, :] - sizes[:, None]  # (C, B+1): the budget left before choice c
    valid = source >= 0
    source = np.where(valid, source, 0)
    for q in range(P):
        candidate = np.where(valid, best[source] + v[q][:, None], -np.inf)  # (C, B+1)
        pick[q] = candidate.argmax(axis=0)  # first maximum: ties go to the earlier choice
        best = candidate[pick[q], np.arange(budget + 1)]
    if not np.isfinite(best[budget]):
        raise ValueError(f"budget={budget} cannot be met exactly with group sizes {sizes.tolist()} on {P} prompts")
    n = np.zeros(P, dtype=np.int64)
    left = budget
    for q in range(P - 1, -1, -1):
        n[q] = sizes[pick[q, left]]
        left -= n[q]
    return n


def knapsack_values(pass_rates: ArrayLike, sizes: ArrayLike) -> NDArray[np.float64]:
    """Knapsack RL's value of n rollouts on prompt q: (1 - p^n - (1-p)^n) p (1-p)^2 (0 for n = 0), (P, C)."""
    p = check_pass_rates(pass_rates)[:, None]
    n = np.asarray(sizes)[None, :]
    return np.where(n > 0, 1 - p**n - (1 - p) ** n, 0.0) * p * (1 - p) ** 2


def knapsack_allocation(pass_rates: ArrayLike, budget: int, *, min_group: int = MIN_GROUP, max_group: int = 64,
                        allow_skip: bool = True) -> NDArray[np.int64]:
    """Knapsack RL (arXiv 2509.25849): argmax sum_q (1 - p^n_q - (1-p)^n_q) p (1-p)^2 subject to
    sum_q n_q = B, n_q in {0 if allow_skip} U [min_group, max_group], by :func:`knapsack_dp`."""
    p = check_pass_rates(pass_rates)
    min_group = _check_int("min_group", min_group, MIN_GROUP)
    max_group = _check_int("max_group", max_group, min_group)
    budget = _check_budget(budget, p.size, min_group, max_group, allow_skip)
    sizes = _choices(min_group, max_group, allow_skip)
    return knapsack_dp(knapsack_values(p, sizes), sizes, budget)


def variance_weights(pass_rates: ArrayLike) -> NDArray[np.float64]:
    """c_q = p_q (1 - p_q): the per-rollout gradient variance of prompt q up to a common factor (VIP's model
    for Dr. GRPO / RLOO), so that Var(prompt-averaged gradient) ~ sum_q c_q / n_q."""
    p = check_pass_rates(pass_rates)
    return p * (1 - p)


def variance_allocation_continuous(pass_rates: ArrayLike, budget: int, *, min_group: int = MIN_GROUP,
                                   max_group: int = 64) -> tuple[NDArray[np.float64], float]:
    """argmin_n sum_q c_q / n_q s.t. sum_q n_q = B, min_group <= n_q <= max_group (real n), c = p (1 - p).

    KKT: n_q = clip(sqrt(c_q / nu), min_group, max_group) with the multiplier nu >= 0 set by bisection so that
    sum n_q = B. When the prompts with c_q > 0 all sit at max_group and budget is left, nu = 0 and the rest
    is spread evenly over the prompts with c_q = 0 (their n does not change the objective). Returns (n, nu)."""
    c = variance_weights(pass_rates)
    min_group = _check_int("min_group", min_group, MIN_GROUP)
    max_group = _check_int("max_group", max_group, min_group)
    budget = _check_budget(budget, c.size, min_group, max_group, allow_skip=False)
    positive = c > 0
    n = np.full(c.size, float(min_group))
    if budget >= max_group * positive.sum() + min_group * (~positive).sum():
        n[positive] = max_group
        if (~positive).any():
            n[~positive] += (budget - n.sum()) / (~positive).sum()
        return n, 0.0

    log_c = np.log(np.where(positive, c, 1.0))  # bisection on log nu: c may be subnormal

    def sizes(log_nu: float) -> NDArray[np.float64]:
        return np.where(positive, np.clip(np.exp(0.5 * (log_c - log_nu)), min_group, max_group), float(min_group))

    lo = log_c[positive].min() - 2 * np.log(max_group) - 1.0  # every positive prompt at max_group: sum >= budget
    hi = log_c[positive].max() - 2 * np.log(min_group) + 1.0  # every prompt at min_group: sum <= budget
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sizes(mid).sum() > budget else (lo, mid)
    log_nu = 0.5 * (lo + hi)
    return sizes(log_nu), float(np.exp(log_nu))


def variance_allocation(pass_rates: ArrayLike, budget: int, *, min_group: int = MIN_GROUP,
                        max_group: int = 64) -> NDArray[np.int64]:
    """VIP-style integer allocation: argmin sum_q c_q / n_q over integers min_group <= n_q <= max_group with
    sum n_q = B, by giving each next rollout to the prompt whose variance falls most, c/n - c/(n+1)
    (greedy marginal steps are optimal for a separable convex objective)."""
    c = variance_weights(pass_rates)
    min_group = _check_int("min_group", min_group, MIN_GROUP)
    max_group = _check_int("max_group", max_group, min_group)
    budget = _check_budget(budget, c.size, min_group, max_group, allow_skip=False)
    n = np.full(c.size, min_group, dtype=np.int64)
    heap = [(-(c[q] / min_group - c[q] / (min_group + 1)), q) for q in range(c.size)] if min_group < max_group else []
    heapq.heapify(heap)
    for _ in range(budget - int(n.sum())):
        _, q = heapq.heappop(heap)
        n[q] += 1
        if n[q] < max_group:
            heapq.heappush(heap, (-(c[q] / n[q] - c[q] / (n[q] + 1)), q))
    return n


def gain_of(pass_rates: ArrayLike, allocation: ArrayLike, *, estimator: str = "grpo", std: str = "sample") -> float:
    """gain = (sum_q a_q m_{n_q})^2 / (sum_q a_q^2 sum_q s_{n_q}) of an allocation (module docstring)."""
    return allocation_statistics(pass_rates, allocation, estimator=estimator, std=std).gain


def gain_allocation(pass_rates: ArrayLike, budget: int, *, min_group: int = MIN_GROUP, max_group: int = 64,
                    allow_skip: bool = True, starts: tuple[NDArray[np.int64], ...] = (), estimator: str = "grpo",
                    std: str = "sample", chains: int = 3, max_rounds: int = 50) -> NDArray[np.int64]:
    """Ours: argmax_n (sum a m_n)^2 / (sum a^2 sum s_n) subject to sum n_q = B, n_q in {0} U [min_group, max_group].

    f^2/h = max_lambda (2 lambda f - lambda^2 h) for h > 0, so for a fixed lambda the problem is separable:
    the knapsack DP with values 2 lambda a_q m_n - lambda^2 s_n. The optimum n* is a DP solution at
    lambda* = f(n*)/h(n*). Each round sets lambda = f(n)/h(n) of the current n and re-solves; the gain never
    falls (f'^2/h' >= 2 lambda f' - lambda^2 h' >= f^2/h). Candidates: DP solutions on a grid of lambda,
    uniform G = 2, 4, 8, ... on the prompts nearest p = 1/2, Knapsack RL's and the VIP-style allocations and
    ``starts``; rounds run from the ``chains`` best of them, and the best allocation seen is returned, so it is
    at least as good as every candidate on ``gain``. (Not proven global; on small cases the tests compare it
    with brute force.)"""
    p = check_pass_rates(pass_rates)
    min_group = _check_int("min_group", min_group, MIN_GROUP)
    max_group = _check_int("max_group", max_group, min_group)
    budget = _check_budget(budget, p.size, min_group, max_group, allow_skip)
    sizes = _choices(min_group, max_group, allow_skip)
    m_table, s_table = group_update_moments(p, max_group, estimator=estimator, std=std)
    a = p * (1 - p)
    rows = np.arange(p.size)
    f_table, h_table = (a[:, None] * m_table)[:, sizes], s_table[:, sizes]

    def fh(n: NDArray[np.int64]) -> tuple[float, float]:
        return float(a @ m_table[rows, n]), float(s_table[rows, n].sum())

    def score(n: NDArray[np.int64]) -> float:
        f, h = fh(n)
        return f * f / h if h > 0 else -np.inf

    def solve(lam: float) -> NDArray[np.int64]:  # argmax of lambda (2 f - lambda h): the positive factor lambda dropped
        return knapsack_dp(2 * f_table - lam * h_table, sizes, budget)

    candidates = [knapsack_allocation(p, budget, min_group=min_group, max_group=max_group, allow_skip=allow_skip)]
    if min_group * p.size <= budget:
        candidates.append(variance_allocation(p, budget, min_group=min_group, max_group=max_group))
    for G in (2**i for i in range(1, 1 + int(np.log2(max_group)))):
        if min_group <= G and budget % G == 0 and budget // G <= p.size:
            n = np.zeros(p.size, dtype=np.int64)
            n[np.argsort(-a, kind="stable")[: budget // G]] = G  # G rollouts on the Q prompts nearest p = 1/2
            if allow_skip or budget // G == p.size:
                candidates.append(n)
    candidates += [check_allocation(s, p.size) for s in starts]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # subnormal pass rates: f/h may overflow
        scale = float(np.median(f_table[f_table > 0])) / float(np.median(h_table[h_table > 0])) \
            if np.any(h_table > 0) and np.any(f_table > 0) else 1.0
    scale = float(np.clip(scale, 1e-12, 1e12)) if np.isfinite(scale) else 1.0
    candidates += [solve(scale * x) for x in np.geomspace(1e-2, 1e2, 5)]
    candidates.sort(key=score, reverse=True)
    best, best_score = candidates[0], score(candidates[0])
    seen: set[bytes] = set()
    for n in candidates[:chains]:
        current = score(n)
        for _ in range(max_rounds):
            f, h = fh(n)
            if h <= 0 or f <= 0 or not np.isfinite(f / h) or n.tobytes() in seen:  # visited: leads where it led
                break
            seen.add(n.tobytes())
            nxt = solve(f / h)
            nxt_score = score(nxt)
            if nxt_score <= current * (1 + 1e-12):
                break
            n, current = nxt, nxt_score
        if current > best_score:
            best, best_score = n, current
    return best


def recommended_group_size(pass_rates: ArrayLike, budget: int, group_sizes: tuple[int, ...] = (2, 4, 8, 16), *,
                           estimator: str = "grpo", std: str = "sample") -> int:
    """argmax_G gain of uniform G at budget B (:func:`uniform_statistics`, with replacement when B/G > P)."""
    p = check_pass_rates(pass_rates)
    budget = _check_int("budget", budget, MIN_GROUP)
    if (not isinstance(group_sizes, (tuple, list)) or not group_sizes or any(
            isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < MIN_GROUP for G in group_sizes)):
        raise ValueError(f"group_sizes={group_sizes!r} must be a non-empty sequence of integers >= {MIN_GROUP}")
    gains = {}
    for G in group_sizes:
        if budget % G == 0:
            gains[G] = uniform_statistics(p, G, budget, replace=budget // G > p.size, estimator=estimator,
                                          std=std).gain
    if not gains:
        raise ValueError(f"budget={budget} must be a multiple of one of group_sizes={group_sizes}")
    return max(gains, key=gains.__getitem__)
