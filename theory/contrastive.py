"""Contrastive forms of group updates (TT-1) and of DPO (TT-2).

TT-1: since sum_i A_i = 0, the positive and negative advantages carry the same mass
W = sum_{A_i > 0} A_i, and the group update g = (1/G) sum_i A_i s_i equals
(W / G) (sbar+ - sbar-), where sbar+- are the |A|-weighted means of the positive / negative scores.

TT-2: grad of -log sigmoid(beta (h+ - h-)) = -beta sigmoid(beta (h- - h+)) (grad h+ - grad h-),
the same 1-vs-1 form with weight beta sigmoid(beta (h- - h+)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from theory.validation import check_choice, check_finite_array, check_group_size, check_nonnegative


@dataclass(frozen=True)
class ContrastiveSplit:
    """A group's advantages as positive and negative weights of one common mass.

    ``positive[i] = max(A_i, 0)``, ``negative[i] = max(-A_i, 0)``, and
    ``mass = sum positive = sum negative`` (when the advantages sum to zero).
    """

    positive: NDArray[np.float64]
    negative: NDArray[np.float64]
    mass: NDArray[np.float64]


def contrastive_split(advantages: ArrayLike) -> ContrastiveSplit:
    """Split A (shape (..., G)) into A+ = max(A, 0), A- = max(-A, 0) and W = sum A+."""
    a = check_finite_array("advantages", advantages, min_last_axis=2).astype(np.float64)
    positive = np.maximum(a, 0.0)
    negative = np.maximum(-a, 0.0)
    return ContrastiveSplit(positive, negative, positive.sum(axis=-1))


def group_update(advantages: ArrayLike, scores: ArrayLike) -> NDArray[np.float64]:
    """g = (1/G) sum_i A_i s_i; advantages (..., G), scores (..., G, D) -> (..., D)."""
    a = check_finite_array("advantages", advantages, min_last_axis=2).astype(np.float64)
    s = check_finite_array("scores", scores).astype(np.float64)
    if s.shape[:-1] != a.shape:
        raise ValueError(f"scores has shape {s.shape}; it must be advantages.shape + (D,) = {a.shape} + (D,)")
    return np.einsum("...g,...gd->...d", a, s) / a.shape[-1]


def contrastive_update(advantages: ArrayLike, scores: ArrayLike) -> NDArray[np.float64]:
    """g = (W / G) (sbar+ - sbar-) with sbar+- the A+- weighted score means (TT-1); a group
    with W = 0 (silent) gives 0. Equals :func:`group_update` whenever sum_i A_i = 0."""
    split = contrastive_split(advantages)
    s = check_finite_array("scores", scores).astype(np.float64)
    if s.shape[:-1] != split.positive.shape:
        raise ValueError(f"scores has shape {s.shape}; it must be advantages.shape + (D,)")
    G = split.positive.shape[-1]
    w = split.mass[..., None]
    safe = np.where(w > 0, w, 1.0)
    mean_pos = np.einsum("...g,...gd->...d", split.positive, s) / safe
    mean_neg = np.einsum("...g,...gd->...d", split.negative, s) / safe
    return np.where(w > 0, w / G * (mean_pos - mean_neg), 0.0)


def binary_contrastive_weights(k: int, G: int, std: str = "population") -> tuple[float, float, float]:
    """Binary rewards, k successes of G (0 < k < G), eps = 0: returns (A+, A-, scale) with
    A+ = sqrt((1-pk)/pk), A- = -sqrt(pk/(1-pk)), scale = sqrt(pk(1-pk)) for population std,
    all three times sqrt((G-1)/G) for sample std, pk = k/G; the group update
    is scale * (mean positive score - mean negative score) (TT-1)."""
    G = check_group_size("G", G)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 < k < G:
        raise ValueError(f"k={k!r} must be an integer with 0 < k < G={G} (a silent group has no contrast)")
    check_choice("std", std, ("population", "sample"))
    pk = k / G
    a_plus, a_minus, scale = np.sqrt((1 - pk) / pk), -np.sqrt(pk / (1 - pk)), np.sqrt(pk * (1 - pk))
    if std == "sample":
        factor = np.sqrt((G - 1) / G)
        a_plus, a_minus, scale = a_plus * factor, a_minus * factor, scale * factor
    return float(a_plus), float(a_minus), float(scale)


def dpo_pair_weight(h_pos: ArrayLike, h_neg: ArrayLike, beta: float) -> NDArray[np.float64]:
    """beta * sigmoid(beta (h- - h+)), h = log pi/pi_ref: the weight of DPO's 1-vs-1 contrast (TT-2)."""
    beta = check_nonnegative("beta", beta)
    h_pos = check_finite_array("h_pos", h_pos).astype(np.float64)
    h_neg = check_finite_array("h_neg", h_neg).astype(np.float64)
    try:
        np.broadcast_shapes(h_pos.shape, h_neg.shape)
    except ValueError:
        raise ValueError(f"h_pos has shape {h_pos.shape} and h_neg {h_neg.shape}; they must broadcast") from None
    return beta * expit(beta * (h_neg - h_pos))
