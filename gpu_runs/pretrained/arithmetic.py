"""The prompt set (generated arithmetic of mixed difficulty and word problems) and its rewards.

Answer extraction (reward ``answer``): the answer is the LAST number in the completion, so "7 + 5 = 12"
is read as 12 (the first number, 7, would be the wrong rule). A number is written in digits with an
optional sign and decimals: "12." (a sentence's full stop) is 12, "= 12" is 12, "1,200" (thousands
separated by commas, groups of three) is 1200, "-3" and "−3" are -3 while "10-3" is 10 then 3 (a minus
right after a letter or digit is an operator), "3.5" is 3.5, and digits glued to letters ("x2") are no
number. Number words: a completion that holds no digit at all is read for number words instead, and
its last one counts ("twelve" is 12, "twenty-one" 21, "one hundred and five" 105, "minus three" -3);
where any digit is present, words are ignored (so "12, one of the answers" is 12, not 1). Reward 1 when
the extracted value equals the answer (within 1e-9), else 0.

``strict``: the completion, stripped, must be the number alone in digits (a trailing full stop allowed).
``number``: 1 if the completion holds any number: a format reward, used only by the smoke budget, where
the random tiny model must produce groups with both rewards for every estimator to run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory.validation import check_choice

REWARDS = ("answer", "strict", "number")
SUFFIX = "Answer with the number only."
STREAM = 16
"""Seed stream of the prompt generator (issue 16): problems come from ``[seed, STREAM]``."""

_NUMBER = re.compile(r"(?<![\w.])([-−])?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w])")
_STRICT = re.compile(r"^[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\.?$")
_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                      "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000}
_SIGNS = {"minus", "negative"}


def digit_numbers(text: str) -> list[float]:
    """Every number written in digits in ``text``, in order (see the module docstring for the rules)."""
    out = []
    for sign, whole, frac in _NUMBER.findall(text):
        value = float(whole.replace(",", "") + (frac or ""))
        out.append(-value if sign else value)
    return out


def word_numbers(text: str) -> list[float]:
    """Every number written in English words in ``text``, in order: runs such as "twenty-one", "one hundred
    and five", "three thousand", with "minus"/"negative" in front for a negative number."""
    words = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    out: list[float] = []
    total = current = 0
    in_run = negative = pending_sign = False
    last = ""  # category of the previous word of the run: unit, teen, tens, scale
    for w in [*words, "."]:
        cat = ("unit" if w in _UNITS and _UNITS[w] < 10 else "teen" if w in _UNITS else "tens" if w in _TENS
               else "scale" if w in _SCALES else "and" if w == "and" and in_run and last == "scale" else "")
        continues = in_run and ((cat in ("unit", "teen", "tens") and last == "scale")
                                or (cat == "unit" and last == "tens") or cat in ("scale", "and"))
        if in_run and not continues:
            value = total + current
            out.append(-value if negative else value)
            total = current = 0
            in_run = False
        if cat in ("unit", "teen", "tens"):
            if not in_run:
                negative, in_run = pending_sign, True
            current += _UNITS.get(w, 0) + _TENS.get(w, 0)
        elif cat == "scale" and in_run:
            if _SCALES[w] == 100:
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * 1000, 0
        if cat != "and":
            last = cat
        pending_sign = w in _SIGNS
    return [float(v) for v in out]


def extract_answer(text: str) -> float | None:
    """The last number of ``text`` in digits; if ``text`` holds no digit, its last number in words; else None."""
    numbers = digit_numbers(text) if any(c.isdigit() for c in text) else word_numbers(text)
    return numbers[-1] if numbers else None


def reward(text: str, answer: float, kind: str = "answer") -> float:
    """r(o) in {0, 1}: ``answer`` last number equals ``answer``; ``strict`` the completion is the number
    alone; ``number`` the completion holds a number (format reward)."""
    check_choice("kind", kind, REWARDS)
    if kind == "number":
        return float(extract_answer(text) is not None)
    if kind == "strict":
        body = text.strip()
        if not _STRICT.match(body):
            return 0.0
    value = extract_answer(text)
    return float(value is not None and abs(value - answer) < 1e-9)


def rewards(texts: list[str], answers: np.ndarray, kind: str = "answer") -> np.ndarray:
    """Rewards (N,) of completions ``texts`` against ``answers`` (N,)."""
    if len(texts) != len(answers):
        raise ValueError(f"texts has {len(texts)} entries but answers {len(answers)}; one answer per completion")
    return np.array([reward(t, float(a), kind) for t, a in zip(texts, answers, strict=True)], dtype=np.float64)


@dataclass(frozen=True)
class Problem:
    """One prompt: the user message ``question``, its integer ``answer`` and the generator ``kind``."""

    question: str
    answer: int
    kind: str


def _add_tiny(rng: np.random.Generator) -> tuple[str, int]:
    a, b = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    return f"What is {a} + {b}? {SUFFIX}", a + b


def _add_ten(rng: np.random.Generator) -> tuple[str, int]:
    a = int(rng.integers(1, 10))
    return f"What is 10 + {a}? {SUFFIX}", 10 + a


def _mul_ten(rng: np.random.Generator) -> tuple[str, int]:
    a = int(rng.integers(2, 10))
    return f"What is {a} times 10? {SUFFIX}", 10 * a


def _add_small(rng: np.random.Generator) -> tuple[str, int]:
    a, b = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    return f"What is {a} + {b}? {SUFFIX}", a + b


def _add_mixed(rng: np.random.Generator) -> tuple[str, int]:
    a, b = int(rng.integers(10, 100)), int(rng.integers(2, 10))
    return f"What is {a} + {b}? {SUFFIX}", a + b


def _add_two_digit(rng: np.random.Generator) -> tuple[str, int]:
    a, b = int(rng.integers(10, 100)), int(rng.integers(10, 100))
    return f"What is {a} + {b}? {SUFFIX}", a + b


def _sub_small(rng: np.random.Generator) -> tuple[str, int]:
    a = int(rng.integers(5, 20))
    b = int(rng.integers(1, a))
    return f"What is {a} - {b}? {SUFFIX}", a - b


def _sub_negative(rng: np.random.Generator) -> tuple[str, int]:
    a = int(rng.integers(1, 10))
    b = int(rng.integers(a + 1, 20))
    return f"What is {a} - {b}? {SUFFIX}", a - b


def _mul_small(rng: np.random.Generator) -> tuple[str, int]:
    a, b = int(rng.integers(2, 10)), int(rng.integers(2, 10))
    return f"What is {a} times {b}? {SUFFIX}", a * b


def _word_add(rng: np.random.Generator) -> tuple[str, int]:
    names, items = ("Tom", "Anna", "Sam", "Lena", "Ravi", "Mia"), ("apples", "pencils", "stickers", "marbles", "books")
    a, b = int(rng.integers(2, 20)), int(rng.integers(2, 10))
    name, item = names[int(rng.integers(len(names)))], items[int(rng.integers(len(items)))]
    return f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?", a + b


def _word_sub(rng: np.random.Generator) -> tuple[str, int]:
    names, items = ("Tom", "Anna", "Sam", "Lena", "Ravi", "Mia"), ("apples", "cookies", "cards", "balloons", "coins")
    a = int(rng.integers(6, 25))
    b = int(rng.integers(1, a - 1))
    name, item = names[int(rng.integers(len(names)))], items[int(rng.integers(len(items)))]
    return f"{name} has {a} {item} and gives away {b}. How many {item} are left?", a - b


def _word_mul(rng: np.random.Generator) -> tuple[str, int]:
    items = (("boxes", "pens"), ("bags", "apples"), ("rows", "chairs"), ("packs", "cards"))
    a, b = int(rng.integers(2, 8)), int(rng.integers(2, 8))
    outer, inner = items[int(rng.integers(len(items)))]
    return f"There are {a} {outer} with {b} {inner} in each. How many {inner} are there in total?", a * b


KINDS: dict[str, Callable[[np.random.Generator], tuple[str, int]]] = {
    "add-tiny": _add_tiny, "add-ten": _add_ten, "add-small": _add_small, "add-mixed": _add_mixed,
    "add-two-digit": _add_two_digit, "sub-small": _sub_small, "sub-negative": _sub_negative, "mul-small": _mul_small,
    "mul-ten": _mul_ten, "word-add": _word_add, "word-sub": _word_sub, "word-mul": _word_mul,
}
"""Problem generators by kind, from easy (sums up to 5 + 5) to hard for a 135M model (two-digit sums)."""

MIX: dict[str, float] = {"add-tiny": 2.0, "add-small": 2.0, "add-ten": 1.0, "mul-small": 2.0, "word-add": 2.0,
                         "sub-small": 1.0, "mul-ten": 1.0}
"""Share of each kind in the prompt set (normalised). Calibrated on SmolLM2-135M-Instruct at T = 1 with the chat
format of ``study.FORMAT`` (4 prompts x 16 samples per kind): mean pass rates add-tiny 0.20, add-small 0.22,
add-ten 0.23, mul-small 0.19, word-add 0.14, mul-ten 0.08, sub-small 0.06 (add-mixed 0.06, word-mul 0.10 and
word-sub 0.02 in an earlier probe: left out). With this mix about 70% of prompts have a pass rate in (0.1, 0.9)."""


def make_problems(count: int, seed: int, mix: dict[str, float] | None = None) -> list[Problem]:
    """``count`` distinct problems, kind k taking round(count * mix[k] / sum(mix)) of them (largest
    remainders), in a seeded random order; the same (count, seed, mix) gives the same problems."""
    mix = MIX if mix is None else mix
    for kind, weight in mix.items():
        check_choice("mix kind", kind, KINDS)
        if not weight >= 0:
            raise ValueError(f"mix[{kind!r}]={weight} must be >= 0")
    if count < 1:
        raise ValueError(f"count={count} must be >= 1")
    kinds = list(mix)
    weights = np.array([mix[k] for k in kinds], dtype=np.float64)
    if weights.sum() <= 0:
        raise ValueError("mix must give some kind a positive weight")
    exact = count * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: count - counts.sum()]:
        counts[i] += 1
    rng = np.random.default_rng([seed, STREAM])
    problems: list[Problem] = []
    seen: set[str] = set()
    for kind, n in zip(kinds, counts, strict=True):
        made, tries = 0, 0
        while made < n:
            question, answer = KINDS[kind](rng)
            tries += 1
            if question in seen and tries < 50 * n:  # distinct questions while the kind has room
                continue
            seen.add(question)
            problems.append(Problem(question, answer, kind))
            made += 1
    order = rng.permutation(len(problems))
    return [problems[i] for i in order]
