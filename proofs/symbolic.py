"""Sympy transcriptions of the group advantage estimators of :mod:`theory.advantages`.

A_i = (r_i - mean(r)) / (std(r) + eps) (``grpo``, std ``population`` 1/G or ``sample`` 1/(G-1)),
r_i - mean(r) (``dr_grpo``), r_i - mean_{j != i} r_j (``rloo``). A silent group (all rewards
equal) gets A = 0, as in the numeric layer. Rewards are sympy expressions; sign assumptions on
their symbols (e.g. ``d > 0``) let sympy resolve the square root of the variance.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from theory.advantages import STD_MODES
from theory.validation import check_choice

SYMBOLIC_ESTIMATORS = ("grpo", "dr_grpo", "rloo")


def is_silent(rewards: Sequence[sp.Expr]) -> bool:
    """True when every reward simplifies to the first one (the group carries no contrast)."""
    first = sp.sympify(rewards[0])
    return all(sp.simplify(sp.sympify(r) - first) == 0 for r in rewards[1:])


def group_std(rewards: Sequence[sp.Expr], std: str) -> sp.Expr:
    """sqrt(sum_i (r_i - mean)^2 / G) (``population``) or / (G - 1) (``sample``)."""
    check_choice("std", std, STD_MODES)
    G = len(rewards)
    mean = sp.Add(*rewards) / G
    squares = sp.Add(*[(r - mean) ** 2 for r in rewards])
    return sp.sqrt(squares / (G if std == "population" else G - 1))


def advantage(
    rewards: Sequence[sp.Expr], index: int = 0, estimator: str = "grpo", std: str = "population", eps: sp.Expr = 0,
) -> sp.Expr:
    """A_index of the group ``rewards`` under ``estimator`` (see the module docstring)."""
    check_choice("estimator", estimator, SYMBOLIC_ESTIMATORS)
    G = len(rewards)
    if G < 2:
        raise ValueError(f"len(rewards)={G} must be >= 2 (a group needs a partner)")
    if not 0 <= index < G:
        raise ValueError(f"index={index} must lie in 0..{G - 1}")
    rewards = [sp.sympify(r) for r in rewards]
    if is_silent(rewards):
        return sp.Integer(0)
    mean = sp.Add(*rewards) / G
    if estimator == "dr_grpo":
        return rewards[index] - mean
    if estimator == "rloo":
        return rewards[index] - (sp.Add(*rewards) - rewards[index]) / (G - 1)
    return (rewards[index] - mean) / (group_std(rewards, std) + eps)
