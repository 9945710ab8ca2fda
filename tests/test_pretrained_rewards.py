"""issue 16: answer extraction reads the LAST number by value ("7 + 5 = 12" is 12), with the tricky forms of
completions a real LM writes; the strict and format variants; the prompt generator is seeded."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_runs.pretrained.arithmetic import KINDS, extract_answer, make_problems, reward, rewards


@pytest.mark.parametrize(("text", "value"), [
    ("7 + 5 = 12", 12.0),  # the last number, not the first
    ("12.", 12.0),  # a sentence's full stop is no decimal point
    ("= 12", 12.0),
    ("The answer is 1,200 apples.", 1200.0),  # thousands separators
    ("7 - 10 = -3", -3.0),  # a sign after a space or '=' is a sign
    ("It is −3.", -3.0),  # unicode minus
    ("10-3", 3.0),  # a minus right after a digit is an operator
    ("3.5", 3.5),
    ("twelve", 12.0),  # no digit at all: number words
    ("Seven plus five is twenty-one", 21.0),
    ("one hundred and five", 105.0),
    ("minus three", -3.0),
    ("12, one of the answers", 12.0),  # digits present: words ignored
    ("x2 is not a number but 4 is", 4.0),
    ("1,2", 2.0),  # not a thousands group: two numbers
])
def test_extract_answer_reads_the_last_number_by_value(text: str, value: float) -> None:
    assert extract_answer(text) == value


@pytest.mark.parametrize("text", ["", "no number here", "the answer is x"])
def test_extract_answer_is_none_without_a_number(text: str) -> None:
    assert extract_answer(text) is None


def test_first_number_rule_would_fail_where_the_last_number_rule_is_right() -> None:
    assert reward("7 + 5 = 12", 12) == 1.0
    assert reward("7 + 5 = 12", 7) == 0.0


def test_strict_reward_wants_the_number_alone() -> None:
    assert reward(" 12. ", 12, "strict") == 1.0
    assert reward("-3", -3, "strict") == 1.0
    assert reward("1,200", 1200, "strict") == 1.0
    assert reward("The answer is 12", 12, "strict") == 0.0
    assert reward("twelve", 12, "strict") == 0.0
    assert reward("13", 12, "strict") == 0.0


def test_number_reward_is_a_format_reward() -> None:
    assert reward("banana 3", 12, "number") == 1.0
    assert reward("banana", 12, "number") == 0.0


def test_rewards_vector_and_its_argument_checks() -> None:
    np.testing.assert_array_equal(rewards(["12", "x", "5 + 7 = 12"], np.array([12, 12, 12])), [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="texts has 1 entries but answers 2"):
        rewards(["1"], np.array([1, 2]))
    with pytest.raises(ValueError, match="kind='exact' is not allowed"):
        reward("1", 1, "exact")


def test_problems_are_seeded_distinct_and_follow_the_mix() -> None:
    a, b = make_problems(40, seed=3), make_problems(40, seed=3)
    assert a == b
    assert a != make_problems(40, seed=4)
    assert len({p.question for p in a}) == 40
    mix = {"add-small": 3.0, "word-mul": 1.0}
    kinds = [p.kind for p in make_problems(8, seed=0, mix=mix)]
    assert kinds.count("add-small") == 6 and kinds.count("word-mul") == 2
    for p in make_problems(60, seed=1, mix={k: 1.0 for k in KINDS}):
        assert extract_answer(str(p.answer)) == p.answer  # every answer is readable back
    with pytest.raises(ValueError, match="mix kind='division' is not allowed"):
        make_problems(4, seed=0, mix={"division": 1.0})
    with pytest.raises(ValueError, match="count=0 must be >= 1"):
        make_problems(0, seed=0)
