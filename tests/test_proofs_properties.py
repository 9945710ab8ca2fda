"""proofs/: the symbolic layer against the numeric one (hypothesis)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import grpovi, unbiasedness
from proofs.record import to_json_number
from proofs.symbolic import advantage
from theory.advantages import group_advantages
from theory.expectations import gradient_scale
from theory.grpovi import adjust_rewards

# Rewards on a grid of tenths: ties and all-equal groups are common, distinct values differ by >= 0.1.
tenths = st.integers(0, 10).map(lambda k: Fraction(k, 10))


@settings(max_examples=40, deadline=None)
@given(rewards=st.lists(tenths, min_size=2, max_size=6), estimator=st.sampled_from(["grpo", "dr_grpo", "rloo"]),
       std=st.sampled_from(["population", "sample"]), eps=st.sampled_from([Fraction(0), Fraction(1, 10)]))
def test_symbolic_advantages_match_theory(rewards: list[Fraction], estimator: str, std: str, eps: Fraction) -> None:
    exact = [float(advantage([sp.Rational(r) for r in rewards], i, estimator, std, sp.Rational(eps)))
             for i in range(len(rewards))]
    numeric = group_advantages(np.array([float(r) for r in rewards]), estimator, std, float(eps))
    np.testing.assert_allclose(exact, numeric, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(G=st.integers(2, 8), p=st.floats(0.01, 0.99))
def test_lambda_closed_form_matches_gradient_scale_and_is_symmetric(G: int, p: float) -> None:
    closed = unbiasedness.lambda_closed_form(G)
    value = float(closed.subs(unbiasedness.p, p))
    assert value == pytest.approx(float(gradient_scale(G, p, "grpo", "population", 0.0)), abs=1e-10)
    assert value == pytest.approx(float(closed.subs(unbiasedness.p, 1 - p)), abs=1e-10)


def descending_group(draw: st.DrawFn, values: st.SearchStrategy[Fraction]) -> tuple[list[Fraction], list[int]]:
    n = draw(st.integers(2, 6))
    rewards = sorted(draw(st.lists(values, min_size=n, max_size=n)), reverse=True)
    weights = draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))
    return rewards, weights


@st.composite
def real_groups(draw: st.DrawFn) -> tuple[list[Fraction], list[int]]:
    return descending_group(draw, tenths)


@st.composite
def binary_groups(draw: st.DrawFn) -> tuple[list[Fraction], list[int]]:
    return descending_group(draw, st.sampled_from([Fraction(0), Fraction(1)]))


def exact_group(group: tuple[list[Fraction], list[int]],
                ties: str = "split") -> tuple[list[sp.Expr], list[sp.Expr], list[sp.Expr]]:
    rewards, weights = group
    r = [sp.Rational(v) for v in rewards]
    w = [sp.Integer(v) for v in weights]
    return r, w, grpovi.closed_form(r, w, sp.Integer(0), sp.Integer(1), ties)


@settings(max_examples=40, deadline=None)
@given(group=real_groups(), ties=st.sampled_from(["split", "keep"]))
def test_grpovi_closed_form_keeps_mean_order_bounds_and_raises_variance(group, ties: str) -> None:
    r, w, z = exact_group(group, ties)
    total = sp.Add(*w)
    p = [q / total for q in w]
    assert sp.Add(*[a * b for a, b in zip(p, z, strict=True)]) == sp.Add(*[a * b for a, b in zip(p, r, strict=True)])
    assert all(0 <= v <= 1 for v in z) and all(a >= b for a, b in itertools.pairwise(z))
    assert grpovi.weighted_variance(p, z) >= grpovi.weighted_variance(p, r)


@settings(max_examples=40, deadline=None)
@given(group=real_groups(), ties=st.sampled_from(["split", "keep"]))
def test_grpovi_closed_form_matches_theory_adjust_rewards(group, ties: str) -> None:
    rewards, weights = group
    _, _, z = exact_group(group, ties)
    numeric = adjust_rewards(np.array([float(v) for v in rewards]), np.array(weights, dtype=float), lo=0.0, hi=1.0,
                             ties=ties)
    np.testing.assert_allclose([float(v) for v in z], numeric, atol=1e-12)
    if ties == "keep":  # equal rewards stay equal
        assert all(a == b for (ra, a), (rb, b) in itertools.pairwise(zip(rewards, z, strict=True)) if ra == rb)


@settings(max_examples=30, deadline=None)
@given(group=binary_groups())
def test_grpovi_binary_rewards_are_a_fixed_point(group) -> None:
    r, _, z = exact_group(group)
    assert z == r


@given(value=st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([sp.sqrt(2), sp.Rational(1, 3), sp.oo, sp.Symbol("x")])))
def test_json_numbers_are_finite_or_text(value) -> None:
    out = to_json_number(value)
    assert isinstance(out, (int, str)) or (isinstance(out, float) and np.isfinite(out))


def test_symbolic_advantage_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="estimator='ppo'"):
        advantage([0, 1], 0, "ppo")
    with pytest.raises(ValueError, match="len\\(rewards\\)=1"):
        advantage([1])
    with pytest.raises(ValueError, match="index=2"):
        advantage([0, 1], 2)
    with pytest.raises(ValueError, match="std='median'"):
        advantage([0, 1], 0, "grpo", "median")


def test_grpovi_closed_form_rejects_bad_input() -> None:
    one, zero = sp.Integer(1), sp.Integer(0)
    with pytest.raises(ValueError, match="ties='merge'"):
        grpovi.closed_form([one, zero], [one, one], zero, one, "merge")
    with pytest.raises(ValueError, match="must be sorted descending"):
        grpovi.closed_form([zero, one], [one, one], zero, one)

