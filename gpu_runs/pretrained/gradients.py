"""Per-completion policy gradients s_i = grad_theta log pi(o_i | q_i) and the paper's statistics on them.

Parameter subset: the weight matrices of every linear map (attention q, k, v, o and MLP gate, up, down
for a Llama) in the top ``top_layers`` decoder layers; embeddings, norms and the LM head are frozen. The
whole model runs forward, but gradients flow only through the top layers.

Per-completion gradients come from one batched backward (the layers below the subset run without gradient,
once per prompt: see ``share_prompts``): for a linear map Y = X W^T, the gradient of
sum_b log pi(o_b | q_b) with respect to Y is per sequence, and the gradient of sequence b alone with
respect to W is sum_t dY_bt^T X_bt (the log-probs of different sequences share no term). Each (out x in)
gradient is projected to (r_out x r_in) by U^T (.) V with seeded Gaussian U (out x r_out), V (in x r_in),
entries of variance 1/r_out and 1/r_in: E[U U^T] = I, E[V V^T] = I, so inner products, and with them every
trace variance and covariance below, are preserved in expectation (a Kronecker-structured random
projection; ``projection=None`` keeps the exact gradient, for tests on small models). A test checks both
against per-completion autograd on a tiny Llama.

Statistics (traces of covariances, ``Var(x) = E||x - E x||^2``), each a pure function of arrays:

- TT-5 (Prop 4.1, control variate): for pairs (g+, g-), Cov = E<g+ - E g+, g- - E g->, rho = Cov /
  sqrt(Var(g+) Var(g-)); c = 1 reduces Var(g+ - c g-) below Var(g+) iff rho >= (1/2) sqrt(Var(g-)/Var(g+)).
  Two ways of forming the pairs (see :func:`tt_pairs` and :func:`group_pairs`); they are not the same quantity.
- TT-6 (Lemma 5.3, fixed rollout budget B = Q G): tr Cov g_B, SNR = ||E g||^2 / tr Cov g_B, cosine of
  batch updates to a many-rollout reference gradient, and the paper's i.i.d. prediction Var(g_1)/B.
- TT-8: silent groups against E_q[p_q^G + (1 - p_q)^G].
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.special import comb

from gpu_runs.pretrained import chat
from gpu_runs.pretrained.chat import Completions, completion_logprobs
from theory.advantages import group_advantages, silent_groups
from theory.validation import check_group_size

Array = NDArray[np.float64]


# ---------------------------------------------------------------------------------------------------------------
# Per-completion gradients
# ---------------------------------------------------------------------------------------------------------------

def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder's stack of layers: the ModuleList with ``config.num_hidden_layers`` entries."""
    n = int(model.config.num_hidden_layers)
    for module in model.get_decoder().modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"no list of {n} decoder layers found in {type(model).__name__}")


def trainable_linears(model: torch.nn.Module, top_layers: int) -> list[tuple[str, torch.nn.Linear]]:
    """(name, module) of every nn.Linear in the top ``top_layers`` decoder layers, in model order."""
    layers = decoder_layers(model)
    if not 1 <= top_layers <= len(layers):
        raise ValueError(f"top_layers={top_layers} must lie in 1..{len(layers)} (the model's decoder layers)")
    first = len(layers) - top_layers
    return [(f"layers.{first + i}.{name}", m) for i, layer in enumerate(layers[first:])
            for name, m in layer.named_modules() if isinstance(m, torch.nn.Linear)]


@dataclass(frozen=True)
class KroneckerProjection:
    """Per linear map: U (out x r_out) and V (in x r_in), Gaussian with variances 1/r_out and 1/r_in, seeded;
    a weight gradient G (out x in) maps to vec(U^T G V). E <P G1, P G2> = <G1, G2>."""

    left: tuple[torch.Tensor, ...]
    right: tuple[torch.Tensor, ...]

    @classmethod
    def make(cls, linears: Sequence[tuple[str, torch.nn.Linear]], rank: int, seed: int) -> KroneckerProjection:
        """r_out = min(rank, out), r_in = min(rank, in) for every linear map; draws from ``seed``."""
        if rank < 1:
            raise ValueError(f"rank={rank} must be >= 1")
        gen = torch.Generator().manual_seed(seed)
        left, right = [], []
        for _, m in linears:
            r_out, r_in = min(rank, m.out_features), min(rank, m.in_features)
            left.append(torch.randn(m.out_features, r_out, generator=gen) / math.sqrt(r_out))
            right.append(torch.randn(m.in_features, r_in, generator=gen) / math.sqrt(r_in))
        return cls(tuple(left), tuple(right))

    @property
    def dim(self) -> int:
        return sum(u.size(1) * v.size(1) for u, v in zip(self.left, self.right, strict=True))

    def apply(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """Project weight gradients [(N, out, in), ...] to (N, dim)."""
        return torch.cat([torch.einsum("noi,or,is->nrs", g, u, v).flatten(1)
                          for g, u, v in zip(grads, self.left, self.right, strict=True)], dim=1)


@contextlib.contextmanager
def _capture(linears: Sequence[tuple[str, torch.nn.Linear]]) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Unfreeze the weights of ``linears`` and record each call's (input, output) made with gradient; refreeze
    after."""
    records: list[tuple[torch.Tensor, torch.Tensor]] = []
    def record(_m: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if out.requires_grad:  # the passes without gradient (shared prompts) are not recorded
            records.append((inp[0].detach(), out))

    handles = [m.register_forward_hook(record) for _, m in linears]
    for _, m in linears:
        m.weight.requires_grad_(True)
    try:
        yield records
    finally:
        for h in handles:
            h.remove()
        for _, m in linears:
            m.weight.requires_grad_(False)


def per_completion_gradients(model: torch.nn.Module, completions: Completions,
                             linears: Sequence[tuple[str, torch.nn.Linear]],
                             projection: KroneckerProjection | None = None, *, batch_size: int = 16,
                             share_prompts: bool = True) -> Array:
    """s_i = grad log pi(o_i | q_i) on the weights of ``linears`` for every completion, (N, D) float64:
    projected by ``projection`` (D = projection.dim) or exact (D = sum out x in, weights flattened row-major
    in ``linears`` order). Dropout off (the model must be in eval mode).

    ``share_prompts``: the layers below the lowest differentiated one run once per prompt (no gradient flows
    there) and once per completion token with the prompt's cached keys and values; only the top layers run on
    every [prompt | completion] sequence, with gradients. Otherwise every sequence runs through every layer."""
    if model.training:
        raise ValueError("model is in train mode; per-completion gradients are taken with dropout off (eval())")
    first = _lowest_layer(model, linears)
    rows_out: list[torch.Tensor] = []
    order = np.argsort(completions.prompt_index, kind="stable")  # rows of one prompt together
    for start in range(0, len(order), batch_size):
        sel = order[start:start + batch_size]
        part = completions.select(sel)
        with _capture(linears) as records, torch.enable_grad():
            if share_prompts:
                logp = _top_layer_logprobs(model, part, first)
            else:
                logp = completion_logprobs(model, part.prompt_ids, part.prompt_mask, part.completion_ids,
                                           part.completion_mask)
            if len(records) != len(linears):
                raise ValueError(f"{len(records)} calls of {len(linears)} linear maps recorded; each must run once")
            d_out = torch.autograd.grad(logp.sum(), [y for _, y in records])  # dY per map: (b, T, out)
        if projection is None:
            parts = [torch.einsum("bto,bti->boi", dy, x).flatten(1) for (x, _), dy in zip(records, d_out, strict=True)]
        else:
            parts = [torch.einsum("btr,bts->brs", dy @ u, x @ v).flatten(1)
                     for (x, _), dy, u, v in zip(records, d_out, projection.left, projection.right, strict=True)]
        rows_out.append(torch.cat(parts, dim=1))
    out = torch.cat(rows_out).double().numpy()
    result = np.empty_like(out)
    result[order] = out  # back to the completions' order
    return result


def _lowest_layer(model: torch.nn.Module, linears: Sequence[tuple[str, torch.nn.Linear]]) -> int:
    """Index of the lowest decoder layer holding one of ``linears``."""
    layers = decoder_layers(model)
    owned = {id(m): i for i, layer in enumerate(layers) for m in layer.modules()}
    return min(owned[id(m)] for _, m in linears)


@contextlib.contextmanager
def _only_layers(model: torch.nn.Module, first: int) -> Iterator[None]:
    """The decoder runs its layers ``first``.. only (the list attribute swapped, restored after)."""
    decoder, layers = model.get_decoder(), decoder_layers(model)
    name = next(n for n, m in decoder.named_children() if m is layers)
    setattr(decoder, name, torch.nn.ModuleList(list(layers)[first:]))
    try:
        yield
    finally:
        setattr(decoder, name, layers)


def _top_layer_logprobs(model: torch.nn.Module, part: Completions, first: int) -> torch.Tensor:
    """Token log-probs (b, Tc) of ``part`` whose gradient reaches layers ``first``.. only: the input of layer
    ``first`` is computed without gradient (each prompt once, then its completions' tokens with the prompt's
    cache), then layers first.. run on the whole sequences with gradient."""
    decoder = model.get_decoder()
    unique, index = np.unique(part.prompt_index, return_inverse=True)
    lead = [int(np.flatnonzero(part.prompt_index == q)[0]) for q in unique]
    p_ids, p_mask = part.prompt_ids[lead], part.prompt_mask[lead]
    full_mask = torch.cat([part.prompt_mask, part.completion_mask], dim=1)
    positions = chat.positions_of(full_mask)
    Tp = p_ids.size(1)
    with torch.no_grad():
        prompt_out = decoder(input_ids=p_ids, attention_mask=p_mask, position_ids=positions[lead, :Tp],
                             use_cache=True, output_hidden_states=True)
        cache = prompt_out.cache
        cache.batch_select_indices(torch.as_tensor(index))  # one copy of its prompt's keys/values per completion
        comp_out = decoder(input_ids=part.completion_ids, attention_mask=full_mask, position_ids=positions[:, Tp:],
                           cache=cache, use_cache=True, output_hidden_states=True)
        inputs = torch.cat([prompt_out.hidden_states[first][torch.as_tensor(index)], comp_out.hidden_states[first]],
                           dim=1)  # (b, Tp + Tc, H): the input of layer `first`
    with _only_layers(model, first):
        hidden = decoder(inputs_embeds=inputs, attention_mask=full_mask, position_ids=positions,
                         use_cache=False).last_hidden_state
    return chat.logprobs_from_hidden(model, hidden, part.completion_ids, part.completion_mask)


# ---------------------------------------------------------------------------------------------------------------
# Trace moments with prompts as the sampling unit (the bootstrap resamples prompts by integer counts)
# ---------------------------------------------------------------------------------------------------------------

def mean_product(means_gram: Array, counts: Array) -> float:
    """Unbiased <E x, E y> from prompt means: the average of <xbar_q, ybar_q'> over ordered pairs of draws of
    *different* prompts, prompt q drawn ``counts[q]`` times: (c^T M c - sum_q c_q^2 M_qq) / (n^2 - sum_q c_q^2),
    ``M[q, q'] = <xbar_q, ybar_q'>``. With every count 1 it is the U-statistic sum_{q != q'} M_qq' / (P (P - 1)),
    unbiased because prompts are independent (rows of one prompt may be correlated: its groups share its pass
    rate); leaving out pairs of one prompt also keeps bootstrap replicates centred on it (pairs of a prompt's
    duplicates would add ||xbar_q||^2, noise included)."""
    c = np.asarray(counts, dtype=np.float64)
    pairs = float(c.sum() ** 2 - c @ c)
    if pairs <= 0:
        return math.nan
    return float((c @ means_gram @ c - (c * c) @ np.diag(means_gram)) / pairs)


def control_variate(var_pos: float, var_neg: float, cov: float) -> dict[str, float]:
    """rho = Cov / sqrt(Var+ Var-), the c = 1 threshold (1/2) sqrt(Var-/Var+), c* = Cov/Var-, the upper end
    2 Cov/Var- of the variance-reducing range of c, and Var(g+ - g-)/Var(g+) (TT Prop 4.1)."""
    root = math.sqrt(var_pos * var_neg) if var_pos > 0 and var_neg > 0 else math.nan
    return {"var_pos": var_pos, "var_neg": var_neg, "cov": cov, "rho": cov / root if root else math.nan,
            "threshold": 0.5 * math.sqrt(var_neg / var_pos) if var_pos > 0 and var_neg >= 0 else math.nan,
            "c_star": cov / var_neg if var_neg > 0 else math.nan,
            "c_upper": 2 * cov / var_neg if var_neg > 0 else math.nan,
            "ratio_c1": (var_pos - 2 * cov + var_neg) / var_pos if var_pos > 0 else math.nan}


class PairSet:
    """Rows of paired vectors ``pos`` (n, D) and ``neg`` (n, D) and the prompt of each row. Rows of a prompt are
    contiguous and every prompt has the same number of rows (one per prompt for TT's pairs, K/G for groups).

    Trace moments are E<x, y> (mean over rows) minus the unbiased <E x, E y> of :func:`mean_product`; every
    statistic reads Gram matrices computed once, so a bootstrap replicate or a permutation costs O(n + P^2)."""

    def __init__(self, pos: Array, neg: Array, prompt: NDArray[np.int64]) -> None:
        if pos.shape != neg.shape or pos.shape[0] != len(prompt):
            raise ValueError(f"pos {pos.shape}, neg {neg.shape} and prompt ({len(prompt)},) must have one row per pair")
        self.pos, self.neg, self.prompt = pos, neg, np.asarray(prompt, dtype=np.int64)
        self.prompts, per = np.unique(self.prompt, return_counts=True)
        if len(self.prompt) and (np.any(per != per[0]) or np.any(np.diff(self.prompt) < 0)):
            raise ValueError("rows must be grouped by prompt (sorted) with the same number of rows per prompt")
        self.rows_per_prompt = int(per[0]) if len(per) else 0
        self.local = np.searchsorted(self.prompts, self.prompt)  # (n,) prompt of each row, 0..P'-1
        D = pos.shape[1]
        mp = pos.reshape(len(self.prompts), self.rows_per_prompt, D).mean(axis=1) if len(per) else pos
        mn = neg.reshape(len(self.prompts), self.rows_per_prompt, D).mean(axis=1) if len(per) else neg
        self._cross_rows = pos @ neg.T  # (n, n): <x_a, y_b>, for any pairing
        self._pp_rows, self._nn_rows = np.einsum("nd,nd->n", pos, pos), np.einsum("nd,nd->n", neg, neg)
        self._mpp, self._mnn, self._mpn = mp @ mp.T, mn @ mn.T, mp @ mn.T

    def __len__(self) -> int:
        return len(self.prompt)

    def pairing_rows(self, prompt_perm: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row (q, j) -> row (prompt_perm[q], j): the j-th row of prompt q paired with the j-th of another."""
        within = np.arange(len(self.prompt)) - self.local * self.rows_per_prompt
        return prompt_perm[self.local] * self.rows_per_prompt + within

    def statistics(self, counts: Array | None = None, prompt_perm: NDArray[np.int64] | None = None) -> dict[str, float]:
        """:func:`control_variate` of the pairs; ``counts`` (indexed by global prompt id): bootstrap multiplicities;
        ``prompt_perm`` (over this set's prompts): each g+ paired with the g- of prompt prompt_perm[q]."""
        c = np.ones(len(self.prompts)) if counts is None else np.asarray(counts, dtype=np.float64)[self.prompts]
        w = c[self.local]
        W = float(w.sum())
        if W == 0 or len(self.prompts) < 2:
            return control_variate(math.nan, math.nan, math.nan)
        perm = np.arange(len(self.prompts)) if prompt_perm is None else prompt_perm
        rows = self.pairing_rows(perm)
        cross = float(w @ self._cross_rows[np.arange(len(rows)), rows]) / W
        var_pos = float(w @ self._pp_rows) / W - mean_product(self._mpp, c)
        var_neg = float(w @ self._nn_rows[rows]) / W - mean_product(self._mnn[np.ix_(perm, perm)], c)
        cov = cross - mean_product(self._mpn[:, perm], c)
        return control_variate(var_pos, var_neg, cov)


def tt_pairs(scores: Array, rewards: Array, prompt_index: NDArray[np.int64], responses: int) -> PairSet:
    """TT's pairs (v3 App. B.8, Table 2): per prompt, its first ``responses`` completions; g+_q the mean score
    of the correct ones, g-_q the mean score of the wrong ones, for each prompt with both. The covariance of
    this set is *between prompts*: one (g+_q, g-_q) pair per prompt."""
    pos, neg, prompts = [], [], []
    for q in np.unique(prompt_index):
        rows = np.flatnonzero(prompt_index == q)[:responses]
        r = rewards[rows]
        if 0 < r.sum() < len(rows):
            pos.append(scores[rows[r > 0.5]].mean(axis=0))
            neg.append(scores[rows[r <= 0.5]].mean(axis=0))
            prompts.append(q)
    D = scores.shape[1]
    return PairSet(np.array(pos).reshape(-1, D), np.array(neg).reshape(-1, D), np.array(prompts, dtype=np.int64))


def grouped_rows(prompt_index: NDArray[np.int64], group_size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Disjoint groups (n_groups, G) of completion rows: each prompt's completions in a seeded random order,
    cut into consecutive groups of G (a remainder is left out); prompt by prompt."""
    G = check_group_size("group_size", group_size)
    groups = []
    for q in np.unique(prompt_index):
        rows = rng.permutation(np.flatnonzero(prompt_index == q))
        m = len(rows) // G
        groups.append(rows[: m * G].reshape(m, G))
    return np.concatenate(groups).astype(np.int64)


def group_updates(scores: Array, rewards: Array, groups: NDArray[np.int64], *, std: str = "sample",
                  eps: float = 1e-6) -> tuple[Array, Array, Array, Array]:
    """For each group j (rows ``groups[j]``) with GRPO advantages A (``theory.advantages``, ``std``, ``eps``):
    the update u_j = (1/G) sum_i A_i s_i, its split g+_j = (1/G) sum_{A_i>0} A_i s_i and g-_j = (1/G)
    sum_{A_i<0} |A_i| s_i (u = g+ - g-), and (1/G) sum_i ||A_i s_i||^2 (for the per-rollout variance)."""
    G = groups.shape[1]
    A = group_advantages(rewards[groups], "grpo", std=std, eps=eps)  # (n, G)
    s = scores[groups]  # (n, G, D)
    pos = np.einsum("ng,ngd->nd", np.where(A > 0, A, 0.0), s) / G
    neg = np.einsum("ng,ngd->nd", np.where(A < 0, -A, 0.0), s) / G
    sq = np.einsum("ng,ngd,ngd->n", A * A, s, s) / G
    return pos - neg, pos, neg, sq


def group_pairs(scores: Array, rewards: Array, prompt_index: NDArray[np.int64], group_size: int,
                rng: np.random.Generator) -> PairSet:
    """The project's pairs (``simulations.studies.tt5_control_variate``): one row per group of G completions,
    g+ and g- the advantage-weighted positive and negative parts of the group's update (silent groups give
    zeros). Over prompts and groups, so the covariance mixes between- and within-prompt parts."""
    groups = grouped_rows(prompt_index, group_size, rng)
    _, pos, neg, _ = group_updates(scores, rewards, groups)
    return PairSet(pos, neg, prompt_index[groups[:, 0]])


def derangement(n: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """A uniformly random permutation of range(n) with no fixed point (n >= 2), by rejection."""
    if n < 2:
        raise ValueError(f"n={n} must be >= 2 for a permutation without fixed points")
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def permutation_control(pairs: PairSet, permutations: int, rng: np.random.Generator) -> dict[str, Array]:
    """rho and Cov of the pairs with every g+ paired to the g- of another prompt (a random derangement of the
    prompts), ``permutations`` times: TT's 'randomly permuted positive-negative pairs'."""
    draws = [pairs.statistics(prompt_perm=derangement(len(pairs.prompts), rng)) for _ in range(permutations)]
    return {key: np.array([d[key] for d in draws]) for key in ("rho", "cov")}


def bootstrap_interval(point: float, replicates: Array, level: float = 0.95) -> tuple[float, float]:
    """Bias-corrected percentile interval (Efron's BC) of a bootstrap: the percentiles Phi(2 z0 +- z) of the
    replicates, z0 = Phi^-1(share of replicates below ``point``); the plain percentile interval when the
    replicates are centred on ``point`` (NaN replicates ignored; NaN bounds when none is finite)."""
    from scipy.stats import norm

    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0 or not math.isfinite(point):
        return math.nan, math.nan
    below = (np.sum(finite < point) + 0.5 * np.sum(finite == point)) / finite.size
    z0 = float(norm.ppf(min(max(below, 0.5 / finite.size), 1 - 0.5 / finite.size)))
    z = float(norm.ppf((1 + level) / 2))
    lo, hi = np.quantile(finite, [norm.cdf(2 * z0 - z), norm.cdf(2 * z0 + z)])
    return float(lo), float(hi)


# ---------------------------------------------------------------------------------------------------------------
# TT-6: the batch update at a fixed rollout budget
# ---------------------------------------------------------------------------------------------------------------

def reference_contributions(scores: Array, rewards: Array, prompt_index: NDArray[np.int64]) -> Array:
    """c_i = (r_i - mean_{j != i, same prompt} r_j) s_i: the leave-one-out (RLOO) terms whose mean over
    completions, prompts weighted equally, is an unbiased estimate of grad_theta E_q[p_q] (the true gradient
    of the mean pass rate; E[s] = 0 makes any baseline independent of o_i unbiased)."""
    out = np.zeros_like(scores)
    for q in np.unique(prompt_index):
        rows = np.flatnonzero(prompt_index == q)
        k = len(rows)
        if k < 2:
            continue
        r = rewards[rows]
        baseline = (r.sum() - r) / (k - 1)
        out[rows] = (r - baseline)[:, None] * scores[rows]
    return out


@dataclass(frozen=True)
class BudgetStatistics:
    """TT-6 statistics of G-GRPO batches of B = Q G rollouts (Q i.i.d. prompts, G rollouts each), from the groups
    of a pool: ``trace_cov`` = tr Cov g_B = tr Var(u)/Q (u one group's update), ``mean_norm_sq`` = ||E u||^2
    (unbiased, :func:`mean_product`), ``snr`` = ||E u||^2 / tr Cov g_B, ``rollout_variance`` = tr Var(A_1 s_1) =
    E (1/G) sum_i ||A_i s_i||^2 - ||E u||^2, ``iid_ratio`` = tr Cov g_B / (rollout_variance / B) (1 if the B
    rollouts were i.i.d., TT Lemma 5.3), ``silent_fraction`` of groups."""

    group_size: int
    budget: int
    trace_cov: float
    mean_norm_sq: float
    snr: float
    rollout_variance: float
    iid_ratio: float
    silent_fraction: float


class GroupSet:
    """The groups of one G over a pool: updates u_j (n, D), (1/G) sum_i ||A_i s_i||^2 (n,), silence (n,) and the
    prompt of each group (sorted, the same number of groups per prompt). Gram matrices are computed once."""

    def __init__(self, updates: Array, sq: Array, silent: NDArray[np.bool_], prompt: NDArray[np.int64],
                 group_size: int) -> None:
        self.group_size = check_group_size("group_size", group_size)
        self.prompt = np.asarray(prompt, dtype=np.int64)
        self.prompts, per = np.unique(self.prompt, return_counts=True)
        if np.any(per != per[0]) or np.any(np.diff(self.prompt) < 0):
            raise ValueError("groups must be sorted by prompt with the same number of groups per prompt")
        self.local = np.searchsorted(self.prompts, self.prompt)
        means = updates.reshape(len(self.prompts), int(per[0]), -1).mean(axis=1)
        self._means_gram = means @ means.T
        self._norms = np.einsum("nd,nd->n", updates, updates)
        self.sq, self.silent = sq, silent.astype(np.float64)

    def statistics(self, budget: int, counts: Array | None = None) -> BudgetStatistics:
        """:class:`BudgetStatistics` at rollout budget ``budget`` (a multiple of G); ``counts`` (by global prompt
        id): bootstrap multiplicities of the prompts."""
        G = self.group_size
        if budget % G or budget < G:
            raise ValueError(f"budget={budget} must be a positive multiple of group_size={G}")
        c = np.ones(len(self.prompts)) if counts is None else np.asarray(counts, dtype=np.float64)[self.prompts]
        w = c[self.local]
        W = float(w.sum())
        mean_sq = mean_product(self._means_gram, c)
        trace = (float(w @ self._norms) / W - mean_sq) / (budget // G)
        rollout_var = float(w @ self.sq) / W - mean_sq
        return BudgetStatistics(G, budget, trace, mean_sq, mean_sq / trace if trace > 0 else math.nan, rollout_var,
                                trace / (rollout_var / budget) if rollout_var > 0 else math.nan,
                                float(w @ self.silent) / W)


def batch_cosines(scores: Array, rewards: Array, prompt_index: NDArray[np.int64], group_size: int, budget: int,
                  rng: np.random.Generator, contributions: Array | None = None) -> Array:
    """cos(g_b, ref_-b) for disjoint batches b of Q = B/G groups from Q distinct prompts, each completion in at
    most one batch; ref_-b is the mean RLOO contribution (:func:`reference_contributions`) of every completion
    outside batch b, so a batch is never compared with itself."""
    G = check_group_size("group_size", group_size)
    Q = budget // G
    groups = grouped_rows(prompt_index, G, rng)
    updates, _, _, _ = group_updates(scores, rewards, groups)
    contrib = reference_contributions(scores, rewards, prompt_index) if contributions is None else contributions
    total, N = contrib.sum(axis=0), len(contrib)
    by_prompt: dict[int, list[int]] = {}
    for j, q in enumerate(prompt_index[groups[:, 0]]):
        by_prompt.setdefault(int(q), []).append(j)
    prompts = np.array(sorted(by_prompt))
    if len(prompts) < Q:
        raise ValueError(f"budget={budget} with group_size={G} needs {Q} prompts per batch; the pool has "
                         f"{len(prompts)}")
    cosines = []
    for rnd in range(min(len(v) for v in by_prompt.values())):
        order = rng.permutation(prompts)
        for start in range(0, len(order) - Q + 1, Q):
            rows = [by_prompt[int(q)][rnd] for q in order[start:start + Q]]
            g = updates[rows].mean(axis=0)
            members = groups[rows].ravel()
            ref = (total - contrib[members].sum(axis=0)) / (N - len(members))
            denom = np.linalg.norm(g) * np.linalg.norm(ref)
            cosines.append(float(g @ ref / denom) if denom > 0 else 0.0)
    return np.array(cosines)


# ---------------------------------------------------------------------------------------------------------------
# TT-8: silent groups
# ---------------------------------------------------------------------------------------------------------------

def silent_probability_unbiased(successes: NDArray[np.int64], samples: int, group_size: int) -> Array:
    """Unbiased estimate of p^G + (1-p)^G per prompt from s successes in k samples (k >= G): the chance that a
    random G-subset of the k samples is all correct or all wrong, [C(s, G) + C(k-s, G)] / C(k, G)."""
    G = check_group_size("group_size", group_size)
    if samples < G:
        raise ValueError(f"samples={samples} must be >= group_size={G} for the unbiased estimate")
    s = np.asarray(successes)
    return (comb(s, G) + comb(samples - s, G)) / comb(samples, G)


def measured_silent(rewards: Array, groups: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each group (rows ``groups``) has all rewards equal."""
    return silent_groups(rewards[groups])
