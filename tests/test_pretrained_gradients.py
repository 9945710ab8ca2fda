"""issue 16: per-completion gradients on the tiny random Llama equal per-completion autograd, and the TT-5 /
TT-6 / TT-8 estimators give known values on hand-made gradient sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gpu_runs.pretrained import chat
from gpu_runs.pretrained.gradients import (
    GroupSet,
    KroneckerProjection,
    PairSet,
    batch_cosines,
    bootstrap_interval,
    control_variate,
    derangement,
    group_updates,
    grouped_rows,
    mean_product,
    per_completion_gradients,
    reference_contributions,
    silent_probability_unbiased,
    trainable_linears,
    tt_pairs,
)
from gpu_runs.pretrained.models import tiny_random_llama


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    lm = tiny_random_llama(seed=3)
    prompts = chat.render_prompts(lm, ["What is 3 + 4?", "Tom has 12 apples and gets 5 more. How many now?"])
    completions = chat.sample_completions(lm, prompts, 3, max_new_tokens=6, seed=1)
    return lm, completions


def autograd_reference(lm, completions, linears) -> np.ndarray:
    """One backward per completion, alone (no padding), through the plain HF forward: grad of log pi(o|q)."""
    rows = []
    weights = [m.weight for _, m in linears]
    for i in range(len(completions)):
        p = completions.prompt_ids[i][completions.prompt_mask[i].bool()]
        o = completions.completion_ids[i][completions.completion_mask[i].bool()]
        ids = torch.cat([p, o]).unsqueeze(0)
        for w in weights:
            w.requires_grad_(True)
        logits = lm.model(input_ids=ids).logits[0, len(p) - 1:-1]
        logp = torch.log_softmax(logits, -1).gather(1, o.unsqueeze(1)).sum()
        grads = torch.autograd.grad(logp, weights)
        for w in weights:
            w.requires_grad_(False)
        rows.append(torch.cat([g.flatten() for g in grads]))
    return torch.stack(rows).double().numpy()


def test_per_completion_gradients_equal_autograd_one_completion_at_a_time(tiny) -> None:
    lm, completions = tiny
    linears = trainable_linears(lm.model, top_layers=1)
    assert len(linears) == 7  # q, k, v, o, gate, up, down
    batched = per_completion_gradients(lm.model, completions, linears, batch_size=4)  # mixed padding in a batch
    reference = autograd_reference(lm, completions, linears)
    assert batched.shape == reference.shape
    np.testing.assert_allclose(batched, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_projected_gradients_equal_projection_of_exact_ones(tiny) -> None:
    lm, completions = tiny
    linears = trainable_linears(lm.model, top_layers=2)
    projection = KroneckerProjection.make(linears, rank=4, seed=0)
    projected = per_completion_gradients(lm.model, completions, linears, projection, batch_size=5)
    exact = autograd_reference(lm, completions, linears)
    shapes = [(m.out_features, m.in_features) for _, m in linears]
    splits = np.cumsum([o * i for o, i in shapes])[:-1]
    grads = [torch.from_numpy(block).reshape(-1, o, i).float()
             for block, (o, i) in zip(np.split(exact, splits, axis=1), shapes, strict=True)]
    np.testing.assert_allclose(projected, projection.apply(grads).double().numpy(), rtol=1e-4,
                               atol=1e-5 * np.abs(projected).max())
    assert projected.shape[1] == projection.dim == 7 * 2 * 16


def test_projection_preserves_inner_products_in_expectation() -> None:
    linear = torch.nn.Linear(6, 5, bias=False)
    x, y = torch.randn(1, 5, 6), torch.randn(1, 5, 6)
    x = x + y  # correlated, inner product well away from 0
    dots = [float(p.apply([x])[0] @ p.apply([y])[0]) for p in
            (KroneckerProjection.make([("w", linear)], rank=2, seed=s) for s in range(4000))]
    exact = float((x * y).sum())
    assert abs(np.mean(dots) - exact) < 4 * np.std(dots) / math.sqrt(len(dots))


def test_gradients_refuse_train_mode(tiny) -> None:
    lm, completions = tiny
    lm.model.train()
    try:
        with pytest.raises(ValueError, match="train mode"):
            per_completion_gradients(lm.model, completions, trainable_linears(lm.model, 1))
    finally:
        lm.model.eval()


def test_top_layers_out_of_range_names_argument(tiny) -> None:
    lm, _ = tiny
    with pytest.raises(ValueError, match=r"top_layers=3 must lie in 1\.\.2"):
        trainable_linears(lm.model, 3)


# --- TT-5 estimators on hand-made vectors ------------------------------------------------------------------------

def test_one_pair_per_prompt_gives_the_sample_trace_covariance() -> None:
    x = np.array([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]])
    y = np.array([[0.0, 1.0], [2.0, 2.0], [4.0, 0.0]])
    stats = PairSet(x, y, np.arange(3)).statistics()
    # deviations x: (-1,-2), (1,0), (0,2); y: (-2,0), (0,1), (2,-1); sums of products: 2 + 0 - 2 = 0, so Cov = 0
    assert stats["cov"] == pytest.approx(0.0, abs=1e-12)
    assert stats["var_pos"] == pytest.approx((1 + 4 + 1 + 0 + 0 + 4) / 2)
    assert stats["var_neg"] == pytest.approx((4 + 0 + 0 + 1 + 4 + 1) / 2)


def test_mean_product_leaves_out_pairs_of_one_prompt() -> None:
    xbar = np.array([[1.0], [2.0], [4.0]])
    gram = xbar @ xbar.T
    # distinct ordered pairs: 2*(1*2 + 1*4 + 2*4) / 6 = 28/6
    assert mean_product(gram, np.ones(3)) == pytest.approx(28 / 6)
    # counts (2, 1, 0): pairs of different prompts are (0, 1) twice each way: <1, 2> = 2
    assert mean_product(gram, np.array([2.0, 1.0, 0.0])) == pytest.approx(2.0)
    assert np.isnan(mean_product(gram, np.array([3.0, 0.0, 0.0])))  # one prompt: no pair of different prompts


def test_rows_of_one_prompt_do_not_bias_the_mean_product() -> None:
    # 2 groups per prompt, each prompt's rows equal its mean: E x = mean of prompt means, no within noise
    rng = np.random.default_rng(2)
    means = rng.normal(size=(5, 3))
    x = np.repeat(means, 2, axis=0)
    pairs = PairSet(x, x, np.repeat(np.arange(5), 2))
    stats = pairs.statistics()
    between = np.mean(np.sum(means**2, axis=1)) - mean_product(means @ means.T, np.ones(5))
    assert stats["var_pos"] == pytest.approx(between)
    assert stats["rho"] == pytest.approx(1.0)


def test_control_variate_values_for_known_moments() -> None:
    out = control_variate(var_pos=4.0, var_neg=1.0, cov=1.0)
    assert out["rho"] == pytest.approx(0.5)
    assert out["threshold"] == pytest.approx(0.25)
    assert out["c_star"] == pytest.approx(1.0)
    assert out["c_upper"] == pytest.approx(2.0)
    assert out["ratio_c1"] == pytest.approx((4 - 2 + 1) / 4)


def test_pairset_rho_is_one_for_identical_halves_and_minus_one_for_opposite() -> None:
    rng = np.random.default_rng(0)
    g = rng.normal(size=(20, 5))
    assert PairSet(g, g.copy(), np.arange(20)).statistics()["rho"] == pytest.approx(1.0)
    assert PairSet(g, -g, np.arange(20)).statistics()["rho"] == pytest.approx(-1.0)


def test_permuted_pairing_reads_the_partner_prompt() -> None:
    pos = np.array([[1.0], [2.0], [3.0]])
    pairs = PairSet(pos, pos.copy(), np.arange(3))
    # g- of prompts 1, 2, 0: neg = (2, 3, 1): sample cov((1,2,3), (2,3,1)) = (-1*0 + 0*1 + 1*-1)/2 = -0.5
    assert pairs.statistics(prompt_perm=np.array([1, 2, 0]))["cov"] == pytest.approx(-0.5)
    rows = PairSet(np.zeros((6, 1)), np.zeros((6, 1)), np.repeat(np.arange(3), 2)).pairing_rows(np.array([2, 0, 1]))
    assert rows.tolist() == [4, 5, 0, 1, 2, 3]


def test_pairset_rejects_rows_not_grouped_by_prompt() -> None:
    with pytest.raises(ValueError, match="grouped by prompt"):
        PairSet(np.zeros((3, 1)), np.zeros((3, 1)), np.array([0, 0, 1, 1, 1])[:3][::-1])


def test_derangement_has_no_fixed_point() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 3, 10):
        perm = derangement(n, rng)
        assert sorted(perm) == list(range(n)) and not np.any(perm == np.arange(n))


def test_tt_pairs_average_correct_and_wrong_scores_per_prompt() -> None:
    scores = np.array([[1.0, 0], [3, 0], [0, 5], [9, 9], [7, 7], [0, 1], [0, 3]])
    rewards = np.array([1.0, 1, 0, 1, 1, 1, 0])
    prompts = np.array([0, 0, 0, 1, 1, 2, 2])
    pairs = tt_pairs(scores, rewards, prompts, responses=10)
    assert pairs.prompt.tolist() == [0, 2]  # prompt 1 has no wrong answer
    np.testing.assert_allclose(pairs.pos, [[2.0, 0], [0, 1]])
    np.testing.assert_allclose(pairs.neg, [[0.0, 5], [0, 3]])
    assert tt_pairs(scores, rewards, prompts, responses=2).prompt.tolist() == [2]  # prompt 0: first two correct


def test_group_updates_split_into_positive_and_negative_parts_with_grpo_advantages() -> None:
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    rewards = np.array([1.0, 0.0, 1.0, 1.0])
    groups = np.array([[0, 1], [2, 3]])
    u, pos, neg, sq = group_updates(scores, rewards, groups, std="population", eps=0.0)
    # group 0: A = (+1, -1): g+ = (1, 0)/2, g- = (0, 1)/2; group 1 silent: zeros
    np.testing.assert_allclose(pos, [[0.5, 0.0], [0, 0]])
    np.testing.assert_allclose(neg, [[0.0, 0.5], [0, 0]])
    np.testing.assert_allclose(u, pos - neg)
    np.testing.assert_allclose(sq, [(1 + 1) / 2, 0.0])


def test_grouped_rows_cut_each_prompt_into_disjoint_groups() -> None:
    prompts = np.repeat(np.arange(3), 5)
    groups = grouped_rows(prompts, 2, np.random.default_rng(0))
    assert groups.shape == (6, 2)
    assert len(set(groups.ravel())) == 12
    assert all(len(set(prompts[g])) == 1 for g in groups)


# --- TT-6 -------------------------------------------------------------------------------------------------------

def test_budget_statistics_values_for_a_hand_made_set() -> None:
    # 4 prompts, one group each: u = (1,0), (3,0), (2,3), (2,-3); E u estimated by distinct pairs
    updates = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0], [2.0, -3.0]])
    sq = np.array([2.0, 10.0, 13.0, 13.0])
    silent = np.array([False, True, False, False])
    stats = GroupSet(updates, sq, silent, np.arange(4), group_size=2).statistics(budget=8)
    total = updates.sum(0)
    mean_sq = (total @ total - np.sum(updates**2)) / 12  # sum over a != b of <u_a, u_b> / (4 * 3)
    var_u = np.mean(np.sum(updates**2, axis=1)) - mean_sq  # = 20/3, the sample trace variance
    assert var_u == pytest.approx(20 / 3)
    assert stats.mean_norm_sq == pytest.approx(mean_sq)
    assert stats.trace_cov == pytest.approx(var_u / 4)  # Q = B / G = 4 prompts per batch
    assert stats.snr == pytest.approx(mean_sq / (var_u / 4))
    assert stats.rollout_variance == pytest.approx(38 / 4 - mean_sq)
    assert stats.iid_ratio == pytest.approx((var_u / 4) / (stats.rollout_variance / 8))
    assert stats.silent_fraction == pytest.approx(0.25)
    with pytest.raises(ValueError, match="budget=7 must be a positive multiple of group_size=2"):
        GroupSet(updates, sq, silent, np.arange(4), group_size=2).statistics(budget=7)


def test_iid_ratio_is_one_when_groups_are_independent_rollouts_and_above_when_prompts_differ() -> None:
    # Dr.GRPO-like toy: each group's update is the mean of G independent rollout vectors x_i: then
    # tr Var(u) = tr Var(x)/G and the paper's Var(g_1)/B holds; a prompt effect shared by its rollouts breaks it
    rng = np.random.default_rng(5)
    P, m, G, D = 400, 4, 4, 3
    x = rng.normal(size=(P * m, G, D)) + 0.5
    u, sq = x.mean(axis=1), np.mean(np.sum(x**2, axis=2), axis=1)
    prompts = np.repeat(np.arange(P), m)
    iid = GroupSet(u, sq, np.zeros(P * m, bool), prompts, G).statistics(budget=16)
    assert iid.iid_ratio == pytest.approx(1.0, abs=0.08)
    shift = np.repeat(rng.normal(size=(P, 1, D)), m, axis=0)
    xs = x + shift
    shared = GroupSet(xs.mean(axis=1), np.mean(np.sum(xs**2, axis=2), axis=1), np.zeros(P * m, bool), prompts,
                      G).statistics(budget=16)
    assert shared.iid_ratio > 2.0  # tr Var = (G/B) Var_q + ...: the between-prompt part counts G times


def test_bootstrap_interval_is_the_percentile_interval_when_centred() -> None:
    reps = np.linspace(-1.0, 1.0, 2001)
    lo, hi = bootstrap_interval(0.0, reps)
    assert lo == pytest.approx(-0.95, abs=2e-3) and hi == pytest.approx(0.95, abs=2e-3)
    lo_b, hi_b = bootstrap_interval(-0.5, reps)  # replicates biased upwards: the interval moves down
    assert hi_b < hi and lo_b < lo
    assert np.isnan(bootstrap_interval(0.0, np.array([np.nan]))[0])


def test_reference_contributions_use_leave_one_out_baselines() -> None:
    scores = np.array([[1.0], [2.0], [4.0]])
    rewards = np.array([1.0, 0.0, 0.0])
    contrib = reference_contributions(scores, rewards, np.zeros(3, dtype=np.int64))
    np.testing.assert_allclose(contrib[:, 0], [1.0 * 1, (0 - 0.5) * 2, (0 - 0.5) * 4])


def test_batch_cosines_are_one_when_every_score_points_the_same_way() -> None:
    # every correct completion has score e1 and every wrong one -e1: each batch update and the reference are
    # positive multiples of e1, so every cosine is exactly 1 (and the batches cover the pool once)
    prompts = np.repeat(np.arange(8), 4)
    rewards = np.tile([1.0, 0.0, 1.0, 0.0], 8)
    scores = np.where(rewards[:, None] > 0, 1.0, -1.0) * np.array([[1.0, 0.0]])
    cos = batch_cosines(scores, rewards, prompts, group_size=2, budget=8, rng=np.random.default_rng(0))
    assert len(cos) == 32 // 8
    np.testing.assert_allclose(cos, 1.0)


# --- TT-8 -------------------------------------------------------------------------------------------------------

def test_unbiased_silent_probability_values() -> None:
    # k = 4 samples, s = 2: pairs all-equal: C(2,2) + C(2,2) = 2 of C(4,2) = 6
    assert silent_probability_unbiased(np.array([2]), 4, 2)[0] == pytest.approx(1 / 3)
    assert silent_probability_unbiased(np.array([0, 4]), 4, 4).tolist() == [1.0, 1.0]
    # unbiased: averaging over s ~ Binomial(k, p) gives p^G + (1-p)^G exactly
    from scipy.stats import binom
    k, G, p = 16, 4, 0.3
    expected = sum(binom.pmf(s, k, p) * silent_probability_unbiased(np.array([s]), k, G)[0] for s in range(k + 1))
    assert expected == pytest.approx(p**G + (1 - p) ** G, abs=1e-12)
    with pytest.raises(ValueError, match="samples=2 must be >= group_size=4"):
        silent_probability_unbiased(np.array([1]), 2, 4)


def test_shared_prompt_path_equals_the_full_forward(tiny) -> None:
    lm, completions = tiny
    linears = trainable_linears(lm.model, top_layers=1)
    shared = per_completion_gradients(lm.model, completions, linears, batch_size=4, share_prompts=True)
    full = per_completion_gradients(lm.model, completions, linears, batch_size=4, share_prompts=False)
    np.testing.assert_allclose(shared, full, rtol=1e-4, atol=1e-6 * np.abs(full).max())
    assert len(trainable_linears(lm.model, 2)) == 14 and len(lm.model.get_decoder().layers) == 2  # layers restored
