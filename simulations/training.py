"""Whole training runs theta_{t+1} = theta_t + lr_t g_t on the environments of :mod:`simulations.environments`,
S runs at once, with g_t the engine's batch update g = (1/(Q G)) sum_j sum_i A_ji s(q_j, o_ji) (or grad J).

:class:`PolicyBatch` holds S copies of one environment's parameters (S seeds, or S learning rates of a
sweep, or S initial policies of the same shape) and trains them in lockstep: the softmax bandit and the
log-linear policy are vectorised over S in numpy, any other environment (the autoregressive policy) is
kept as S environment objects. Its ``direction`` is the environment's own ``direction`` (a test checks
it), so an update built here equals :func:`simulations.engine.batch_updates`'s on the same rollouts.

:func:`train` runs ``updates`` steps of one :class:`SimTrainConfig` on every run of a batch:

- prompts per update: ``uniform`` (drawn with replacement, as the engine) or ``epochs`` (each epoch a
  fresh permutation of the P prompts cut into mini-batches of Q = ``prompts_per_step``, as TT's 10 epochs
  over one data set); with an ``order_seed`` the prompts come from a generator of their own, so arms given
  the same ``order_seed`` and the same number of runs visit the same prompts in the same order (the paired
  design of TT-9 and VI-3), whatever their rollouts;
- rollouts: G = ``group_size`` per prompt, drawn by inverse CDF exactly as :func:`simulations.engine.sample_rollouts`;
- advantages by name through :func:`simulations.engine.rule_advantages` (so ``grpovi`` is the theory's
  :func:`theory.grpovi.adjust_rewards` with weights from the reference policy, the initial one);
- ``resample_rounds`` > 0 is 2-GRPO+RS (TT-9): each silent group is replaced by the group of a fresh
  prompt (uniform over the P prompts), at most that many rounds per update, and never beyond the run's
  ``rollout_cap`` (a run whose next batch would cross the cap stops updating);
- ``exact=True`` is gradient ascent on J itself (no sampling): the reference of RZ-1.

:class:`TrainCurves` records J after every update, cumulative rollouts generated, groups (prompt
prefills), rollouts trained on and updates, from which :class:`ComputeModel` prices a run.
:func:`summary` is the seed statistic every study reports (intervals against thresholds:
:mod:`evidence.verdicts`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_softmax
from tqdm.auto import tqdm

from simulations.engine import UpdateRule, rule_advantages
from simulations.environments import Environment, LogLinearPolicy, SoftmaxBandit
from theory.advantages import silent_groups
from theory.statistics import mean_ci
from theory.validation import check_choice, check_finite_array, check_group_size

SCHEDULES = ("uniform", "epochs")


def check_count(name: str, value: int, low: int) -> int:
    """An integer >= ``low`` (a count: prompts, updates, rollouts)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


class PolicyBatch:
    """S runs of one environment shape: parameters theta (S, D), policies pi (S, P, O), rewards R (S, P, O).

    Built from S environments of the same kind and shape (:meth:`stack`) or S copies of one
    (:meth:`replicate`). The reference policy pi_ref of each run is its environment's reference (the
    initial policy unless reset). J (S,), pass rates (S, P), grad J (S, D) as in :class:`Environment`.
    """

    def __init__(self, envs: Sequence[Environment]) -> None:
        if len(envs) == 0:
            raise ValueError("envs is empty; a PolicyBatch needs at least one environment")
        first = envs[0]
        for env in envs:
            if type(env) is not type(first) or env.rewards.shape != first.rewards.shape or env.dim != first.dim:
                raise ValueError(f"envs must share kind and shape; got {type(env).__name__} {env.rewards.shape} "
                                 f"D={env.dim} beside {type(first).__name__} {first.rewards.shape} D={first.dim}")
        self.kind = first.kind
        self.rewards = np.stack([env.rewards for env in envs])  # (S, P, O)
        self.correct = np.stack([env.correct for env in envs])
        self.ref_log_probs = np.stack([env.ref_log_probs for env in envs])
        self.reward_range = first.reward_range
        self.binary = all(env.binary for env in envs)
        self._envs: list[Environment] | None = None
        if isinstance(first, SoftmaxBandit):
            self._theta = np.stack([env.params.reshape(env.rewards.shape) for env in envs])  # (S, P, K)
        elif isinstance(first, LogLinearPolicy):
            self._theta = np.stack([env.params for env in envs])  # (S, F)
            self.features = np.stack([env.features for env in envs])  # (S, P, K, F)
            self.offsets = np.stack([env.offsets for env in envs])  # (S, P, K)
        else:
            self._envs = [env.copy() for env in envs]
        self._refresh()

    @classmethod
    def stack(cls, envs: Sequence[Environment]) -> PolicyBatch:
        """One run per environment (all of one kind and shape)."""
        return cls(envs)

    @classmethod
    def replicate(cls, env: Environment, copies: int) -> PolicyBatch:
        """``copies`` runs from the same environment and start."""
        copies = check_count("copies", copies, 1)
        return cls([env] * copies)

    # --- state ------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """S, the number of runs."""
        return self.rewards.shape[0]

    @property
    def num_prompts(self) -> int:
        """P."""
        return self.rewards.shape[1]

    @property
    def num_outcomes(self) -> int:
        """O."""
        return self.rewards.shape[2]

    def params(self) -> NDArray[np.float64]:
        """theta of every run, (S, D) (a copy)."""
        if self._envs is not None:
            return np.stack([env.params for env in self._envs])
        return self._theta.reshape(self.size, -1).copy()

    @property
    def dim(self) -> int:
        """D."""
        return self.params().shape[1]

    def _refresh(self) -> None:
        if self._envs is not None:
            self._log_probs = np.stack([env.log_probs() for env in self._envs])
        elif self.kind == "bandit":
            self._log_probs = log_softmax(self._theta, axis=-1)
        else:
            logits = (self.features @ self._theta[:, None, :, None])[..., 0] + self.offsets  # (S, P, K)
            self._log_probs = log_softmax(logits, axis=-1)
        self._probs = np.exp(self._log_probs)
        if self.kind == "log-linear":
            self._mean_phi = (self._probs[:, :, None, :] @ self.features)[:, :, 0, :]  # E_pi phi(q, .), (S, P, F)

    def log_probs(self) -> NDArray[np.float64]:
        """log pi(o | q) of every run, (S, P, O)."""
        return self._log_probs

    def probs(self) -> NDArray[np.float64]:
        """pi(o | q) of every run, (S, P, O)."""
        return self._probs

    def pass_rates(self) -> NDArray[np.float64]:
        """E[r | q] = sum_o pi(o|q) R[q, o], (S, P)."""
        return (self._probs * self.rewards).sum(axis=-1)

    def objective(self) -> NDArray[np.float64]:
        """J = (1/P) sum_q E[r | q] of every run, (S,)."""
        return self.pass_rates().mean(axis=-1)

    def reward_variance(self) -> NDArray[np.float64]:
        """(1/P) sum_q Var_pi(r | q), (S,): the reward variance under the policy (RZ-1)."""
        mean = self.pass_rates()[..., None]
        return (self._probs * (self.rewards - mean) ** 2).sum(axis=-1).mean(axis=-1)

    # --- directions and steps -----------------------------------------------------------------------
    def direction(self, weights: ArrayLike) -> NDArray[np.float64]:
        """sum_{q,o} w[s, q, o] s_s(q, o) for each run s: outcome weights (S, P, O) -> (S, D)."""
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != self.rewards.shape:
            raise ValueError(f"weights has shape {w.shape}; it must be (S, P, O) = {self.rewards.shape}")
        if self._envs is not None:
            return np.stack([env.direction(w[s]) for s, env in enumerate(self._envs)])
        if self.kind == "bandit":
            return (w - w.sum(axis=-1, keepdims=True) * self._probs).reshape(self.size, -1)
        S, P, K, F = self.features.shape  # s(q, o) = phi(q, o) - E_pi phi(q, .)
        direct = (w.reshape(S, 1, P * K) @ self.features.reshape(S, P * K, F))[:, 0]
        return direct - (w.sum(axis=-1)[:, None, :] @ self._mean_phi)[:, 0]

    def true_gradient(self) -> NDArray[np.float64]:
        """grad J of every run, exact, (S, D)."""
        return self.direction(self._probs * self.rewards / self.num_prompts)

    def rollout_direction(self, prompts: ArrayLike, outcomes: ArrayLike, coeffs: ArrayLike) -> NDArray[np.float64]:
        """sum_{j,i} coeffs[s, j, i] s_s(prompts[s, j], outcomes[s, j, i]) for each run s.

        prompts (S, Q), outcomes and coeffs (S, Q, G) -> (S, D), through outcome weights and :meth:`direction`."""
        prompts, outcomes = np.asarray(prompts), np.asarray(outcomes)
        coeffs = np.asarray(coeffs, dtype=np.float64)
        S, P, n_out = self.rewards.shape
        flat = ((np.arange(S)[:, None, None] * P + prompts[:, :, None]) * n_out + outcomes).ravel()
        weights = np.bincount(flat, weights=coeffs.ravel(), minlength=S * P * n_out).reshape(S, P, n_out)
        return self.direction(weights)

    def step(self, update: ArrayLike, lr: float | ArrayLike) -> None:
        """theta_s <- theta_s + lr_s update_s for every run (``lr`` a number or one per run)."""
        update = check_finite_array("update", update).astype(np.float64)
        if update.shape != (self.size, self.dim):
            raise ValueError(f"update has shape {update.shape}; it must be (S, D) = {(self.size, self.dim)}")
        lr = check_lrs(lr, self.size)
        if self._envs is not None:
            for s, env in enumerate(self._envs):
                if lr[s] != 0:
                    env.step(update[s], float(lr[s]))
        else:
            self._theta = self._theta + (lr[:, None] * update).reshape(self._theta.shape)
        self._refresh()


def check_lrs(lr: float | ArrayLike, size: int) -> NDArray[np.float64]:
    """Learning rates, one per run (a number is repeated): each finite and >= 0."""
    values = np.broadcast_to(np.asarray(lr, dtype=np.float64), (size,)) if np.ndim(lr) == 0 else np.asarray(
        lr, dtype=np.float64)
    if values.shape != (size,) or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"lr={lr!r} must be a finite number >= 0 or one such number per run ({size} runs)")
    return values


# --- rollouts and updates ------------------------------------------------------------------------------

def sample_outcomes(batch: PolicyBatch, prompts: ArrayLike, G: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """o ~ pi_s(. | q) for G rollouts of each prompt of each run: prompts (S, Q) -> outcomes (S, Q, G).

    Inverse CDF with one uniform per rollout, the draw of :func:`simulations.engine.sample_rollouts`
    (for S = 1 and the same generator state the outcomes are the engine's)."""
    G = check_group_size("G", G)
    idx = np.asarray(prompts, dtype=np.int64)
    S, P, n_out = batch.rewards.shape
    if idx.ndim != 2 or idx.shape[0] != S or idx.size == 0 or idx.min() < 0 or idx.max() >= P:
        raise ValueError(f"prompts has shape {idx.shape}; it must be (S, Q) = ({S}, Q) with entries in 0..{P - 1}")
    cdf = np.cumsum(batch.probs(), axis=-1)
    cdf[..., -1] = 1.0
    rows = np.arange(S)[:, None] * P + idx  # global prompt rows (S, Q)
    keys = (cdf + np.arange(S * P).reshape(S, P)[..., None]).ravel()
    u = rng.random((*idx.shape, G))
    outcomes = np.searchsorted(keys, rows[..., None] + u, side="right") - rows[..., None] * n_out
    return np.clip(outcomes, 0, n_out - 1)


def gather_rewards(batch: PolicyBatch, prompts: NDArray[np.int64], outcomes: NDArray[np.int64]) -> NDArray[np.float64]:
    """R_s[q, o] of every rollout, (S, Q, G)."""
    return batch.rewards[np.arange(batch.size)[:, None, None], prompts[..., None], outcomes]


def batch_advantages(batch: PolicyBatch, prompts: NDArray[np.int64], outcomes: NDArray[np.int64],
                     rule: UpdateRule) -> NDArray[np.float64]:
    """A (S, Q, G) by name (:func:`simulations.engine.rule_advantages`), with h = log pi/pi_ref for ``dpo``
    and the reference log-probabilities of the rollouts for ``grpovi``."""
    where = (np.arange(batch.size)[:, None, None], prompts[..., None], outcomes)
    rewards = batch.rewards[where]
    log_ratios = (batch.log_probs() - batch.ref_log_probs)[where] if rule.estimator == "dpo" else None
    ref = batch.ref_log_probs[where] if rule.estimator == "grpovi" else None
    return rule_advantages(rule, rewards, log_ratios=log_ratios, ref_log_probs=ref, reward_range=batch.reward_range)


def group_update(batch: PolicyBatch, prompts: NDArray[np.int64], outcomes: NDArray[np.int64],
                 rule: UpdateRule) -> NDArray[np.float64]:
    """g_s = (1/(Q G)) sum_j sum_i A_ji s_s(q_j, o_ji) for prompts (S, Q) and outcomes (S, Q, G): (S, D)."""
    Q, G = outcomes.shape[1:]
    adv = batch_advantages(batch, prompts, outcomes, rule)
    return batch.rollout_direction(prompts, outcomes, adv / (Q * G))


# --- training -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimTrainConfig:
    """One arm of a simulated study (the LM trainer's config is ``gpu_runs``' ``TrainConfig``).

    The learning rate is not a field: :func:`train` takes it beside the config, one lr per policy of the
    vectorised batch, so that one config trains S policies at S learning rates at once (an lr sweep).
    """

    group_size: int = 2             # G, rollouts per prompt
    prompts_per_step: int = 8       # Q, prompts per update (B = Q G rollouts per update)
    updates: int = 100              # optimiser steps
    rule: UpdateRule = field(default_factory=UpdateRule)  # the estimator (advantages by name)
    schedule: str = "uniform"       # prompts per update: "uniform" with replacement, or "epochs"
    resample_rounds: int = 0        # 2-GRPO+RS: rounds replacing silent groups per update (0: none)
    rollout_cap: int | None = None  # total rollouts per run (None: no cap)
    exact: bool = False             # exact gradient ascent on J instead of sampled updates
    label: str = ""                 # arm name in figures and tables

    def __post_init__(self) -> None:
        check_group_size("group_size", self.group_size)
        check_count("prompts_per_step", self.prompts_per_step, 1)
        check_count("updates", self.updates, 1)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_count("resample_rounds", self.resample_rounds, 0)
        if self.rollout_cap is not None:
            check_count("rollout_cap", self.rollout_cap, self.rollouts_per_step)

    @property
    def rollouts_per_step(self) -> int:
        """B = Q G, rollouts per update."""
        return self.prompts_per_step * self.group_size

    @property
    def name(self) -> str:
        """``label`` or G, Q and the rule."""
        return self.label or f"{self.group_size}-{self.rule.label} Q={self.prompts_per_step}"


@dataclass(frozen=True)
class TrainCurves:
    """Per run (S) and update t = 0..U: ``objective`` J (S, U+1); cumulative ``rollouts`` generated,
    ``groups`` generated (prompt prefills), ``trained`` rollouts in updates and ``updates`` made (S, U+1);
    ``silent`` fraction of the batch's groups left silent at update t (S, U); ``metrics`` from the
    ``observe`` callback of :func:`train` (name -> (S, U+1, ...))."""

    objective: NDArray[np.float64]
    rollouts: NDArray[np.float64]
    groups: NDArray[np.float64]
    trained: NDArray[np.float64]
    updates: NDArray[np.float64]
    silent: NDArray[np.float64]
    metrics: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    @property
    def final(self) -> NDArray[np.float64]:
        """J after the last update, (S,)."""
        return self.objective[:, -1]


class _EpochStream:
    """Per run, consecutive mini-batches of Q prompts from a fresh permutation of the P prompts each epoch."""

    def __init__(self, size: int, P: int, Q: int, rng: np.random.Generator) -> None:
        if P % Q:
            raise ValueError(f"prompts_per_step={Q} must divide the number of prompts P={P} for schedule='epochs'")
        self.size, self.P, self.Q, self.rng = size, P, Q, rng
        self.order = np.empty((size, 0), dtype=np.int64)

    def next(self) -> NDArray[np.int64]:
        if self.order.shape[1] == 0:
            self.order = self.rng.permuted(np.tile(np.arange(self.P), (self.size, 1)), axis=1)
        batch, self.order = self.order[:, : self.Q], self.order[:, self.Q:]
        return batch


def _resample_silent(batch: PolicyBatch, config: SimTrainConfig, prompts: NDArray[np.int64],
                     outcomes: NDArray[np.int64], silent: NDArray[np.bool_], room: NDArray[np.int64],
                     rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_],
                                                        NDArray[np.int64]]:
    """2-GRPO+RS: up to ``resample_rounds`` times, replace silent groups by fresh prompts' groups while the
    run has room for G more rollouts; returns prompts, outcomes, silent mask and the extra groups per run."""
    G = config.group_size
    extra = np.zeros(batch.size, dtype=np.int64)
    for _ in range(config.resample_rounds):
        allowed = (room - extra * G) // G  # groups each run may still generate
        take = silent & (np.cumsum(silent, axis=1) <= allowed[:, None])
        if not take.any():
            break
        fresh = rng.integers(batch.num_prompts, size=prompts.shape)
        fresh_out = sample_outcomes(batch, fresh, G, rng)
        prompts = np.where(take, fresh, prompts)
        outcomes = np.where(take[..., None], fresh_out, outcomes)
        extra += take.sum(axis=1)
        silent = np.where(take, silent_groups(gather_rewards(batch, fresh, fresh_out)), silent)
    return prompts, outcomes, silent, extra


def train(
    batch: PolicyBatch,
    config: SimTrainConfig,
    lr: float | ArrayLike,
    seed: int | Sequence[int],
    *,
    observe: Callable[[PolicyBatch], dict[str, NDArray[np.float64]]] | None = None,
    stop_gain: float | None = None,
    order_seed: int | Sequence[int] | None = None,
    progress: bool = False,
) -> TrainCurves:
    """Run ``config.updates`` updates theta <- theta + lr g on every run of ``batch`` (modified in place).

    ``lr`` is one number or one per run (a sweep). Every draw comes from ``np.random.default_rng(seed)``,
    the prompts of each update from ``np.random.default_rng(order_seed)`` when it is given (else from the
    same generator): the same batch, config, lr and seeds give the same numbers, and two configs with the
    same ``order_seed``, schedule and runs S draw the same prompt order. ``observe(batch)`` is called before the
    first update and after each one; its arrays (leading axis S) are stacked into ``metrics``.
    With ``stop_gain``, a run stops (no more rollouts or updates) once J - J_0 >= stop_gain, and the loop
    ends when every run has stopped; the curves then stay at their last values.
    """
    lr = check_lrs(lr, batch.size)
    if stop_gain is not None and not (math.isfinite(stop_gain) and stop_gain > 0):
        raise ValueError(f"stop_gain={stop_gain!r} must be a finite number > 0 or None")
    rng = np.random.default_rng(seed)
    order = rng if order_seed is None else np.random.default_rng(order_seed)
    S, U, G, Q = batch.size, config.updates, config.group_size, config.prompts_per_step
    cap = np.full(S, np.iinfo(np.int64).max if config.rollout_cap is None else config.rollout_cap, dtype=np.int64)
    stream = _EpochStream(S, batch.num_prompts, Q, order) if config.schedule == "epochs" and not config.exact else None
    used = np.zeros(S, dtype=np.int64)
    counts = {k: np.zeros((S, U + 1)) for k in ("rollouts", "groups", "trained", "updates")}
    objective = np.zeros((S, U + 1))
    silent_frac = np.zeros((S, U))
    objective[:, 0] = batch.objective()
    seen = [observe(batch)] if observe else []
    running = np.ones(S, dtype=bool)
    last = U
    for t in tqdm(range(U), disable=not progress, desc=config.name, leave=False):
        if stop_gain is not None:
            running &= objective[:, t] - objective[:, 0] < stop_gain
            if not running.any():
                last = t
                break
        if config.exact:
            active, gen, groups = running, np.zeros(S, dtype=np.int64), np.zeros(S, dtype=np.int64)
            batch.step(batch.true_gradient(), np.where(active, lr, 0.0))
            silent_frac[:, t] = np.nan
        else:
            active = running & (used + config.rollouts_per_step <= cap)
            prompts = stream.next() if stream else order.integers(batch.num_prompts, size=(S, Q))
            outcomes = sample_outcomes(batch, prompts, G, rng)
            silent = silent_groups(gather_rewards(batch, prompts, outcomes))
            extra = np.zeros(S, dtype=np.int64)
            if config.resample_rounds:
                room = np.where(active, cap - used - config.rollouts_per_step, 0)
                prompts, outcomes, silent, extra = _resample_silent(batch, config, prompts, outcomes, silent, room, rng)
            update = group_update(batch, prompts, outcomes, config.rule)
            batch.step(np.where(active[:, None], update, 0.0), np.where(active, lr, 0.0))
            groups = np.where(active, Q + extra, 0)
            gen = groups * G
            used += gen
            silent_frac[:, t] = np.where(active, silent.mean(axis=1), np.nan)
        counts["rollouts"][:, t + 1] = counts["rollouts"][:, t] + gen
        counts["groups"][:, t + 1] = counts["groups"][:, t] + groups
        trained = 0 if config.exact else config.rollouts_per_step
        counts["trained"][:, t + 1] = counts["trained"][:, t] + np.where(active, trained, 0)
        counts["updates"][:, t + 1] = counts["updates"][:, t] + active
        objective[:, t + 1] = batch.objective()
        if observe:
            seen.append(observe(batch))
    for v in (objective, *counts.values()):
        v[:, last + 1:] = v[:, last:last + 1]
    silent_frac[:, last:] = np.nan
    seen += seen[-1:] * (U - last)
    metrics = {k: np.stack([m[k] for m in seen], axis=1) for k in (seen[0] if seen else {})}
    return TrainCurves(objective, silent=silent_frac, metrics=metrics, **counts)


# --- cost and statistics -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ComputeModel:
    """Simulated compute in units of one generated rollout (an assumed cost model, not a measurement):
    cost = rollouts generated + ``per_group`` x groups generated (prefill and scheduling of a prompt)
    + ``per_trained_rollout`` x rollouts in updates (forward + backward) + ``per_update`` x B x updates
    (optimiser step and weight synchronisation, as a fraction of a batch's generation)."""

    per_group: float = 0.25
    per_trained_rollout: float = 0.5
    per_update: float = 0.125

    def cost(self, curves: TrainCurves, B: int) -> NDArray[np.float64]:
        """Cumulative cost per run and update, (S, U+1)."""
        return (curves.rollouts + self.per_group * curves.groups + self.per_trained_rollout * curves.trained
                + self.per_update * B * curves.updates)

    def describe(self) -> str:
        return (f"compute = rollouts generated + {self.per_group:g} x groups + {self.per_trained_rollout:g} x "
                f"rollouts trained on + {self.per_update:g} x B x updates (units of one generated rollout; "
                "an assumed cost model)")


@dataclass(frozen=True)
class MeanCI:
    """A mean over n seeds with the half width of its 95% Student-t interval (0 for n = 1)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def to_json(self) -> dict[str, float | int | None]:
        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"mean": clean(self.mean), "ci95": clean(self.half_width), "n": self.n}


def summary(values: ArrayLike) -> MeanCI:
    """:class:`MeanCI` of a 1-d array of per-seed values (NaN ignored)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.any(np.isfinite(x)):
        return MeanCI(math.nan, math.nan, 0)
    mean, half = mean_ci(x[np.isfinite(x)])
    return MeanCI(float(mean), float(half), int(np.isfinite(x).sum()))


def time_to_gain(objective: ArrayLike, gamma: float) -> NDArray[np.float64]:
    """When J - J_0 first reaches gamma, per run (S,): t - 1 + (gamma - gain_{t-1}) / (gain_t - gain_{t-1}) at the
    first update t with gain_t >= gamma (linear interpolation between updates); NaN where it never happens."""
    J = np.asarray(objective, dtype=np.float64)
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma={gamma!r} must be a finite number > 0")
    gain = J - J[:, :1]
    reached = gain >= gamma
    first = np.maximum(np.argmax(reached, axis=1), 1)
    rows = np.arange(J.shape[0])
    before, after = gain[rows, first - 1], gain[rows, first]
    crossing = first - 1 + (gamma - before) / np.where(after > before, after - before, 1.0)
    return np.where(reached.any(axis=1), crossing, np.nan)
