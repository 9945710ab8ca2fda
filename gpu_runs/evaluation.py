"""Rollouts scored by a task: rewards of sampled completions, per-prompt pass rates and their
histogram, held-out accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from gpu_runs.model import GPT
from gpu_runs.sampling import Samples, generate
from gpu_runs.tasks import Problem, TaskConfig, reward
from gpu_runs.tokenizer import CharTokenizer
from theory.expectations import silent_group_probability

PASS_RATE_BINS = np.linspace(0.0, 1.0, 11)
"""Ten bins of width 0.1 for per-prompt pass rates."""


def completion_texts(tokenizer: CharTokenizer, samples: Samples) -> list[str]:
    """Decoded completions (up to EOS) of every row."""
    return [tokenizer.decode(row) for row in samples.completion_ids.tolist()]


def score(task: TaskConfig, problems: Sequence[Problem], texts: Sequence[str], group_size: int,
          kind: str) -> NDArray[np.float64]:
    """Rewards (len(problems), G) of the given ``kind``, G = ``group_size``: row i*G + j of
    ``texts`` is sample j of problem i."""
    values = [reward(task.name, problems[i // group_size], t, kind) for i, t in enumerate(texts)]
    return np.asarray(values, dtype=np.float64).reshape(len(problems), group_size)


def sample_problems(
    model: GPT, tokenizer: CharTokenizer, task: TaskConfig, problems: Sequence[Problem], *, group_size: int,
    max_new_tokens: int, generator: torch.Generator | None, greedy: bool = False, temperature: float = 1.0,
    top_p: float = 1.0, batch_prompts: int = 512, reward_kind: str = "binary",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(binary rewards, ``reward_kind`` rewards), each (len(problems), group_size): a group of
    ``group_size`` samples per problem, in batches of prompts."""
    device = next(model.parameters()).device
    binary, task_rewards = [], []
    for start in range(0, len(problems), batch_prompts):
        chunk = problems[start:start + batch_prompts]
        ids, mask = tokenizer.pad_left([p.prompt for p in chunk], device)
        samples = generate(model, ids, mask, max_new_tokens=max_new_tokens, group_size=group_size,
                           temperature=temperature, top_p=top_p, greedy=greedy, generator=generator)
        texts = completion_texts(tokenizer, samples)
        binary.append(score(task, chunk, texts, group_size, "binary"))
        task_rewards.append(score(task, chunk, texts, group_size, reward_kind))
    return np.concatenate(binary), np.concatenate(task_rewards)


def pass_rate_histogram(pass_rates: NDArray[np.float64]) -> dict[str, object]:
    """Counts of per-prompt pass rates in ten bins of width 0.1, the share with 0.1 < p < 0.9, and
    the expected share of non-silent groups 1 - p^G - (1-p)^G (TT-8) for G = 2 and 16."""
    p = np.asarray(pass_rates, dtype=np.float64)
    counts, _ = np.histogram(p, bins=PASS_RATE_BINS)
    return {
        "bins": [round(float(b), 2) for b in PASS_RATE_BINS],
        "counts": [int(c) for c in counts],
        "prompts": int(p.size),
        "mean_pass_rate": float(p.mean()),
        "share_below_0.1": float(np.mean(p <= 0.1)),
        "share_informative": float(np.mean((p > 0.1) & (p < 0.9))),
        "share_above_0.9": float(np.mean(p >= 0.9)),
        "signal_groups_G2": float(np.mean(1.0 - silent_group_probability(2, p))),
        "signal_groups_G16": float(np.mean(1.0 - silent_group_probability(16, p))),
    }


def heldout_metrics(
    model: GPT, tokenizer: CharTokenizer, task: TaskConfig, problems: Sequence[Problem], *, max_new_tokens: int,
    seed: int, reward_kind: str = "binary",
) -> dict[str, float]:
    """Greedy accuracy, and the pass rate and mean reward of one T = 1 sample per prompt (seeded:
    the same noise at every evaluation), overall and per difficulty."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    greedy, _ = sample_problems(model, tokenizer, task, problems, group_size=1, max_new_tokens=max_new_tokens,
                                generator=None, greedy=True)
    sampled, sampled_reward = sample_problems(model, tokenizer, task, problems, group_size=1,
                                              max_new_tokens=max_new_tokens, generator=generator,
                                              reward_kind=reward_kind)
    difficulty = np.array([p.difficulty for p in problems])
    metrics = {"greedy_accuracy": float(greedy.mean()), "pass_rate": float(sampled.mean()),
               "reward": float(sampled_reward.mean())}
    for d in sorted(set(difficulty.tolist())):
        metrics[f"pass_rate_d{d}"] = float(sampled[difficulty == d].mean())
    return metrics
