"""GRPOVI's reward adjustment (VI-1, VI-2): the variance-maximising rewards of one prompt's group.

For a group with rewards r (the last axis), weights p_i = pi_ref(o_i | q) renormalised over the group
and reward range [lo, hi], VI solves

    maximise sum_i p_i z_i^2   s.t.  lo <= z_i <= hi,  sum_i p_i z_i = sum_i p_i r_i,  z ordered as r.

Write y = (z - lo) / (hi - lo) in [0, 1] and tau = sum_i p_i (r_i - lo) / (hi - lo). Every extreme point
of the feasible set is hi on a prefix of the descending order, one common value on a middle block and
lo on the rest; the optimum (VI-2) gives hi to the top responses while their cumulative weight stays
<= tau, the fractional y that keeps the mean to the next one, and lo to the rest. Rewards already in
{lo, hi} come back unchanged (VI-4).

Ties. VI sorts r descending and asks z_i >= z_{i+1}, so equal rewards may receive different z:

- ``ties="split"`` is that model, with equal rewards ordered by their position in the input (earlier
  first). It gives a group GRPO would silence a spurious signal: all rewards 0.5, uniform p, n = 4,
  [lo, hi] = [0, 1] becomes (1, 1, 0, 0), whose GRPO advantages are +-0.866 (sample std) instead of 0.
- ``ties="keep"`` asks z_i = z_j whenever r_i = r_j (exact equality): each tie is one block of summed
  weight, and the same greedy runs over blocks. An all-equal group comes back unchanged.

:func:`adjust_rewards` is the O(n log n) solver, vectorised over groups (and expected O(n) for one large
group); :func:`adjust_rewards_reference` is VI's O(n^2) enumeration of extreme points, with the
feasibility check it lacks (a middle value outside [lo, hi] is not a point of the feasible set), kept as
the slow reference of the benchmark.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from theory.validation import check_choice, check_finite_array, check_real

TIES = ("split", "keep")
BUCKET_MIN_N = 1 << 12
"""A single group at least this large locates its fractional block by buckets, not by a full sort."""
BUCKETS, BUCKET_LEVELS, BUCKET_SORT = 1 << 16, 4, 1 << 10
"""Buckets per level at most (about a tenth of the candidates, a power of 2), levels at most, and the
candidate count under which the rest is sorted; worst case a sort of the last candidates, O(n log n)."""
LANDING_ULPS = 4.0
"""The rounding of a group's masses, in units of eps * log2(n) * (mass freed + mass spent + tie weight): a
fractional mass that close to 0 or to its block's weight lands exactly on lo or hi (the one-pass greedy
otherwise returns lo + 1e-17 or hi - 1e-16 there), and a response lighter than it is weightless."""


def check_reward_range(lo: float, hi: float, name: str | None = None) -> tuple[float, float]:
    """Finite lo < hi whose width hi - lo is finite too (the solver divides by it); errors name ``lo`` and
    ``hi``, or ``name`` when the range is one argument (``reward_range``)."""
    try:
        lo, hi = check_real("lo", lo), check_real("hi", hi)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}" if name else str(exc)) from None
    if not (lo < hi and np.isfinite(hi - lo)):
        given = f"{name}=({lo!r}, {hi!r})" if name else f"lo={lo!r}, hi={hi!r}"
        raise ValueError(f"{given}: the reward range must have lo < hi and a finite width hi - lo")
    return lo, hi


def _check_rewards(rewards: ArrayLike, lo: float, hi: float) -> NDArray[np.float64]:
    r = check_finite_array("rewards", rewards, min_last_axis=1).astype(np.float64, copy=False)
    if r.size and (r.min() < lo or r.max() > hi):
        bad = float(r[(r < lo) | (r > hi)].ravel()[0])
        raise ValueError(f"rewards contains {bad!r}; every reward must lie in [lo, hi] = [{lo}, {hi}]")
    return r


def group_weights(
    shape: tuple[int, ...], probs: ArrayLike | None, log_probs: ArrayLike | None
) -> NDArray[np.float64] | None:
    """p_i = probs_i / sum_j probs_j, or softmax(log_probs) over the group (in log space), per group.

    Returns None for uniform weights (neither given). Raises ``ValueError`` for both given, a shape
    other than ``shape``, NaN or infinities, negative probabilities or a group whose probabilities are
    all zero.
    """
    if probs is not None and log_probs is not None:
        raise ValueError("probs and log_probs were both given; pass at most one of them")
    name, value = ("probs", probs) if probs is not None else ("log_probs", log_probs)
    if value is None:
        return None
    array = check_finite_array(name, value).astype(np.float64, copy=False)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}; it must have the shape of rewards, {shape}")
    if array.size == 0:
        return array
    if name == "log_probs":
        weights = np.exp(array - array.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        return weights
    if array.min() < 0:
        raise ValueError(f"probs contains {float(array[array < 0].ravel()[0])!r}; probabilities must be >= 0")
    total = array.sum(axis=-1, keepdims=True)
    if (total == 0).any():
        group = tuple(int(i) for i in np.argwhere(total[..., 0] == 0)[0])
        raise ValueError(f"probs of group {group} are all 0; each group needs a positive total weight")
    if not np.all((total >= np.finfo(np.float64).tiny) & (total < np.inf)):  # rescale before normalising
        array = array / array.max(axis=-1, keepdims=True)
        total = array.sum(axis=-1, keepdims=True)
    return array / total


def adjust_rewards(
    rewards: ArrayLike,
    probs: ArrayLike | None = None,
    *,
    lo: float,
    hi: float,
    ties: str = "split",
    log_probs: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """z = argmax sum p z^2 s.t. lo <= z <= hi, sum p z = sum p r, z ordered as r (VI-1), per group.

    ``rewards`` (..., n): the last axis is one prompt's group. Weights from ``probs`` (renormalised over
    the group) or ``log_probs`` (softmax in log space; real sequence log-probs differ by tens of nats),
    uniform if neither; same shape as ``rewards``. ``ties``: ``split`` (VI's weak order, equal rewards
    ordered by input position) or ``keep`` (equal rewards stay equal); see the module docstring.
    Returns float64 adjusted rewards in the input order.

    O(n log n) per group, vectorised over groups: one argsort along the last axis and the running sum
    of the sorted weights locate the reward t of the fractional block (the VI-2 greedy; a single group
    of n >= ``BUCKET_MIN_N`` finds it by bucket selection instead, expected O(n)); then r > t
    gets hi, r < t gets lo and the responses with r = t, in input order, take hi, the fractional value
    and lo (``split``) or all take the fractional value (``keep``). The fractional mass comes from the
    mass freed below t and spent above it (pairwise sums of nonnegative terms: relative precision, so a
    light response keeps its digits), not from the running sum, and is snapped to exactly lo or hi
    within ``LANDING_ULPS``.

    A weight-0 response changes neither the objective nor the mean, so any value its neighbours allow
    is optimal; it gets the allowed value nearest its own reward, and so does a response whose weight is
    below the rounding of the masses (a sequence some 35 nats less likely than its peers). Rewards in
    {lo, hi} thus stay a fixed point (VI-4) bit for bit, and a second pass changes nothing, whatever the
    weights.
    """
    check_choice("ties", ties, TIES)
    lo, hi = check_reward_range(lo, hi)
    r = _check_rewards(rewards, lo, hi)
    weights = group_weights(r.shape, probs, log_probs)
    shape, n = r.shape, r.shape[-1]
    if r.size == 0:
        return np.empty(shape)
    r = r.reshape(-1, n)  # (B, n)
    B = r.shape[0]
    w = None if weights is None else weights.reshape(-1, n)
    rows = np.arange(B)

    y = r - lo
    y /= hi - lo  # (B, n), y = (r - lo) / (hi - lo) in [0, 1]
    if w is None:
        w_y, w_1my = y, 1.0 - y  # uniform weights: the sums below are divided by n
    else:
        w_y = y * w
        w_1my = np.subtract(w, w_y, out=y)  # w (1 - y)
    tau = w_y.sum(axis=-1) / (n if w is None else 1.0)  # (B,) the mass at hi, in y
    # The response where the running weight from the top first passes tau (VI-2), or equivalently from
    # the bottom passes 1 - tau: run it from the side with less mass, where the running sum is exact to
    # its own size. One large group: buckets, expected O(n); a batch: one argsort along the last axis.
    top = tau < 0.5  # (B,) rank -r from the top
    mass = np.where(top, tau, 1.0 - tau)
    if B == 1 and n >= BUCKET_MIN_N:
        first = np.array([_crossing_by_buckets(-r[0] if top[0] else r[0], None if w is None else w[0], mass[0])])
    else:
        first = _crossing_by_sorting(r * np.where(top, -1.0, 1.0)[:, None], w, mass)
    t = r[rows, first]  # (B,) the reward of the fractional block
    above = r > t[:, None]
    # Moving r < t down to lo frees sum w y; moving r > t up to hi costs sum w (1 - y); both are sums of
    # nonnegative terms, so their difference (the mass the tie must carry) keeps a relative precision.
    freed = np.multiply(w_y, r < t[:, None], out=w_y).sum(axis=-1)
    cost = np.multiply(w_1my, above, out=w_1my).sum(axis=-1)
    if w is None:
        freed, cost = freed / n, cost / n
    z = np.array([lo, hi]).take(above.view(np.int8))  # hi above t, lo below; the tie is set next

    ulps = LANDING_ULPS * np.finfo(np.float64).eps * max(1.0, np.log2(n))
    y_t = (t - lo) / (hi - lo)
    # The tie r = t: one response in most rows (one column), the whole row where it holds several.
    tie = r == t[:, None]
    counts = np.count_nonzero(tie, axis=-1)
    whole = counts == n if ties == "keep" else np.full(B, n == 1)  # one block is the group: z = r
    landing = np.empty(B)  # (B,) the rounding scale of each row's masses
    one, many = np.flatnonzero(counts == 1), np.flatnonzero(counts > 1)
    if one.size:
        member_w = np.full((one.size, 1), 1.0 / n) if w is None else w[one, first[one]][:, None]
        values, landing[one] = _resolve_tie(np.ones((one.size, 1), dtype=bool), member_w, y_t[one],
                                            freed[one] - cost[one], freed[one] + cost[one], lo, hi, ties, ulps)
        z[one, first[one]] = np.where(whole[one], t[one], values[:, 0])
    if many.size:
        tie_many = tie[many]
        member_w = tie_many / n if w is None else w[many] * tie_many
        values, landing[many] = _resolve_tie(tie_many, member_w, y_t[many], freed[many] - cost[many],
                                             freed[many] + cost[many], lo, hi, ties, ulps)
        values = np.where(whole[many, None], t[many, None], values)
        z[many] = np.where(tie_many, values, z[many])
    if w is not None:
        weightless = w <= landing[:, None]
        light = np.flatnonzero(weightless.any(axis=-1))
        if light.size:
            z[light] = _place_weightless(z[light], r[light], ~weightless[light], lo, hi, ties)
    return z.reshape(shape)


def _crossing_by_sorting(
    keys: NDArray[np.float64], w: NDArray[np.float64] | None, mass: NDArray[np.float64]
) -> NDArray[np.intp]:
    """Per row of keys (B, n), the column where the running weight in ascending order of the key first
    exceeds ``mass`` (B,) (the last one if it never does): one argsort along the last axis and a cumsum."""
    B, n = keys.shape
    order = np.argsort(keys, axis=-1)  # (B, n); ties in no particular order
    if w is None:
        k = np.floor(mass * n).astype(np.intp)  # running weight (i + 1) / n <= mass for i < k
    else:
        cumulative = np.take(w.ravel(), order if B == 1 else order + (np.arange(B) * n)[:, None])
        np.cumsum(cumulative, axis=-1, out=cumulative)  # (B, n) weights in ascending order of key, summed
        k = np.count_nonzero(cumulative <= mass[:, None], axis=-1)
    return order[np.arange(B), np.clip(k, 0, n - 1)]


def _crossing_by_buckets(keys: NDArray[np.float64], w: NDArray[np.float64] | None, mass: float) -> int:
    """The same index for one group's keys (n,) in expected O(n): bucket the candidates by value
    (``BUCKETS`` equal-width buckets over their range, an order-preserving map), keep the bucket where
    the running weight passes ``mass``, repeat up to ``BUCKET_LEVELS`` times, sort what is left."""
    n = keys.size
    index, values, weights = None, keys, w  # the candidates (None: all), their keys and weights
    below = 0.0  # weight of the responses under the candidates
    for _ in range(BUCKET_LEVELS):
        if values.size <= BUCKET_SORT:
            break
        low, high = values.min(), values.max()
        if low == high:  # one tie: any member
            return 0 if index is None else int(index[0])
        buckets = min(BUCKETS, 1 << max(4, int(np.log2(values.size)) - 3))
        scaled = values - low
        scaled *= buckets / (high - low)
        bucket = np.minimum(scaled.astype(np.intp), buckets - 1)  # nondecreasing in the key
        cumulative = np.cumsum(np.bincount(bucket, weights=weights, minlength=buckets))
        cumulative = below + (cumulative / n if w is None else cumulative)
        j = min(int(np.count_nonzero(cumulative <= mass)), buckets - 1)  # the top bucket holds the max
        below = float(cumulative[j - 1]) if j else below
        keep = np.flatnonzero(bucket == j)
        index, values = keep if index is None else index[keep], values[keep]
        weights = None if w is None else weights[keep]
    order = np.argsort(values)
    running = below + np.cumsum(np.full(order.size, 1.0 / n) if w is None else weights[order])
    k = int(order[min(int(np.count_nonzero(running <= mass)), order.size - 1)])
    return k if index is None else int(index[k])


def _resolve_tie(
    tie: NDArray[np.bool_], member_w: NDArray[np.float64], y_t: NDArray[np.float64], surplus: NDArray[np.float64],
    magnitude: NDArray[np.float64], lo: float, hi: float, ties: str, ulps: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Adjusted rewards (b, L) of the fractional tie, given per row its columns in input order, and the
    rounding scale (b,) of the row's masses.

    ``tie`` marks the members, ``member_w`` their weights (0 elsewhere), ``y_t`` = (t - lo) / (hi - lo)
    for their reward t; ``surplus`` is the mass freed below the tie minus the mass spent above it and
    ``magnitude`` their sum. The tie carries E = surplus + y_t W_tie above lo. ``keep``: every member takes
    lo + (hi - lo) E / W_tie; ``split``: members take hi while their running weight stays <= E, the next
    takes the rest of E, the others lo. A fractional mass within ``ulps * (magnitude + W_tie)`` (the
    returned scale) of 0 or of its weight lands exactly on lo or hi.
    """
    w_tie = member_w.sum(axis=-1)
    carried = surplus + y_t * w_tie  # (b,) E
    landing = ulps * (magnitude + w_tie)
    if ties == "keep":
        done = np.zeros_like(tie)
        frac = tie
    else:
        done = tie & (np.cumsum(member_w, axis=-1) <= carried[:, None])  # a prefix of the tie
        n_done = np.count_nonzero(done, axis=-1)
        frac = tie & (np.cumsum(tie, axis=-1) == n_done[:, None] + 1)
    w_frac = (member_w * frac).sum(axis=-1)
    excess = carried - (member_w * done).sum(axis=-1)  # mass of the fractional response or block above lo
    y_frac = np.clip(excess / np.where(w_frac > 0, w_frac, 1.0), 0.0, 1.0)
    y_frac = np.where(excess <= landing, 0.0, np.where(w_frac - excess <= landing, 1.0, y_frac))
    z_frac = np.clip(lo * (1.0 - y_frac) + hi * y_frac, lo, hi)  # exactly lo and hi at y = 0 and 1
    return np.where(done, hi, np.where(frac, z_frac[:, None], lo)), landing


def _place_weightless(
    z: NDArray[np.float64], r: NDArray[np.float64], visible: NDArray[np.bool_], lo: float, hi: float, ties: str
) -> NDArray[np.float64]:
    """Weightless responses (b, n) take the value nearest their own reward that the order allows:
    clip(r, z of the next visible response in the order, z of the previous one). In ``keep`` mode only
    ties with no visible member move (the others share their tie's value already). This choice among
    the optimal points makes {lo, hi} a fixed point and the adjustment idempotent whatever the weights."""
    n = z.shape[-1]
    order = np.argsort(-r, axis=-1, kind="stable")  # the split order: r descending, then input position
    r_s, z_s, visible_s = (np.take_along_axis(a, order, axis=-1) for a in (r, z, visible))
    slot = np.arange(n)
    previous = np.maximum.accumulate(np.where(visible_s, slot, -1), axis=-1)  # (b, n)
    following = np.minimum.accumulate(np.where(visible_s, slot, n)[:, ::-1], axis=-1)[:, ::-1]
    upper = np.where(previous >= 0, np.take_along_axis(z_s, np.maximum(previous, 0), axis=-1), hi)
    lower = np.where(following < n, np.take_along_axis(z_s, np.minimum(following, n - 1), axis=-1), lo)
    free = ~visible_s
    if ties == "keep":  # a tie with a visible member: previous or following visible inside the tie
        starts = np.concatenate([np.ones_like(r_s[:, :1], dtype=bool), r_s[:, 1:] != r_s[:, :-1]], axis=-1)
        ends = np.concatenate([r_s[:, 1:] != r_s[:, :-1], np.ones_like(r_s[:, :1], dtype=bool)], axis=-1)
        block_start = np.maximum.accumulate(np.where(starts, slot, 0), axis=-1)
        block_end = np.minimum.accumulate(np.where(ends, slot, n - 1)[:, ::-1], axis=-1)[:, ::-1]
        free &= (previous < block_start) & (following > block_end)
    placed = np.where(free, np.clip(r_s, lower, upper), z_s)
    out = np.empty_like(z)
    np.put_along_axis(out, order, placed, axis=-1)
    return out


def adjust_rewards_reference(
    rewards: ArrayLike, probs: ArrayLike | None = None, *, lo: float, hi: float, ties: str = "split",
    log_probs: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """The same argmax for one group (n,), by VI's O(n^2) enumeration of the extreme points.

    Sort r descending (ties by input position); for every prefix a and block end b > a (at tie
    boundaries only when ``ties="keep"``) the point hi on [0, a), c on [a, b), lo on [b, n) with c fixed
    by the mean; c outside [lo, hi] is skipped (the feasibility check VI's enumeration lacks); the point
    of largest sum p z^2 (compared as the variance) wins. One Python loop over a, vectorised over b: the
    slow reference of ``grpo-verify bench grpovi``, not for training.
    """
    check_choice("ties", ties, TIES)
    lo, hi = check_reward_range(lo, hi)
    r = _check_rewards(rewards, lo, hi)
    if r.ndim != 1:
        raise ValueError(f"rewards has shape {r.shape}; it must be one group, shape (n,) (the reference solves one)")
    n = r.shape[0]
    weights = group_weights(r.shape, probs, log_probs)
    w = np.full(n, 1.0 / n) if weights is None else weights
    order = np.argsort(-r, kind="stable")
    y = (r[order] - lo) / (hi - lo)
    p = w[order]
    tau = float(p @ y)
    prefix = np.concatenate([[0.0], np.cumsum(p)])  # prefix[i] = weight of the top i
    cuts = np.arange(n + 1)
    if ties == "keep":
        cuts = cuts[np.concatenate([[True], r[order][1:] != r[order][:-1], [True]])]
    best, best_point = -np.inf, (0, n, tau)
    for i, a in enumerate(cuts[:-1]):
        b = cuts[i + 1:]
        mass = prefix[b] - prefix[a]
        c = (tau - prefix[a]) / np.where(mass > 0, mass, 1.0)
        slack = 1e-12 + 8 * np.finfo(np.float64).eps / np.where(mass > 0, mass, 1.0)  # rounding of c
        feasible = (mass > 0) & (c >= -slack) & (c <= 1.0 + slack)
        if not feasible.any():
            continue
        c = np.clip(c, 0.0, 1.0)
        # sum p (y - tau)^2: the variance, the same order as sum p y^2 without the tau^2 offset
        variance = prefix[a] * (1.0 - tau) ** 2 + mass * (c - tau) ** 2 + (1.0 - prefix[b]) * tau**2
        objective = np.where(feasible, variance, -np.inf)
        j = int(np.argmax(objective))
        if objective[j] > best:
            best, best_point = float(objective[j]), (int(a), int(b[j]), float(c[j]))
    a, b, c = best_point
    y_new = np.zeros(n)
    y_new[:a] = 1.0
    y_new[a:b] = c
    z = np.empty(n)
    z[order] = np.clip(lo * (1.0 - y_new) + hi * y_new, lo, hi)
    return z
