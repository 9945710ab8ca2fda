"""Producer ``sim-gradients``: the Monte Carlo studies of TT-4, TT-5, TT-6 and TT-8 (issue 5).

Each study lives in its own module (:mod:`simulations.unbiasedness` TT-4, :mod:`simulations.control_variate`
TT-5, :mod:`simulations.fixed_budget` TT-6, :mod:`simulations.silent_rates` TT-8) and writes its JSON and
PNG files under ``ctx.out_dir / "sim-gradients"``; this module holds the sizes of each budget and runs
the studies that ``ctx.claim_ids`` asks for, seeded by ``ctx.seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence.record import Evidence, RunContext
from simulations import control_variate, fixed_budget, silent_rates, unbiasedness
from simulations.environments import PASS_RATE_DISTRIBUTIONS

PRODUCER = "sim-gradients"


@dataclass(frozen=True)
class Sizes:
    """How much each study simulates."""

    tt4_groups: int          # groups per (G, p) cell
    tt8_groups: int          # groups per cell
    tt8_pool: int            # prompts in each pass-rate pool
    tt5_groups: int          # groups per (environment, distribution, G)
    tt6_trials: int          # batches per (environment, distribution, B, G)
    pools: dict[str, int]    # prompts per study environment (TT-5 and TT-6)
    distributions: tuple[str, ...]


ALL = tuple(PASS_RATE_DISTRIBUTIONS)
SIZES = {
    "smoke": Sizes(4_000, 100_000, 256, 1_000, 100,
                   {"bandit": 16, "log-linear": 16, "autoregressive": 8, "bandit-continuous": 16}, ("hard",)),
    "default": Sizes(200_000, 2_000_000, 1024, 10_000, 1_000,
                     {"bandit": 128, "log-linear": 128, "autoregressive": 64, "bandit-continuous": 128}, ALL),
    "full": Sizes(2_000_000, 20_000_000, 4096, 100_000, 10_000,
                  {"bandit": 256, "log-linear": 256, "autoregressive": 128, "bandit-continuous": 256}, ALL),
}


def produce(ctx: RunContext) -> list[Evidence]:
    """Run the studies of the claims ``ctx`` wants; return their evidence."""
    sizes = SIZES[ctx.budget]
    out_dir = ctx.out_dir / PRODUCER
    common = {"seed": ctx.seed, "artefact_prefix": PRODUCER,
              "command": f"grpo-verify simulate gradients --budget {ctx.budget} --seed {ctx.seed}"}
    evidence = []
    if ctx.wants("TT-4"):
        evidence.append(unbiasedness.run(out_dir, groups=sizes.tt4_groups, **common))
    if ctx.wants("TT-5"):
        evidence.append(control_variate.run(out_dir, pools=sizes.pools, groups=sizes.tt5_groups,
                                            distributions=sizes.distributions, **common))
    if ctx.wants("TT-6"):
        evidence.append(fixed_budget.run(out_dir, pools=sizes.pools, trials=sizes.tt6_trials,
                                         distributions=sizes.distributions, **common))
    if ctx.wants("TT-8"):
        evidence.append(silent_rates.run(out_dir, groups=sizes.tt8_groups, pool=sizes.tt8_pool, **common))
    return evidence
