"""``grpo-verify bench simulate``: simulated rollouts per second of the binary bandit statistics kernel
(:func:`simulations.engine.binary_bandit_statistics`) at G = 2 and G = 16, side by side with a
straightforward per-group Python loop doing the same work (draw G Bernoulli rewards, count the
successes, read the group's update coefficient, accumulate per-prompt sums and the silent count).

Targets (issue 5, 2-core machine): >= 50 M rollouts/s at G = 2, >= 200 M at G = 16, >= 100x the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from grpo_verify.bench import BenchReport
from simulations.engine import UpdateRule, binary_bandit_statistics, binary_update_coefficients
from simulations.environments import pass_rate_quantiles

TARGET_RATE = {2: 50e6, 16: 200e6}
TARGET_SPEEDUP = 100.0


def loop_statistics(pass_rates: np.ndarray, group_size: int, rule: UpdateRule, trials: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """The per-group Python loop: (sum of u(k), sum of u(k)^2) per prompt and the silent-group count
    (k = 0 or G successes of G = ``group_size`` rollouts)."""
    coeff = binary_update_coefficients(group_size, rule)
    total, total_sq, silent = np.zeros(pass_rates.size), np.zeros(pass_rates.size), 0
    for _ in range(trials):
        for q, p in enumerate(pass_rates):
            k = int((rng.random(group_size) < p).sum())
            u = coeff[k]
            total[q] += u
            total_sq[q] += u * u
            silent += k in (0, group_size)
    return total, total_sq, silent


def _best_seconds(work: Callable[[], None], repeats: int) -> float:
    """Fastest of ``repeats`` runs (the least disturbed by other load on a shared machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def run(quick: bool) -> BenchReport:
    """Measure both implementations at G = 2 and G = 16 on 256 prompts with uniform pass rates."""
    rule = UpdateRule("grpo", std="sample")
    p = pass_rate_quantiles("uniform", 256)
    rows, targets = [], {}
    for group_size in (2, 16):
        G = group_size  # in the rates below: rollouts = trials x prompts x G
        trials = (4_000 if quick else 40_000) * 2 // G * 8
        loop_trials = 4 if quick else 40
        rng = np.random.default_rng(group_size)

        def kernel(group_size: int = group_size, trials: int = trials, rng: np.random.Generator = rng) -> None:
            binary_bandit_statistics(p, group_size, rule, trials=trials, rng=rng)

        def loop(group_size: int = group_size, trials: int = loop_trials, rng: np.random.Generator = rng) -> None:
            loop_statistics(p, group_size, rule, trials, rng)

        fast = _best_seconds(kernel, 2 if quick else 3)
        slow = _best_seconds(loop, 1 if quick else 2)
        fast_rate = trials * p.size * G / fast
        slow_rate = loop_trials * p.size * G / slow
        rows.append({"G": G, "rollouts": trials * p.size * G, "kernel rollouts/s": f"{fast_rate / 1e6:.1f} M",
                     "loop rollouts/s": f"{slow_rate / 1e6:.3f} M", "speed-up": f"{fast_rate / slow_rate:.0f}x"})
        targets[f"G={G}: kernel >= {TARGET_RATE[G] / 1e6:.0f} M rollouts/s"] = fast_rate >= TARGET_RATE[G]
        targets[f"G={G}: kernel >= {TARGET_SPEEDUP:.0f}x the per-group loop"] = fast_rate >= TARGET_SPEEDUP * slow_rate
    notes = ("binary 2-answer bandit, 256 prompts with uniform pass rates, grpo (sample std); a rollout is one "
             "Bernoulli reward; best of repeated runs, single process, numpy's default BLAS threads",
             "the machine is shared with other jobs: rates are noisy and usually under-state what it can do")
    return BenchReport("simulate: binary bandit statistics kernel vs per-group Python loop",
                       ("G", "rollouts", "kernel rollouts/s", "loop rollouts/s", "speed-up"), rows, targets, notes)
