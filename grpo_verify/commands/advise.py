"""``grpo-verify advise (--pass-rates FILE | --run RUN_DIR | --model NAME) --budget-rollouts N``: BY-3 advice from
per-prompt pass rates (read, taken from a run, or probed from a model: :mod:`gpu_runs.pretrained.pass_rates`): the
group size with the highest predicted gain at N rollouts per update, and an adaptive allocation
of the N rollouts over a batch of prompts, side by side with uniform G, Knapsack RL and a VIP-style allocation
(exact engine on the 2-answer bandit with those pass rates, :mod:`simulations.advise`); ``--measure`` adds the
reward each arm gains per 1,000 rollouts when it trains the shared-parameter test bed.

Where the pass rates are counts, s_q successes of k samples (``--model``, or a file saved by ``--save-pass-rates``),
the silent share and non-zero ratio of every row are estimated per group of G rollouts without the plug-in bias:
unbiased where G <= k, the plug-in (biased up) where G > k (:func:`gpu_runs.pretrained.pass_rates.silent_probability`).
SNR and gain still treat p_q = s_q / k as exact."""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grpo_verify.commands.common import SEED, check_out_file, integer, pathname, read_input_text

HELP = "recommend a group size and a rollout allocation from pass rates (BY-3), vs Knapsack RL and VIP"
MEASURE = {"steps": 10, "seeds": 8, "tuning_seeds": 2, "lrs": (16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0),
           "max_prompts": 64, "max_group": 16, "kind": "log-linear"}
"""``--measure``: updates, evaluation and tuning seeds, lr grid, largest batch, largest group, test bed."""
MAX_GROUP = 256
"""Largest --max-group: the exact moments of groups up to G cost O(G^3) (256: about a second; 1024: a minute)."""
MAX_PROBE_PROMPTS = 4096
MAX_PROBE_SAMPLES = 256
PROBE_OPTIONS = {"probe_prompts": "--probe-prompts", "probe_samples": "--probe-samples", "threads": "--threads",
                 "save_pass_rates": "--save-pass-rates"}
"""Options of the probe (dest -> flag): each needs --model."""
ESTIMATE_MARKS = {"unbiased": "*", "plug-in": "^", "mixed": "*^"}
"""How a row's silent share was estimated from counts: every group G <= k, every group G > k, or some of each."""


@dataclass(frozen=True)
class PassRates:
    """Per-prompt pass rates p_q (P,) and, where they are counts, the ``successes`` s_q of ``samples`` k each
    (p_q = s_q / k); ``probe``: how a model's were probed (``--model``), for the JSON."""

    values: NDArray[np.float64]
    successes: NDArray[np.int64] | None = None
    samples: int | None = None
    probe: dict[str, Any] | None = None


def model_name(text: str) -> str:
    """argparse type of --model: a registered model or hf:PATH."""
    from gpu_runs.pretrained.models import HF_PREFIX, MODELS, check_model_name

    try:
        return check_model_name(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be one of {', '.join(MODELS)} or "
                                         f"{HF_PREFIX}PATH (a local Hugging Face folder or .gguf file)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gpu_runs.pretrained.models import SMOLLM2, TINY
    from gpu_runs.pretrained.pass_rates import probe_sizes

    tiny, other = probe_sizes(TINY), probe_sizes(SMOLLM2)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pass-rates", type=pathname, metavar="FILE",
                        help="per-prompt pass rates in [0, 1]: JSON (a list, or an object with 'pass_rates') or "
                             "text (numbers separated by commas, spaces or lines; # comments); an object with "
                             "'successes' and 'samples_per_prompt' (as --save-pass-rates writes) also gives counts")
    source.add_argument("--run", dest="run_dir", type=pathname, metavar="RUN_DIR",  # args.run is the command's
                        help="a TRL or verl run (as for ingest): pass rate = successes / rollouts per prompt")
    source.add_argument("--model", type=model_name, metavar="NAME",
                        help="probe the pass rates from a model: tiny-random, smollm2-135m or hf:PATH, on the "
                             "arithmetic prompts of 'pretrained measure' (same chat format, reward and seeds)")
    parser.add_argument("--budget-rollouts", type=integer(2), required=True, metavar="N",
                        help="rollouts per update, an even number (every uniform G in 2, 4, 8, 16 that divides it is "
                             "compared)")
    parser.add_argument("--batch-prompts", type=integer(1),
                        help="prompts in the batch the allocators split N over (default: all when there are at "
                             "most N/2, else N/4 drawn from them)")
    parser.add_argument("--max-group", type=integer(2, MAX_GROUP), default=64,
                        help=f"largest group an allocator may give, in [2, {MAX_GROUP}] (default: 64)")
    parser.add_argument("--measure", action="store_true",
                        help="also train the test bed (log-linear policy, 2 answers, these pass rates) with each "
                             "arm and report reward gained per 1,000 rollouts with 95%% CIs (minutes)")
    parser.add_argument("--seed", type=SEED, default=0,
                        help="seed of the batch draw, --measure and the probe (its problems, its samples, "
                             "tiny-random's weights) (default: 0)")
    parser.add_argument("--json", type=pathname, help="also write the advice as JSON")
    probe = parser.add_argument_group("probe (with --model)")
    probe.add_argument("--probe-prompts", type=integer(1, MAX_PROBE_PROMPTS), metavar="P",
                       help=f"prompts to probe, in [1, {MAX_PROBE_PROMPTS}] (default: the pretrained study's, "
                            f"{tiny.prompts} for {TINY}, else {other.prompts})")
    probe.add_argument("--probe-samples", type=integer(2, MAX_PROBE_SAMPLES), metavar="K",
                       help=f"samples per prompt at T = 1, in [2, {MAX_PROBE_SAMPLES}]; each pass rate is a K-sample "
                            "estimate, and the silent share is estimated without bias for G <= K only (default: "
                            f"{tiny.probe_samples} for {TINY}, else {other.probe_samples})")
    probe.add_argument("--threads", type=integer(0, 1024),
                       help="torch threads, 0 for torch's default (default: 2)")
    probe.add_argument("--save-pass-rates", type=pathname, metavar="FILE",
                       help="also write the probed pass rates (with their counts) as JSON that --pass-rates reads, "
                            "to probe once and advise many times")


def read_pass_rates(path: Path) -> PassRates:
    """Pass rates from a JSON or text file (see --pass-rates); with their counts where a JSON object has
    'successes' and 'samples_per_prompt' (as --save-pass-rates writes)."""
    text = read_input_text("--pass-rates", path)
    allowed = f"--pass-rates={str(path)!r} must hold one or more numbers in [0, 1]"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        words = [x for x in re.split(r"[,\s]+", re.sub(r"#.*", "", text)) if x]
        try:
            data = [float(x) for x in words]
        except ValueError:
            bad = next(x for x in words if not _is_float(x))
            raise ValueError(f"{allowed} (JSON, or text of numbers); {bad[:20]!r} is neither") from None
    if isinstance(data, dict):
        if "pass_rates" not in data:
            raise ValueError(f"--pass-rates={str(path)!r}: a JSON object must have a 'pass_rates' list")
        counts = _read_counts(path, data)
        data = data["pass_rates"]
    else:
        counts = None
    if not isinstance(data, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in data):
        raise ValueError(f"{allowed}, as a flat JSON list (or an object whose 'pass_rates' is one)")
    if not data or not all(0 <= x <= 1 for x in data):  # in Python: NaN fails, a 400-digit integer too
        raise ValueError(allowed)
    values = np.asarray(data, dtype=np.float64)
    if counts is None:
        return PassRates(values)
    successes, samples = counts
    if successes.shape != values.shape or not np.allclose(values, successes / samples, rtol=0, atol=1e-12):
        raise ValueError(f"--pass-rates={str(path)!r}: 'pass_rates' must equal 'successes' / 'samples_per_prompt', "
                         "one per prompt")
    return PassRates(values, successes, samples)


def _read_counts(path: Path, data: dict[str, Any]) -> tuple[NDArray[np.int64], int] | None:
    """'successes' s_q and 'samples_per_prompt' k of a JSON object, when both are there: integers, 0 <= s_q <= k."""
    if "successes" not in data and "samples_per_prompt" not in data:
        return None
    k, s = data.get("samples_per_prompt"), data.get("successes")
    if not (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 2**31 and isinstance(s, list)
            and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= k for x in s)):
        raise ValueError(f"--pass-rates={str(path)!r}: 'samples_per_prompt' must be an integer >= 1 and 'successes' a "
                         "list of integers in [0, samples_per_prompt] (both or neither)")
    return np.asarray(s, dtype=np.int64), k


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_pass_rates(path: Path) -> PassRates:
    """successes / rollouts of each prompt of a run's logged groups."""
    from grpo_verify.commands.ingest import read_run

    run = read_run(path, None, None, option="--run")
    try:
        counts = run.prompt_pass_rates()
    except ValueError as exc:
        raise ValueError(f"--run={str(path)!r} must log per-prompt verifier rewards: {exc}") from None
    if not counts:
        raise ValueError(f"--run={str(path)!r} logged no per-prompt rewards (TRL: log_completions=True; verl: "
                         "trainer.rollout_data_dir)")
    return PassRates(np.array([c / n for c, n in counts.values()], dtype=np.float64))


def model_pass_rates(args: argparse.Namespace) -> PassRates:
    """The pass rates of --model, probed as the pretrained study probes (:mod:`gpu_runs.pretrained.pass_rates`)."""
    import torch

    from gpu_runs.pretrained.arithmetic import SUFFIX
    from gpu_runs.pretrained.pass_rates import probe_pass_rates, probe_sizes
    from gpu_runs.pretrained.study import REWARD_MEANING

    sizes = probe_sizes(args.model)
    prompts = args.probe_prompts or sizes.prompts
    samples = args.probe_samples or sizes.probe_samples
    threads = 2 if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    probe = probe_pass_rates(args.model, prompts, samples, args.seed)
    seconds = time.perf_counter() - start
    print(f"Probed {args.model}: {prompts} arithmetic prompts ('... {SUFFIX}', the pretrained study's chat format) "
          f"x {samples} samples at T = {probe.temperature:g}\nreward {probe.reward!r} "
          f"({REWARD_MEANING[probe.reward]}), seed {args.seed}, {torch.get_num_threads()} threads, {seconds:.0f} s; "
          f"each pass rate p_q = s_q / {samples} is a {samples}-sample estimate")
    record = {"model": args.model, "seed": args.seed, "max_new_tokens": sizes.max_new_tokens, "seconds": seconds,
              **probe.to_json()}
    return PassRates(probe.pass_rates, probe.successes, samples, record)


def choose_batch(pool_size: int, budget: int, batch_prompts: int | None, seed: int) -> NDArray[np.int64]:
    """Indices of the allocators' batch in the pool: ``batch_prompts`` prompts drawn without replacement (default in
    --batch-prompts)."""
    if batch_prompts is None:
        batch_prompts = pool_size if pool_size <= budget // 2 else max(1, budget // 4)
    if not 1 <= batch_prompts <= pool_size:
        raise ValueError(f"--batch-prompts={batch_prompts} must lie in [1, {pool_size}] (the prompts given)")
    if batch_prompts == pool_size:
        return np.arange(pool_size)
    return np.random.default_rng(seed).choice(pool_size, batch_prompts, replace=False)


def counted_silent_shares(advice: Any, successes: NDArray[np.int64], samples: int,
                          batch: NDArray[np.int64]) -> Any:
    """``advice`` with the silent share and non-zero ratio of every row estimated from the counts s_q of k =
    ``samples`` (:func:`gpu_runs.pretrained.pass_rates.allocation_silent_share`; ``batch``: the allocators' prompts
    in the pool), each row marked with how (:data:`ESTIMATE_MARKS`): uniform G over the pool and over the batch
    is n_q = G on each of their prompts; an allocator's row, its n_q."""
    from gpu_runs.pretrained.pass_rates import allocation_silent_share
    from simulations.advise import ALLOCATOR_TITLES

    def counted(row: dict[str, float], counts: NDArray[np.int64], n: NDArray[np.int64]) -> dict[str, Any]:
        silent, nonzero = allocation_silent_share(counts, samples, n)
        used = n[n > 0]
        how = "unbiased" if used.max() <= samples else "plug-in" if used.min() > samples else "mixed"
        return row | {"silent_share": silent, "nonzero_ratio": nonzero, "silent_estimate": how}

    allocations = {}
    for label, row in advice.allocations.items():
        uniform = re.match(r"uniform G=(\d+)", label)
        name = next((k for k, title in ALLOCATOR_TITLES.items() if title == label), None)
        n = np.full(batch.size, int(uniform[1])) if uniform else advice.allocations_n[name]
        allocations[label] = counted(row, successes[batch], n)
    group_sizes = {G: counted(row, successes, np.full(successes.size, G)) for G, row in advice.group_sizes.items()}
    return replace(advice, group_sizes=group_sizes, allocations=allocations)


def _row(name: str, values: dict[str, Any]) -> str:
    return (f"{name:<34} {values['silent_share']:>7.3f} {values['nonzero_ratio']:>8.3f} {values['snr']:>8.3f} "
            f"{values['snr_vs_16']:>7.2f}x {values['gain']:>7.3f} {values['gain_vs_16']:>7.2f}x "
            f"{ESTIMATE_MARKS.get(values.get('silent_estimate', ''), '')}").rstrip()


def run(args: argparse.Namespace) -> int:
    from evidence.io import atomic_write_json
    from simulations import advise as sim

    budget = args.budget_rollouts
    if budget % 2:
        raise ValueError(f"--budget-rollouts={budget} must be an even integer >= 2 (uniform G = 2 must divide it)")
    if not args.model:
        given = [flag for dest, flag in PROBE_OPTIONS.items() if getattr(args, dest) is not None]
        if given:
            raise ValueError(f"{given[0]} needs --model (it sets up the probe of a model's pass rates)")
    for option, path in (("--json", args.json), ("--save-pass-rates", args.save_pass_rates)):
        if path:
            check_out_file(option, path)
    if args.model:
        rates = model_pass_rates(args)
    else:
        rates = read_pass_rates(args.pass_rates) if args.pass_rates else run_pass_rates(args.run_dir)
    if args.save_pass_rates:
        atomic_write_json(args.save_pass_rates, {"pass_rates": rates.values.tolist(),
                                                 "successes": rates.successes.tolist(),
                                                 "samples_per_prompt": rates.samples, "probe": rates.probe})
        print(f"pass rates written to {args.save_pass_rates} (use it with --pass-rates)")
    pool = rates.values
    batch_index = choose_batch(pool.size, budget, args.batch_prompts, args.seed)
    batch = pool[batch_index]
    if budget > args.max_group * batch.size:
        raise ValueError(f"--budget-rollouts={budget} must be <= --max-group x batch prompts = "
                         f"{args.max_group * batch.size}")
    if args.measure and batch.size > MEASURE["max_prompts"]:
        raise ValueError(f"--measure trains on every prompt of the batch: --batch-prompts={batch.size} must be <= "
                         f"{MEASURE['max_prompts']}")
    advice = sim.advise(pool, budget, batch=batch, max_group=args.max_group)
    if rates.successes is not None:
        advice = counted_silent_shares(advice, rates.successes, rates.samples, batch_index)
    header = f"{'':<34} {'silent':>7} {'nonzero':>8} {'SNR':>8} {'vs G16':>8} {'gain':>7} {'vs G16':>8}"
    print(f"Pass rates: {pool.size} prompts, mean {pool.mean():.3f}, quartiles "
          f"{', '.join(f'{q:.2f}' for q in np.quantile(pool, [0.25, 0.5, 0.75]))}; budget {budget} rollouts per update")
    print(f"\nUniform G, B/G prompts drawn from all {pool.size} (exact engine, 2-answer bandit):\n{header}")
    for G, values in advice.group_sizes.items():
        print(_row(f"G={G} ({values['prompts']:.0f} prompts)", values))
    print(f"Recommended group size: G = {advice.recommended_group_size} (highest predicted gain)")
    print(f"\nAllocations of {budget} rollouts over a batch of {batch.size} prompts:\n{header}")
    for name, values in advice.allocations.items():
        print(_row(name, values))
    ours = advice.allocations_n["ours"]
    sizes, counts = np.unique(ours, return_counts=True)
    print("Ours gives " + ", ".join(f"{c} prompt(s) {s} rollouts" for s, c in zip(sizes, counts, strict=True)))
    uniform = {k: v for k, v in advice.allocations.items() if k.startswith("uniform")}
    best_uniform = max(uniform, key=lambda k: uniform[k]["gain"])
    gain = advice.allocations[sim.ALLOCATOR_TITLES["ours"]]["gain"]
    print(f"Expected gain of ours: {gain / uniform[best_uniform]['gain']:.2f}x the best uniform ({best_uniform}); "
          "gain = cos^2 SNR / (1 + SNR), the one-step improvement at the best step size")
    if rates.successes is not None:
        k = rates.samples
        print(f"Silent share and non-zero ratio from s_q successes of k = {k} samples per prompt, per group of G:\n"
              f"  * unbiased [C(s_q,G) + C({k}-s_q,G)] / C({k},G) (every group G <= {k})\n"
              f"  ^ plug-in p_q^G + (1-p_q)^G (every group G > {k}: no unbiased estimate exists from {k} samples; the "
              "plug-in over-estimates, by Jensen)\n"
              f"  *^ each group by its own G. SNR and gain take p_q = s_q / {k} as exact.")
    result = {"pool_prompts": int(pool.size), **advice.to_json()}
    if rates.probe is not None:
        result["probe"] = rates.probe
    if args.measure:
        result["measured"] = measure(batch, budget, args.seed)
    if args.json:
        atomic_write_json(args.json, result)
        print(f"written to {args.json}")
    return 0


def measure(batch: np.ndarray, budget: int, seed: int) -> dict[str, dict[str, float]]:
    """Train the test bed with every arm (:data:`MEASURE`) and print reward gained per 1,000 rollouts."""
    from simulations import advise as sim

    arms = {f"uniform G={G}": sim.uniform_arm(G, budget) for G in sim.GROUP_SIZES if budget % G == 0}
    arms |= {sim.ALLOCATOR_TITLES[name]: sim.allocator_arm(name, budget, max_group=MEASURE["max_group"])
             for name in sim.ALLOCATORS if name != "variance" or budget >= 2 * batch.size}
    results = sim.measure_training_gain(batch, budget, arms, steps=MEASURE["steps"], seeds=MEASURE["seeds"],
                                        lrs=MEASURE["lrs"], tuning_seeds=MEASURE["tuning_seeds"], seed=seed,
                                        kind=MEASURE["kind"])
    print(f"\nMeasured on the test bed ({MEASURE['kind']} policy, {MEASURE['steps']} updates, "
          f"{MEASURE['seeds']} seeds, lr tuned per arm on other seeds): reward gained per 1,000 rollouts")
    for name, m in results.items():
        print(f"{name:<34} {m.gain_per_1000:.4f} +- {m.half_width:.4f} (lr {m.lr:g})")
    return {name: vars(m) for name, m in results.items()}
