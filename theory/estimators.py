"""Advantage estimators by name, the one entry point that simulations and gpu_runs call.

``grpo``, ``dr_grpo``, ``rloo``, ``grpo_batch_std``: see :mod:`theory.advantages`.
``grpovi``: ``grpo`` advantages of GRPOVI-adjusted rewards (VI-1/VI-2): per group, the rewards are
replaced by the variance-maximising z of :func:`theory.grpovi.adjust_rewards` with weights
pi_ref(o_i | q) renormalised over the group (from ``ref_log_probs``; uniform if None) and the
reward range ``reward_range = (lo, hi)``. ``ties`` defaults to ``"keep"`` (equal rewards stay equal),
not the paper's ``"split"``, which turns a group GRPO would silence into a spurious signal (VI-2).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from theory.advantages import ESTIMATORS, group_advantages
from theory.validation import check_choice

ALL_ESTIMATORS = (*ESTIMATORS, "grpovi")


def compute_advantages(
    rewards: ArrayLike,
    estimator: str = "grpo",
    *,
    std: str = "sample",
    eps: float = 1e-6,
    reward_range: tuple[float, float] | None = None,
    ref_log_probs: ArrayLike | None = None,
    ties: str = "keep",
) -> NDArray[np.float64]:
    """A_i for rewards of shape (..., G) under the named estimator (see the module docstring).

    ``reward_range``, ``ref_log_probs`` and ``ties`` are used by ``grpovi`` only, which needs
    ``reward_range``.
    """
    check_choice("estimator", estimator, ALL_ESTIMATORS)
    if estimator != "grpovi":
        return group_advantages(rewards, estimator, std, eps)
    if reward_range is None:
        raise ValueError("reward_range=(lo, hi) is required for estimator='grpovi'")
    from theory.grpovi import adjust_rewards

    lo, hi = reward_range
    adjusted = adjust_rewards(rewards, lo=lo, hi=hi, ties=ties, log_probs=ref_log_probs)
    return group_advantages(adjusted, "grpo", std, eps)
