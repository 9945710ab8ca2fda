"""Invariants of the group advantage estimators (THEORY.md, estimator table; TT-3; BY-4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory.advantages import ESTIMATORS, SILENT_ULPS, group_advantages, group_std, silent_groups
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
    spread = np.ptp(rewards, axis=-1)
    # silence has an absolute floor (8 eps below |r| = 1), so a spread within 1e-6 of it may change side
    assume(np.all((spread == 0) | (spread > 1e-6 * np.maximum(1.0, np.abs(rewards).max(axis=-1)))))
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
    spread = np.ptp(r32, axis=-1)  # float32 silences spreads up to 8 eps32, float64 does not
    assume(np.all((spread == 0) | (spread > 1e-4 * np.maximum(1.0, np.abs(r32).max(axis=-1)))))
    a32 = group_advantages(r32, "grpo", "sample", eps=1e-6)
    a64 = group_advantages(r32.astype(np.float64), "grpo", "sample", eps=1e-6)
    assert np.allclose(a32, a64)


# --- values by hand (issue 18): a bug of size 1/G hides inside any tolerance, not inside these ----------

ONE_OF_FOUR = np.array([1.0, 0.0, 0.0, 0.0])  # mean 1/4, centred (3/4, -1/4, -1/4, -1/4), sum of squares 3/4


@pytest.mark.parametrize(("estimator", "std", "eps", "expected"), [
    ("grpo", "sample", 0.0, [1.5, -0.5, -0.5, -0.5]),  # sample std sqrt(3/4 / 3) = 1/2
    ("grpo", "population", 0.0, [np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3)]),  # sqrt(3)/4
    ("grpo", "sample", 0.5, [0.75, -0.25, -0.25, -0.25]),  # 1/2 + eps = 1
    ("grpo", "population", 0.5, np.array([0.75, -0.25, -0.25, -0.25]) / (np.sqrt(3) / 4 + 0.5)),
    ("dr_grpo", "sample", 0.0, [0.75, -0.25, -0.25, -0.25]),
    ("rloo", "sample", 0.0, [1.0, -1 / 3, -1 / 3, -1 / 3]),  # r_i minus the mean of the other three
])
def test_estimators_on_one_success_of_four_by_hand(estimator: str, std: str, eps: float, expected: list) -> None:
    assert group_advantages(ONE_OF_FOUR, estimator, std, eps) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_grpo_defaults_are_sample_std_and_eps_1e_6() -> None:
    """TRL's defaults: std with 1/(G-1) and eps = 1e-6 added to it (a default that changes numbers)."""
    expected = np.array([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-6)
    assert group_advantages(ONE_OF_FOUR) == pytest.approx(expected, rel=1e-15)
    assert compute_advantages(ONE_OF_FOUR) == pytest.approx(expected, rel=1e-15)


def test_rloo_and_dr_grpo_ignore_std_and_eps() -> None:
    for std, eps in (("population", 0.0), ("sample", 0.7)):
        assert group_advantages(ONE_OF_FOUR, "rloo", std, eps) == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3])
        assert group_advantages(ONE_OF_FOUR, "dr_grpo", std, eps) == pytest.approx([0.75, -0.25, -0.25, -0.25])


@pytest.mark.parametrize(("std", "eps", "scale"), [
    ("population", 0.0, np.sqrt(0.5)),     # batch (0, 2, 1, 1): mean 1, squares sum to 2, over 4
    ("sample", 0.0, np.sqrt(2 / 3)),       # over 3
    ("population", 0.25, np.sqrt(0.5) + 0.25),
])
def test_grpo_batch_std_by_hand(std: str, eps: float, scale: float) -> None:
    """Group (0, 2) is scaled by the std of the whole batch, not its own (sqrt 2 or 1); group (1, 1) is silent."""
    a = group_advantages(np.array([[0.0, 2.0], [1.0, 1.0]]), "grpo_batch_std", std, eps)
    assert a == pytest.approx(np.array([[-1.0, 1.0], [0.0, 0.0]]) / scale, rel=1e-12)
    assert np.all(a[1] == 0.0)


def test_grpo_batch_std_of_a_batch_with_std_below_one() -> None:
    """Batch (0, 1, 0, 1): population std 1/2 (a scale < 1 is divided by, not replaced by 1)."""
    a = group_advantages(np.array([[0.0, 1.0], [0.0, 1.0]]), "grpo_batch_std", "population", eps=0.0)
    assert a == pytest.approx(np.array([[-1.0, 1.0], [-1.0, 1.0]]), rel=1e-12)


def test_grpo_batch_std_needs_two_values() -> None:
    with pytest.raises(ValueError, match=r"^rewards must hold at least 2 values for estimator=.grpo_batch_std.$"):
        group_advantages(np.zeros((0, 2)), "grpo_batch_std")  # an empty batch of groups of 2


def test_rloo_scale_is_G_over_G_minus_1_for_G_3() -> None:
    assert group_advantages([3.0, 0.0, 0.0], "rloo") == pytest.approx([3.0, -1.5, -1.5], rel=1e-12)


def test_silent_ulps_is_8_and_bounds_the_tolerance_exactly() -> None:
    """max - min <= 8 eps max(1, max|r|) is silent; 9 ulps above 1.0 is a signal."""
    assert SILENT_ULPS == 8.0
    eps = np.finfo(np.float64).eps
    assert silent_groups([[1.0, 1.0 + 8 * eps]]).tolist() == [True]
    assert silent_groups([[1.0, 1.0 + 9 * eps]]).tolist() == [False]
    assert group_advantages([[1.0, 1.0 + 9 * eps]], "dr_grpo")[0, 1] > 0


def test_silent_tolerance_scales_with_the_largest_reward_of_each_group() -> None:
    """Near 4 an ulp is 4 eps: 8 ulps of 4 are silent, 9 are not; a group's tolerance ignores other groups."""
    ulp4 = 4 * np.finfo(np.float64).eps
    rewards = np.array([[4.0, 4.0 + 8 * ulp4], [4.0, 4.0 + 9 * ulp4], [1.0, 1.0 + 9 * ulp4 / 4], [100.0, 100.0]])
    assert silent_groups(rewards).tolist() == [True, False, False, True]
    assert silent_groups([[-4.0, -4.0 - 8 * ulp4]]).tolist() == [True]  # |r|, not r


def test_float32_residue_up_to_8_eps32_is_silent() -> None:
    """float32 rewards equal up to 8 eps32 (32 ulps at 0.35, where an ulp is eps32 / 4) give exact zeros;
    33 ulps do not."""
    base = np.float32(0.35)
    near = base
    for _ in range(32):
        near = np.nextafter(near, np.float32(1))
    far = np.nextafter(near, np.float32(1))
    assert silent_groups(np.array([[base, near]], dtype=np.float32)).tolist() == [True]
    assert silent_groups(np.array([[base, far]], dtype=np.float32)).tolist() == [False]
    assert np.all(group_advantages(np.array([[base, near, base]], dtype=np.float32)) == 0.0)


def test_silent_groups_of_one_rollout_and_of_a_scalar() -> None:
    assert silent_groups([[0.3], [0.7]]).tolist() == [True, True]
    with pytest.raises(ValueError, match=r"rewards has shape \(\); its last axis is the group and needs >= 1"):
        silent_groups(0.3)


def test_group_std_by_hand_and_bad_mode() -> None:
    assert group_std(ONE_OF_FOUR.astype(np.float32), "sample") == 0.5
    assert group_std(ONE_OF_FOUR, "population") == pytest.approx(np.sqrt(3) / 4, rel=1e-15)
    assert group_std(ONE_OF_FOUR.astype(np.float32), "population").dtype == np.float64
    with pytest.raises(ValueError, match="std='ddof' is not allowed"):
        group_std(ONE_OF_FOUR, "ddof")


def test_grpo_with_eps_0_on_a_silent_group_is_0_not_nan() -> None:
    a = group_advantages(np.array([[0.5, 0.5], [0.0, 1.0]]), "grpo", "population", eps=0.0)
    assert a.tolist() == [[0.0, 0.0], [-1.0, 1.0]]


def test_advantages_keep_the_batch_shape() -> None:
    rewards = np.zeros((2, 3, 4))
    rewards[1, 2] = ONE_OF_FOUR
    a = group_advantages(rewards, "grpo", "sample", eps=0.0)
    assert a.shape == (2, 3, 4) and a.dtype == np.float64
    assert a[1, 2].tolist() == [1.5, -0.5, -0.5, -0.5] and np.all(a[0] == 0)


def test_bad_estimator_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="estimator='ppo' is not allowed; choose one of grpo, dr_grpo, rloo"):
        group_advantages(ONE_OF_FOUR, "ppo")
    with pytest.raises(ValueError, match="eps=nan must be a finite number >= 0"):
        group_advantages(ONE_OF_FOUR, eps=float("nan"))


# --- compute_advantages: the GRPOVI path and its defaults ---------------------------------------------------


def test_grpovi_ties_default_keep_silences_an_all_equal_group() -> None:
    """ties="keep" (the default) leaves four rewards of 0.5 equal: advantages exactly 0. VI's "split"
    would make them (1, 1, 0, 0), advantages +-sqrt(3)/2 (sample std sqrt(1/3))."""
    rewards = np.full((1, 4), 0.5)
    assert np.all(compute_advantages(rewards, "grpovi", reward_range=(0.0, 1.0)) == 0.0)
    split = compute_advantages(rewards, "grpovi", reward_range=(0.0, 1.0), ties="split", eps=0.0)
    assert split == pytest.approx(np.array([[1, 1, -1, -1]]) * np.sqrt(3) / 2, rel=1e-12)


def test_grpovi_advantages_by_hand() -> None:
    """(0.2, 0.6) in [0, 1]: mean 0.4, the top response (weight 1/2 > 0.4) takes y = 0.8, the other 0;
    GRPO of (0, 0.8): +-1/sqrt(2) with sample std (the default), +-1 with population std."""
    rewards = np.array([0.2, 0.6])
    assert compute_advantages(rewards, "grpovi", reward_range=(0, 1)) == pytest.approx(
        np.array([-0.4, 0.4]) / (np.sqrt(0.32) + 1e-6), rel=1e-12)
    assert compute_advantages(rewards, "grpovi", std="population", eps=0.0, reward_range=(0, 1)) == pytest.approx(
        [-1.0, 1.0], rel=1e-12)


def test_grpovi_weights_come_from_ref_log_probs() -> None:
    """Weights (0.2, 0.3, 0.5) on (0.9, 0.5, 0.1): mean 0.38; z = (1, 0.6, 0) (hi while the weight stays
    <= 0.38, then the fraction 0.18 / 0.3), so dr-style centring is visible through population grpo."""
    rewards = np.array([0.9, 0.5, 0.1])
    log_probs = np.log([0.2, 0.3, 0.5]) - 40.0
    a = compute_advantages(rewards, "grpovi", std="population", eps=0.0, reward_range=(0, 1),
                           ref_log_probs=log_probs)
    z = np.array([1.0, 0.6, 0.0])
    assert a == pytest.approx((z - z.mean()) / z.std(), rel=1e-9)
