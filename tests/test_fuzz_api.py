"""Bad input, fuzzed, at the public API (issue 18, item 6).

Every validator-bearing public function of ``theory``, ``evidence.verdicts``,
``simulations.environments.make_environment`` and ``gpu_runs.config`` is called with random valid values
for all its arguments but one, which gets a random bad value (NaN and infinities, G < 2, empty and ragged
groups, probabilities outside [0, 1] or not summing to one, unknown estimator / std / tie names, text and
None where a number belongs). Each call must raise ``ValueError`` whose message names that argument and
states what is allowed; never a ``TypeError``, ``IndexError`` or a silent NaN. Random valid input must give
finite output of the right shape.

Examples per case: QUICK in the default run (derandomized, a few seconds), FULL under ``-m fuzz``:
``python -m pytest -q -m fuzz tests/test_fuzz_cli.py tests/test_fuzz_api.py`` runs >= 10,000 cases in all.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evidence import verdicts
from gpu_runs import config as cfg
from simulations.environments import ENVIRONMENT_KINDS, PASS_RATE_DISTRIBUTIONS, REWARD_KINDS, make_environment
from theory import advantages, allocation, contrastive, estimators, expectations, grpovi, statistics

pytestmark = pytest.mark.fuzz

QUICK, FULL = 4, 60
"""Examples per case in the default run and under ``-m fuzz``."""
RUN = {"cases": 0, "full": False}
ALLOWED = re.compile(r"must|choose one of|needs|is required|pass at most|allowed")
"""A message that says what is allowed uses one of these words."""


@pytest.fixture(scope="module")
def examples(request: pytest.FixtureRequest) -> int:
    """FULL examples per case when the run selects the fuzz marker (``-m fuzz``), else QUICK."""
    RUN["full"] = "fuzz" in (request.config.getoption("markexpr") or "")
    yield FULL if RUN["full"] else QUICK
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ntest_fuzz_api: {RUN['cases']} fuzz cases")


def run_cases(examples: int, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    """``check`` on ``examples`` values drawn from ``strategy``; hypothesis shrinks and reports a failure.
    The default run is derandomized (the same cases every time); ``-m fuzz`` explores."""

    @settings(max_examples=examples, deadline=None, derandomize=not RUN["full"], database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategy)
    def cases(value: Any) -> None:
        RUN["cases"] += 1
        check(value)

    cases()


# --- values ---------------------------------------------------------------------------------------------

FLOATS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, float("1e309")])
NOT_A_NUMBER = st.one_of(st.text(max_size=4), st.none(), st.just([1.0, 2.0]), st.just(1j), st.just({}))


def bad_real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
             high_open: bool = False) -> st.SearchStrategy[Any]:
    """Not a finite number in the interval: NaN, infinities, text, None, a list, or a number outside it."""
    options = [NON_FINITE, NOT_A_NUMBER, st.booleans()]
    if low is not None:
        options.append(st.floats(max_value=low, exclude_max=not low_open, allow_nan=False, allow_infinity=False,
                                 min_value=low - 1e6))
    if high is not None:
        options.append(st.floats(min_value=high, exclude_min=not high_open, allow_nan=False, allow_infinity=False,
                                 max_value=high + 1e6))
    return st.one_of(options)


def bad_int(low: int, high: int | None = None) -> st.SearchStrategy[Any]:
    """Not an integer in [low, high]: below, above, a float, text, None, bool, NaN."""
    options = [st.integers(low - 10**6, low - 1), st.floats(low + 0.1, low + 0.9), st.just(float(low + 1)),
               st.text(max_size=3), st.none(), st.booleans(), st.just(math.nan)]
    if high is not None:
        options.append(st.integers(high + 1, high + 10**6))
    return st.one_of(options)


def bad_name(allowed: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """A name that is not one of ``allowed``: other text, None, a number, a list."""
    return st.one_of(st.text(max_size=12).filter(lambda s: s not in allowed), st.none(), st.integers(),
                     st.just(list(allowed[:1])))


def group_arrays(min_G: int = 2, max_G: int = 8, low: float = -1e6, high: float = 1e6,
                 batch: bool = True) -> st.SearchStrategy[np.ndarray]:
    """(B, G) or (G,) float arrays of values in [low, high], ties and all-equal groups included."""
    elements = st.one_of(st.floats(low, high), st.sampled_from([low, high, (low + high) / 2]))
    shapes = st.tuples(st.integers(1, 3), st.integers(min_G, max_G)) if batch else st.tuples(
        st.integers(min_G, max_G))
    return shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=elements))


@st.composite
def with_bad_entry(draw: st.DrawFn, base: st.SearchStrategy[np.ndarray],
                   bad: st.SearchStrategy[float] = NON_FINITE) -> np.ndarray:
    """An array of ``base`` with one entry replaced by a ``bad`` value."""
    array = draw(base).astype(np.float64)
    index = draw(st.integers(0, array.size - 1))
    array.flat[index] = draw(bad)
    return array


RAGGED = st.lists(st.lists(FLOATS, min_size=1, max_size=4), min_size=2, max_size=4).filter(
    lambda rows: len({len(r) for r in rows}) > 1)
NOT_NUMBERS = st.one_of(st.just("abc"), st.just(["a", "b"]), st.none(), st.just([1.0, None]),
                        st.just(np.array([1 + 1j, 2.0])), st.just({"a": 1.0}))


def bad_array(base: st.SearchStrategy[np.ndarray], *extra: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """NaN or infinity inside, ragged nesting, text, None, complex, plus ``extra``."""
    return st.one_of(with_bad_entry(base), RAGGED, NOT_NUMBERS, *extra)


def unbroadcastable(other: np.ndarray) -> st.SearchStrategy[np.ndarray]:
    """An array whose shape does not broadcast with ``other``'s (none exists when ``other`` has one entry)."""
    return st.just(np.zeros(np.size(other) + 1)) if np.size(other) > 1 else st.nothing()


def empty_groups(max_G: int) -> st.SearchStrategy[np.ndarray]:
    """Groups too small: (B, G) with G < max_G (0 or 1 rollouts), or a 0-d scalar."""
    return st.one_of(st.tuples(st.integers(1, 3), st.integers(0, max_G - 1)).map(np.zeros), st.just(np.float64(0.5)))


def probability_arrays(shape_max: int = 6, *, open_interval: bool = False) -> st.SearchStrategy[np.ndarray]:
    lo, hi = (1e-6, 1 - 1e-6) if open_interval else (0.0, 1.0)
    return st.integers(1, shape_max).flatmap(
        lambda n: arrays(np.float64, (n,), elements=st.one_of(st.floats(lo, hi), st.sampled_from([lo, hi, 0.5]))))


def outside_unit(base: st.SearchStrategy[np.ndarray]) -> st.SearchStrategy[np.ndarray]:
    """An array of ``base`` with one entry below 0 or above 1."""
    return with_bad_entry(base, st.one_of(st.floats(-1e6, -1e-9), st.floats(1 + 1e-9, 1e6)))


@st.composite
def distributions(draw: st.DrawFn, n: int) -> np.ndarray:
    weights = draw(arrays(np.float64, (n,), elements=st.floats(0, 1)).filter(lambda w: w.sum() > 1e-3))
    return weights / weights.sum()


# --- the cases: one function, a strategy of valid keyword arguments, bad values per argument -------------

@dataclass(frozen=True)
class Case:
    """``call(**kwargs)`` with ``valid`` kwargs; ``bad[arg]`` draws a bad value of ``arg`` given the valid
    kwargs (some bad values depend on the others, e.g. a shape that does not match); the message must name
    one of ``names.get(arg, (arg,))``. ``output`` checks the result of valid input."""

    name: str
    call: Callable[..., Any]
    valid: st.SearchStrategy[dict[str, Any]]
    bad: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Any]]]
    output: Callable[[Any, dict[str, Any]], None]
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)


def fixed(strategy: st.SearchStrategy[Any]) -> Callable[[dict[str, Any]], st.SearchStrategy[Any]]:
    return lambda kwargs: strategy


def finite_like(shape: Callable[[dict[str, Any]], tuple[int, ...]]) -> Callable[[Any, dict[str, Any]], None]:
    def check(result: Any, kwargs: dict[str, Any]) -> None:
        result = np.asarray(result)
        assert result.shape == shape(kwargs) and np.all(np.isfinite(result)), (result, kwargs)
    return check


def finite_scalar(result: Any, kwargs: dict[str, Any]) -> None:
    assert np.ndim(result) == 0 and np.isfinite(result), (result, kwargs)


def rewards_shape(kwargs: dict[str, Any]) -> tuple[int, ...]:
    return np.shape(kwargs["rewards"])


STD = st.sampled_from(advantages.STD_MODES)
EPS = st.one_of(st.just(0.0), st.floats(0, 10))
BAD_EPS = fixed(bad_real(0.0))
BAD_STD = fixed(bad_name(advantages.STD_MODES))
REWARDS = group_arrays(low=-1e100, high=1e100)
BAD_REWARDS = fixed(bad_array(REWARDS, empty_groups(2), st.just(np.array([[1e200, 0.0]])),
                              st.just(np.array([[-1e300, 1e300]]))))
G = st.integers(2, 16)
BAD_G = fixed(bad_int(2))


@st.composite
def grpovi_kwargs(draw: st.DrawFn, reference: bool = False, min_G: int = 1) -> dict[str, Any]:
    """adjust_rewards' arguments: a range lo < hi, rewards inside it, optional weights of the same shape."""
    lo = draw(st.floats(-1e3, 1e3))
    hi = lo + draw(st.floats(1e-3, 1e3))
    rewards = draw(group_arrays(min_G, 8, lo, hi, batch=not reference))
    weights = draw(st.sampled_from(["none", "probs", "log_probs"]))
    kwargs = {"rewards": rewards, "lo": lo, "hi": hi, "ties": draw(st.sampled_from(grpovi.TIES))}
    if weights == "probs":
        kwargs["probs"] = draw(arrays(np.float64, rewards.shape, elements=st.floats(1e-3, 10)))
    elif weights == "log_probs":
        kwargs["log_probs"] = draw(arrays(np.float64, rewards.shape, elements=st.floats(-50, 0)))
    return kwargs


def bad_weights(kwargs: dict[str, Any], name: str) -> st.SearchStrategy[Any]:
    """Weights that are NaN, ragged, text, of another shape, or (probs) negative or all zero in a group."""
    shape = np.shape(kwargs["rewards"])
    base = arrays(np.float64, shape, elements=st.floats(1e-3, 10))
    extra = [st.just(np.ones((*shape, 1))), st.just(np.ones((shape[-1] + 1,)))]
    if name == "probs":
        extra += [with_bad_entry(base, st.floats(-1e3, -1e-9)), st.just(np.zeros(shape))]
    return bad_array(base, *extra).filter(lambda v: v is not None)  # None: uniform weights


def grpovi_bad(reference: bool) -> dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Any]]]:
    return {
        "rewards": lambda kw: bad_array(group_arrays(1, 8, kw["lo"], kw["hi"], batch=not reference),
                                        empty_groups(1), st.just(np.array([kw["hi"] + abs(kw["hi"]) + 1.0])),
                                        st.just(np.array([kw["lo"] - abs(kw["lo"]) - 1.0]))),
        "lo": lambda kw: st.one_of(bad_real(), st.floats(kw["hi"], 1e6)),
        "hi": lambda kw: st.one_of(bad_real(), st.floats(-1e6, kw["lo"])),
        "ties": fixed(bad_name(grpovi.TIES)),
        "probs": lambda kw: bad_weights(kw, "probs"),
        "log_probs": lambda kw: bad_weights(kw, "log_probs"),
    }


def grpovi_output(result: Any, kwargs: dict[str, Any]) -> None:
    z = np.asarray(result)
    assert z.shape == np.shape(kwargs["rewards"]) and np.all(np.isfinite(z))
    assert np.all(z >= kwargs["lo"]) and np.all(z <= kwargs["hi"])


@st.composite
def pair_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    return {"values": draw(arrays(np.float64, (n,), elements=FLOATS)), "probs": draw(distributions(n)),
            "reward": draw(FLOATS), "std": draw(STD), "eps": draw(EPS)}


@st.composite
def pass_rates_and(draw: st.DrawFn, extra: Callable[[st.DrawFn, np.ndarray], dict[str, Any]]) -> dict[str, Any]:
    p = draw(probability_arrays(6))
    return {"pass_rates": p, **extra(draw, p)}


def allocation_of(draw: st.DrawFn, p: np.ndarray) -> dict[str, Any]:
    n = np.array(draw(st.lists(st.sampled_from([0, 2, 3, 4, 8]), min_size=p.size, max_size=p.size)))
    if not n.any():
        n[0] = 2
    return {"allocation": n}


def budget_of(draw: st.DrawFn, p: np.ndarray, skip: bool = True) -> dict[str, Any]:
    min_group = draw(st.integers(2, 3))
    max_group = draw(st.integers(min_group + 1, 6))
    low = 2 * min_group if skip else min_group * p.size  # any budget from 2 min_group on is a sum of sizes
    budget = draw(st.integers(low, max(low, max_group * p.size)))
    return {"budget": min(budget, max_group * p.size), "min_group": min_group, "max_group": max_group}


@st.composite
def uniform_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    p = draw(probability_arrays(6))
    G = draw(st.sampled_from([2, 4, 8]))
    return {"pass_rates": p, "group_size": G, "budget": G * draw(st.integers(1, p.size)),
            "estimator": draw(st.sampled_from(expectations.GROUP_ESTIMATORS)), "std": draw(STD)}


P_BAD = fixed(bad_array(probability_arrays(6), outside_unit(probability_arrays(6)), st.just(np.array([])),
                        st.just(np.full((2, 2), 0.5))))
P_ANY_BAD = fixed(bad_array(probability_arrays(6), outside_unit(probability_arrays(6))))
LEVEL_BAD = fixed(bad_real(0.0, 1.0, low_open=True, high_open=True))


def per_seed(min_size: int = 2) -> st.SearchStrategy[np.ndarray]:
    return st.integers(min_size, 8).flatmap(lambda n: arrays(np.float64, (n,), elements=FLOATS))


def decision(result: Any, kwargs: dict[str, Any]) -> None:
    assert isinstance(result, verdicts.Decision) and result.threshold == kwargs["threshold"]


def train_config_output(result: Any, kwargs: dict[str, Any]) -> None:
    assert isinstance(result, cfg.TrainConfig)


TINY = cfg.preset("tiny")
TRAIN_FIELDS: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Any]]] = {
    "group_size": BAD_G, "steps": fixed(bad_int(1)), "prompts_per_step": fixed(bad_int(1)),
    "ppo_epochs": fixed(bad_int(1)), "lr": fixed(bad_real(0.0, low_open=True)),
    "max_grad_norm": fixed(bad_real(0.0, low_open=True)),
    "estimator": fixed(bad_name(estimators.ALL_ESTIMATORS)), "std": BAD_STD,
    "adv_eps": fixed(bad_real(0.0)), "loss_type": fixed(bad_name(("grpo", "bnpo", "dr_grpo", "dapo"))),
    "eps_low": fixed(bad_real(0.0, 1.0, high_open=True)), "eps_high": fixed(bad_real(0.0)),
    "beta": fixed(bad_real(0.0)), "temperature": fixed(bad_real(0.0, low_open=True)),
    "top_p": fixed(bad_real(0.0, 1.0, low_open=True)), "max_new_tokens": fixed(bad_int(1)),
    "eval_every": fixed(bad_int(1)), "checkpoint_every": fixed(bad_int(1)), "seed": fixed(bad_int(0)),
    "threads": fixed(bad_int(0)), "device": fixed(bad_name(cfg.DEVICES)),
}


CASES = [
    Case("silent_groups", advantages.silent_groups, st.fixed_dictionaries({"rewards": group_arrays(1)}),
         {"rewards": fixed(bad_array(group_arrays(1), empty_groups(1)))},
         finite_like(lambda kw: np.shape(kw["rewards"])[:-1])),
    Case("group_advantages", advantages.group_advantages,
         st.fixed_dictionaries({"rewards": REWARDS, "estimator": st.sampled_from(advantages.ESTIMATORS),
                                "std": STD, "eps": EPS}),
         {"rewards": BAD_REWARDS, "estimator": fixed(bad_name(advantages.ESTIMATORS)), "std": BAD_STD,
          "eps": BAD_EPS}, finite_like(rewards_shape)),
    Case("compute_advantages", estimators.compute_advantages,
         st.fixed_dictionaries({"rewards": REWARDS, "estimator": st.sampled_from(advantages.ESTIMATORS),
                                "std": STD, "eps": EPS}),
         {"rewards": BAD_REWARDS, "estimator": fixed(bad_name(estimators.ALL_ESTIMATORS)), "std": BAD_STD,
          "eps": BAD_EPS}, finite_like(rewards_shape)),
    Case("compute_advantages[grpovi]", estimators.compute_advantages,
         grpovi_kwargs(min_G=2).map(lambda kw: {"rewards": kw["rewards"], "estimator": "grpovi",
                                         "reward_range": (kw["lo"], kw["hi"]), "ties": kw["ties"],
                                         "ref_log_probs": kw.get("log_probs")}),
         {"reward_range": fixed(st.one_of(st.none(), st.just((1.0, 0.0)), st.just((0.0, math.nan)),
                                          st.just((0.0, 1.0, 2.0)), st.just(1.0), st.just("ab"),
                                          st.just((-1e308, 1e308)))),
          "ref_log_probs": lambda kw: bad_weights(kw, "log_probs"), "ties": fixed(bad_name(grpovi.TIES))},
         finite_like(rewards_shape)),
    Case("binary_group_advantage", expectations.binary_group_advantage,
         st.fixed_dictionaries({"G": G, "reward": st.sampled_from([0, 1]),
                                "estimator": st.sampled_from(expectations.GROUP_ESTIMATORS), "std": STD,
                                "eps": EPS}),
         {"G": BAD_G, "reward": fixed(st.one_of(st.sampled_from([2, -1, 0.5, "1", None, math.nan, [1]]))),
          "estimator": fixed(bad_name(expectations.GROUP_ESTIMATORS)), "std": BAD_STD, "eps": BAD_EPS},
         finite_like(lambda kw: (kw["G"],))),
    Case("expected_advantage", expectations.expected_advantage,
         st.fixed_dictionaries({"G": G, "p": probability_arrays(), "reward": st.sampled_from([0, 1]),
                                "estimator": st.sampled_from(expectations.GROUP_ESTIMATORS), "std": STD,
                                "eps": EPS}),
         {"G": BAD_G, "p": P_ANY_BAD, "reward": fixed(st.sampled_from([2, 0.5, "0", None])),
          "estimator": fixed(bad_name(expectations.GROUP_ESTIMATORS)), "std": BAD_STD, "eps": BAD_EPS},
         finite_like(lambda kw: np.shape(kw["p"]))),
    Case("gradient_scale", expectations.gradient_scale,
         st.fixed_dictionaries({"G": G, "p": probability_arrays(), "std": STD, "eps": EPS}),
         {"G": BAD_G, "p": P_ANY_BAD, "std": BAD_STD, "eps": BAD_EPS}, finite_like(lambda kw: np.shape(kw["p"]))),
    Case("limit_expected_advantage", expectations.limit_expected_advantage,
         probability_arrays(open_interval=True).flatmap(lambda p: st.fixed_dictionaries(
             {"p": st.just(p), "reward": st.one_of(st.sampled_from([0, 1]),
                                                   arrays(np.float64, p.shape, elements=st.sampled_from([0., 1.])))})),
         {"p": fixed(st.one_of(P_ANY_BAD(None), st.just(np.array([0.0, 0.5])), st.just(np.array([1.0])))),
          "reward": lambda kw: bad_array(arrays(np.float64, np.shape(kw["p"]), elements=st.sampled_from([0., 1.])),
                                         unbroadcastable(kw["p"]))},
         finite_like(lambda kw: np.shape(kw["p"]))),
    Case("two_grpo_scale", expectations.two_grpo_scale, st.fixed_dictionaries({"std": STD, "eps": EPS}),
         {"std": BAD_STD, "eps": BAD_EPS}, finite_scalar),
    Case("silent_group_probability", expectations.silent_group_probability,
         st.fixed_dictionaries({"G": G, "p": probability_arrays()}), {"G": BAD_G, "p": P_ANY_BAD},
         finite_like(lambda kw: np.shape(kw["p"]))),
    Case("expected_pair_advantage", expectations.expected_pair_advantage, pair_kwargs(),
         {"values": lambda kw: bad_array(arrays(np.float64, np.shape(kw["values"]), elements=FLOATS),
                                         st.just(np.zeros(np.size(kw["values"]) + 1))),
          "probs": lambda kw: st.one_of(
              bad_array(probability_arrays()), st.just(np.full(np.size(kw["probs"]), 0.9)),
              st.just(np.full(np.size(kw["probs"]) + 1, 1 / (np.size(kw["probs"]) + 1)))),
          "reward": fixed(st.one_of(bad_real(), st.just(np.array([0.0, 1.0])))), "std": BAD_STD, "eps": BAD_EPS},
         finite_scalar, names={"probs": ("probs", "values")}),
    Case("adjust_rewards", grpovi.adjust_rewards, grpovi_kwargs(), grpovi_bad(reference=False), grpovi_output),
    Case("adjust_rewards_reference", grpovi.adjust_rewards_reference, grpovi_kwargs(reference=True),
         {**grpovi_bad(reference=True),
          "rewards": lambda kw: st.just(np.full((2, 2), kw["lo"]))}, grpovi_output),
    Case("check_pass_rates", allocation.check_pass_rates,
         st.fixed_dictionaries({"pass_rates": probability_arrays()}), {"pass_rates": P_BAD},
         finite_like(lambda kw: np.shape(kw["pass_rates"]))),
    Case("group_update_moments", allocation.group_update_moments,
         st.fixed_dictionaries({"pass_rates": probability_arrays(), "max_group": st.integers(2, 12),
                                "estimator": st.sampled_from(expectations.GROUP_ESTIMATORS), "std": STD}),
         {"pass_rates": P_BAD, "max_group": fixed(bad_int(2)),
          "estimator": fixed(bad_name(expectations.GROUP_ESTIMATORS)), "std": BAD_STD},
         lambda result, kw: [finite_like(lambda k: (np.size(k["pass_rates"]), k["max_group"] + 1))(r, kw)
                             for r in result]),
    Case("allocation_statistics", allocation.allocation_statistics, pass_rates_and(allocation_of),
         {"pass_rates": P_BAD,
          "allocation": lambda kw: st.one_of(
              st.just(np.ones(np.size(kw["pass_rates"]), dtype=int)), st.just(np.zeros(np.size(kw["pass_rates"]),
                                                                                        dtype=int)),
              st.just(np.full(np.size(kw["pass_rates"]), 2.5)), st.just(np.full(np.size(kw["pass_rates"]) + 1, 2)),
              st.just(-2 * np.ones(np.size(kw["pass_rates"]), dtype=int)), NOT_NUMBERS, RAGGED)},
         lambda result, kw: None),
    Case("uniform_statistics", allocation.uniform_statistics, uniform_kwargs(),
         {"pass_rates": P_BAD, "group_size": fixed(bad_int(2)),
          "budget": lambda kw: st.one_of(bad_int(kw["group_size"]), st.just(kw["group_size"] + 1),
                                         st.just(kw["group_size"] * (np.size(kw["pass_rates"]) + 1))),
          "estimator": fixed(bad_name(expectations.GROUP_ESTIMATORS)), "std": BAD_STD},
         lambda result, kw: None, names={"budget": ("budget", "group_size")}),
    Case("knapsack_allocation", allocation.knapsack_allocation, pass_rates_and(budget_of),
         {"pass_rates": P_BAD,
          "budget": lambda kw: st.one_of(bad_int(2), st.just(kw["max_group"] * np.size(kw["pass_rates"]) + 1)),
          "min_group": fixed(bad_int(2)), "max_group": lambda kw: bad_int(kw["min_group"])},
         lambda result, kw: np.testing.assert_equal(int(np.sum(result)), kw["budget"])),
    Case("variance_allocation", allocation.variance_allocation,
         pass_rates_and(lambda draw, p: budget_of(draw, p, skip=False)),
         {"pass_rates": P_BAD,
          "budget": lambda kw: st.one_of(bad_int(2), st.just(kw["min_group"] * np.size(kw["pass_rates"]) - 1),
                                         st.just(kw["max_group"] * np.size(kw["pass_rates"]) + 1)),
          "min_group": fixed(bad_int(2)), "max_group": lambda kw: bad_int(kw["min_group"])},
         lambda result, kw: np.testing.assert_equal(int(np.sum(result)), kw["budget"])),
    Case("gain_allocation", allocation.gain_allocation, pass_rates_and(budget_of),
         {"pass_rates": P_BAD,
          "budget": lambda kw: st.one_of(bad_int(2), st.just(kw["max_group"] * np.size(kw["pass_rates"]) + 1)),
          "min_group": fixed(bad_int(2)), "max_group": lambda kw: bad_int(kw["min_group"])},
         lambda result, kw: np.testing.assert_equal(int(np.sum(result)), kw["budget"])),
    Case("recommended_group_size", allocation.recommended_group_size,
         pass_rates_and(lambda draw, p: {"budget": 8 * draw(st.integers(1, 4))}),
         {"pass_rates": P_BAD, "budget": fixed(st.one_of(bad_int(2), st.just(7))),
          "group_sizes": fixed(st.sampled_from([(0, 2), (1,), (2.5,), ("a",), (), None, 4]))},
         lambda result, kw: np.testing.assert_equal(kw["budget"] % result, 0),
         names={"budget": ("budget",), "group_sizes": ("group_sizes", "group_size")}),
    Case("mean_ci", statistics.mean_ci,
         st.fixed_dictionaries({"values": per_seed(1), "level": st.floats(0.5, 0.999)}),
         {"values": fixed(st.one_of(RAGGED, NOT_NUMBERS.filter(lambda v: v is not None), st.just(np.float64(1.0)))),
          "level": LEVEL_BAD, "axis": fixed(st.sampled_from([1, -2, 1.5, "0", None]))},
         lambda result, kw: [finite_scalar(r, kw) for r in result]),
    Case("fieller_ratio", statistics.fieller_ratio,
         st.integers(2, 8).flatmap(lambda n: st.fixed_dictionaries(
             {"numerator": arrays(np.float64, (n,), elements=FLOATS), "denominator":
              arrays(np.float64, (n,), elements=FLOATS), "level": st.floats(0.5, 0.999)})),
         {"numerator": fixed(st.one_of(bad_array(per_seed()), st.just(np.array([])))),
          "denominator": fixed(st.one_of(bad_array(per_seed()), st.just(np.array([])), st.just(np.ones(9)))),
          "level": LEVEL_BAD},
         lambda result, kw: None, names={"denominator": ("denominator",)}),
    Case("seeds_to_resolve", statistics.seeds_to_resolve,
         st.fixed_dictionaries({"spread": st.floats(0, 1e3), "gap": FLOATS, "level": st.floats(0.5, 0.999),
                                "n_max": st.integers(2, 200)}),
         {"spread": fixed(bad_real(0.0)), "gap": fixed(NOT_A_NUMBER), "level": LEVEL_BAD,
          "n_max": fixed(bad_int(2))},
         lambda result, kw: None if result is None else np.testing.assert_array_less(1, result)),
    Case("contrastive_split", contrastive.contrastive_split,
         st.fixed_dictionaries({"advantages": group_arrays()}),
         {"advantages": fixed(bad_array(group_arrays(), empty_groups(2)))},
         lambda result, kw: finite_like(lambda k: np.shape(k["advantages"])[:-1])(result.mass, kw)),
    Case("group_update", contrastive.group_update,
         group_arrays().flatmap(lambda a: st.fixed_dictionaries(
             {"advantages": st.just(a), "scores": arrays(np.float64, (*a.shape, 3), elements=FLOATS)})),
         {"advantages": fixed(bad_array(group_arrays(), empty_groups(2))),
          "scores": lambda kw: bad_array(arrays(np.float64, (*np.shape(kw["advantages"]), 3), elements=FLOATS),
                                         st.just(np.ones((*np.shape(kw["advantages"])[:-1], 9, 3))))},
         finite_like(lambda kw: (*np.shape(kw["advantages"])[:-1], 3)), names={"advantages": ("advantages", "scores")}),
    Case("binary_contrastive_weights", contrastive.binary_contrastive_weights,
         G.flatmap(lambda n: st.fixed_dictionaries({"k": st.integers(1, n - 1), "G": st.just(n), "std": STD})),
         {"k": lambda kw: st.one_of(st.sampled_from([0, kw["G"], -1, 1.5, "1", None, math.nan]),
                                    st.integers(kw["G"], kw["G"] + 100)),
          "G": lambda kw: st.one_of(bad_int(2), st.just(kw["k"])), "std": BAD_STD},
         lambda result, kw: [finite_scalar(r, kw) for r in result], names={"G": ("G", "k")}),
    Case("dpo_pair_weight", contrastive.dpo_pair_weight,
         per_seed(1).flatmap(lambda h: st.fixed_dictionaries(
             {"h_pos": st.just(h), "h_neg": arrays(np.float64, h.shape, elements=FLOATS), "beta": st.floats(0, 10)})),
         {"beta": fixed(bad_real(0.0)),
          "h_pos": lambda kw: bad_array(per_seed(), unbroadcastable(kw["h_neg"])),
          "h_neg": lambda kw: bad_array(per_seed(), unbroadcastable(kw["h_pos"]))},
         finite_like(lambda kw: np.shape(kw["h_pos"])), names={"h_pos": ("h_pos",), "h_neg": ("h_neg",)}),
    Case("decide", verdicts.decide,
         st.tuples(FLOATS, FLOATS).map(sorted).flatmap(lambda lh: st.fixed_dictionaries(
             {"estimate": st.just((lh[0] + lh[1]) / 2), "low": st.one_of(st.none(), st.just(lh[0])),
              "high": st.one_of(st.none(), st.just(lh[1])), "threshold": FLOATS, "n": st.integers(1, 64)})),
         {"threshold": fixed(bad_real()), "low": fixed(st.sampled_from([math.nan, "0", [0.0]])),
          "high": fixed(st.sampled_from([math.nan, "1", [1.0]])), "n": fixed(bad_int(0))},
         decision, names={"low": ("low",), "high": ("high",)}),
    Case("decide_mean", verdicts.decide_mean,
         st.fixed_dictionaries({"values": per_seed(), "threshold": FLOATS, "level": st.floats(0.5, 0.999)}),
         {"values": fixed(st.one_of(bad_array(per_seed()), st.just(np.array([1.0])))),
          "threshold": fixed(bad_real()), "level": LEVEL_BAD}, decision),
    Case("decide_ratio", verdicts.decide_ratio,
         st.integers(2, 8).flatmap(lambda n: st.fixed_dictionaries(
             {"numerator": arrays(np.float64, (n,), elements=FLOATS),
              "denominator": arrays(np.float64, (n,), elements=FLOATS), "threshold": FLOATS})),
         {"numerator": fixed(bad_array(per_seed())), "denominator": fixed(bad_array(per_seed())),
          "threshold": fixed(bad_real()), "level": LEVEL_BAD}, decision),
    Case("make_environment", make_environment,
         st.fixed_dictionaries({"kind": st.sampled_from(ENVIRONMENT_KINDS[:2]),
                                "distribution": st.sampled_from(tuple(PASS_RATE_DISTRIBUTIONS)),
                                "num_prompts": st.integers(1, 8), "rewards": st.sampled_from(REWARD_KINDS),
                                "seed": st.integers(0, 2**32 - 1), "num_answers": st.integers(2, 5)}),
         {"kind": fixed(bad_name(ENVIRONMENT_KINDS)), "rewards": fixed(bad_name(REWARD_KINDS)),
          "distribution": fixed(st.one_of(bad_name(tuple(PASS_RATE_DISTRIBUTIONS)).filter(lambda v: v is not None),
                                          st.just(np.array([0.0, 0.5])), st.just(np.array([math.nan])),
                                          st.just(np.array([]))) ),
          "num_prompts": fixed(bad_int(1)), "seed": fixed(bad_int(0)), "num_answers": fixed(bad_int(2))},
         lambda result, kw: None),
    Case("TrainConfig", lambda **kw: dataclasses.replace(TINY, **kw),
         st.fixed_dictionaries({"lr": st.floats(1e-6, 1.0), "seed": st.integers(0, 2**32 - 1),
                                "threads": st.integers(0, 8), "beta": st.floats(0, 1)}),
         TRAIN_FIELDS, train_config_output),
    Case("with_group_size", cfg.with_group_size,
         st.sampled_from([2, 4, 8, 16]).flatmap(lambda n: st.fixed_dictionaries(
             {"config": st.just(TINY), "group_size": st.just(n), "rollouts_per_step": st.just(128),
              "rollouts_per_minibatch": st.just(64)})),
         {"group_size": BAD_G,
          "rollouts_per_step": lambda kw: st.one_of(bad_int(kw["group_size"]), st.just(kw["group_size"] + 1)).filter(
              lambda v: v is not None),  # None: the config's own
          "rollouts_per_minibatch": lambda kw: st.one_of(bad_int(kw["group_size"]), st.just(kw["group_size"] + 1)
                                                         ).filter(lambda v: v is not None)},
         train_config_output),
    Case("GPTConfig", cfg.GPTConfig,
         st.fixed_dictionaries({"n_layer": st.integers(1, 4), "n_head": st.sampled_from([2, 4]),
                                "dropout": st.floats(0, 0.9)}),
         {**{name: fixed(bad_int(1)) for name in ("vocab_size", "block_size", "n_layer", "n_head")},
          "n_embd": fixed(st.one_of(bad_int(1), st.just(129))),
          "dropout": fixed(bad_real(0.0, 1.0, high_open=True))},
         lambda result, kw: None, names={"n_embd": ("n_embd",)}),
    Case("WarmStartConfig", cfg.WarmStartConfig,
         st.fixed_dictionaries({"steps": st.integers(1, 10), "lr": st.floats(1e-5, 1.0)}),
         {**{name: fixed(bad_int(1)) for name in ("steps", "batch_size", "probe_prompts", "probe_samples")},
          **{name: fixed(bad_int(0)) for name in ("warmup_steps", "seed")},
          "lr": fixed(bad_real(0.0, low_open=True)), "label_noise": fixed(bad_real(0.0, 1.0, high_open=True)),
          "noisy_fraction": fixed(bad_real(0.0, 1.0))},
         lambda result, kw: None),
    Case("from_json", cfg.from_json, st.just({"data": cfg.to_json(TINY)}),
         {"data": fixed(st.one_of(
             st.sampled_from(["lr", "warm_start", "group_size"]).map(
                 lambda key: {k: v for k, v in cfg.to_json(TINY).items() if k != key}),
             st.just({**cfg.to_json(TINY), "learning_rate": 1e-3}),
             st.sampled_from(["model", "task"]).map(lambda key: {**cfg.to_json(TINY), "warm_start": {
                 k: v for k, v in cfg.to_json(TINY)["warm_start"].items() if k != key}}),
             st.sampled_from([None, [], "config", 3]),
             st.sampled_from(["steps", "lr", "seed", "group_size"]).flatmap(lambda key: NOT_A_NUMBER.map(
                 lambda v: {**cfg.to_json(TINY), key: v}))))},
         train_config_output,
         names={"data": ("data", "steps", "lr", "seed", "group_size", "warm_start", "model", "task", "learning_rate")}),
    Case("preset", cfg.preset, st.fixed_dictionaries({"name": st.sampled_from(tuple(cfg.PRESETS)),
                                                      "task": st.sampled_from(("addition", "sorting"))}),
         {"name": fixed(bad_name(tuple(cfg.PRESETS))), "task": fixed(bad_name(("addition", "sorting")))},
         train_config_output, names={"name": ("preset",)}),
]
BY_NAME = {case.name: case for case in CASES}
BAD_ARGS = [(case.name, arg) for case in CASES for arg in case.bad]

def _call_bad(case: Case, arg: str, kwargs: dict[str, Any], value: Any) -> None:
    kwargs = {**kwargs, arg: value}
    names = case.names.get(arg, (arg,))
    with pytest.raises(ValueError) as info:
        case.call(**kwargs)
    message = str(info.value)
    assert any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message) for n in names), (
        f"{case.name}({arg}={value!r}): the message does not name {' or '.join(names)}: {message}")
    assert ALLOWED.search(message), f"{case.name}({arg}={value!r}): the message states no allowed range: {message}"


@pytest.mark.parametrize(("case_name", "arg"), BAD_ARGS, ids=[f"{c}-{a}" for c, a in BAD_ARGS])
def test_a_bad_argument_raises_value_error_naming_it_and_its_range(case_name: str, arg: str, examples: int) -> None:
    case = BY_NAME[case_name]
    strategy = case.valid.flatmap(lambda kw: st.tuples(st.just(kw), case.bad[arg](kw)))
    run_cases(examples, strategy, lambda drawn: _call_bad(case, arg, *drawn))


@pytest.mark.parametrize("case_name", list(BY_NAME))
def test_valid_input_gives_finite_output_of_the_right_shape(case_name: str, examples: int) -> None:
    case = BY_NAME[case_name]
    run_cases(examples, case.valid, lambda kwargs: case.output(case.call(**kwargs), kwargs))


# --- each bug the fuzzing found, pinned by one example ------------------------------------------------------

P3 = np.array([0.2, 0.5, 0.7])
FOUND: dict[str, tuple[Callable[[], Any], str]] = {  # what happened before -> the call and its error now
    "rewards 1e200: std overflowed, advantages silently 0": (
        lambda: advantages.group_advantages([[1e200, 0.0, 5.0]]), "every entry must lie in [-1e+150, 1e+150]"),
    "eps='x': TypeError from np.isfinite": (lambda: advantages.group_advantages([[0.0, 1.0]], eps="x"),
                                           "eps='x' must be a finite number >= 0"),
    "ragged rewards: numpy's 'inhomogeneous shape'": (
        lambda: advantages.group_advantages([[0.0, 1.0], [2.0]]), "rewards=[[0.0, 1.0], [2.0]] must be a"),
    "reward_range=1.0: 'cannot unpack non-iterable float'": (
        lambda: estimators.compute_advantages([[0.0, 1.0]], "grpovi", reward_range=1.0),
        "reward_range=1.0 must be a pair (lo, hi)"),
    "reward_range=(-1e308, 1e308): infinite width, silently all-lo rewards": (
        lambda: estimators.compute_advantages([[0.0, 1.0, 0.5]], "grpovi", reward_range=(-1e308, 1e308)),
        "reward_range=(-1e+308, 1e+308): the reward range must have lo < hi and a finite width"),
    "ref_log_probs of the wrong shape named log_probs": (
        lambda: estimators.compute_advantages([[0.0, 1.0]], "grpovi", reward_range=(0, 1), ref_log_probs=[0.0] * 3),
        "ref_log_probs has shape (3,)"),
    "adjust_rewards(lo='a'): TypeError": (lambda: grpovi.adjust_rewards([[0.0, 1.0]], lo="a", hi=1.0),
                                          "lo='a' must be a finite number"),
    "limit_expected_advantage(reward=nan) returned nan": (
        lambda: expectations.limit_expected_advantage(0.5, math.nan), "reward contains nan"),
    "expected_pair_advantage(reward=[0, 1]): TypeError": (
        lambda: expectations.expected_pair_advantage([0.0, 1.0], [0.5, 0.5], [0.0, 1.0]), "must be a finite number"),
    "expected_pair_advantage(reward=False) computed with 0": (
        lambda: expectations.expected_pair_advantage([0.0, 1.0], [0.5, 0.5], False), "reward=False must be"),
    "recommended_group_size(group_sizes=(0, 2)): ZeroDivisionError": (
        lambda: allocation.recommended_group_size(P3, 8, (0, 2)),
        "group_sizes=(0, 2) must be a non-empty sequence of integers >= 2"),
    "recommended_group_size(budget='8'): 'not all arguments converted during string formatting'": (
        lambda: allocation.recommended_group_size(P3, "8"), "budget='8' must be an integer >= 2"),
    "ragged allocation: numpy's 'inhomogeneous shape'": (
        lambda: allocation.allocation_statistics(P3, [[2], [2, 2]]), "allocation must be 3 integers"),
    "mean_ci(level='x'): TypeError": (lambda: statistics.mean_ci([1.0, 2.0], level="x"),
                                      "level='x' must be a finite number in (0, 1)"),
    "mean_ci(5.0): IndexError": (lambda: statistics.mean_ci(5.0), "values=5.0 must be an array"),
    "mean_ci(axis=1) of a 1-d array: numpy's AxisError": (lambda: statistics.mean_ci([1.0, 2.0], axis=1),
                                                          "axis=1 must be an integer >= -1 and <= 0"),
    "fieller_ratio('abc'): 'could not convert string to float'": (
        lambda: statistics.fieller_ratio("abc", [1.0, 2.0]), "numerator='abc' must be an array of real numbers"),
    "seeds_to_resolve(spread=None): TypeError": (lambda: statistics.seeds_to_resolve(None, 1.0),
                                                 "spread=None must be a finite number >= 0"),
    "seeds_to_resolve(level=2.0) returned None": (lambda: statistics.seeds_to_resolve(1.0, 1.0, level=2.0),
                                                  "level=2.0 must be a finite number in (0, 1)"),
    "seeds_to_resolve(n_max=1.5) returned None": (lambda: statistics.seeds_to_resolve(1.0, 1.0, n_max=1.5),
                                                  "n_max=1.5 must be an integer >= 2"),
    "dpo_pair_weight of unbroadcastable shapes: numpy's message": (
        lambda: contrastive.dpo_pair_weight([0.0, 0.0], [0.0, 0.0, 0.0], 1.0), "they must broadcast"),
    "binary_contrastive_weights(k=1.5) computed p_k = 0.75": (
        lambda: contrastive.binary_contrastive_weights(1.5, 2), "k=1.5 must be an integer with 0 < k < G=2"),
    "TrainConfig(lr=inf) accepted": (lambda: dataclasses.replace(TINY, lr=math.inf),
                                     "lr=inf must be a finite number > 0"),
    "TrainConfig(threads=1.5) accepted": (lambda: dataclasses.replace(TINY, threads=1.5),
                                          "threads=1.5 must be an integer >= 0"),
    "TrainConfig(seed=-1) accepted": (lambda: dataclasses.replace(TINY, seed=-1), "seed=-1 must be an integer >= 0"),
    "TrainConfig(eps_low='0.2'): TypeError": (lambda: dataclasses.replace(TINY, eps_low="0.2"),
                                              "eps_low='0.2' must be a finite number in [0, 1)"),
    "GPTConfig(n_layer=1.5) accepted": (lambda: cfg.GPTConfig(n_layer=1.5), "n_layer=1.5 must be an integer >= 1"),
    "WarmStartConfig(lr=inf) accepted": (lambda: cfg.WarmStartConfig(lr=math.inf),
                                         "lr=inf must be a finite number > 0"),
    "with_group_size(rollouts_per_step='8'): TypeError": (lambda: cfg.with_group_size(TINY, 2, "8"),
                                                         "rollouts_per_step='8' must be an integer >= 2"),
    "from_json without lr loaded the default lr": (
        lambda: cfg.from_json({k: v for k, v in cfg.to_json(TINY).items() if k != "lr"}),
        "data must hold exactly TrainConfig's fields; missing: lr"),
    "from_json without warm_start: KeyError": (
        lambda: cfg.from_json({k: v for k, v in cfg.to_json(TINY).items() if k != "warm_start"}),
        "missing: warm_start"),
    "check_probability(['0.5']) read text as a number": (
        lambda: allocation.check_pass_rates(["0.5"]), "pass_rates=['0.5'] must lie in [0, 1]; got dtype <U3"),
}


@pytest.mark.parametrize("bug", list(FOUND))
def test_found_by_fuzzing(bug: str) -> None:
    call, message = FOUND[bug]
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_found_by_fuzzing_gain_allocation_of_subnormal_pass_rates_meets_the_budget() -> None:
    """Valid input the fuzzing found failing: pass rates of 1e-308 made the lambda grid's scale overflow, and the
    knapsack refused its own NaN values ('values must be finite')."""
    n = allocation.gain_allocation(np.array([0.5, 1.11253693e-308, 1.11253693e-308]), 4, min_group=2, max_group=3)
    assert int(n.sum()) == 4 and set(n.tolist()) <= {0, 2, 3}
