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
from theory.validation import check_choice, check_finite_array

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
    from theory.grpovi import adjust_rewards, check_reward_range

    shape = check_finite_array("rewards", rewards, min_last_axis=2).shape
    if not isinstance(reward_range, (tuple, list)) or len(reward_range) != 2:
        raise ValueError(f"reward_range={reward_range!r} must be a pair (lo, hi) for estimator='grpovi'")
    lo, hi = check_reward_range(*reward_range, name="reward_range")
    if ref_log_probs is not None and check_finite_array("ref_log_probs", ref_log_probs).shape != shape:
        raise ValueError(f"ref_log_probs has shape {np.shape(ref_log_probs)}; it must have the shape of rewards, "
                         f"{shape}")
    adjusted = adjust_rewards(rewards, lo=lo, hi=hi, ties=ties, log_probs=ref_log_probs)
    return group_advantages(adjusted, "grpo", std, eps)
