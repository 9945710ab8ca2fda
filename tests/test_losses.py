"""Invariants of the GRPO policy losses and the DPO sigmoid loss (gpu_runs.losses; issue 7, TT-2, DR-2).

The cross-check against TRL's own code is in tests/test_peers_trl.py; here every property is
checked against the math of the module docstring and a plain per-token loop.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_runs.losses import (
    AGGREGATIONS,
    LOSS_TYPES,
    LossOutput,
    dpo_sigmoid_loss,
    k3_kl,
    policy_loss,
)
from theory.contrastive import dpo_pair_weight

torch.set_num_threads(1)
L_MAX = 10  # max_completion_length of every drawn batch (>= T)


@st.composite
def batches(draw: st.DrawFn, max_N: int = 6, max_T: int = 8) -> dict[str, torch.Tensor]:
    """(N, T) log-probs of policy, old policy and reference, a 0/1 mask (edge cases: an empty
    sequence, all tokens, one token) and advantages (N,) (edge cases: zeros, binary-group values)."""
    N, T = draw(st.integers(1, max_N)), draw(st.integers(1, max_T))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logp = -torch.rand(N, T, generator=g, dtype=torch.float64) * 3  # (N, T) log-probs <= 0
    shift = draw(st.sampled_from([0.0, 0.05, 0.6]))  # on-policy, mild drift, drift beyond the clip range
    old_logp = logp - shift * torch.randn(N, T, generator=g, dtype=torch.float64)
    ref_logp = logp - 0.3 * torch.randn(N, T, generator=g, dtype=torch.float64)
    mask_kind = draw(st.sampled_from(["random", "full", "one empty", "first token"]))
    mask = (torch.rand(N, T, generator=g) < 0.7).double()
    if mask_kind == "full":
        mask = torch.ones(N, T, dtype=torch.float64)
    elif mask_kind == "one empty":
        mask[0] = 0.0
    elif mask_kind == "first token":
        mask = torch.zeros(N, T, dtype=torch.float64)
        mask[:, 0] = 1.0
    adv_kind = draw(st.sampled_from(["normal", "zero", "binary"]))
    advantages = {"normal": torch.randn(N, generator=g, dtype=torch.float64),
                  "zero": torch.zeros(N, dtype=torch.float64),
                  "binary": (torch.rand(N, generator=g) < 0.5).double() * 2 - 1}[adv_kind] / math.sqrt(2)
    return {"logp": logp, "old_logp": old_logp, "ref_logp": ref_logp, "mask": mask, "advantages": advantages}


def run(loss_type: str, b: dict[str, torch.Tensor], **kwargs: object) -> tuple[LossOutput, torch.Tensor]:
    """policy_loss on a batch and its gradient with respect to logp."""
    logp = b["logp"].clone().requires_grad_(True)
    kwargs.setdefault("max_completion_length", L_MAX)
    out = policy_loss(loss_type, logp, b["old_logp"], b.get("ref_logp"), b["advantages"], b["mask"], **kwargs)
    (grad,) = torch.autograd.grad(out.loss, logp, allow_unused=False)
    return out, grad


def token_loop_loss(loss_type: str, b: dict[str, torch.Tensor], eps_low: float, eps_high: float, beta: float) -> float:
    """The loss written as plain python loops over completions and tokens (independent route)."""
    logp, old, ref, mask, A = (b[k].tolist() for k in ("logp", "old_logp", "ref_logp", "mask", "advantages"))
    N, T = len(logp), len(logp[0])
    sums, counts = [], []
    for i in range(N):
        total, n = 0.0, 0.0
        for t in range(T):
            rho = math.exp(logp[i][t] - old[i][t])
            surrogate = -min(rho * A[i], min(max(rho, 1 - eps_low), 1 + eps_high) * A[i])
            kl = math.exp(ref[i][t] - logp[i][t]) - (ref[i][t] - logp[i][t]) - 1
            total += mask[i][t] * (surrogate + beta * kl)
            n += mask[i][t]
        sums.append(total)
        counts.append(n)
    if loss_type == "grpo":
        return sum(s / max(n, 1.0) for s, n in zip(sums, counts, strict=True)) / N
    if loss_type == "dr_grpo":
        return sum(sums) / (N * L_MAX)
    return sum(sums) / max(sum(counts), 1.0)


def test_aggregation_table_names_every_loss_type() -> None:
    assert tuple(AGGREGATIONS) == LOSS_TYPES == ("grpo", "bnpo", "dr_grpo", "dapo")


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES), st.sampled_from([0.0, 0.04]))
def test_loss_matches_token_loop(b: dict[str, torch.Tensor], loss_type: str, beta: float) -> None:
    out, _ = run(loss_type, b, beta=beta)
    assert out.loss.item() == pytest.approx(token_loop_loss(loss_type, b, 0.2, 0.28, beta), rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES))
def test_silent_group_gives_zero_loss_and_zero_gradient(b: dict[str, torch.Tensor], loss_type: str) -> None:
    b["advantages"] = torch.zeros_like(b["advantages"])
    out, grad = run(loss_type, b)
    assert out.loss.item() == 0.0
    assert torch.count_nonzero(grad) == 0
    assert out.clip_fraction == 0.0


def on_policy_token_weights(loss_type: str, mask: torch.Tensor) -> torch.Tensor:
    """d loss / d l_it for each loss type: 1/(N max(n_i, 1)), 1/max(sum n, 1) or 1/(N L)."""
    N = mask.shape[0]
    if loss_type == "grpo":
        return mask / (N * mask.sum(-1, keepdim=True).clamp(min=1.0))
    if loss_type == "dr_grpo":
        return mask / (N * L_MAX)
    return mask / mask.sum().clamp(min=1.0)


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES))
def test_on_policy_loss_is_minus_weighted_mean_advantage(b: dict[str, torch.Tensor], loss_type: str) -> None:
    b["old_logp"] = b["logp"].clone()
    out, grad = run(loss_type, b)
    weights = on_policy_token_weights(loss_type, b["mask"])  # (N, T)
    expected_loss = -(weights * b["advantages"][:, None]).sum()
    assert out.loss.item() == pytest.approx(expected_loss.item(), abs=1e-12)
    # at rho = 1 the clip is inactive and d l_it / d logp_it = -A_i: the policy gradient
    torch.testing.assert_close(grad, -weights * b["advantages"][:, None], rtol=0, atol=1e-12)
    assert out.clip_fraction == 0.0


@settings(max_examples=40, deadline=None)
@given(batches())
def test_grpo_on_policy_loss_is_minus_mean_advantage_of_nonempty_sequences(b: dict[str, torch.Tensor]) -> None:
    b["old_logp"] = b["logp"].clone()
    out, _ = run("grpo", b)
    nonempty = (b["mask"].sum(-1) > 0).double()
    assert out.loss.item() == pytest.approx(-(b["advantages"] * nonempty).mean().item(), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES), st.sampled_from([0.0, 0.04]))
def test_loss_ignores_padding_tokens(b: dict[str, torch.Tensor], loss_type: str, beta: float) -> None:
    out, grad = run(loss_type, b, beta=beta)
    padded = {**b}
    pad = b["mask"] == 0
    for key, shift in (("logp", -5.0), ("old_logp", 3.0), ("ref_logp", -2.0)):
        padded[key] = torch.where(pad, b[key] + shift, b[key])  # ratios far outside the clip range there
    out_padded, grad_padded = run(loss_type, padded, beta=beta)
    assert out_padded.loss.item() == pytest.approx(out.loss.item(), abs=1e-12)
    assert (out_padded.clip_fraction, out_padded.kl) == pytest.approx((out.clip_fraction, out.kl), abs=1e-12)
    assert torch.count_nonzero(grad_padded[pad]) == 0
    torch.testing.assert_close(grad_padded, grad, rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES), st.randoms(use_true_random=False))
def test_loss_is_invariant_to_the_order_of_completions(b: dict[str, torch.Tensor], loss_type: str, rnd) -> None:
    order = list(range(b["logp"].shape[0]))
    rnd.shuffle(order)
    permuted = {k: v[order] for k, v in b.items()}
    out, grad = run(loss_type, b, beta=0.04)
    out_permuted, grad_permuted = run(loss_type, permuted, beta=0.04)
    assert out_permuted.loss.item() == pytest.approx(out.loss.item(), abs=1e-12)
    torch.testing.assert_close(grad_permuted, grad[order], rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES), st.floats(0.01, 100.0))
def test_loss_is_positively_homogeneous_in_the_advantages(
    b: dict[str, torch.Tensor], loss_type: str, scale: float
) -> None:
    out, grad = run(loss_type, b)
    scaled = {**b, "advantages": b["advantages"] * scale}
    out_scaled, grad_scaled = run(loss_type, scaled)
    assert out_scaled.loss.item() == pytest.approx(scale * out.loss.item(), rel=1e-9, abs=1e-12)
    torch.testing.assert_close(grad_scaled, scale * grad, rtol=1e-9, atol=1e-12)
    assert out_scaled.clip_fraction == out.clip_fraction


@settings(max_examples=30, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES), st.floats(0.0, 1.0))
def test_kl_term_enters_linearly_in_beta(b: dict[str, torch.Tensor], loss_type: str, beta: float) -> None:
    without, _ = run(loss_type, b)
    with_kl, _ = run(loss_type, b, beta=beta)
    kl_only = AGGREGATIONS[loss_type](k3_kl(b["logp"], b["ref_logp"]), b["mask"], L_MAX, None)
    assert with_kl.loss.item() == pytest.approx(without.loss.item() + beta * kl_only.item(), rel=1e-9, abs=1e-12)
    assert with_kl.kl == without.kl  # measured whenever ref_logp is given


@settings(max_examples=30, deadline=None)
@given(batches())
def test_k3_kl_is_nonnegative_and_zero_at_the_reference(b: dict[str, torch.Tensor]) -> None:
    kl = k3_kl(b["logp"], b["ref_logp"])
    assert torch.all(kl >= 0)
    assert torch.count_nonzero(k3_kl(b["logp"], b["logp"])) == 0
    out, _ = run("grpo", b)
    expected = (kl * b["mask"]).sum() / b["mask"].sum().clamp(min=1.0)
    assert out.kl == pytest.approx(expected.item(), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES))
def test_clipped_tokens_get_zero_gradient_and_are_counted(b: dict[str, torch.Tensor], loss_type: str) -> None:
    out, grad = run(loss_type, b)
    ratio = torch.exp(b["logp"] - b["old_logp"])
    A = b["advantages"][:, None]
    clipped = ((ratio < 0.8) & (A < 0)) | ((ratio > 1.28) & (A > 0))
    assert torch.count_nonzero(grad[clipped]) == 0
    share = (clipped.double() * b["mask"]).sum() / b["mask"].sum().clamp(min=1.0)
    assert out.clip_fraction == pytest.approx(share.item(), abs=1e-12)
    assert 0.0 <= out.clip_fraction <= 1.0


@settings(max_examples=30, deadline=None)
@given(batches(), st.floats(1.0, 1000.0))
def test_dapo_divides_by_the_tokens_of_the_whole_step(b: dict[str, torch.Tensor], extra: float) -> None:
    bnpo, _ = run("bnpo", b)
    dapo_alone, _ = run("dapo", b)
    tokens = b["mask"].sum().item()
    dapo_step, _ = run("dapo", b, num_items_in_batch=tokens + extra)
    assert dapo_alone.loss.item() == pytest.approx(bnpo.loss.item(), abs=1e-12)
    assert dapo_step.loss.item() == pytest.approx(bnpo.loss.item() * max(tokens, 1.0) / (tokens + extra), abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(batches(), st.sampled_from(LOSS_TYPES))
def test_same_inputs_give_the_same_loss(b: dict[str, torch.Tensor], loss_type: str) -> None:
    first, grad_first = run(loss_type, b, beta=0.04)
    second, grad_second = run(loss_type, b, beta=0.04)
    assert (first.loss.item(), first.clip_fraction, first.kl) == (second.loss.item(), second.clip_fraction, second.kl)
    assert torch.equal(grad_first, grad_second)


def test_integer_mask_gives_the_same_loss_as_float_mask() -> None:
    g = torch.Generator().manual_seed(0)
    logp, old = -torch.rand(4, 5, generator=g), -torch.rand(4, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])
    A = torch.tensor([1.0, -1.0, 0.5, -0.5])
    for loss_type in LOSS_TYPES:
        as_int = policy_loss(loss_type, logp, old, None, A, mask, max_completion_length=5)
        as_float = policy_loss(loss_type, logp, old, None, A, mask.float(), max_completion_length=5)
        assert as_int == as_float


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**31 - 1), st.floats(0.01, 5.0))
def test_dpo_gradient_is_the_tt2_pair_weight(P: int, seed: int, beta: float) -> None:
    g = torch.Generator().manual_seed(seed)
    chosen, rejected = (-10 * torch.rand(P, generator=g, dtype=torch.float64) for _ in range(2))
    ref_chosen, ref_rejected = (-10 * torch.rand(P, generator=g, dtype=torch.float64) for _ in range(2))
    chosen.requires_grad_(True)
    rejected.requires_grad_(True)
    loss = dpo_sigmoid_loss(chosen, rejected, ref_chosen, ref_rejected, beta)
    grad_chosen, grad_rejected = torch.autograd.grad(loss, (chosen, rejected))
    h_pos, h_neg = (chosen - ref_chosen).detach().numpy(), (rejected - ref_rejected).detach().numpy()
    weight = torch.from_numpy(dpo_pair_weight(h_pos, h_neg, beta))
    torch.testing.assert_close(grad_chosen, -weight / P, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(grad_rejected, weight / P, rtol=1e-12, atol=1e-15)
    margin = torch.from_numpy(h_pos - h_neg)
    expected = torch.log1p(torch.exp(-beta * margin)).mean()  # -log sigmoid(x) = log(1 + e^-x)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


def good_args() -> dict[str, object]:
    logp = torch.zeros(3, 4)
    return {"loss_type": "grpo", "logp": logp, "old_logp": logp, "ref_logp": None,
            "advantages": torch.zeros(3), "mask": torch.ones(3, 4)}


@pytest.mark.parametrize(("change", "match"), [
    ({"loss_type": "ppo"}, r"loss_type='ppo'.*grpo, bnpo, dr_grpo, dapo"),
    ({"eps_low": -0.1}, r"eps_low=-0\.1 must be a finite number >= 0"),
    ({"eps_high": float("nan")}, r"eps_high=nan"),
    ({"beta": -1.0}, r"beta=-1\.0 must be a finite number >= 0"),
    ({"beta": 0.1}, r"ref_logp=None is not allowed with beta=0\.1"),
    ({"logp": torch.zeros(12)}, r"logp has shape \(12,\); it must be \(N, T\)"),
    ({"old_logp": torch.zeros(3, 5)}, r"old_logp has shape \(3, 5\); it must match logp \(3, 4\)"),
    ({"ref_logp": torch.zeros(4, 3)}, r"ref_logp has shape \(4, 3\)"),
    ({"mask": torch.ones(3)}, r"mask has shape \(3,\)"),
    ({"advantages": torch.zeros(3, 4)}, r"advantages has shape \(3, 4\); it must be \(3,\)"),
    ({"loss_type": "dr_grpo"}, r"max_completion_length=None is not allowed for loss_type='dr_grpo'"),
    ({"loss_type": "dr_grpo", "max_completion_length": 3}, r"max_completion_length=3 must be an integer >= .* T = 4"),
    ({"max_completion_length": 4.0}, r"max_completion_length=4\.0 must be an integer"),
    ({"max_completion_length": True}, r"max_completion_length=True must be an integer"),
    ({"loss_type": "dapo", "num_items_in_batch": -1}, r"num_items_in_batch=-1 must be a number of tokens >= 0"),
])
def test_bad_policy_loss_arguments_raise(change: dict[str, object], match: str) -> None:
    args = {**good_args(), **change}
    with pytest.raises(ValueError, match=match):
        policy_loss(args.pop("loss_type"), args.pop("logp"), args.pop("old_logp"), args.pop("ref_logp"),
                    args.pop("advantages"), args.pop("mask"), **args)


@pytest.mark.parametrize(("change", "match"), [
    ({"beta": 0.0}, r"beta=0\.0 must be a finite number > 0"),
    ({"beta": float("inf")}, r"beta=inf must be a finite number > 0"),
    ({"beta": float("nan")}, r"beta=nan must be a finite number > 0"),
    ({"policy_chosen_logps": torch.zeros(2, 3)}, r"policy_chosen_logps has shape \(2, 3\); it must be \(P,\)"),
    ({"ref_rejected_logps": torch.zeros(4)}, r"ref_rejected_logps has shape \(4,\); it must match"),
])
def test_bad_dpo_arguments_raise(change: dict[str, object], match: str) -> None:
    args = {"policy_chosen_logps": torch.zeros(3), "policy_rejected_logps": torch.zeros(3),
            "ref_chosen_logps": torch.zeros(3), "ref_rejected_logps": torch.zeros(3), "beta": 0.1, **change}
    with pytest.raises(ValueError, match=match):
        dpo_sigmoid_loss(**args)
