"""Held-out and probe metrics of the TT-9 / VI-3 experiment (``gpu_runs.tt9.experiment``).

From c successes among n samples of a prompt at T = 1:

    Mean@n      = c / n                                   (TT's Mean@32; an unbiased pass rate)
    Pass@k      = 1 - C(n - c, k) / C(n, k),  k <= n      (Chen et al. 2021, unbiased for 1 - (1 - p)^k)
    silent_G    = [C(c, G) + C(n - c, G)] / C(n, G), G <= n   (unbiased for p^G + (1 - p)^G, TT-8)

each averaged over prompts, overall and per difficulty. ``silent_G`` predicts the share of
silent groups a run of group size G should see on those prompts; the trainer measures the
share it does see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.special import comb

from gpu_runs.evaluation import sample_problems
from gpu_runs.model import GPT
from gpu_runs.tasks import Problem, TaskConfig
from gpu_runs.tokenizer import CharTokenizer
from theory.validation import check_group_size


def _check_counts(successes: ArrayLike, n: int) -> NDArray[np.int64]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} must be an integer >= 1 (samples per prompt)")
    c = np.asarray(successes)
    if c.dtype.kind not in "iu" or np.any(c < 0) or np.any(c > n):
        raise ValueError(f"successes must be integers in [0, n={n}], got {c!r}")
    return c.astype(np.int64)


def pass_at_k(successes: ArrayLike, n: int, k: int) -> NDArray[np.float64]:
    """1 - C(n - c, k) / C(n, k) per prompt: the unbiased estimate of 1 - (1 - p)^k from c of n."""
    c = _check_counts(successes, n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k={k!r} must be an integer in [1, n={n}]")
    return 1.0 - comb(n - c, k) / comb(n, k)


def silent_probability_estimate(successes: ArrayLike, n: int, group_size: int) -> NDArray[np.float64]:
    """[C(c, G) + C(n - c, G)] / C(n, G) per prompt: unbiased for p^G + (1 - p)^G (G <= n), the
    chance that G fresh samples of the prompt all agree (a silent group, TT-8)."""
    c = _check_counts(successes, n)
    G = check_group_size("group_size", group_size)
    if G > n:
        raise ValueError(f"group_size={G} must be <= n={n} for an unbiased estimate")
    return (comb(c, G) + comb(n - c, G)) / comb(n, G)


def pass_at_k_levels(n: int) -> list[int]:
    """k = 1, 2, 4, ... up to n (n itself included)."""
    levels = [1 << i for i in range(int(np.log2(n)) + 1)]
    return levels if levels[-1] == n else [*levels, n]


def summarise_samples(successes: NDArray[np.int64], n: int, greedy: NDArray[np.float64],
                      reward: NDArray[np.float64]) -> dict[str, float]:
    """Greedy accuracy, Mean@n, Pass@k for k in :func:`pass_at_k_levels`, mean task reward."""
    out = {"greedy_accuracy": float(greedy.mean()), f"mean_at_{n}": float(successes.mean() / n)}
    for k in pass_at_k_levels(n):
        out[f"pass_at_{k}"] = float(pass_at_k(successes, n, k).mean())
    out["reward"] = float(reward.mean())
    return out


def evaluate_policy(model: GPT, task: TaskConfig, problems: Sequence[Problem], *, k: int, max_new_tokens: int,
                    temperature: float, top_p: float, seed: int, reward_kind: str,
                    batch_prompts: int = 256) -> dict[str, Any]:
    """Greedy accuracy, Mean@k, Pass@k (k = 1, 2, 4, ..., k) and the mean ``reward_kind`` reward of
    k samples per prompt, overall and per difficulty (key ``by_difficulty``)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be an integer >= 1")
    tokenizer = CharTokenizer()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    greedy, _ = sample_problems(model, tokenizer, task, problems, group_size=1, max_new_tokens=max_new_tokens,
                                generator=None, greedy=True, batch_prompts=batch_prompts)
    passed, reward = sample_problems(model, tokenizer, task, problems, group_size=k, max_new_tokens=max_new_tokens,
                                     generator=generator, temperature=temperature, top_p=top_p,
                                     batch_prompts=batch_prompts, reward_kind=reward_kind)
    successes = passed.sum(axis=1).astype(np.int64)
    difficulty = np.array([p.difficulty for p in problems])
    metrics: dict[str, Any] = summarise_samples(successes, k, greedy[:, 0], reward)
    metrics["prompts"] = len(problems)
    metrics["by_difficulty"] = {
        str(d): {**summarise_samples(successes[difficulty == d], k, greedy[difficulty == d, 0],
                                     reward[difficulty == d]), "prompts": int(np.sum(difficulty == d))}
        for d in sorted(set(difficulty.tolist()))
    }
    return metrics


def probe_pass_rates(model: GPT, task: TaskConfig, problems: Sequence[Problem], *, k: int, max_new_tokens: int,
                     temperature: float, top_p: float, seed: int, group_sizes: Sequence[int],
                     reward_kind: str = "binary") -> dict[str, Any]:
    """Successes c of k samples per probe prompt (training prompts), their mean pass rate c / k, the
    mean ``reward_kind`` reward, and the predicted silent-group share E[p^G + (1 - p)^G] for each G
    (unbiased, :func:`silent_probability_estimate`)."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    passed, reward = sample_problems(model, CharTokenizer(), task, problems, group_size=k,
                                     max_new_tokens=max_new_tokens, generator=generator, temperature=temperature,
                                     top_p=top_p, batch_prompts=256, reward_kind=reward_kind)
    successes = passed.sum(axis=1).astype(np.int64)
    return {
        "samples": k,
        "prompts": len(problems),
        "mean_pass_rate": float(successes.mean() / k),
        "mean_reward": float(reward.mean()),
        "reward_kind": reward_kind,
        "successes": successes.tolist(),
        "successes_histogram": np.bincount(successes, minlength=k + 1).tolist(),
        "predicted_silent": {str(G): float(silent_probability_estimate(successes, k, G).mean())
                             for G in group_sizes if G <= k},
    }
