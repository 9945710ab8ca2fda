"""Exact expectations under Bernoulli(p) rewards, vectorised over p (TT-4, TT-8, BY-2).

For rollout 1 with reward r_1 = reward, its G - 1 partners' successes K follow Binomial(G-1, p), and
the group is fully described by K. So

    E[A_1 | r_1 = reward] = sum_k Binom(k; G-1, p) * A_1(group with reward and k partner successes),

with A_1 computed by :func:`theory.advantages.group_advantages` itself (one route for the
estimator, checked elsewhere against brute-force enumeration of all 2^G outcomes).

lambda_G(p) = E[A | r=1] - E[A | r=0]: since E[s] = 0, the expected group update is
lambda_G(p) * grad p (TT-4). lambda_2 is constant in p; for G > 2 it is not.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln, xlog1py, xlogy

from theory.advantages import ESTIMATORS, STD_MODES, group_advantages
from theory.validation import (
    check_choice,
    check_distribution,
    check_finite_array,
    check_group_size,
    check_nonnegative,
    check_probability,
    check_real,
)

GROUP_ESTIMATORS = tuple(e for e in ESTIMATORS if e != "grpo_batch_std")
"""Estimators whose advantages depend on the group alone (grpo_batch_std depends on the batch)."""


def _check_estimator(estimator: str, std: str, eps: float) -> None:
    check_choice("estimator", estimator, GROUP_ESTIMATORS)
    check_choice("std", std, STD_MODES)
    check_nonnegative("eps", eps)


def binomial_pmf(n: int, p: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(K = k), k = 0..n, K ~ Binomial(n, p), shape p.shape + (n + 1,); computed in log space so that
    subnormal p and n in the thousands neither overflow nor fail."""
    k = np.arange(n + 1)
    p = p[..., None]
    log_pmf = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, p) + xlog1py(n - k, -p)
    return np.exp(log_pmf)


def binary_group_advantage(
    G: int, reward: int, estimator: str = "grpo", std: str = "sample", eps: float = 0.0
) -> NDArray[np.float64]:
    """A_1 of a binary group with r_1 = reward and k = 0..G-1 successes among the partners;
    returns shape (G,), indexed by k."""
    G = check_group_size("G", G)
    if reward not in (0, 1):
        raise ValueError(f"reward={reward!r} must be 0 or 1 for Bernoulli rewards")
    _check_estimator(estimator, std, eps)
    k = np.arange(G)
    partners = (np.arange(G - 1)[None, :] < k[:, None]).astype(np.float64)  # (G, G-1): k ones
    groups = np.concatenate([np.full((G, 1), float(reward)), partners], axis=1)  # (G, G)
    return group_advantages(groups, estimator, std, eps)[:, 0]


def expected_advantage(
    G: int, p: ArrayLike, reward: int, estimator: str = "grpo", std: str = "sample", eps: float = 0.0
) -> NDArray[np.float64]:
    """E[A_1 | r_1 = reward] for Bernoulli(p) rewards, exact; vectorised over p."""
    p = check_probability("p", p)
    a_k = binary_group_advantage(G, reward, estimator, std, eps)
    return binomial_pmf(G - 1, p) @ a_k


def gradient_scale(
    G: int, p: ArrayLike, estimator: str = "grpo", std: str = "sample", eps: float = 0.0
) -> NDArray[np.float64]:
    """lambda_G(p) = E[A | r=1] - E[A | r=0]: E[group update] = lambda_G(p) grad p (TT-4)."""
    return expected_advantage(G, p, 1, estimator, std, eps) - expected_advantage(G, p, 0, estimator, std, eps)


def limit_expected_advantage(p: ArrayLike, reward: ArrayLike) -> NDArray[np.float64]:
    """lim_{G -> inf} E[A | r] = (r - p) / sqrt(p (1 - p)) for 0 < p < 1 (either std mode, eps = 0)."""
    p = check_probability("p", p)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("p must lie in the open interval (0, 1) for the G -> infinity limit")
    reward = check_finite_array("reward", reward).astype(np.float64)
    try:
        np.broadcast_shapes(reward.shape, p.shape)
    except ValueError:
        raise ValueError(f"reward has shape {reward.shape}; it must broadcast with p's {p.shape}") from None
    return (reward - p) / np.sqrt(p * (1 - p))


def two_grpo_scale(std: str = "sample", eps: float = 0.0) -> float:
    """c of TT-3 for G = 2 and distinct rewards r1 - r2 = +-1: A_1 = c (r_1 - r_2).
    population: 1 / (1 + 2 eps); sample: 1 / (sqrt(2) (1 + sqrt(2) eps))."""
    check_choice("std", std, STD_MODES)
    check_nonnegative("eps", eps)
    half = 0.5 if std == "population" else np.sqrt(0.5)
    return float(0.5 / (half + eps))


def silent_group_probability(G: int, p: ArrayLike) -> NDArray[np.float64]:
    """P(all G binary rewards equal) = p^G + (1 - p)^G (TT-8)."""
    G = check_group_size("G", G)
    p = check_probability("p", p)
    return p**G + (1 - p) ** G


def expected_pair_advantage(
    values: ArrayLike, probs: ArrayLike, reward: float, std: str = "sample", eps: float = 0.0
) -> float:
    """E[A_1 | r_1 = reward] for 2-GRPO (``grpo``) when the partner's reward r' takes ``values``
    with ``probs``, by enumeration of the partner. With eps = 0 it equals
    c (P(r' < reward) - P(r' > reward)): a self-win-rate, not reward - E[r] (BY-2)."""
    values = check_finite_array("values", values).astype(np.float64).ravel()
    probs = check_distribution("probs", probs)
    if probs.shape != values.shape:
        raise ValueError(f"probs has shape {probs.shape}; it must match values {values.shape}")
    reward = check_real("reward", reward)
    pairs = np.stack([np.full_like(values, reward), values], axis=-1)
    return float(probs @ group_advantages(pairs, "grpo", std, eps)[:, 0])
