"""Pass rates probed from a registered LM for ``grpo-verify advise --model`` (BY-3), and the silent share they
predict.

The probe is the pretrained study's (:mod:`gpu_runs.pretrained.study`): its arithmetic prompt set, its chat
format, reward, token limit and seed stream, so that ``advise --model M --seed S`` sees the pass rates that
``pretrained measure`` with the same model, seed and sizes probes. Each p_q = s_q / k is an estimate from k
samples, and the silent share E_q[p_q^G + (1-p_q)^G] computed from it is biased upward (x^G is convex, so
E[p_hat^G] >= p^G by Jensen, an excess that vanishes as k grows). From s successes of k an unbiased
estimate exists for G <= k only (the chance that a G-subset of the k samples is all correct or all wrong);
p^G is a polynomial of degree G and no statistic of a Binomial(k, p) count has it as mean when G > k, so there
the plug-in stays, and is flagged as biased up.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gpu_runs.pretrained import arithmetic
from gpu_runs.pretrained.gradients import silent_probability_unbiased
from gpu_runs.pretrained.models import LanguageModel, check_model_name, load_model
from gpu_runs.pretrained.probe import ProbeResult, run_probe
from gpu_runs.pretrained.study import FORMAT, SIZES, Sizes, seed_streams
from theory.validation import check_group_size


def probe_sizes(model: str) -> Sizes:
    """The study's sizes of the first budget that runs ``model`` (tiny-random: smoke, reward 'number';
    smollm2-135m: default), else the default budget's, with ``model`` put in."""
    check_model_name(model)
    sizes = next((s for s in SIZES.values() if s.model == model), SIZES["default"])
    return replace(sizes, model=model)


def probe_pass_rates(model: str, prompts: int, samples: int, seed: int,
                     lm: LanguageModel | None = None) -> ProbeResult:
    """p_q = s_q / k of ``prompts`` arithmetic problems, k = ``samples`` completions each at T = 1, as the study
    probes them with ``seed`` (problems from ``seed``, sampling from the study's probe stream of ``seed``, the
    model's weights from ``seed`` where they are random). ``lm``: an already loaded ``model``."""
    sizes = probe_sizes(model)
    if prompts < 1:
        raise ValueError(f"prompts={prompts} must be >= 1")
    if samples < 2:
        raise ValueError(f"samples={samples} must be >= 2 (the smallest group size)")
    lm = lm or load_model(model, seed=seed)
    problems = arithmetic.make_problems(prompts, seed)
    result, _, _ = run_probe(lm, problems, samples, prompt_format=FORMAT, max_new_tokens=sizes.max_new_tokens,
                             seed=seed_streams(seed)["probe"], reward=sizes.reward,
                             prompts_per_batch=sizes.prompts_per_batch)
    return result


def silent_probability(successes: ArrayLike, samples: int, group_size: int) -> NDArray[np.float64]:
    """p^G + (1-p)^G per prompt from s successes of k: [C(s, G) + C(k-s, G)] / C(k, G) (unbiased) when G <= k,
    else the plug-in p_hat^G + (1-p_hat)^G with p_hat = s / k (biased up, module docstring)."""
    G = check_group_size("group_size", group_size)
    s = np.asarray(successes, dtype=np.int64)
    if samples < 1 or np.any(s < 0) or np.any(s > samples):
        raise ValueError(f"successes must lie in [0, samples={samples}] and samples must be >= 1")
    if G <= samples:
        return np.asarray(silent_probability_unbiased(s, samples, G), dtype=np.float64)
    p_hat = s / samples
    return p_hat**G + (1 - p_hat) ** G


def allocation_silent_share(successes: ArrayLike, samples: int, allocation: ArrayLike) -> tuple[float, float]:
    """(silent share of groups, non-zero-gradient ratio of rollouts) of one group of n_q rollouts on each prompt
    with n_q > 0: mean_q silent_q(n_q) and sum_q n_q (1 - silent_q(n_q)) / sum_q n_q, silent_q from
    :func:`silent_probability` (unbiased where n_q <= k). A uniform G over a set of prompts drawn uniformly is
    n_q = G on every prompt of the set (its expected silent share)."""
    s = np.asarray(successes, dtype=np.int64)
    n = np.asarray(allocation, dtype=np.int64)
    if n.shape != s.shape or np.any(n < 0) or not n.any():
        raise ValueError(f"allocation must hold {s.size} integers >= 0, not all 0, one per prompt")
    silent = np.zeros(s.size)
    for size in np.unique(n[n > 0]):
        rows = n == size
        silent[rows] = silent_probability(s[rows], samples, int(size))
    used = n > 0
    return float(silent[used].mean()), float((n * (1 - silent))[used].sum() / n.sum())
