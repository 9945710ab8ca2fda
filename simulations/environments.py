"""Policies over a finite outcome space whose objective J and gradient grad J are known exactly.

Every environment is a policy pi_theta(o | q) over O outcomes for each of P prompts, with a reward
table R[q, o]: binary (a verifier) or continuous (a reward-model-like score in [0, 1]). Then

    J(theta)  = (1/P) sum_q sum_o pi(o|q) R[q, o]           (mean pass rate for binary rewards)
    grad J    = (1/P) sum_q sum_o pi(o|q) R[q, o] s(q, o),   s(q, o) = grad_theta log pi(o|q),

evaluated exactly by summing over outcomes. The kinds (issue 5):

- :class:`SoftmaxBandit`: per-prompt logits theta[q, a] over K answers; s(q, a) = e_{q,a} - pi(.|q)
  inside block q. Prompts do not interact.
- :class:`LogLinearPolicy`: pi(a|q) ~ exp(theta . phi(q, a) + b(q, a)) with one shared theta of F
  features, so prompts' gradients interact (the LLM-like case); s(q, a) = phi(q, a) - E_pi phi(q, .).
- :class:`AutoregressivePolicy`: sequences o_1..o_L over a vocabulary of V tokens (V <= 4, L <= 6),
  pi(o_t | o_{t-1}, q) = softmax(theta[t, o_{t-1}] + U phi_q + c_q e_{a_q}); the verifier accepts a
  sequence holding the prompt's answer token a_q at least m times. Exact by enumerating all V^L
  sequences.
- Continuous rewards on any of them (:func:`continuous_rewards`): R = sigmoid(kappa (2 correct - 1) +
  noise z), one fixed score per (prompt, outcome), for BY-2 and GRPOVI.

Pass rates are set from a named distribution (:data:`PASS_RATE_DISTRIBUTIONS`, deterministic
quantiles of a Beta law) or given per prompt: a per-prompt offset on the correct outcomes' logits,
outside the trainable parameters, is solved for so that the initial pass rates equal the targets.

A training loop does ``env.step(g, lr)`` (theta <- theta + lr g) and reads ``env.objective()``;
:meth:`Environment.copy` gives independent copies for runs from the same start.
"""

from __future__ import annotations

import copy
import itertools
import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, log_softmax, logsumexp
from scipy.stats import beta as beta_law

from theory.validation import check_choice, check_finite_array, check_nonnegative, check_probability, check_real_array

PASS_RATE_DISTRIBUTIONS: dict[str, tuple[float, float]] = {
    "uniform": (1.0, 1.0),
    "u-shaped": (0.5, 0.5),
    "easy": (4.0, 1.0),
    "hard": (1.0, 4.0),
}
"""Beta(a, b) laws of per-prompt pass rates, by name."""

ENVIRONMENT_KINDS = ("bandit", "log-linear", "autoregressive")
REWARD_KINDS = ("binary", "continuous")
STUDY_ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "bandit": ("bandit", "binary"),
    "log-linear": ("log-linear", "binary"),
    "autoregressive": ("autoregressive", "binary"),
    "bandit-continuous": ("bandit", "continuous"),
}
"""The environments every study runs on: name -> (kind, rewards) of :func:`make_environment`."""
REWARD_RANGE = (0.0, 1.0)
"""Every reward of every environment lies in [0, 1] (the range GRPOVI needs)."""


def _check_positive_int(name: str, value: int, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
        high is not None and value > high
    ):
        upper = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{name}={value!r} must be an integer >= {low}{upper}")
    return int(value)


def pass_rate_quantiles(distribution: str, num_prompts: int) -> NDArray[np.float64]:
    """p_q = F^{-1}((q + 1/2) / P) for the named Beta law F: P pass rates representing it, in (0, 1)."""
    check_choice("distribution", distribution, PASS_RATE_DISTRIBUTIONS)
    num_prompts = _check_positive_int("num_prompts", num_prompts)
    a, b = PASS_RATE_DISTRIBUTIONS[distribution]
    return beta_law.ppf((np.arange(num_prompts) + 0.5) / num_prompts, a, b)


def _check_open_pass_rates(name: str, pass_rates: ArrayLike) -> NDArray[np.float64]:
    """Explicit per-prompt pass rates: a non-empty 1-d array in (0, 1) (NaN fails both comparisons)."""
    p = check_real_array(name, pass_rates)
    if p.ndim != 1 or p.size == 0 or not np.all((p > 0) & (p < 1)):
        raise ValueError(
            f"{name}={pass_rates!r} must be a non-empty 1-d array in the open interval (0, 1) "
            "(a softmax policy with finite logits has 0 < p < 1)"
        )
    return p


def correct_offsets(logits: NDArray[np.float64], correct: NDArray[np.bool_],
                    pass_rates: NDArray[np.float64]) -> NDArray[np.float64]:
    """c_q such that adding c_q to the correct outcomes' logits gives pass rate p_q exactly:
    c_q = logit(p_q) - logsumexp(correct logits) + logsumexp(wrong logits)."""
    lse_c = logsumexp(np.where(correct, logits, -np.inf), axis=-1)
    lse_w = logsumexp(np.where(correct, -np.inf, logits), axis=-1)
    return np.log(pass_rates) - np.log1p(-pass_rates) - lse_c + lse_w


def continuous_rewards(correct: ArrayLike, rng: np.random.Generator, strength: float = 1.5,
                       noise: float = 1.0) -> NDArray[np.float64]:
    """R[q, o] = sigmoid(strength (2 correct - 1) + noise z), z ~ N(0, 1): a reward-model-like score in
    (0, 1), higher on correct outcomes, one fixed value per (prompt, outcome)."""
    mask = np.asarray(correct, dtype=bool)
    check_nonnegative("strength", strength)
    check_nonnegative("noise", noise)
    return expit(strength * (2.0 * mask - 1.0) + noise * rng.standard_normal(mask.shape))


class Environment(ABC):
    """A policy over O outcomes for each of P prompts, with rewards R (P, O) and parameters theta (D,).

    Subclasses implement :meth:`log_probs`, :meth:`direction`, :meth:`gram` and the parameters; the
    rest (pass rates, J, grad J, sampling helpers of :mod:`simulations.engine`) is shared.
    Arrays returned are read-only views of cached state; they change when the parameters do.
    """

    kind: str = ""
    gathers_scores: bool = False
    """True when :meth:`rollout_direction` gathers a D-vector per rollout (memory B D per trial)."""

    def __init__(self, rewards: ArrayLike, correct: ArrayLike | None = None) -> None:
        r = check_finite_array("rewards", rewards).astype(np.float64)
        if r.ndim != 2 or r.shape[1] < 2:
            raise ValueError(f"rewards has shape {r.shape}; it must be (prompts, outcomes) with >= 2 outcomes")
        if np.any((r < REWARD_RANGE[0]) | (r > REWARD_RANGE[1])):
            raise ValueError(f"rewards contains {r[(r < 0) | (r > 1)][0]!r}; every reward must lie in [0, 1]")
        self.rewards = r
        self.rewards.setflags(write=False)
        self.correct = (r == 1.0) if correct is None else np.asarray(correct, dtype=bool)
        if self.correct.shape != r.shape:
            raise ValueError(f"correct has shape {self.correct.shape}; it must match rewards {r.shape}")
        self.binary = bool(np.all((r == 0.0) | (r == 1.0)))
        self.reward_range = REWARD_RANGE
        self._refresh()
        self.reset_reference()

    # --- what a subclass defines -------------------------------------------------------------
    @property
    @abstractmethod
    def params(self) -> NDArray[np.float64]:
        """theta, flat, shape (D,) (a copy)."""

    @abstractmethod
    def _set_flat(self, theta: NDArray[np.float64]) -> None:
        """Store theta (already checked)."""

    @abstractmethod
    def _compute_log_probs(self) -> NDArray[np.float64]:
        """log pi(o|q), shape (P, O), from the current parameters."""

    @abstractmethod
    def direction(self, weights: ArrayLike) -> NDArray[np.float64]:
        """sum_{q,o} w[..., q, o] s(q, o): outcome weights (..., P, O) -> (..., D)."""

    @abstractmethod
    def gram(self) -> NDArray[np.float64]:
        """<s(q, o), s(q, o')> for every prompt, shape (P, O, O)."""

    def _refresh(self) -> None:
        """Recompute what depends on theta; subclasses extend it (score matrices)."""
        self._log_probs = self._compute_log_probs()
        self._log_probs.setflags(write=False)
        self._probs = np.exp(self._log_probs)
        self._probs.setflags(write=False)

    # --- shared ---------------------------------------------------------------------------------
    @property
    def num_prompts(self) -> int:
        """P."""
        return self.rewards.shape[0]

    @property
    def num_outcomes(self) -> int:
        """O, outcomes per prompt (answers, or sequences)."""
        return self.rewards.shape[1]

    @property
    def dim(self) -> int:
        """D = len(theta)."""
        return self.params.size

    def log_probs(self) -> NDArray[np.float64]:
        """log pi(o | q), shape (P, O)."""
        return self._log_probs

    def probs(self) -> NDArray[np.float64]:
        """pi(o | q), shape (P, O)."""
        return self._probs

    def set_params(self, theta: ArrayLike) -> None:
        """theta <- theta (shape (D,)); the policy and its cached scores follow."""
        theta = check_finite_array("theta", theta).astype(np.float64)
        if theta.shape != (self.dim,):
            raise ValueError(f"theta has shape {theta.shape}; it must be ({self.dim},)")
        self._set_flat(theta)
        self._refresh()

    def step(self, update: ArrayLike, lr: float) -> None:
        """theta <- theta + lr * update (gradient ascent on J)."""
        lr = float(lr)
        if not np.isfinite(lr):
            raise ValueError(f"lr={lr!r} must be a finite number")
        update = check_finite_array("update", update).astype(np.float64)
        if update.shape != (self.dim,):
            raise ValueError(f"update has shape {update.shape}; it must be ({self.dim},)")
        self.set_params(self.params + lr * update)

    def reset_reference(self) -> None:
        """pi_ref <- pi (the reference policy of DPO's log-ratios and GRPOVI's weights)."""
        self.ref_log_probs = self._log_probs.copy()
        self.ref_log_probs.setflags(write=False)

    def copy(self) -> Environment:
        """An independent copy (parameters, reference and rewards)."""
        return copy.deepcopy(self)

    def pass_rates(self) -> NDArray[np.float64]:
        """E[r | q] = sum_o pi(o|q) R[q, o], shape (P,): the pass rate p_q for binary rewards."""
        return (self._probs * self.rewards).sum(axis=-1)

    def objective(self) -> float:
        """J = (1/P) sum_q E[r | q]."""
        return float(self.pass_rates().mean())

    def true_gradient(self) -> NDArray[np.float64]:
        """grad J = (1/P) sum_q sum_o pi(o|q) R[q, o] s(q, o), exact, shape (D,)."""
        return self.direction(self._probs * self.rewards / self.num_prompts)

    def score_sq_norms(self) -> NDArray[np.float64]:
        """||s(q, o)||^2, shape (P, O)."""
        return np.einsum("qoo->qo", self.gram())

    def rollout_direction(self, prompts: ArrayLike, outcomes: ArrayLike, coeffs: ArrayLike) -> NDArray[np.float64]:
        """sum_{j,i} coeffs[t, j, i] s(prompts[t, j], outcomes[t, j, i]) for each trial t.

        prompts (T, Q), outcomes and coeffs (T, Q, G) -> (T, D). The default scatters the coefficients
        into outcome weights (T, P, O) and calls :meth:`direction`.
        """
        prompts = np.asarray(prompts)
        outcomes = np.asarray(outcomes)
        coeffs = np.asarray(coeffs, dtype=np.float64)
        T = prompts.shape[0]
        P, n_out = self.num_prompts, self.num_outcomes
        flat = ((np.arange(T)[:, None, None] * P + prompts[:, :, None]) * n_out + outcomes).ravel()
        weights = np.bincount(flat, weights=coeffs.ravel(), minlength=T * P * n_out).reshape(T, P, n_out)
        return self.direction(weights)

    def describe(self) -> dict[str, Any]:
        """Plain-data summary (for JSON artefacts)."""
        p = self.pass_rates()
        return {"kind": self.kind, "prompts": self.num_prompts, "outcomes": self.num_outcomes, "dim": self.dim,
                "rewards": "binary" if self.binary else "continuous", "objective": self.objective(),
                "pass_rate_quartiles": [float(v) for v in np.quantile(p, [0.25, 0.5, 0.75])]}


class SoftmaxBandit(Environment):
    """Per-prompt softmax over K answers: pi(a|q) = softmax(theta[q])_a, theta of shape (P, K), D = P K.

    s(q, a) is e_a - pi(.|q) in the K coordinates of prompt q and zero elsewhere.
    """

    kind = "bandit"

    def __init__(self, logits: ArrayLike, rewards: ArrayLike, correct: ArrayLike | None = None) -> None:
        theta = check_finite_array("logits", logits).astype(np.float64)
        if theta.ndim != 2 or theta.shape != np.shape(rewards):
            raise ValueError(f"logits has shape {theta.shape}; it must be (P, K) = rewards' shape {np.shape(rewards)}")
        self._theta = theta.copy()
        super().__init__(rewards, correct)

    @classmethod
    def from_probs(cls, probs: ArrayLike, correct: ArrayLike) -> SoftmaxBandit:
        """Explicit per-prompt answer probabilities (P, K), each > 0, and correct-answer sets (P, K) bool."""
        probs = check_probability("probs", probs)
        if probs.ndim != 2 or np.any(probs <= 0) or not np.allclose(probs.sum(-1), 1.0, atol=1e-9):
            raise ValueError("probs must be (P, K), every entry > 0 (finite logits), each row summing to 1")
        mask = np.asarray(correct, dtype=bool)
        return cls(np.log(probs), mask.astype(np.float64), mask)

    @property
    def params(self) -> NDArray[np.float64]:
        return self._theta.ravel().copy()

    def _set_flat(self, theta: NDArray[np.float64]) -> None:
        self._theta = theta.reshape(self._theta.shape).copy()

    def _compute_log_probs(self) -> NDArray[np.float64]:
        return log_softmax(self._theta, axis=-1)

    def direction(self, weights: ArrayLike) -> NDArray[np.float64]:
        w = np.asarray(weights, dtype=np.float64)  # (..., P, K)
        block = w - w.sum(axis=-1, keepdims=True) * self._probs
        return block.reshape(*w.shape[:-2], self.dim)

    def gram(self) -> NDArray[np.float64]:
        pi = self._probs  # (P, K)
        eye = np.eye(self.num_outcomes)
        return eye - pi[:, :, None] - pi[:, None, :] + (pi**2).sum(-1)[:, None, None]


class LogLinearPolicy(Environment):
    """pi(a|q) = softmax_a(theta . phi(q, a) + b(q, a)), one theta (F,) shared by all prompts.

    ``features`` phi (P, K, F); ``offsets`` b (P, K) are part of the prompt, not trained.
    s(q, a) = phi(q, a) - sum_b pi(b|q) phi(q, b).
    """

    kind = "log-linear"

    def __init__(self, features: ArrayLike, offsets: ArrayLike, rewards: ArrayLike, theta: ArrayLike | None = None,
                 correct: ArrayLike | None = None) -> None:
        self.features = check_finite_array("features", features).astype(np.float64)
        self.offsets = check_finite_array("offsets", offsets).astype(np.float64)
        shape = np.shape(rewards)
        if self.features.ndim != 3 or self.features.shape[:2] != shape or self.offsets.shape != shape:
            raise ValueError(f"features {self.features.shape} must be (P, K, F) and offsets {self.offsets.shape} "
                             f"(P, K) with (P, K) = rewards' shape {np.shape(rewards)}")
        F = self.features.shape[2]
        self._theta = np.zeros(F) if theta is None else check_finite_array("theta", theta).astype(np.float64).copy()
        if self._theta.shape != (F,):
            raise ValueError(f"theta has shape {self._theta.shape}; it must be ({F},)")
        super().__init__(rewards, correct)

    @property
    def params(self) -> NDArray[np.float64]:
        return self._theta.copy()

    def _set_flat(self, theta: NDArray[np.float64]) -> None:
        self._theta = theta.copy()

    def _compute_log_probs(self) -> NDArray[np.float64]:
        return log_softmax(self.features @ self._theta + self.offsets, axis=-1)

    def _refresh(self) -> None:
        super()._refresh()
        mean_phi = np.einsum("qa,qaf->qf", self._probs, self.features)
        self._scores = self.features - mean_phi[:, None, :]  # (P, K, F)

    def direction(self, weights: ArrayLike) -> NDArray[np.float64]:
        return np.einsum("...qo,qod->...d", np.asarray(weights, dtype=np.float64), self._scores)

    def gram(self) -> NDArray[np.float64]:
        return np.einsum("qod,qed->qoe", self._scores, self._scores)


class AutoregressivePolicy(Environment):
    """Sequences o_1..o_L over V tokens: pi(o|q) = prod_t softmax(theta[t, o_{t-1}] + U phi_q + c_q e_{a_q})[o_t].

    o_0 is a begin token (index V). Parameters: ``theta`` (L, V+1, V) and ``U`` (V, F), D = L (V+1) V + V F.
    ``prompt_features`` phi (P, F), ``answer_tokens`` a_q and ``offsets`` c_q (P,) belong to the prompt.
    The verifier: r = 1 iff a_q occurs at least ``min_count`` times in o. Outcomes are the V^L sequences
    in lexicographic order (:attr:`sequences`), scores are cached as a dense (P, V^L, D) array.
    """

    kind = "autoregressive"
    gathers_scores = True

    def __init__(self, vocab: int, length: int, prompt_features: ArrayLike, answer_tokens: ArrayLike,
                 offsets: ArrayLike, theta: ArrayLike, U: ArrayLike, min_count: int,
                 rewards: ArrayLike | None = None) -> None:
        self.vocab = _check_positive_int("vocab", vocab, 2, 4)
        self.length = _check_positive_int("length", length, 1, 6)
        self.min_count = _check_positive_int("min_count", min_count, 1, self.length)
        self.prompt_features = check_finite_array("prompt_features", prompt_features).astype(np.float64)
        P, F = self.prompt_features.shape
        self.answer_tokens = np.asarray(answer_tokens, dtype=np.int64)
        self.offsets = check_finite_array("offsets", offsets).astype(np.float64)
        if self.answer_tokens.shape != (P,) or self.offsets.shape != (P,):
            raise ValueError(f"answer_tokens {self.answer_tokens.shape} and offsets {self.offsets.shape} "
                             f"must both be ({P},)")
        if np.any((self.answer_tokens < 0) | (self.answer_tokens >= self.vocab)):
            raise ValueError(f"answer_tokens must lie in 0..{self.vocab - 1}")
        V, L = self.vocab, self.length
        self._theta = check_finite_array("theta", theta).astype(np.float64).copy()
        self._U = check_finite_array("U", U).astype(np.float64).copy()
        if self._theta.shape != (L, V + 1, V) or self._U.shape != (V, F):
            raise ValueError(f"theta {self._theta.shape} must be {(L, V + 1, V)} and U {self._U.shape} {(V, F)}")
        self.sequences = np.array(list(itertools.product(range(V), repeat=L)), dtype=np.int64).reshape(-1, L)
        self._prev = np.concatenate([np.full((len(self.sequences), 1), V), self.sequences[:, :-1]], axis=1)
        self._onehot = np.eye(V)[self.sequences]  # (O, L, V)
        count = (self.sequences[None, :, :] == self.answer_tokens[:, None, None]).sum(-1)  # (P, O)
        correct = count >= self.min_count
        super().__init__(correct.astype(np.float64) if rewards is None else rewards, correct)

    def with_offsets(self, offsets: NDArray[np.float64]) -> AutoregressivePolicy:
        """The same policy with other prompt offsets c_q (the reference is reset)."""
        other = copy.deepcopy(self)
        other.offsets = np.asarray(offsets, dtype=np.float64).copy()
        other._refresh()
        other.reset_reference()
        return other

    @property
    def params(self) -> NDArray[np.float64]:
        return np.concatenate([self._theta.ravel(), self._U.ravel()])

    def _set_flat(self, theta: NDArray[np.float64]) -> None:
        n = self._theta.size
        self._theta = theta[:n].reshape(self._theta.shape).copy()
        self._U = theta[n:].reshape(self._U.shape).copy()

    def _step_log_probs(self, offsets: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """log pi(v | t, prev, q), shape (P, L, V+1, V), with the prompts' offsets (or others)."""
        offsets = self.offsets if offsets is None else offsets
        bias = self.prompt_features @ self._U.T  # (P, V)
        bias = bias + offsets[:, None] * (np.arange(self.vocab)[None, :] == self.answer_tokens[:, None])
        return log_softmax(self._theta[None] + bias[:, None, None, :], axis=-1)

    def sequence_log_probs(self, offsets: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """log pi(o | q) = sum_t log pi(o_t | t, o_{t-1}, q), shape (P, V^L), with the prompts' offsets (or others)."""
        step = self._step_log_probs(offsets)
        t = np.arange(self.length)
        return step[:, t[None, :], self._prev, self.sequences].sum(-1)

    def _compute_log_probs(self) -> NDArray[np.float64]:
        return self.sequence_log_probs()

    def _refresh(self) -> None:
        super()._refresh()
        P, n_out, L, V = self.num_prompts, self.num_outcomes, self.length, self.vocab
        step_pi = np.exp(self._step_log_probs())  # (P, L, V+1, V)
        t = np.arange(L)
        delta = self._onehot[None] - step_pi[:, t[None, :], self._prev]  # (P, O, L, V): e_{o_t} - pi_t
        shared = np.zeros((P, n_out, L, V + 1, V))
        shared[:, np.arange(n_out)[:, None], t[None, :], self._prev, :] = delta
        u_part = delta.sum(axis=2)[:, :, :, None] * self.prompt_features[:, None, None, :]  # (P, O, V, F)
        self._scores = np.concatenate([shared.reshape(P, n_out, -1), u_part.reshape(P, n_out, -1)], axis=-1)

    def direction(self, weights: ArrayLike) -> NDArray[np.float64]:
        return np.einsum("...qo,qod->...d", np.asarray(weights, dtype=np.float64), self._scores)

    def gram(self) -> NDArray[np.float64]:
        return np.einsum("qod,qed->qoe", self._scores, self._scores)

    def score_sq_norms(self) -> NDArray[np.float64]:
        return np.einsum("qod,qod->qo", self._scores, self._scores)

    def rollout_direction(self, prompts: ArrayLike, outcomes: ArrayLike, coeffs: ArrayLike) -> NDArray[np.float64]:
        """Gathers each rollout's score (V^L outcomes make the outcome-weight route too wide)."""
        prompts = np.asarray(prompts)
        scores = self._scores[prompts[:, :, None], np.asarray(outcomes)]  # (T, Q, G, D)
        return np.einsum("tqg,tqgd->td", np.asarray(coeffs, dtype=np.float64), scores)


def _targets(distribution: str | ArrayLike, num_prompts: int) -> NDArray[np.float64]:
    if isinstance(distribution, str):
        return pass_rate_quantiles(distribution, num_prompts)
    return _check_open_pass_rates("distribution", distribution)


def _random_correct(rng: np.random.Generator, P: int, K: int, num_correct: int) -> NDArray[np.bool_]:
    num_correct = _check_positive_int("num_correct", num_correct, 1, K - 1)
    order = rng.random((P, K)).argsort(axis=-1)
    return order < num_correct


def _solve_offsets(env: AutoregressivePolicy, targets: NDArray[np.float64],
                   iterations: int = 100) -> NDArray[np.float64]:
    """Bisection on each prompt's offset c_q in [-40, 40] until its pass rate equals the target."""
    lo, hi = np.full(targets.shape, -40.0), np.full(targets.shape, 40.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = (np.exp(env.sequence_log_probs(mid)) * env.correct).sum(-1) > targets
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def make_environment(
    kind: str,
    distribution: str | ArrayLike = "uniform",
    *,
    num_prompts: int = 64,
    rewards: str = "binary",
    seed: int = 0,
    num_answers: int = 4,
    num_correct: int = 1,
    num_features: int = 8,
    vocab: int = 4,
    length: int = 4,
    reward_strength: float = 1.5,
    reward_noise: float = 1.0,
) -> Environment:
    """An environment of ``kind`` whose initial pass rates (of the verifier) follow ``distribution``.

    ``distribution``: a name of :data:`PASS_RATE_DISTRIBUTIONS` (P quantiles of its Beta law) or
    explicit per-prompt pass rates in (0, 1) (then ``num_prompts`` is their count).
    ``rewards="continuous"`` replaces the verifier's 0/1 by :func:`continuous_rewards`.
    bandit / log-linear: ``num_answers`` K, ``num_correct`` correct answers per prompt; log-linear:
    ``num_features`` F; autoregressive: ``vocab`` V <= 4, ``length`` L <= 6, answer token at least
    ceil(L/2) times. Everything random is drawn from ``seed``.
    """
    check_choice("kind", kind, ENVIRONMENT_KINDS)
    check_choice("rewards", rewards, REWARD_KINDS)
    seed = _check_positive_int("seed", seed, 0)
    targets = _targets(distribution, num_prompts)
    P = targets.size
    rng = np.random.default_rng(seed)
    if kind == "autoregressive":
        V = _check_positive_int("vocab", vocab, 2, 4)
        L = _check_positive_int("length", length, 1, 6)
        F = _check_positive_int("num_features", num_features)
        env = AutoregressivePolicy(V, L, rng.standard_normal((P, F)), rng.integers(V, size=P), np.zeros(P),
                                   0.5 * rng.standard_normal((L, V + 1, V)),
                                   0.5 * rng.standard_normal((V, F)) / math.sqrt(F), math.ceil(L / 2))
        env = env.with_offsets(_solve_offsets(env, targets))
        if rewards == "continuous":
            table = continuous_rewards(env.correct, rng, reward_strength, reward_noise)
            env = AutoregressivePolicy(V, L, env.prompt_features, env.answer_tokens, env.offsets, env._theta, env._U,
                                       env.min_count, table)
        return env
    K = _check_positive_int("num_answers", num_answers, 2)
    correct = _random_correct(rng, P, K, num_correct)
    base = rng.standard_normal((P, K))
    table = (correct.astype(np.float64) if rewards == "binary"
             else continuous_rewards(correct, rng, reward_strength, reward_noise))
    if kind == "bandit":
        return SoftmaxBandit(base + correct * correct_offsets(base, correct, targets)[:, None], table, correct)
    F = _check_positive_int("num_features", num_features)
    features = rng.standard_normal((P, K, F)) / math.sqrt(F)
    theta = 0.5 * rng.standard_normal(F)
    logits = features @ theta + base
    offsets = base + correct * correct_offsets(logits, correct, targets)[:, None]
    return LogLinearPolicy(features, offsets, table, theta, correct)
