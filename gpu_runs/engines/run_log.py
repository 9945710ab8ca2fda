"""The common in-memory record of a GRPO run read from an engine's logs (TRL, verl): one row per logged
optimizer step and, where the engine logged them, every group's rewards by prompt (TT-8, TT-9).

A group is silent when all its rewards are equal (exactly: the engines' own float32 test, BY-4, may
differ on non-dyadic rewards). For binary rewards the chance of that is p^G + (1-p)^G (TT-8); a group's
prediction here uses only the *other* groups of the same prompt, nearest in steps, pooled until they hold
``min_samples`` rollouts: with c successes among m of them,

    [C(c, G) + C(m - c, G)] / C(m, G)        (unbiased for p^G + (1-p)^G when the m are Bernoulli(p)),

so a group never predicts itself. The policy moves between the steps pooled, which is what the
comparison can show.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.special import comb

ENGINES = ("trl", "verl")


@dataclass(frozen=True)
class StepRow:
    """One logged optimizer step. ``reward``: mean reward of its rollouts; ``silent_share``: the share of its
    groups with equal rewards as the engine logged it (TRL's frac_reward_zero_std); ``rollouts`` generated
    for it; ``seconds`` of wall-clock; ``clip_ratio``: the engine's clipping metrics by name."""

    step: int
    reward: float
    reward_std: float | None = None
    silent_share: float | None = None
    rollouts: int | None = None
    seconds: float | None = None
    mean_length: float | None = None
    entropy: float | None = None
    clip_ratio: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """The rewards of one group of rollouts of ``prompt`` at optimizer ``step``."""

    step: int
    prompt: str
    rewards: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.rewards)

    @property
    def silent(self) -> bool:
        """All rewards equal (exact comparison)."""
        return max(self.rewards) == min(self.rewards)


@dataclass(frozen=True)
class RunLog:
    """A run as read: ``engine`` (trl or verl), the folder it came from, its logged ``steps`` (increasing),
    its ``groups`` (empty when the engine did not log rollouts) and ``notes`` on what the reader inferred."""

    engine: str
    source: str
    steps: tuple[StepRow, ...]
    groups: tuple[Group, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r} is not allowed; choose one of {', '.join(ENGINES)}")
        if not self.steps:
            raise ValueError(f"the run in {self.source} has no logged step")
        numbers = [row.step for row in self.steps]
        if numbers != sorted(set(numbers)):
            raise ValueError(f"the steps of the run in {self.source} must be unique and increasing, got {numbers[:10]}")

    @property
    def step_numbers(self) -> NDArray[np.int64]:
        return np.array([row.step for row in self.steps], dtype=np.int64)

    @property
    def rewards(self) -> NDArray[np.float64]:
        return np.array([row.reward for row in self.steps], dtype=np.float64)

    def cumulative_rollouts(self) -> NDArray[np.float64] | None:
        """Rollouts generated up to and including each logged step (None unless every step knows its own)."""
        counts = [row.rollouts for row in self.steps]
        if any(c is None for c in counts):
            return None
        gaps = np.diff(self.step_numbers, prepend=0)  # a row stands for the steps since the previous row
        return np.cumsum(np.array(counts, dtype=np.float64) * gaps)

    def wall_clock(self) -> NDArray[np.float64] | None:
        """Seconds of training up to and including each logged step (None unless every step has its time);
        a row's ``seconds`` is its steps' mean, counted once per step since the previous row."""
        seconds = [row.seconds for row in self.steps]
        if any(s is None for s in seconds):
            return None
        gaps = np.diff(self.step_numbers, prepend=0)
        return np.cumsum(np.array(seconds, dtype=np.float64) * gaps)

    def group_size(self) -> int | None:
        """The most common group size of the logged groups (None without groups)."""
        if not self.groups:
            return None
        return Counter(g.size for g in self.groups).most_common(1)[0][0]

    def group_silent_shares(self) -> dict[int, float]:
        """Step -> share of its logged groups whose rewards are all equal."""
        by_step: dict[int, list[bool]] = defaultdict(list)
        for g in self.groups:
            by_step[g.step].append(g.silent)
        return {step: float(np.mean(flags)) for step, flags in sorted(by_step.items())}

    def binary_levels(self) -> tuple[float, float] | None:
        """(failure, success) reward values when every logged reward takes one of at most two values
        (a single value v counts as success when v >= 1), else None."""
        values = sorted({r for g in self.groups for r in g.rewards})
        if not values or len(values) > 2:
            return None
        if len(values) == 1:
            return (math.nan, values[0]) if values[0] >= 1 else (values[0], math.nan)
        return values[0], values[1]

    def prompt_pass_rates(self) -> dict[str, tuple[int, int]]:
        """Prompt -> (successes, rollouts) over every logged group (binary rewards only)."""
        levels = self.require_binary()
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for g in self.groups:
            counts[g.prompt][0] += sum(r == levels[1] for r in g.rewards)
            counts[g.prompt][1] += g.size
        return {k: (v[0], v[1]) for k, v in counts.items()}

    def require_binary(self) -> tuple[float, float]:
        """(failure, success) reward values; ValueError naming the distinct rewards found when not binary."""
        levels = self.binary_levels()
        if levels is None:
            kinds = len({r for g in self.groups for r in g.rewards})
            found = f"{kinds} distinct rewards" if kinds else "no logged rewards"
            raise ValueError(f"the run in {self.source} has {found}; per-prompt pass rates need rewards of at most "
                             "two values (a verifier's 0/1)")
        return levels


@dataclass(frozen=True)
class SilentComparison:
    """Per step with at least one predicted group: ``steps``, ``measured`` share of silent groups among
    them, ``predicted`` mean of their out-of-group predictions, ``groups`` counted; per predicted group
    (in step order): ``group_silent`` (0/1) and ``group_predicted``."""

    steps: NDArray[np.int64]
    measured: NDArray[np.float64]
    predicted: NDArray[np.float64]
    groups: NDArray[np.int64]
    group_silent: NDArray[np.float64]
    group_predicted: NDArray[np.float64]


def silent_estimate(successes: int, samples: int, group_size: int) -> float:
    """[C(c, G) + C(m - c, G)] / C(m, G): unbiased for p^G + (1-p)^G from c successes in m >= G samples."""
    if not 0 <= successes <= samples or group_size < 2 or samples < group_size:
        raise ValueError(f"need 0 <= successes={successes} <= samples={samples} and 2 <= group_size={group_size} "
                         f"<= samples")
    return float((comb(successes, group_size) + comb(samples - successes, group_size)) / comb(samples, group_size))


def compare_silent_shares(run: RunLog, min_samples: int | None = None) -> SilentComparison:
    """TT-8 on a run: each group's silence against its prediction from the other groups of its prompt,
    nearest in steps, pooled until they hold ``min_samples`` rollouts (default max(2G, 8)); groups whose
    prompt has fewer than G other rollouts get no prediction."""
    levels = run.require_binary()
    by_prompt: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(run.groups):
        by_prompt[g.prompt].append(i)
    successes = [sum(r == levels[1] for r in g.rewards) for g in run.groups]
    rows: dict[int, list[tuple[bool, float]]] = defaultdict(list)
    for i, g in enumerate(run.groups):
        need = min_samples if min_samples is not None else max(2 * g.size, 8)
        others = sorted((j for j in by_prompt[g.prompt] if j != i),
                        key=lambda j: (abs(run.groups[j].step - g.step), run.groups[j].step))
        c = m = 0
        for j in others:
            if m >= need:
                break
            c, m = c + successes[j], m + run.groups[j].size
        if m >= g.size:
            rows[g.step].append((g.silent, silent_estimate(c, m, g.size)))
    steps = sorted(rows)
    flat = [pair for t in steps for pair in rows[t]]
    return SilentComparison(
        steps=np.array(steps, dtype=np.int64),
        measured=np.array([np.mean([s for s, _ in rows[t]]) for t in steps], dtype=np.float64),
        predicted=np.array([np.mean([p for _, p in rows[t]]) for t in steps], dtype=np.float64),
        groups=np.array([len(rows[t]) for t in steps], dtype=np.int64),
        group_silent=np.array([s for s, _ in flat], dtype=np.float64),
        group_predicted=np.array([p for _, p in flat], dtype=np.float64),
    )


def split_groups(step: int, rows: list[tuple[str, float]], group_size: int | None) -> tuple[list[Group], int]:
    """Groups of one step from its rollouts (prompt, reward) in logged order: each prompt's rollouts, in order,
    cut into groups of ``group_size`` (default: the gcd of the prompts' rollout counts). Returns the groups
    and the group size used; a count that is not a multiple raises ValueError naming the prompt."""
    per_prompt: dict[str, list[float]] = defaultdict(list)
    for prompt, reward in rows:
        per_prompt[prompt].append(reward)
    size = group_size or math.gcd(*(len(v) for v in per_prompt.values()))
    if size < 2:
        raise ValueError(f"step {step}: cannot find groups: a prompt has {size} rollout(s) (a group needs >= 2); "
                         "give --group-size if the log mixes group sizes")
    groups = []
    for prompt, rewards in per_prompt.items():
        if len(rewards) % size:
            raise ValueError(f"step {step}: prompt {prompt[:60]!r} has {len(rewards)} rollouts, not a multiple of "
                             f"group size {size}")
        groups += [Group(step, prompt, tuple(rewards[i:i + size])) for i in range(0, len(rewards), size)]
    return groups, size
