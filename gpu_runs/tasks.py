"""Verifiable tasks: seeded (prompt, answer) generators with a difficulty label, verifiers that
check a completion from the prompt alone, and fixed train / held-out splits.

- ``addition``: ``a+b=`` with both operands written with d digits and the sum with d + 1,
  zero-padded, least-significant digit first (``21+30=`` is 12 + 3, answer ``510``); difficulty = d.
  A fixed width puts the digits to add at fixed positions, which a small model learns fast.
- ``sorting``: ``d1..dn>`` -> the digits in non-decreasing order; difficulty = n.

Rewards: ``binary`` (1 iff the verifier accepts), ``partial`` (the share of answer positions
right, in [0, 1]; 1 iff the answer is exact), the continuous reward of GRPOVI runs (VI-3), or
``format`` (1 iff the completion has the answer's form: as many digits, then EOS), a binary reward
that an untrained model sometimes earns (used by ``grpo-verify bench step``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.validation import check_choice

TASKS = ("addition", "sorting")
ALPHABET = "0123456789+=>"
"""Every character a prompt or answer uses: digits, '+' and '=' (``a+b=``), '>' (``digits>``)."""
REWARDS = ("binary", "partial", "format")
REWARD_RANGE = (0.0, 1.0)
"""Every reward lies in [0, 1] (GRPOVI's reward range)."""


@dataclass(frozen=True)
class Problem:
    prompt: str
    answer: str
    difficulty: int


def addition_problem(rng: np.random.Generator, digits: int) -> Problem:
    """a + b for uniform a, b < 10^digits, both written with ``digits`` digits and the sum with
    ``digits`` + 1 (zero-padded), least-significant digit first."""
    a, b = (int(x) for x in rng.integers(0, 10**digits, size=2))
    return Problem(prompt=f"{a:0{digits}d}"[::-1] + "+" + f"{b:0{digits}d}"[::-1] + "=",
                   answer=f"{a + b:0{digits + 1}d}"[::-1], difficulty=digits)


def verify_addition(prompt: str, completion: str) -> bool:
    """True iff ``completion`` is the sum of the prompt's two d-digit operands written with d + 1
    digits, least-significant first."""
    left, right = prompt.rstrip("=").split("+")
    total = int(left[::-1]) + int(right[::-1])
    return completion.isdigit() and len(completion) == len(left) + 1 and int(completion[::-1]) == total


def sorting_problem(rng: np.random.Generator, length: int) -> Problem:
    """``length`` uniform digits; the answer is them sorted."""
    digits = "".join(str(d) for d in rng.integers(0, 10, size=length))
    return Problem(prompt=f"{digits}>", answer="".join(sorted(digits)), difficulty=length)


def verify_sorting(prompt: str, completion: str) -> bool:
    """True iff ``completion`` is a permutation of the prompt's digits in non-decreasing order."""
    digits = prompt.rstrip(">")
    return sorted(completion) == sorted(digits) and list(completion) == sorted(completion)


GENERATORS = {"addition": addition_problem, "sorting": sorting_problem}
VERIFIERS = {"addition": verify_addition, "sorting": verify_sorting}


def partial_credit(answer: str, completion: str) -> float:
    """(# positions t with completion[t] == answer[t]) / max(len(answer), len(completion))."""
    hits = sum(a == c for a, c in zip(answer, completion, strict=False))
    return hits / max(len(answer), len(completion), 1)


def reward(task: str, problem: Problem, completion: str, kind: str = "binary") -> float:
    """The reward of ``completion`` for ``problem``: ``binary`` verifier, ``partial`` credit or ``format``."""
    check_choice("reward", kind, REWARDS)
    if kind == "partial":
        return partial_credit(problem.answer, completion)
    if kind == "format":
        return float(completion.isdigit() and len(completion) == len(problem.answer))
    return float(VERIFIERS[task](problem.prompt, completion))


def distinct_prompts(task: str, difficulty: int) -> int:
    """How many different prompts of this difficulty exist: ordered pairs of d-digit operands
    (addition), or digit strings of length d (sorting)."""
    return 10 ** (2 * difficulty) if task == "addition" else 10**difficulty


@dataclass(frozen=True)
class TaskConfig:
    name: str = "addition"                     # addition | sorting
    difficulties: tuple[int, ...] = (2, 3, 4, 5)  # digits of the operands / length of the list
    train_size: int = 4096                     # fixed RL training prompts
    heldout_size: int = 2048                   # evaluation prompts, disjoint from train (>= 2000: 1 point visible)
    seed: int = 1234                           # data seed: the same sets for every arm and RL seed

    def __post_init__(self) -> None:
        check_choice("task", self.name, TASKS)
        if not self.difficulties or min(self.difficulties) < 1 or max(self.difficulties) > 9:
            raise ValueError(f"difficulties={self.difficulties!r} must be a non-empty tuple of integers in [1, 9]")
        for name in ("train_size", "heldout_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be an integer >= 1")
        per_difficulty = (self.train_size + self.heldout_size) / len(self.difficulties)
        for d in self.difficulties:
            if distinct_prompts(self.name, d) < 2 * per_difficulty:
                raise ValueError(f"difficulties={self.difficulties!r}: difficulty {d} has only "
                                 f"{distinct_prompts(self.name, d)} distinct {self.name} prompts, fewer than 2x "
                                 f"the {per_difficulty:.0f} the splits draw from it; use larger difficulties")

    @property
    def max_prompt_len(self) -> int:
        d = max(self.difficulties)
        return 2 * d + 2 if self.name == "addition" else d + 1

    @property
    def max_answer_len(self) -> int:
        d = max(self.difficulties)
        return d + 1 if self.name == "addition" else d


def draw_problems(config: TaskConfig, rng: np.random.Generator, n: int, exclude: frozenset[str] = frozenset(),
                  unique: bool = True) -> list[Problem]:
    """``n`` problems, difficulty uniform over ``config.difficulties``, prompts not in ``exclude``
    (and pairwise distinct if ``unique``)."""
    make = GENERATORS[config.name]
    seen: set[str] = set()
    problems: list[Problem] = []
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 100 * n + 10_000:
            raise ValueError(f"cannot draw {n} distinct prompts of difficulties {config.difficulties}: too few exist")
        problem = make(rng, int(rng.choice(config.difficulties)))
        if problem.prompt in exclude or (unique and problem.prompt in seen):
            continue
        seen.add(problem.prompt)
        problems.append(problem)
    return problems


def build_splits(config: TaskConfig) -> tuple[list[Problem], list[Problem]]:
    """(train, held-out): fixed by ``config.seed``, each without repeats, disjoint."""
    rng = np.random.default_rng([config.seed, 0])
    heldout = draw_problems(config, rng, config.heldout_size)
    train = draw_problems(config, np.random.default_rng([config.seed, 1]), config.train_size,
                          exclude=frozenset(p.prompt for p in heldout))
    return train, heldout
