"""``grpo-verify advise (--pass-rates FILE | --run RUN_DIR) --budget-rollouts N``: BY-3 advice from per-prompt
pass rates: the group size with the highest predicted gain at N rollouts per update, and an adaptive allocation
of the N rollouts over a batch of prompts, side by side with uniform G, Knapsack RL and a VIP-style allocation
(exact engine on the 2-answer bandit with those pass rates, :mod:`simulations.advise`); ``--measure`` adds the
reward each arm gains per 1,000 rollouts when it trains the shared-parameter test bed."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from grpo_verify.commands.common import SEED, check_out_file, integer, pathname, read_input_text

HELP = "recommend a group size and a rollout allocation from pass rates (BY-3), vs Knapsack RL and VIP"
MEASURE = {"steps": 10, "seeds": 8, "tuning_seeds": 2, "lrs": (16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0),
           "max_prompts": 64, "max_group": 16, "kind": "log-linear"}
"""``--measure``: updates, evaluation and tuning seeds, lr grid, largest batch, largest group, test bed."""
MAX_GROUP = 256
"""Largest --max-group: the exact moments of groups up to G cost O(G^3) (256: about a second; 1024: a minute)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pass-rates", type=pathname, metavar="FILE",
                        help="per-prompt pass rates in [0, 1]: JSON (a list, or an object with 'pass_rates') or "
                             "text (numbers separated by commas, spaces or lines; # comments)")
    source.add_argument("--run", dest="run_dir", type=pathname, metavar="RUN_DIR",  # args.run is the command's
                        help="a TRL or verl run (as for ingest): pass rate = successes / rollouts per prompt")
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
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the batch draw and --measure (default: 0)")
    parser.add_argument("--json", type=pathname, help="also write the advice as JSON")


def read_pass_rates(path: Path) -> np.ndarray:
    """Pass rates from a JSON or text file (see --pass-rates)."""
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
        data = data["pass_rates"]
    if not isinstance(data, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in data):
        raise ValueError(f"{allowed}, as a flat JSON list (or an object whose 'pass_rates' is one)")
    if not data or not all(0 <= x <= 1 for x in data):  # in Python: NaN fails, a 400-digit integer too
        raise ValueError(allowed)
    return np.asarray(data, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_pass_rates(path: Path) -> np.ndarray:
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
    return np.array([c / n for c, n in counts.values()], dtype=np.float64)


def choose_batch(pool: np.ndarray, budget: int, batch_prompts: int | None, seed: int) -> np.ndarray:
    """The allocators' batch: ``batch_prompts`` prompts drawn without replacement (default in --batch-prompts)."""
    if batch_prompts is None:
        batch_prompts = pool.size if pool.size <= budget // 2 else max(1, budget // 4)
    if not 1 <= batch_prompts <= pool.size:
        raise ValueError(f"--batch-prompts={batch_prompts} must lie in [1, {pool.size}] (the prompts given)")
    if batch_prompts == pool.size:
        return pool
    return pool[np.random.default_rng(seed).choice(pool.size, batch_prompts, replace=False)]


def _row(name: str, values: dict[str, float]) -> str:
    return (f"{name:<34} {values['silent_share']:>7.3f} {values['nonzero_ratio']:>8.3f} {values['snr']:>8.3f} "
            f"{values['snr_vs_16']:>7.2f}x {values['gain']:>7.3f} {values['gain_vs_16']:>7.2f}x")


def run(args: argparse.Namespace) -> int:
    from evidence.io import atomic_write_json
    from simulations import advise as sim

    budget = args.budget_rollouts
    if budget % 2:
        raise ValueError(f"--budget-rollouts={budget} must be an even integer >= 2 (uniform G = 2 must divide it)")
    if args.json:
        check_out_file("--json", args.json)
    pool = read_pass_rates(args.pass_rates) if args.pass_rates else run_pass_rates(args.run_dir)
    batch = choose_batch(pool, budget, args.batch_prompts, args.seed)
    if budget > args.max_group * batch.size:
        raise ValueError(f"--budget-rollouts={budget} must be <= --max-group x batch prompts = "
                         f"{args.max_group * batch.size}")
    if args.measure and batch.size > MEASURE["max_prompts"]:
        raise ValueError(f"--measure trains on every prompt of the batch: --batch-prompts={batch.size} must be <= "
                         f"{MEASURE['max_prompts']}")
    advice = sim.advise(pool, budget, batch=batch, max_group=args.max_group)
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
    result = {"pool_prompts": int(pool.size), **advice.to_json()}
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
