"""Bad input to theory/ names its argument first (STYLE.md, "Errors"), pinned from the start of the
message so that a message naming the wrong argument fails; and the rarely used defaults by value."""

from __future__ import annotations

import numpy as np
import pytest

from theory.contrastive import contrastive_split, contrastive_update, dpo_pair_weight, group_update
from theory.estimators import compute_advantages
from theory.expectations import (
    binary_group_advantage,
    expected_pair_advantage,
    limit_expected_advantage,
    silent_group_probability,
    two_grpo_scale,
)
from theory.statistics import mean_ci

A = np.array([1.5, -0.5, -0.5, -0.5])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: compute_advantages([[0.0, 1.0]], "grpovi"), r"^reward_range=None"),
    (lambda: compute_advantages([[0.5]], "grpovi", reward_range=(0, 1)), r"^rewards has shape \(1, 1\); its last axis"),
    (lambda: compute_advantages([[0.5, np.nan]], "grpovi", reward_range=(0, 1)), r"^rewards contains nan"),
    (lambda: compute_advantages([[0.5, 0.2]], "grpovi", reward_range=(1, 0)), r"^reward_range=\(1\.0, 0\.0\): the"),
    (lambda: compute_advantages([[0.5, 0.2]], "grpovi", reward_range=(0, 1), ref_log_probs=[0.0, 1.0, 2.0]),
     r"^ref_log_probs has shape \(3,\); it must have the shape of rewards, \(1, 2\)"),
    (lambda: compute_advantages([[0.5, 0.2]], "grpovi", reward_range=(0, 1), ref_log_probs=[0.0, np.nan]),
     r"^ref_log_probs contains nan"),
    (lambda: mean_ci(np.float64(2.0)), r"^values=2\.0 must be an array with one value per seed"),
    (lambda: mean_ci(["a"]), r"^values=\['a'\] must be an array of real numbers"),
    (lambda: mean_ci([[1.0, 2.0]], axis=2), r"^axis=2 must be an integer >= -2 and <= 1"),
    (lambda: mean_ci([[1.0, 2.0]], axis=-3), r"^axis=-3 must be an integer >= -2 and <= 1"),
    (lambda: limit_expected_advantage(1.5, 1), r"^p=1\.5 must lie in \[0, 1\]"),
    (lambda: limit_expected_advantage(0.0, 1), r"^p must lie in the open interval \(0, 1\) for the G -> infinity"),
    (lambda: limit_expected_advantage(0.5, np.nan), r"^reward contains nan"),
    (lambda: limit_expected_advantage([0.2, 0.5], [1, 0, 1]), r"^reward has shape \(3,\); it must broadcast"),
    (lambda: limit_expected_advantage([0.2, 0.5, 0.7], [1, 0]), r"^reward has shape \(2,\); it must broadcast"),
    (lambda: two_grpo_scale("bessel"), r"^std='bessel' is not allowed"),
    (lambda: two_grpo_scale("sample", -1.0), r"^eps=-1\.0 must be a finite number >= 0"),
    (lambda: silent_group_probability(2, -0.5), r"^p=-0\.5 must lie in \[0, 1\]"),
    (lambda: expected_pair_advantage([0.0, np.nan], [0.5, 0.5], 0.0), r"^values contains nan"),
    (lambda: expected_pair_advantage([0.0, 1.0], [0.5, 0.5], np.inf), r"^reward=inf must be a finite number"),
    (lambda: contrastive_split([1.0, np.nan]), r"^advantages contains nan"),
    (lambda: contrastive_split(1.0), r"^advantages has shape \(\); its last axis is the group and needs >= 2"),
    (lambda: contrastive_split([[1.0]]), r"^advantages has shape \(1, 1\)"),
    (lambda: group_update([1.0, np.nan], np.zeros((2, 1))), r"^advantages contains nan"),
    (lambda: group_update([[1.0]], np.zeros((1, 1, 1))), r"^advantages has shape \(1, 1\)"),
    (lambda: group_update(A, np.full((4, 1), np.inf)), r"^scores contains inf"),
    (lambda: contrastive_update(A, np.full((4, 1), np.nan)), r"^scores contains nan"),
    (lambda: dpo_pair_weight(np.nan, 0.0, 1.0), r"^h_pos contains nan"),
    (lambda: dpo_pair_weight(0.0, np.inf, 1.0), r"^h_neg contains inf"),
    (lambda: dpo_pair_weight([0.0, 1.0], [0.0, 1.0, 2.0], 1.0), r"^h_pos has shape \(2,\) and h_neg \(3,\)"),
    (lambda: dpo_pair_weight([0.0, 1.0, 2.0], [0.0, 1.0], 1.0), r"^h_pos has shape \(3,\) and h_neg \(2,\)"),
    (lambda: mean_ci([1.0, 2.0], level=0.0), r"^level=0\.0 must be"),
    (lambda: mean_ci([1.0, 2.0], level=1.0), r"^level=1\.0 must be"),
])
def test_bad_input_names_its_argument_first(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_compute_advantages_passes_std_and_eps_to_every_estimator() -> None:
    r = np.array([1.0, 0.0, 0.0, 0.0])
    assert compute_advantages(r, "grpo", eps=0.5) == pytest.approx([0.75, -0.25, -0.25, -0.25], rel=1e-15)
    assert compute_advantages(r, "grpo", std="population", eps=0.0) == pytest.approx(
        [np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3)], rel=1e-12)


def test_binary_group_advantage_defaults_to_grpo_with_sample_std() -> None:
    assert binary_group_advantage(3, 1) == pytest.approx([2 / np.sqrt(3), 1 / np.sqrt(3), 0.0], rel=1e-12, abs=1e-15)


def test_split_mass_is_per_group() -> None:
    split = contrastive_split(np.stack([A, 2 * A]))
    assert split.mass.tolist() == [1.5, 3.0]


def test_mean_ci_computes_in_float64_whatever_the_input() -> None:
    """float32 (1, 1 + 2^-23): the float32 sum rounds to 2, the float64 mean is 1 + 2^-24."""
    x = np.array([1.0, 1.0 + 2.0**-23], dtype=np.float32)
    mean, half = mean_ci(x)
    assert float(mean) == 1.0 + 2.0**-24 and mean.dtype == np.float64
    assert float(half) == pytest.approx(12.706204736174694 * 2.0**-24, rel=1e-9)


def test_mean_ci_half_width_is_float64_zero_for_single_rows() -> None:
    _, half = mean_ci(np.array([[2.0, 4.0]]))
    assert half.dtype == np.float64 and half.tolist() == [0.0, 0.0]


def test_mean_ci_takes_the_last_axis_too() -> None:
    x = [[1.0, 2.0], [3.0, 5.0]]
    for axis in (1, -1):
        mean, half = mean_ci(x, axis=axis)
        assert mean.tolist() == [1.5, 4.0]
        assert half == pytest.approx(12.706204736174694 * np.array([np.sqrt(0.5), np.sqrt(2.0)]) / np.sqrt(2), rel=1e-9)
