"""Contrastive forms (TT-1, TT-2) by value: hand-made groups whose positive and negative masses, updates
and DPO weights are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from theory.contrastive import (
    binary_contrastive_weights,
    contrastive_split,
    contrastive_update,
    dpo_pair_weight,
    group_update,
)

ADVANTAGES = np.array([1.5, -0.5, -0.5, -0.5])  # GRPO (sample std) of one success in four
SCORES = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, -1.0]])  # (G, D) = (4, 2)


def test_split_by_hand() -> None:
    split = contrastive_split(ADVANTAGES)
    assert split.positive.tolist() == [1.5, 0.0, 0.0, 0.0]
    assert split.negative.tolist() == [0.0, 0.5, 0.5, 0.5]
    assert float(split.mass) == 1.5


def test_group_update_is_the_advantage_weighted_mean_of_scores() -> None:
    """(1/4) (1.5 s_1 - 0.5 (s_2 + s_3 + s_4)) = (1/4) ((1.5, 0) - (4.5, 0)) = (-0.75, 0)."""
    assert group_update(ADVANTAGES, SCORES).tolist() == [-0.75, 0.0]


def test_contrastive_update_by_hand() -> None:
    """W / G (sbar+ - sbar-) = (1.5 / 4) ((1, 0) - (3, 0)) = (-0.75, 0): the same as the group update."""
    assert contrastive_update(ADVANTAGES, SCORES) == pytest.approx([-0.75, 0.0], abs=1e-15)
    batch = np.stack([ADVANTAGES, -ADVANTAGES])
    assert contrastive_update(batch, np.stack([SCORES, SCORES])) == pytest.approx(
        np.array([[-0.75, 0.0], [0.75, 0.0]]), abs=1e-15)


def test_contrastive_update_weights_by_advantage_not_by_count() -> None:
    """Unequal negatives (-1, -0.5) of one positive 1.5: sbar- = (1 s_2 + 0.5 s_3) / 1.5."""
    a = np.array([1.5, -1.0, -0.5])
    s = np.array([[0.0], [3.0], [6.0]])
    expected = 1.5 / 3 * (0.0 - (3.0 + 3.0) / 1.5)
    assert contrastive_update(a, s) == pytest.approx([expected], rel=1e-15)
    assert group_update(a, s) == pytest.approx([expected], rel=1e-15)


def test_silent_group_gives_a_zero_update_not_nan() -> None:
    assert contrastive_update(np.zeros(3), np.ones((3, 2))).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("call", [group_update, contrastive_update])
def test_scores_of_the_wrong_shape_are_rejected(call) -> None:
    with pytest.raises(ValueError, match=r"scores has shape \(3, 2\); it must be advantages.shape \+ \(D,\)"):
        call(ADVANTAGES, np.zeros((3, 2)))


def test_binary_contrastive_weights_by_hand() -> None:
    """k = 1 of G = 4, pk = 1/4: population A+ = sqrt 3, A- = -1/sqrt 3, scale sqrt(3)/4 (the default);
    sample multiplies all three by sqrt(3/4): 1.5, -0.5, 3/8."""
    assert binary_contrastive_weights(1, 4) == pytest.approx((np.sqrt(3), -1 / np.sqrt(3), np.sqrt(3) / 4), rel=1e-15)
    assert binary_contrastive_weights(1, 4, "sample") == pytest.approx((1.5, -0.5, 0.375), rel=1e-15)
    assert binary_contrastive_weights(3, 4, "sample") == pytest.approx((0.5, -1.5, 0.375), rel=1e-15)


@pytest.mark.parametrize(("k", "G", "message"), [
    (0, 4, "k=0 must be an integer with 0 < k < G=4"), (4, 4, "k=4 must be an integer with 0 < k < G=4"),
    (1, 1, "G=1 must be an integer >= 2"),
])
def test_binary_contrastive_weights_reject_silent_groups(k: int, G: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_contrastive_weights(k, G)
    with pytest.raises(ValueError, match="std='bessel' is not allowed"):
        binary_contrastive_weights(1, 4, "bessel")


def test_dpo_pair_weight_by_hand() -> None:
    """beta sigmoid(beta (h- - h+)): beta = 2, h+ = 0.5, h- = 0 gives 2 / (1 + e); beta = 0 gives 0."""
    assert float(dpo_pair_weight(0.5, 0.0, 2.0)) == pytest.approx(2 / (1 + np.e), rel=1e-15)
    assert float(dpo_pair_weight(0.0, 0.5, 2.0)) == pytest.approx(2 / (1 + np.exp(-1)), rel=1e-15)
    assert float(dpo_pair_weight(1.0, -3.0, 0.0)) == 0.0
