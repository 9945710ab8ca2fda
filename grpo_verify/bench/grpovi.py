"""``grpo-verify bench grpovi``: the shape of VI's solver table. VI's O(n^2) enumeration of extreme points
(:func:`theory.grpovi.adjust_rewards_reference`) against the O(n log n) solver
(:func:`theory.grpovi.adjust_rewards`) on the same group, with one ``np.argsort`` of the same rewards
beside them (a sort is the floor for this algorithm), for n = 10 ... 1e4 (1e5 and 1e6 for the fast solver
alone), and the batched solver on 1e5 groups of 16. From n = ``BUCKET_MIN_N`` the solver selects by
buckets instead of sorting (expected O(n)), so the argsort column is a yardstick rather than a floor.

Targets (issue 4): at n = 1e6 the solver within 2.5x one ``np.argsort``; 1e5 groups of 16 in under 1 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from grpo_verify.bench import BenchReport
from theory.grpovi import BUCKET_MIN_N, adjust_rewards, adjust_rewards_reference

ARGSORT_FACTOR = 2.5
BATCH_SECONDS = 1.0
COLUMNS = ("n", "O(n^2) reference s", "O(n log n) solver s", "reference / solver", "np.argsort s",
           "solver / argsort", "same optimum")


def _best_seconds(work: Callable[[], object], repeats: int, budget_s: float) -> float:
    """Fastest of up to ``repeats`` runs (the least disturbed by other load), stopping once ``budget_s``
    is spent after the first."""
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget_s:
            break
    return best


def _group(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Rewards uniform in [0, 1] and weights softmax(N(0, 1)) over each group: pi_ref from log-probs."""
    log_probs = rng.normal(size=shape)
    probs = np.exp(log_probs - log_probs.max(axis=-1, keepdims=True))
    return rng.uniform(size=shape), probs


def run(quick: bool) -> BenchReport:
    """The table; ``quick``: the reference up to n = 1e3 and fewer repeats."""
    rng = np.random.default_rng(0)
    repeats, budget = (3, 1.0) if quick else (7, 3.0)
    reference_max = 1_000 if quick else 10_000
    rows, ratio_1e6 = [], float("nan")
    for n in (10, 100, 1_000, 10_000, 100_000, 1_000_000):
        rewards, probs = _group(rng, (n,))
        fast = _best_seconds(lambda r=rewards, p=probs: adjust_rewards(r, p, lo=0.0, hi=1.0), repeats, budget)
        floor = _best_seconds(lambda r=rewards: np.argsort(r), repeats, budget)
        row = {"n": f"{n:.0e}" if n >= 10_000 else str(n), "O(n log n) solver s": f"{fast:.2e}",
               "np.argsort s": f"{floor:.2e}", "solver / argsort": f"{fast / floor:.2f}",
               "O(n^2) reference s": "-", "reference / solver": "-", "same optimum": "-"}
        if n <= reference_max:
            slow = _best_seconds(lambda r=rewards, p=probs: adjust_rewards_reference(r, p, lo=0.0, hi=1.0),
                                 repeats if n <= 1_000 else 1, budget)
            w = probs / probs.sum()
            gap = abs(float(w @ adjust_rewards(rewards, probs, lo=0.0, hi=1.0) ** 2)
                      - float(w @ adjust_rewards_reference(rewards, probs, lo=0.0, hi=1.0) ** 2))
            row.update({"O(n^2) reference s": f"{slow:.2e}", "reference / solver": f"{slow / fast:.0f}x",
                        "same optimum": f"yes ({gap:.0e})" if gap <= 1e-9 else f"NO ({gap:.0e})"})
        if n == 1_000_000:
            ratio_1e6 = fast / floor
        rows.append(row)
    rewards, probs = _group(rng, (100_000, 16))
    batch = _best_seconds(lambda: adjust_rewards(rewards, probs, lo=0.0, hi=1.0), repeats, budget)
    batch_sort = _best_seconds(lambda: np.argsort(rewards, axis=-1), repeats, budget)
    rows.append({"n": "1e5 x 16", "O(n^2) reference s": "-", "O(n log n) solver s": f"{batch:.2e}",
                 "reference / solver": "-", "np.argsort s": f"{batch_sort:.2e}",
                 "solver / argsort": f"{batch / batch_sort:.2f}", "same optimum": "-"})
    targets = {f"n = 1e6: solver within {ARGSORT_FACTOR}x one np.argsort": ratio_1e6 <= ARGSORT_FACTOR,
               f"1e5 groups of 16, batched, under {BATCH_SECONDS:.0f} s": batch < BATCH_SECONDS}
    notes = ("one group of n responses, rewards uniform in [0, 1], weights softmax(N(0, 1)) (pi_ref from "
             "log-probs), ties='split'; 'same optimum': |sum p z^2| gap between the two solvers",
             "the reference loops over the prefix a in Python, vectorised over the block end b; the batched row "
             "sorts along the last axis of a (1e5, 16) array",
             f"from n = {BUCKET_MIN_N} a single group finds its fractional block by bucket selection (expected O(n)), "
             "so one np.argsort is not a floor there: the solver can beat it",
             "best of repeated runs; the machine is shared with other jobs, so times are noisy and ratios "
             "against np.argsort move with the load")
    return BenchReport("grpovi: VI's O(n^2) enumeration vs the O(n log n) solver vs one np.argsort",
                       COLUMNS, rows, targets, notes)
