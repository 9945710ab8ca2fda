"""gpu_runs.tasks and gpu_runs.evaluation: generators, verifiers, rewards, splits, histograms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_runs.config import preset
from gpu_runs.evaluation import pass_rate_histogram
from gpu_runs.tasks import (
    GENERATORS,
    TASKS,
    VERIFIERS,
    TaskConfig,
    addition_problem,
    build_splits,
    distinct_prompts,
    partial_credit,
    reward,
    sorting_problem,
    verify_addition,
    verify_sorting,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=8)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 7), task=st.sampled_from(TASKS))
def test_verifier_accepts_the_generated_answer(seed, d, task):
    problem = GENERATORS[task](np.random.default_rng(seed), d)
    assert VERIFIERS[task](problem.prompt, problem.answer)
    assert reward(task, problem, problem.answer) == 1.0
    assert reward(task, problem, problem.answer, "partial") == 1.0
    assert problem.difficulty == d


@settings(max_examples=80)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6), completion=digits)
def test_addition_verifier_accepts_only_the_sum(seed, d, completion):
    """The verifier recomputes the sum from the prompt: independent of the generator's answer."""
    problem = addition_problem(np.random.default_rng(seed), d)
    left, right = problem.prompt.rstrip("=").split("+")
    assert len(left) == len(right) == d
    expected = str(int(left[::-1]) + int(right[::-1])).zfill(d + 1)[::-1]
    assert verify_addition(problem.prompt, completion) == (completion == expected)


def test_addition_verifier_rejects_other_widths_and_garbage():
    assert verify_addition("21+30=", "510")      # 12 + 03 = 015, least-significant digit first
    assert not verify_addition("21+30=", "51")   # the sum has d + 1 digits
    assert not verify_addition("21+30=", "5100")
    assert not verify_addition("21+30=", "51_")  # a PAD in the completion
    assert not verify_addition("21+30=", "")
    assert verify_addition("99+99=", "891")      # 99 + 99 = 198


@settings(max_examples=80)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 7), completion=digits)
def test_sorting_verifier_accepts_only_the_sorted_digits(seed, d, completion):
    problem = sorting_problem(np.random.default_rng(seed), d)
    assert verify_sorting(problem.prompt, completion) == (completion == "".join(sorted(problem.prompt[:-1])))


@settings(max_examples=80)
@given(answer=digits, completion=st.text(alphabet="0123456789_", max_size=9))
def test_partial_credit_lies_in_unit_interval_and_is_one_iff_exact(answer, completion):
    value = partial_credit(answer, completion)
    assert 0.0 <= value <= 1.0
    assert (value == 1.0) == (completion == answer)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), completion=st.text(alphabet="0123456789_", max_size=6))
def test_format_reward_is_one_iff_digits_of_the_answer_length(seed, completion):
    problem = addition_problem(np.random.default_rng(seed), 3)
    expected = len(completion) == 4 and "_" not in completion
    assert reward("addition", problem, completion, "format") == float(expected)
    assert reward("addition", problem, completion, "format") >= reward("addition", problem, completion)


def test_reward_rejects_unknown_kind():
    problem = addition_problem(np.random.default_rng(0), 2)
    with pytest.raises(ValueError, match="reward='graded'"):
        reward("addition", problem, "1", "graded")


def test_splits_are_fixed_disjoint_and_distinct():
    config = TaskConfig(difficulties=(2, 3), train_size=300, heldout_size=200, seed=7)
    train, heldout = build_splits(config)
    again, _ = build_splits(config)
    other, _ = build_splits(TaskConfig(difficulties=(2, 3), train_size=300, heldout_size=200, seed=8))
    assert train == again and train != other
    prompts = [p.prompt for p in train], [p.prompt for p in heldout]
    assert len(set(prompts[0])) == 300 and len(set(prompts[1])) == 200
    assert not set(prompts[0]) & set(prompts[1])
    assert {p.difficulty for p in train} == {2, 3}


@pytest.mark.parametrize("name", ["tiny", "small", "gpu"])
def test_presets_hold_out_at_least_2000_prompts(name):
    for task in TASKS:
        assert preset(name, task).warm_start.task.heldout_size >= 2000


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "division"}, "task='division'"), ({"difficulties": ()}, "difficulties"),
    ({"difficulties": (1,)}, "distinct"), ({"train_size": 0}, "train_size=0"), ({"difficulties": (10,)}, "[1, 9]"),
    ({"name": "sorting", "difficulties": (2, 3)}, "distinct"),
])
def test_task_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskConfig(**kwargs)


def test_distinct_prompts_counts_by_enumeration():
    rng = np.random.default_rng(0)
    seen = {addition_problem(rng, 1).prompt for _ in range(5000)}
    assert len(seen) == distinct_prompts("addition", 1) == 100
    seen = {sorting_problem(rng, 2).prompt for _ in range(5000)}
    assert len(seen) == distinct_prompts("sorting", 2) == 100


@settings(max_examples=40)
@given(p=st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.5, 0.9, 0.95, 1.0]), min_size=1, max_size=50))
def test_pass_rate_histogram_counts_every_prompt_once(p):
    h = pass_rate_histogram(np.array(p))
    arr = np.array(p)
    assert sum(h["counts"]) == h["prompts"] == len(p)
    assert h["share_informative"] == pytest.approx(np.mean((arr > 0.1) & (arr < 0.9)))
    assert h["share_below_0.1"] + h["share_informative"] + h["share_above_0.9"] == pytest.approx(1.0)
    assert h["signal_groups_G2"] == pytest.approx(np.mean(2 * arr * (1 - arr)))  # 1 - p^2 - (1-p)^2
