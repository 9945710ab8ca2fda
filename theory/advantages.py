"""Group advantage estimators (THEORY.md, table of estimators).

Rewards have shape ``(..., G)``: the last axis is one prompt's group of G rollouts.

| name             | A_i                                                        |
|------------------|------------------------------------------------------------|
| ``grpo``         | (r_i - mean(r)) / (std(r) + eps), std ``sample`` or ``population`` |
| ``dr_grpo``      | r_i - mean(r)                                              |
| ``rloo``         | r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean(r))          |
| ``grpo_batch_std`` | (r_i - mean(r)) / (std over the whole batch + eps)       |

A *silent* group (all rewards equal within a tolerance) gets exact zeros: the float32 residue of
``std`` on equal non-dyadic rewards (BY-4) must not turn into a spurious signal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from theory.validation import check_choice, check_finite_array, check_nonnegative

ESTIMATORS = ("grpo", "dr_grpo", "rloo", "grpo_batch_std")
STD_MODES = ("sample", "population")
SILENT_ULPS = 8.0
"""A group is silent when max(r) - min(r) <= SILENT_ULPS * machine-eps(dtype) * max(1, max |r|)."""
MAX_REWARD = 1e150
"""Rewards must lie in [-MAX_REWARD, MAX_REWARD]: the squares of larger ones overflow float64, and their std
(hence every grpo advantage) would come out inf or 0 instead of an error."""


def silent_groups(rewards: ArrayLike) -> NDArray[np.bool_]:
    """True for each group whose rewards are all equal within a few ulps of its dtype."""
    r = check_finite_array("rewards", rewards, min_last_axis=1)
    eps = np.finfo(r.dtype).eps
    scale = np.maximum(1.0, np.abs(r).max(axis=-1))
    return (r.max(axis=-1) - r.min(axis=-1)) <= SILENT_ULPS * eps * scale


def group_std(rewards: NDArray[np.floating], std: str) -> NDArray[np.float64]:
    """Std over the last axis: 1/(G-1) (``sample``) or 1/G (``population``) inside the root."""
    check_choice("std", std, STD_MODES)
    return np.asarray(rewards, dtype=np.float64).std(axis=-1, ddof=1 if std == "sample" else 0)


def group_advantages(
    rewards: ArrayLike, estimator: str = "grpo", std: str = "sample", eps: float = 1e-6
) -> NDArray[np.float64]:
    """A_i for every rollout of every group; see the module table. Returns float64, shape of ``rewards``.

    ``std`` and ``eps`` are used by ``grpo`` and ``grpo_batch_std`` only (``grpo_batch_std`` takes
    the std over every reward in ``rewards``, as TRL's ``scale_rewards="batch"``).
    """
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("std", std, STD_MODES)
    check_nonnegative("eps", eps)
    r = check_finite_array("rewards", rewards, min_last_axis=2, max_abs=MAX_REWARD)
    silent = silent_groups(r)
    r64 = r.astype(np.float64)
    centred = r64 - r64.mean(axis=-1, keepdims=True)
    G = r.shape[-1]
    if estimator == "grpo":
        scale = group_std(r64, std) + eps
        advantages = centred / np.where(silent | (scale == 0), 1.0, scale)[..., None]
    elif estimator == "dr_grpo":
        advantages = centred
    elif estimator == "rloo":
        advantages = centred * (G / (G - 1))
    else:
        if r64.size < 2:
            raise ValueError("rewards must hold at least 2 values for estimator='grpo_batch_std'")
        scale = r64.std(ddof=1 if std == "sample" else 0) + eps
        advantages = centred / (scale if scale > 0 else 1.0)
    return np.where(silent[..., None], 0.0, advantages)
