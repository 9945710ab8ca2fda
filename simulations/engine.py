"""Monte Carlo engine: the update g = (1/(Q G)) sum_j sum_i A_ji s_ji of Q prompts x G rollouts (B = Q G),
for every estimator, sampled or computed exactly.

Update rules (:class:`UpdateRule`): the estimators of :func:`theory.estimators.compute_advantages`
(``grpo`` with ``sample`` or ``population`` std, ``dr_grpo``, ``rloo``, ``grpo_batch_std``, ``grpovi``)
and ``dpo``, a DPO-style pair update (TT-2): every pair of a group with r_i > r_j contributes
w_ij (s_i - s_j), w_ij = beta sigmoid(beta (h_j - h_i)), h = log pi/pi_ref, i.e.

    A_i = (1/(G-1)) [sum_{j: r_j < r_i} w_ij - sum_{j: r_j > r_i} w_ji]     (:func:`dpo_pair_advantages`).

Prompts of a batch are drawn uniformly with replacement from the environment's P prompts, so the
expected update is E g = E_q[(1/G) sum_i A_i s_i] and the true gradient is that of J = mean_q E[r|q].

Two sampling paths give the same law of g (a test checks it):

- ``stats`` (binary rewards and the group estimators grpo, dr_grpo, rloo): a group's update depends
  only on its outcome counts n ~ Multinomial(G, pi(.|q)) (drawn as one multinomial for up to
  MAX_STATS_OUTCOMES outcomes, else rollout by rollout); the advantage of a correct (wrong) rollout
  is A+(k) (A-(k)) with k the group's successes, read from :func:`binary_advantage_table`.
- ``rollout`` (everything): each rollout's outcome is drawn by inverse CDF, rewards gathered, the
  advantages computed by name on the (trials, Q, G) reward array.

Exact twins: :func:`exact_group_moments` enumerates the C(G+O-1, O-1) multinomial outcomes of a
group for every prompt (mean, second moments, the positive / negative split of TT-5), and
:func:`exact_update_statistics` turns them into the batch's trace variance, SNR, cosine to grad J and
the decomposition of TT-6. :func:`expected_update_weights` gives the exact mean for binary rewards
through :mod:`theory.expectations` for any number of outcomes.

:func:`simulate_update_statistics` runs any number of trials in chunks (memory bounded), seeded,
with a tqdm bar, and returns estimates with jackknife standard errors over blocks of trials.
:class:`BinomialSampler` and :func:`binary_bandit_statistics` are the vectorised binary kernels (one
uniform per group: inverse CDF of the binomial law for G <= 4, Walker's alias method above) used by
TT-8 and ``grpo-verify bench simulate``.

For a training loop: ``make_environment`` (:mod:`simulations.environments`), then each step
``g = batch_updates(env, G, rule, rng, Q=Q).updates[0]`` and ``env.step(g, lr)``; custom loops use
:func:`sample_rollouts`, :func:`rollout_advantages` and ``env.rollout_direction``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln
from scipy.stats import binom
from scipy.stats import t as student_t
from tqdm.auto import tqdm

from simulations.environments import Environment
from theory.advantages import STD_MODES, silent_groups
from theory.contrastive import dpo_pair_weight
from theory.estimators import ALL_ESTIMATORS, compute_advantages
from theory.expectations import GROUP_ESTIMATORS, expected_advantage
from theory.validation import check_choice, check_finite_array, check_group_size, check_nonnegative, check_probability

UPDATE_RULES = (*ALL_ESTIMATORS, "dpo")
PATHS = ("auto", "stats", "rollout")
TIES = ("keep", "split")
MAX_STATS_OUTCOMES = 64
"""Up to this many outcomes the ``stats`` path draws a group's outcome counts as one multinomial; beyond, it draws
each rollout (and still reads the advantages from the group's success count)."""
CHUNK_FLOATS = 4_000_000
"""Floats (32 MB) a chunk of trials may hold in its largest arrays: the engine's memory bound."""
KERNEL_CHUNK = 65_536
"""Groups per chunk of the binary kernel: small enough for its arrays to stay in the CPU cache."""


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


@dataclass(frozen=True)
class UpdateRule:
    """An estimator by name and its options: ``std`` and ``eps`` (grpo, grpo_batch_std, grpovi),
    ``beta`` (dpo), ``ties`` (grpovi)."""

    estimator: str = "grpo"
    std: str = "sample"
    eps: float = 1e-6
    beta: float = 0.1
    ties: str = "keep"

    def __post_init__(self) -> None:
        check_choice("estimator", self.estimator, UPDATE_RULES)
        check_choice("std", self.std, STD_MODES)
        check_nonnegative("eps", self.eps)
        check_nonnegative("beta", self.beta)
        check_choice("ties", self.ties, TIES)

    @property
    def group_only(self) -> bool:
        """True when a group's advantages depend on its own rewards alone (grpo, dr_grpo, rloo)."""
        return self.estimator in GROUP_ESTIMATORS

    @property
    def label(self) -> str:
        """A short name, e.g. ``grpo(sample)``, ``dr_grpo``, ``dpo(beta=0.1)``."""
        if self.estimator in ("grpo", "grpo_batch_std", "grpovi"):
            return f"{self.estimator}({self.std})"
        if self.estimator == "dpo":
            return f"dpo(beta={self.beta:g})"
        return self.estimator


def dpo_pair_advantages(rewards: ArrayLike, log_ratios: ArrayLike, beta: float) -> NDArray[np.float64]:
    """A_i = (1/(G-1)) [sum_{j: r_j < r_i} w_ij - sum_{j: r_j > r_i} w_ji], w_ij = beta sigmoid(beta (h_j - h_i)).

    rewards and log_ratios h = log pi/pi_ref have shape (..., G). Then (1/G) sum_i A_i s_i is the mean over
    ordered pairs of DPO's 1-vs-1 update w (s_win - s_lose) (TT-2); equal rewards give no pair.
    """
    r = check_finite_array("rewards", rewards, min_last_axis=2).astype(np.float64)
    h = check_finite_array("log_ratios", log_ratios).astype(np.float64)
    if h.shape != r.shape:
        raise ValueError(f"log_ratios has shape {h.shape}; it must match rewards {r.shape}")
    w = dpo_pair_weight(h[..., :, None], h[..., None, :], beta)  # w[i, j]: i wins against j
    wins = w * (r[..., :, None] > r[..., None, :])
    return (wins.sum(axis=-1) - wins.sum(axis=-2)) / (r.shape[-1] - 1)


def rule_advantages(
    rule: UpdateRule,
    rewards: ArrayLike,
    *,
    log_ratios: ArrayLike | None = None,
    ref_log_probs: ArrayLike | None = None,
    reward_range: tuple[float, float] = (0.0, 1.0),
) -> NDArray[np.float64]:
    """A for rewards of shape (..., G) under ``rule``; ``grpo_batch_std`` takes its std over each
    mini-batch, the last two axes (..., Q, G). ``dpo`` needs ``log_ratios``; ``grpovi`` uses
    ``ref_log_probs`` (uniform weights if None) and ``reward_range``."""
    if rule.estimator == "dpo":
        if log_ratios is None:
            raise ValueError("log_ratios (log pi/pi_ref per rollout) are required for estimator='dpo'")
        return dpo_pair_advantages(rewards, log_ratios, rule.beta)
    r = np.asarray(rewards)
    if rule.estimator == "grpo_batch_std" and r.ndim > 2:
        flat = r.reshape(-1, *r.shape[-2:])
        batches = [compute_advantages(b, "grpo_batch_std", std=rule.std, eps=rule.eps) for b in flat]
        return np.stack(batches).reshape(r.shape)
    return compute_advantages(r, rule.estimator, std=rule.std, eps=rule.eps, reward_range=reward_range,
                              ref_log_probs=ref_log_probs, ties=rule.ties)


def binary_advantage_table(G: int, rule: UpdateRule) -> NDArray[np.float64]:
    """(G+1, 2): row k holds (A+(k), A-(k)), the advantage of a success / failure in a binary group with
    k successes, computed by name on the canonical group (k ones, G-k zeros); 0 where no such rollout."""
    G = check_group_size("G", G)
    if not rule.group_only:
        raise ValueError(f"estimator={rule.estimator!r} has no per-group table; allowed: {', '.join(GROUP_ESTIMATORS)}")
    groups = (np.arange(G)[None, :] < np.arange(G + 1)[:, None]).astype(np.float64)  # row k: k ones first
    adv = rule_advantages(rule, groups)
    k = np.arange(G + 1)
    return np.stack([np.where(k > 0, adv[:, 0], 0.0), np.where(k < G, adv[:, -1], 0.0)], axis=1)


@dataclass(frozen=True)
class Rollouts:
    """A batch of groups for each of T trials: ``prompts`` (T, Q), ``outcomes`` and ``rewards`` (T, Q, G)."""

    prompts: NDArray[np.int64]
    outcomes: NDArray[np.int64]
    rewards: NDArray[np.float64]


def sample_prompts(env: Environment, Q: int, rng: np.random.Generator, trials: int = 1) -> NDArray[np.int64]:
    """(trials, Q) prompt indices drawn uniformly with replacement from the P prompts."""
    Q = _check_int("Q", Q, 1)
    trials = _check_int("trials", trials, 1)
    return rng.integers(env.num_prompts, size=(trials, Q))


def _resolve_prompts(env: Environment, rng: np.random.Generator, Q: int | None, prompts: ArrayLike | None,
                     trials: int) -> NDArray[np.int64]:
    if prompts is None:
        if Q is None:
            raise ValueError("give Q (prompts per batch) or prompts (trials, Q)")
        return sample_prompts(env, Q, rng, trials)
    idx = np.asarray(prompts)
    if idx.ndim == 1:
        idx = idx[None, :]
    if idx.ndim != 2 or idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= env.num_prompts:
        raise ValueError(f"prompts must be integers in 0..{env.num_prompts - 1} of shape (Q,) or (trials, Q)")
    return idx.astype(np.int64)


def sample_rollouts(env: Environment, G: int, rng: np.random.Generator, *, Q: int | None = None,
                    prompts: ArrayLike | None = None, trials: int = 1) -> Rollouts:
    """Draw G rollouts o ~ pi(.|q) for each prompt of each trial (inverse CDF, one uniform per rollout).

    Give ``Q`` (prompts drawn uniformly with replacement, ``trials`` batches) or explicit ``prompts``
    of shape (Q,) or (trials, Q).
    """
    G = check_group_size("G", G)
    idx = _resolve_prompts(env, rng, Q, prompts, trials)
    P, n_out = env.num_prompts, env.num_outcomes
    cdf = np.cumsum(env.probs(), axis=-1)
    cdf[:, -1] = 1.0
    keys = (cdf + np.arange(P)[:, None]).ravel()  # globally sorted: prompt q's CDF shifted to [q, q+1]
    u = rng.random((*idx.shape, G))
    outcomes = np.searchsorted(keys, idx[..., None] + u, side="right") - idx[..., None] * n_out
    outcomes = np.clip(outcomes, 0, n_out - 1)
    return Rollouts(idx, outcomes, env.rewards[idx[..., None], outcomes])


def rollout_advantages(env: Environment, rollouts: Rollouts, rule: UpdateRule) -> NDArray[np.float64]:
    """A (T, Q, G) of sampled rollouts under ``rule``, with h = log pi/pi_ref and pi_ref from ``env``."""
    where = (rollouts.prompts[..., None], rollouts.outcomes)
    log_ratios = (env.log_probs() - env.ref_log_probs)[where] if rule.estimator == "dpo" else None
    ref = env.ref_log_probs[where] if rule.estimator == "grpovi" else None
    return rule_advantages(rule, rollouts.rewards, log_ratios=log_ratios, ref_log_probs=ref,
                           reward_range=env.reward_range)


@dataclass(frozen=True)
class BatchUpdates:
    """Per trial: ``updates`` g (T, D); ``silent_fraction`` of the Q groups (T,); ``rollout_sq_norm``, the mean
    over the B rollouts of ||A_i s_i||^2 (T,); with ``split``, ``positive`` and ``negative`` (T, D), the
    updates of the positive and negative advantages alone (g = positive - negative, TT-5)."""

    updates: NDArray[np.float64]
    silent_fraction: NDArray[np.float64]
    rollout_sq_norm: NDArray[np.float64]
    positive: NDArray[np.float64] | None = None
    negative: NDArray[np.float64] | None = None


def resolve_path(env: Environment, rule: UpdateRule, path: str = "auto") -> str:
    """``auto`` -> ``stats`` for binary rewards and a group estimator (grpo, dr_grpo, rloo), else ``rollout``;
    an explicit ``stats`` where it is not exact raises ``ValueError``."""
    check_choice("path", path, PATHS)
    allowed = env.binary and rule.group_only
    if path == "stats" and not allowed:
        raise ValueError(f"path='stats' needs binary rewards and estimator in {GROUP_ESTIMATORS}; "
                         f"got binary={env.binary}, estimator={rule.estimator!r}")
    if path == "auto":
        return "stats" if allowed else "rollout"
    return path


def _pool_weights(env: Environment, prompts: NDArray[np.int64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum per-batch outcome weights (T, Q, O) into the prompt pool (T, P, O)."""
    T, _, n_out = weights.shape
    P = env.num_prompts
    flat = ((np.arange(T)[:, None, None] * P + prompts[:, :, None]) * n_out + np.arange(n_out)).ravel()
    return np.bincount(flat, weights=weights.ravel(), minlength=T * P * n_out).reshape(T, P, n_out)


def batch_updates(env: Environment, G: int, rule: UpdateRule, rng: np.random.Generator, *, Q: int | None = None,
                  prompts: ArrayLike | None = None, trials: int = 1, path: str = "auto",
                  split: bool = False) -> BatchUpdates:
    """g = (1/(Q G)) sum_j sum_i A_ji s(q_j, o_ji) for ``trials`` independent batches, all held in memory
    (use :func:`simulate_update_statistics` for many trials). A training step is
    ``env.step(batch_updates(env, G, rule, rng, Q=Q).updates[0], lr)``."""
    G = check_group_size("G", G)
    path = resolve_path(env, rule, path)
    idx = _resolve_prompts(env, rng, Q, prompts, trials)
    Qn = idx.shape[1]
    norms = env.score_sq_norms()
    if path == "stats" and env.num_outcomes <= MAX_STATS_OUTCOMES:
        counts = rng.multinomial(G, env.probs()[idx])  # (T, Q, O)
        good = env.rewards[idx] == 1.0  # (T, Q, O)
        k = (counts * good).sum(axis=-1)
        table = binary_advantage_table(G, rule)
        adv = np.where(good, table[k, 0][..., None], table[k, 1][..., None])  # per-outcome advantage
        coeff = counts * adv / (Qn * G)

        def direction(c: NDArray[np.float64]) -> NDArray[np.float64]:
            return env.direction(_pool_weights(env, idx, c))

        silent = ((k == 0) | (k == G)).mean(axis=-1)
        sq = (counts * adv**2 * norms[idx]).sum(axis=(1, 2)) / (Qn * G)
    else:
        ro = sample_rollouts(env, G, rng, prompts=idx)
        if path == "stats":  # many outcomes: per-rollout draws, advantages from k
            k = np.rint(ro.rewards.sum(axis=-1)).astype(np.intp)
            table = binary_advantage_table(G, rule)
            adv = np.where(ro.rewards == 1.0, table[k, 0][..., None], table[k, 1][..., None])
            silent = ((k == 0) | (k == G)).mean(axis=-1)
        else:
            adv = rollout_advantages(env, ro, rule)
            silent = silent_groups(ro.rewards).mean(axis=-1)
        coeff = adv / (Qn * G)

        def direction(c: NDArray[np.float64]) -> NDArray[np.float64]:
            return env.rollout_direction(ro.prompts, ro.outcomes, c)

        sq = (adv**2 * norms[ro.prompts[..., None], ro.outcomes]).mean(axis=(1, 2))
    if not split:
        return BatchUpdates(direction(coeff), silent, sq)
    positive, negative = direction(np.maximum(coeff, 0.0)), direction(np.maximum(-coeff, 0.0))
    return BatchUpdates(positive - negative, silent, sq, positive, negative)


# --- binary kernels -------------------------------------------------------------------------------

def alias_tables(pmf: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Walker's alias tables (Vose's construction) for each row of ``pmf`` (Q, n): ``accept`` (Q, n) and
    ``alias`` (Q, n), so that i = floor(n u), then i if frac(n u) < accept[i] else alias[i], has law pmf."""
    pmf = check_probability("pmf", pmf)
    Q, n = pmf.shape
    accept, alias = np.ones((Q, n)), np.tile(np.arange(n), (Q, 1))
    for q in range(Q):
        scaled = pmf[q] * n / pmf[q].sum()
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, big = small.pop(), large.pop()
            accept[q, s], alias[q, s] = scaled[s], big
            scaled[big] -= 1.0 - scaled[s]
            (small if scaled[big] < 1.0 else large).append(big)
    return accept, alias


class BinomialSampler:
    """Draws k ~ Binomial(G, p_q) for Q prompts from one uniform u per group, tables built once: for G <= 4
    by inverse CDF, k = #{j < G: F_q(j) <= u}; for larger G by Walker's alias method on the binomial pmf
    (i = floor((G+1) u), kept if frac((G+1) u) < accept_q[i], else alias_q[i])."""

    def __init__(self, pass_rates: ArrayLike, G: int) -> None:
        self.G = check_group_size("G", G)
        self.pass_rates = check_probability("pass_rates", pass_rates).ravel()
        if self.G <= 4:
            self._cdf = binom.cdf(np.arange(self.G), self.G, self.pass_rates[:, None])  # (Q, G)
        else:
            accept, alias = alias_tables(binom.pmf(np.arange(self.G + 1), self.G, self.pass_rates[:, None]))
            self._accept, self._alias = accept.ravel(), alias.ravel()
            self._offsets = np.arange(self.pass_rates.size) * (self.G + 1)

    def draw(self, rng: np.random.Generator, trials: int = 1) -> NDArray[np.intp]:
        """Success counts, shape (trials, Q)."""
        trials = _check_int("trials", trials, 1)
        u = rng.random((trials, self.pass_rates.size))
        if self.G <= 4:
            k = np.zeros(u.shape, dtype=np.intp)
            for j in range(self.G):
                k += u >= self._cdf[:, j]
            return k
        x = u * (self.G + 1)
        whole = np.floor(x)
        flat = whole.astype(np.intp) + self._offsets
        keep = x - whole < np.take(self._accept, flat)
        return np.where(keep, flat - self._offsets, np.take(self._alias, flat))


def binary_success_counts(pass_rates: ArrayLike, G: int, rng: np.random.Generator, trials: int = 1) -> NDArray[np.intp]:
    """k ~ Binomial(G, p_q) for each of Q prompts in each trial, shape (trials, Q) (:class:`BinomialSampler`)."""
    return BinomialSampler(pass_rates, G).draw(rng, trials)


@dataclass(frozen=True)
class BinaryBanditStatistics:
    """Sums over trials for a 2-answer bandit whose Q prompts each get one group per trial: the group's
    update is u(k) (e_correct - e_wrong), u(k) = k A+(k) / G; ``update_sum`` and ``update_sq_sum`` are
    sum_t u and sum_t u^2 per prompt (Q,), ``silent_groups`` the count of groups with k in {0, G}."""

    update_sum: NDArray[np.float64]
    update_sq_sum: NDArray[np.float64]
    silent_groups: int
    trials: int


def binary_update_coefficients(G: int, rule: UpdateRule) -> NDArray[np.float64]:
    """u(k) = k A+(k) / G for k = 0..G: a binary 2-answer group's update along e_correct - e_wrong."""
    table = binary_advantage_table(G, rule)
    return np.arange(G + 1) * table[:, 0] / G


def binary_bandit_statistics(pass_rates: ArrayLike, G: int, rule: UpdateRule, *, trials: int,
                             rng: np.random.Generator) -> BinaryBanditStatistics:
    """The vectorised binary kernel: for each trial and prompt draw k (:func:`binary_success_counts`), look up
    u(k) and accumulate :class:`BinaryBanditStatistics`; chunks of about KERNEL_CHUNK groups stay in cache."""
    p = check_probability("pass_rates", pass_rates).ravel()
    trials = _check_int("trials", trials, 1)
    coeff = binary_update_coefficients(G, rule)
    is_silent = np.isin(np.arange(G + 1), (0, G))
    total, total_sq, silent = np.zeros(p.size), np.zeros(p.size), 0
    sampler = BinomialSampler(p, G)
    chunk = max(1, KERNEL_CHUNK // p.size)
    for start in range(0, trials, chunk):
        k = sampler.draw(rng, min(chunk, trials - start))
        u = np.take(coeff, k)
        total += u.sum(axis=0)
        total_sq += np.einsum("tq,tq->q", u, u)
        silent += int(np.count_nonzero(np.take(is_silent, k)))
    return BinaryBanditStatistics(total, total_sq, silent, trials)


# --- exact moments --------------------------------------------------------------------------------

def compositions(G: int, n_out: int) -> NDArray[np.int64]:
    """All count vectors n in N^O with sum n = G, O = ``n_out``, shape (C(G+O-1, O-1), O) (stars and bars)."""
    bars = np.array(list(itertools.combinations(range(G + n_out - 1), n_out - 1)), dtype=np.int64)
    bars = bars.reshape(-1, n_out - 1)
    edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), G + n_out - 1)], axis=1)
    return np.diff(edges, axis=1) - 1


@dataclass(frozen=True)
class GroupMoments:
    """Exact moments of one group's update of each prompt, in outcome space (W[o] = (1/G) sum_i A_i 1{o_i = o},
    so g_q = sum_o W[o] s(q, o)): ``mean`` E W (P, O); ``second`` E W W^T (P, O, O); ``rollout_sq``
    E[(1/G) sum_i A_i^2 1{o_i = o}] (P, O); ``silent`` P(group silent) (P,); the same for the positive and
    negative parts W+ = max(W, 0), W- = max(-W, 0): ``positive_mean``, ``negative_mean``,
    ``second_pp``, ``second_nn``, ``second_pn`` (E W+ W-^T)."""

    G: int
    mean: NDArray[np.float64]
    second: NDArray[np.float64]
    rollout_sq: NDArray[np.float64]
    silent: NDArray[np.float64]
    positive_mean: NDArray[np.float64]
    negative_mean: NDArray[np.float64]
    second_pp: NDArray[np.float64]
    second_nn: NDArray[np.float64]
    second_pn: NDArray[np.float64]


def _table_weights(env: Environment, qs: NDArray[np.int64], G: int, rule: UpdateRule, counts: NDArray[np.int64],
                   outcomes: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
    """Binary rewards, group rule: A of outcome o in composition n is A+(k) or A-(k), k = sum_o n_o R_o."""
    R = env.rewards[qs]  # (q, O)
    k = np.rint(R @ counts.T).astype(np.intp)  # (q, C)
    table = binary_advantage_table(G, rule)
    adv = np.where(R[:, None, :] == 1.0, table[k, 0][..., None], table[k, 1][..., None])  # (q, C, O)
    return counts * adv / G, counts * adv**2 / G, (k == 0) | (k == G)


def _generic_weights(env: Environment, qs: NDArray[np.int64], G: int, rule: UpdateRule, counts: NDArray[np.int64],
                     outcomes: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
    """Any per-group rule: advantages computed by name on the expanded groups (q, C, G)."""
    onehot = np.eye(counts.shape[1])[outcomes]  # (C, G, O)
    rewards = env.rewards[qs][:, outcomes]  # (q, C, G)
    log_ratio = (env.log_probs() - env.ref_log_probs)[qs][:, outcomes]
    adv = rule_advantages(rule, rewards, log_ratios=log_ratio, ref_log_probs=env.ref_log_probs[qs][:, outcomes],
                          reward_range=env.reward_range)
    W = np.einsum("qcg,cgo->qco", adv, onehot) / G
    return W, np.einsum("qcg,cgo->qco", adv**2, onehot) / G, silent_groups(rewards)


def exact_group_moments(env: Environment, G: int, rule: UpdateRule, *, max_compositions: int = 20_000) -> GroupMoments:
    """Enumerate every multinomial outcome n of a group (C(G+O-1, O-1) of them) for every prompt, with its
    probability G!/prod n_o! prod pi_o^n_o, and average the group's outcome weights and their products.

    Any rule whose advantages depend on the group alone (not ``grpo_batch_std``). Binary rewards with a
    group estimator read the advantages from :func:`binary_advantage_table` (they depend on k only);
    every other rule computes them by name on each enumerated group."""
    G = check_group_size("G", G)
    if rule.estimator == "grpo_batch_std":
        raise ValueError("estimator='grpo_batch_std' depends on the whole batch; exact moments need a per-group rule")
    n_out = env.num_outcomes
    n_comp = math.comb(G + n_out - 1, n_out - 1)
    if n_comp > max_compositions:
        raise ValueError(f"G={G} with {n_out} outcomes has {n_comp} group outcomes; "
                         f"max_compositions={max_compositions} allows at most that many")
    counts = compositions(G, n_out)  # (C, O)
    outcomes = np.repeat(np.tile(np.arange(n_out), len(counts)), counts.ravel()).reshape(-1, G)  # (C, G)
    log_coef = gammaln(G + 1) - gammaln(counts + 1).sum(axis=1)
    P = env.num_prompts
    zeros2, zeros3 = np.zeros((P, n_out)), np.zeros((P, n_out, n_out))
    acc = {k: zeros2.copy() for k in ("mean", "rollout_sq", "positive_mean", "negative_mean")}
    acc |= {k: zeros3.copy() for k in ("second", "second_pp", "second_nn", "second_pn")}
    silent = np.zeros(P)
    by_table = env.binary and rule.group_only
    step = max(1, CHUNK_FLOATS // (len(counts) * (4 * n_out if by_table else 4 * G + n_out)))
    weights = _table_weights if by_table else _generic_weights
    for lo in range(0, P, step):
        qs = np.arange(lo, min(P, lo + step))
        log_terms = np.where(counts > 0, counts[None] * env.log_probs()[qs][:, None, :], 0.0)  # (q, C, O)
        pmf = np.exp(log_coef + log_terms.sum(-1))  # (q, C)
        W, sq, is_silent = weights(env, qs, G, rule, counts, outcomes)
        Wp, Wn = np.maximum(W, 0.0), np.maximum(-W, 0.0)
        acc["mean"][qs] = np.einsum("qc,qco->qo", pmf, W)
        acc["positive_mean"][qs] = np.einsum("qc,qco->qo", pmf, Wp)
        acc["negative_mean"][qs] = np.einsum("qc,qco->qo", pmf, Wn)
        acc["rollout_sq"][qs] = np.einsum("qc,qco->qo", pmf, sq)
        acc["second"][qs] = np.einsum("qco,qce->qoe", W * pmf[..., None], W)
        acc["second_pp"][qs] = np.einsum("qco,qce->qoe", Wp * pmf[..., None], Wp)
        acc["second_nn"][qs] = np.einsum("qco,qce->qoe", Wn * pmf[..., None], Wn)
        acc["second_pn"][qs] = np.einsum("qco,qce->qoe", Wp * pmf[..., None], Wn)
        silent[qs] = (pmf * is_silent).sum(-1)
    return GroupMoments(G=G, silent=silent, **acc)


def expected_update_weights(env: Environment, G: int, rule: UpdateRule) -> NDArray[np.float64]:
    """E W[q, o] = pi(o|q) E[A_1 | r_1 = R[q, o]] (P, O) for binary rewards and a group estimator, exact via
    :func:`theory.expectations.expected_advantage` for any number of outcomes (E g_q = sum_o E W s(q, o))."""
    G = check_group_size("G", G)
    if not (env.binary and rule.group_only):
        raise ValueError(f"needs binary rewards and estimator in {GROUP_ESTIMATORS}; got binary={env.binary}, "
                         f"estimator={rule.estimator!r}")
    p = env.pass_rates()
    a1 = expected_advantage(G, p, 1, rule.estimator, rule.std, rule.eps)
    a0 = expected_advantage(G, p, 0, rule.estimator, rule.std, rule.eps)
    return env.probs() * np.where(env.rewards == 1.0, a1[:, None], a0[:, None])


# --- statistics -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A number with its standard error and the half width of its 95% confidence interval (0 when exact)."""

    value: float
    se: float = 0.0
    half_width: float = 0.0

    def to_json(self) -> dict[str, float | None]:
        def clean(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        return {"value": clean(self.value), "se": clean(self.se), "ci95": clean(self.half_width)}


STATISTICS = ("trace_cov", "snr", "cosine", "mean_norm_sq", "silent_fraction", "informative_rollouts",
              "rollout_variance", "iid_ratio")
"""trace_cov = tr Cov g; snr = ||E g||^2 / tr Cov g; cosine = cos(E g, grad J); mean_norm_sq = ||E g||^2;
silent_fraction of groups; informative_rollouts = B (1 - silent_fraction); rollout_variance = tr Var(A_1 s_1),
the paper's Var(g) of one rollout; iid_ratio = tr Cov g / (rollout_variance / B), 1 if the B rollouts were i.i.d."""


@dataclass(frozen=True)
class UpdateStatistics:
    """Statistics of the batch update at group size G and Q prompts (B = Q G): :data:`STATISTICS` as
    :class:`Estimate`, the expected update ``mean`` (D,), and for exact results the decomposition of
    tr Cov g = between + within_rollout + within_group_covariance (TT-6):
    (G/B) Var_q(mu_q) + (1/B) E_q tr Var(A_1 s_1 | q) + ((G-1)/B) E_q tr Cov(A_1 s_1, A_2 s_2 | q)."""

    method: str
    rule: str
    G: int
    Q: int
    trials: int
    mean: NDArray[np.float64]
    estimates: dict[str, Estimate]
    decomposition: dict[str, float] = field(default_factory=dict)

    @property
    def B(self) -> int:
        return self.Q * self.G

    def __getitem__(self, name: str) -> Estimate:
        return self.estimates[name]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "rule": self.rule, "G": self.G, "Q": self.Q, "B": self.B, "trials": self.trials,
                **{k: v.to_json() for k, v in self.estimates.items()},
                "decomposition": {k: float(v) for k, v in self.decomposition.items()}}


def _cosine(a: NDArray[np.float64], a_norm_sq: float, b: NDArray[np.float64]) -> float:
    denom = math.sqrt(max(a_norm_sq, 0.0)) * float(np.linalg.norm(b))
    return float(a @ b) / denom if denom > 0 else math.nan


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


class BlockSums:
    """Per-block sums of per-trial values for jackknife errors: trial i of ``total`` falls in block
    floor(i * blocks / total) (contiguous blocks). :meth:`add` takes named arrays with one row per trial;
    :meth:`estimates` evaluates a statistic of the summed values on all blocks and leaving each out."""

    def __init__(self, total: int, blocks: int = 20) -> None:
        self.total = _check_int("total", total, 2)
        self.blocks = _check_int("blocks", blocks, 2)
        if self.blocks > self.total:
            raise ValueError(f"blocks={blocks} must be <= total={total} trials")
        self.sums: dict[str, NDArray[np.float64]] = {}

    def add(self, start: int, **values: ArrayLike) -> None:
        """Add the rows of each named array, trials start .. start + len - 1, to their blocks (and a count ``n``)."""
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        size = len(next(iter(arrays.values())))
        onehot = np.eye(self.blocks)[(np.arange(start, start + size) * self.blocks) // self.total]  # (size, blocks)
        for name, value in {"n": np.ones(size), **arrays}.items():
            part = np.tensordot(onehot, value, axes=(0, 0))  # (blocks, ...)
            self.sums[name] = self.sums[name] + part if name in self.sums else part

    def estimates(self, statistic: Callable[[dict[str, NDArray[np.float64]]], dict[str, float]]) -> dict[str, Estimate]:
        """Each named output of ``statistic(totals)``: value on all blocks, jackknife SE over the blocks,
        and the 95% half width with Student's t at blocks - 1 degrees of freedom."""
        full = statistic({k: v.sum(axis=0) for k, v in self.sums.items()})
        leave_out = [statistic({k: v.sum(axis=0) - v[b] for k, v in self.sums.items()}) for b in range(self.blocks)]
        tq = float(student_t.ppf(0.975, self.blocks - 1))
        out = {}
        for name, value in full.items():
            values = np.array([lo[name] for lo in leave_out], dtype=np.float64)
            spread = ((values - values.mean()) ** 2).sum() if np.all(np.isfinite(values)) else math.nan
            se = math.sqrt((self.blocks - 1) / self.blocks * spread)
            out[name] = Estimate(float(value), se, tq * se)
        return out


def _statistics(t: dict[str, NDArray[np.float64]], center: NDArray[np.float64], grad: NDArray[np.float64],
                B: int) -> dict[str, float]:
    """The :data:`STATISTICS` from sums over n trials of g - center (``s``), ||g - center||^2 (``ss``), silent
    fractions and rollout square norms (``sq``); ||E g||^2 is de-biased by tr Cov / n."""
    n, s = float(t["n"]), t["s"]
    mean = center + s / n
    trace = float((t["ss"] - s @ s / n) / (n - 1))
    norm_sq = float(mean @ mean) - trace / n
    rollout_var = float(t["sq"]) / n - norm_sq
    silent = float(t["silent"]) / n
    return {"trace_cov": trace, "snr": _ratio(norm_sq, trace), "cosine": _cosine(mean, norm_sq, grad),
            "mean_norm_sq": norm_sq, "silent_fraction": silent, "informative_rollouts": B * (1 - silent),
            "rollout_variance": rollout_var, "iid_ratio": _ratio(trace, rollout_var / B)}


def _default_chunk(env: Environment, Q: int, G: int) -> int:
    B = Q * G
    per_trial = B * (16 + (env.dim if env.gathers_scores else 0)) + 3 * env.num_prompts * env.num_outcomes + 4 * env.dim
    return max(1, CHUNK_FLOATS // per_trial)


def simulate_update_statistics(
    env: Environment,
    G: int,
    Q: int,
    rule: UpdateRule,
    *,
    trials: int,
    seed: int | Sequence[int],
    path: str = "auto",
    blocks: int = 20,
    chunk_trials: int | None = None,
    progress: bool = False,
    desc: str = "",
) -> UpdateStatistics:
    """Monte Carlo :class:`UpdateStatistics` of ``trials`` independent batches (Q prompts x G rollouts).

    Trials run in chunks of ``chunk_trials`` (default: what fits in CHUNK_FLOATS), chunk c drawing from the
    c-th child of ``np.random.SeedSequence(seed)``: the same arguments give the same numbers. Standard errors
    are the jackknife over ``blocks`` contiguous blocks of trials (:class:`BlockSums`).
    """
    G = check_group_size("G", G)
    Q = _check_int("Q", Q, 1)
    path = resolve_path(env, rule, path)
    sums = BlockSums(trials, blocks)
    chunk = _default_chunk(env, Q, G) if chunk_trials is None else _check_int("chunk_trials", chunk_trials, 1)
    centers: list[NDArray[np.float64]] = []

    def work(start: int, size: int, rng: np.random.Generator) -> None:
        out = batch_updates(env, G, rule, rng, Q=Q, trials=size, path=path)
        if not centers:  # deviations from the first chunk's mean keep the sums well conditioned
            centers.append(out.updates.mean(axis=0))
        dev = out.updates - centers[0]
        sums.add(start, s=dev, ss=np.einsum("td,td->t", dev, dev), silent=out.silent_fraction, sq=out.rollout_sq_norm)

    run_chunked(trials, chunk, work, seed=seed, progress=progress, desc=desc or f"{env.kind} G={G} Q={Q}")
    grad = env.true_gradient()
    estimates = sums.estimates(lambda t: _statistics(t, centers[0], grad, Q * G))
    mean = centers[0] + sums.sums["s"].sum(0) / sums.sums["n"].sum()
    return UpdateStatistics("monte-carlo", rule.label, G, Q, trials, mean, estimates)


def exact_update_statistics(env: Environment, Q: int, moments: GroupMoments, rule: UpdateRule) -> UpdateStatistics:
    """Exact :class:`UpdateStatistics` of a batch of Q i.i.d. uniform prompts from per-prompt ``moments``:
    tr Cov g = (1/Q) [mean_q E||g_q||^2 - ||mu||^2], E||g_q||^2 = sum_{o,o'} E[W W^T]_{oo'} <s_o, s_o'>."""
    Q = _check_int("Q", Q, 1)
    G = moments.G
    B = Q * G
    P = env.num_prompts
    gram = env.gram()
    mu = env.direction(moments.mean / P)
    mu_sq = float(mu @ mu)
    e2 = np.einsum("qoe,qoe->q", moments.second, gram)  # E ||g_q||^2
    mq2 = np.einsum("qo,qoe,qe->q", moments.mean, gram, moments.mean)  # ||E g_q||^2
    x2 = np.einsum("qo,qoo->q", moments.rollout_sq, gram)  # E ||A_1 s_1||^2 given q
    trace = (e2.mean() - mu_sq) / Q
    rollout_var = float(x2.mean() - mu_sq)
    silent = float(moments.silent.mean())
    decomposition = {
        "between": (mq2.mean() - mu_sq) / Q,
        "within_rollout": float((x2 - mq2).mean()) / B,
        "within_group_covariance": float((G * e2 - x2 - (G - 1) * mq2).mean()) / B,
    }
    values = {"trace_cov": trace, "snr": _ratio(mu_sq, trace), "cosine": _cosine(mu, mu_sq, env.true_gradient()),
              "mean_norm_sq": mu_sq, "silent_fraction": silent, "informative_rollouts": B * (1 - silent),
              "rollout_variance": rollout_var, "iid_ratio": _ratio(trace, rollout_var / B)}
    return UpdateStatistics("exact", rule.label, G, Q, 0, mu, {k: Estimate(float(v)) for k, v in values.items()},
                            {k: float(v) for k, v in decomposition.items()})


def run_chunked(total: int, chunk: int, work: Callable[[int, int, np.random.Generator], None], *,
                seed: int | Sequence[int], progress: bool = False, desc: str = "") -> None:
    """Call ``work(start, size, rng)`` on consecutive chunks of ``total`` items, chunk c seeded by the c-th
    child of ``np.random.SeedSequence(seed)``, with a tqdm bar: the loop every chunked study shares."""
    total = _check_int("total", total, 1)
    chunk = _check_int("chunk", chunk, 1)
    n_chunks = -(-total // chunk)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_chunks)]
    with tqdm(total=total, disable=not progress, desc=desc, leave=False) as bar:
        for c, rng in enumerate(rngs):
            size = min(chunk, total - c * chunk)
            work(c * chunk, size, rng)
            bar.update(size)
