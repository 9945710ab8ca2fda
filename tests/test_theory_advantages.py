"""Invariants of the group advantage estimators (THEORY.md, estimator table; TT-3; BY-4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory.advantages import ESTIMATORS, group_advantages, silent_groups
from theory.estimators import compute_advantages

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def reward_groups(draw: st.DrawFn, min_G: int = 2, max_G: int = 12) -> np.ndarray:
    """Batches of groups: real rewards, binary rewards, or groups with ties and all-equal groups."""
    G = draw(st.integers(min_G, max_G))
    n = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["real", "binary", "ties"]))
    if kind == "binary":
        elements = st.sampled_from([0.0, 1.0])
    elif kind == "ties":
        elements = st.sampled_from([0.0, 0.35, 0.35, 1.0])
    else:
        elements = finite
    return draw(arrays(np.float64, (n, G), elements=elements))


@given(reward_groups(), st.sampled_from(ESTIMATORS), st.sampled_from(["sample", "population"]))
def test_advantages_sum_to_zero(rewards: np.ndarray, estimator: str, std: str) -> None:
    a = group_advantages(rewards, estimator, std)
    scale = max(1.0, float(np.abs(a).max()))
    assert np.allclose(a.sum(-1), 0.0, atol=1e-9 * scale * rewards.shape[-1])


@given(reward_groups(), st.sampled_from(ESTIMATORS), st.randoms(use_true_random=False))
def test_advantages_are_permutation_equivariant(rewards: np.ndarray, estimator: str, rnd) -> None:
    perm = list(range(rewards.shape[-1]))
    rnd.shuffle(perm)
    a = group_advantages(rewards, estimator)
    b = group_advantages(rewards[:, perm], estimator)
    assert np.allclose(a[:, perm], b, atol=1e-9)


@given(reward_groups(), st.floats(-50, 50), st.floats(0.01, 100), st.sampled_from(["sample", "population"]))
def test_grpo_is_shift_and_positive_scale_invariant(rewards: np.ndarray, shift: float, scale: float, std: str) -> None:
    a = group_advantages(rewards, "grpo", std, eps=0.0)
    b = group_advantages(scale * rewards + shift, "grpo", std, eps=0.0)
    assert np.allclose(a, b, atol=1e-6)


@given(reward_groups(), st.sampled_from(["sample", "population"]))
def test_sum_of_squares_is_G_or_G_minus_1(rewards: np.ndarray, std: str) -> None:
    a = group_advantages(rewards, "grpo", std, eps=0.0)
    G = rewards.shape[-1]
    live = ~silent_groups(rewards)
    expected = G if std == "population" else G - 1
    assert np.allclose((a[live] ** 2).sum(-1), expected, rtol=1e-9)
    assert np.all(a[~live] == 0.0)


@given(arrays(np.float64, (6, 2), elements=st.sampled_from([0.0, 1.0])))
def test_two_grpo_population_equals_rloo_equals_twice_dr_grpo(rewards: np.ndarray) -> None:
    a = group_advantages(rewards, "grpo", "population", eps=0.0)
    assert np.array_equal(a, group_advantages(rewards, "rloo"))
    assert np.array_equal(a, 2 * group_advantages(rewards, "dr_grpo"))
    assert np.array_equal(a[:, 0], rewards[:, 0] - rewards[:, 1])


@given(arrays(np.float64, (6, 2), elements=finite), st.floats(0, 1))
def test_two_grpo_keeps_only_the_sign_of_real_rewards(rewards: np.ndarray, eps: float) -> None:
    diff = rewards[:, 0] - rewards[:, 1]
    a = group_advantages(rewards, "grpo", "population", eps=0.0)
    distinct = ~silent_groups(rewards)
    assert np.allclose(a[distinct, 0], np.sign(diff[distinct]))
    sample = group_advantages(rewards, "grpo", "sample", eps=0.0)
    assert np.allclose(sample[distinct, 0], np.sign(diff[distinct]) / np.sqrt(2))


@pytest.mark.parametrize("G", [2, 3, 8, 16, 64])
@pytest.mark.parametrize("value", [0.35, 0.1, 1 / 3, 0.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equal_non_dyadic_rewards_give_exact_zeros(G: int, value: float, dtype: type) -> None:
    rewards = np.full((4, G), value, dtype=dtype)
    for estimator in ESTIMATORS:
        for eps in (0.0, 1e-9, 1e-4):
            assert np.all(group_advantages(rewards, estimator, eps=eps) == 0.0)


def test_float32_residue_case_from_a_sequential_mean() -> None:
    """Rewards that equal 0.35 only up to float32 rounding noise (as a peer's sum would leave) are silent."""
    base = np.float32(0.35)
    rewards = np.array([[base, np.nextafter(base, np.float32(1)), base, base]], dtype=np.float32)
    assert silent_groups(rewards).all()
    assert not silent_groups(np.array([[0.35, 0.36]], dtype=np.float32)).any()


def test_grpo_batch_std_uses_the_whole_batch() -> None:
    rewards = np.array([[0.0, 1.0], [0.0, 3.0]])
    a = group_advantages(rewards, "grpo_batch_std", "sample", eps=0.0)
    centred = rewards - rewards.mean(-1, keepdims=True)
    assert np.allclose(a, centred / rewards.std(ddof=1))


def test_sample_std_gives_peer_value_for_two_rollouts() -> None:
    a = group_advantages(np.array([1.0, 0.0]), "grpo", "sample", eps=0.0)
    assert np.allclose(a, [np.sqrt(0.5), -np.sqrt(0.5)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rewards": [[1.0, np.nan]]}, "rewards contains nan"),
        ({"rewards": [[1.0, np.inf]]}, "rewards contains inf"),
        ({"rewards": [[1.0]]}, "needs >= 2 entries"),
        ({"rewards": 1.0}, "needs >= 2 entries"),
        ({"rewards": [[1.0, 0.0]], "estimator": "ppo"}, "estimator='ppo' is not allowed"),
        ({"rewards": [[1.0, 0.0]], "std": "unbiased"}, "std='unbiased' is not allowed"),
        ({"rewards": [[1.0, 0.0]], "eps": -1e-3}, "eps=-0.001 must be a finite number >= 0"),
        ({"rewards": [["a", "b"]]}, "rewards must be numeric"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        group_advantages(**kwargs)


def test_compute_advantages_dispatches_by_name() -> None:
    rewards = np.random.default_rng(0).normal(size=(3, 4))
    for estimator in ESTIMATORS:
        assert np.array_equal(compute_advantages(rewards, estimator), group_advantages(rewards, estimator))
    with pytest.raises(ValueError, match="estimator='nope' is not allowed"):
        compute_advantages(rewards, "nope")
    with pytest.raises(ValueError, match="reward_range"):
        compute_advantages(rewards, "grpovi")


@settings(max_examples=30)
@given(reward_groups(max_G=6))
def test_float32_and_float64_inputs_agree(rewards: np.ndarray) -> None:
    r32 = rewards.astype(np.float32)
    a32 = group_advantages(r32, "grpo", "sample", eps=1e-6)
    a64 = group_advantages(r32.astype(np.float64), "grpo", "sample", eps=1e-6)
    assert np.allclose(a32, a64)
