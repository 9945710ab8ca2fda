"""Cross-check against TRL 1.16.0's own code (issue 7; TT-2, TT-3): identical tensors go to our
losses and to ``GRPOTrainer._compute_loss`` / ``DPOTrainer._compute_loss`` called unbound on a stub
``self``; our advantages go against those TRL's own ``GRPOTrainer`` computes in a training step
(``gpu_runs.peers.trl_group_advantages``, through TRL's public API).

These tests skip only when trl cannot be imported and the environment variable CI is unset; in CI
a missing trl fails them (``pip install -e .[peers]``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_runs.losses import LOSS_TYPES, dpo_sigmoid_loss, policy_loss
from gpu_runs.peers import trl_group_advantages, trl_route
from theory.advantages import group_advantages, silent_groups

try:  # imported once for the whole file: it costs several seconds
    from trl import DPOTrainer, GRPOTrainer
    from trl.trainer.utils import nanstd as trl_nanstd

    TRL_IMPORT_ERROR: Exception | None = None
except Exception as exc:  # any failure to import means "not importable"
    TRL_IMPORT_ERROR = exc

torch.set_num_threads(1)
TOL = 1e-6


def missing_trl_outcome(environ: Mapping[str, str]) -> str:
    """What a missing trl does to these tests: ``fail`` when CI is set, else ``skip``."""
    return "fail" if "CI" in environ else "skip"


@pytest.fixture(scope="module")
def trl() -> SimpleNamespace:
    """TRL's trainers, or a skip (CI unset) / failure (CI set) when trl cannot be imported."""
    if TRL_IMPORT_ERROR is not None:
        message = f"trl is not importable ({TRL_IMPORT_ERROR!r}); install the extra: pip install -e .[peers]"
        if missing_trl_outcome(os.environ) == "fail":
            pytest.fail("CI is set: the TRL cross-check must run. " + message)
        pytest.skip(message)
    return SimpleNamespace(GRPOTrainer=GRPOTrainer, DPOTrainer=DPOTrainer, nanstd=trl_nanstd)


def test_missing_trl_skips_outside_ci_and_fails_in_ci() -> None:
    assert missing_trl_outcome({}) == "skip"
    assert missing_trl_outcome({"CI": "true"}) == "fail"
    assert missing_trl_outcome({"CI": "1", "HOME": "/root"}) == "fail"


class StubAccelerator:
    """A single process: reduce and gather return their argument."""

    num_processes = 1
    device = torch.device("cpu")

    def reduce(self, tensor: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return tensor

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    gather_for_metrics = gather


def trl_grpo_loss(
    trainer: type, loss_type: str, logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None,
    advantages: torch.Tensor, mask: torch.Tensor, *, eps_low: float, eps_high: float, beta: float,
    max_completion_length: int, num_items_in_batch: float | None = None, accumulation_steps: int = 1,
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """TRL's ``GRPOTrainer._compute_loss`` on a stub whose per-token log-prob method returns ``logp``
    (token-level ratios, no vLLM, no entropy mask or bonus, one process, train mode)."""
    N, T = logp.shape
    stub = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (logp, torch.zeros_like(logp), None),
        aux_loss_enabled=False, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level="token", loss_type=loss_type, beta=beta,
        epsilon_low=eps_low, epsilon_high=eps_high, max_completion_length=max_completion_length,
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=accumulation_steps),
        use_vllm=False, vllm_importance_sampling_correction=False, _entropy_bonus_enabled=False,
        model=SimpleNamespace(training=True), current_gradient_accumulation_steps=accumulation_steps,
        accelerator=StubAccelerator(), _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    inputs: dict[str, Any] = {
        "prompt_ids": torch.zeros(N, 1, dtype=torch.long), "prompt_mask": torch.ones(N, 1, dtype=torch.long),
        "completion_ids": torch.zeros(N, T, dtype=torch.long), "completion_mask": mask,
        "advantages": advantages, "old_per_token_logps": old_logp,
        "num_items_in_batch": torch.as_tensor(mask.sum() if num_items_in_batch is None else num_items_in_batch),
    }
    if ref_logp is not None:
        inputs["ref_per_token_logps"] = ref_logp
    loss = trainer._compute_loss(stub, None, inputs)
    return loss, stub._metrics["train"]


def make_batch(seed: int, N: int, T: int, *, clipping: bool, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Seeded log-probs, a mask with one empty sequence and ragged lengths, advantages of both signs."""
    g = torch.Generator().manual_seed(seed)
    logp = -3 * torch.rand(N, T, generator=g, dtype=dtype)
    drift = 0.6 if clipping else 0.0
    old_logp = logp - drift * torch.randn(N, T, generator=g, dtype=dtype)
    ref_logp = logp - 0.3 * torch.randn(N, T, generator=g, dtype=dtype)
    lengths = torch.randint(0, T + 1, (N,), generator=g)
    lengths[0], lengths[-1] = 0, T
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(dtype)  # (N, T): right padding
    advantages = torch.randn(N, generator=g, dtype=dtype)
    return {"logp": logp, "old_logp": old_logp, "ref_logp": ref_logp, "mask": mask, "advantages": advantages}


def compare_with_trl(trl: SimpleNamespace, loss_type: str, batch: dict[str, torch.Tensor], *, beta: float,
                     num_items_in_batch: float | None = None, accumulation_steps: int = 1) -> dict[str, float]:
    """Run both on leaf copies of the same tensors; assert values, gradients and metrics agree to 1e-6."""
    def leaves() -> dict[str, torch.Tensor]:
        return {k: v.clone().requires_grad_(k != "mask") for k, v in batch.items()}

    ours_in, trl_in = leaves(), leaves()
    ref_ours = ours_in["ref_logp"] if beta else None
    ref_trl = trl_in["ref_logp"] if beta else None
    T = batch["logp"].shape[1]
    ours = policy_loss(loss_type, ours_in["logp"], ours_in["old_logp"], ref_ours, ours_in["advantages"],
                       ours_in["mask"], beta=beta, max_completion_length=T + 2, num_items_in_batch=num_items_in_batch)
    theirs, metrics = trl_grpo_loss(trl.GRPOTrainer, loss_type, trl_in["logp"], trl_in["old_logp"], ref_trl,
                                    trl_in["advantages"], trl_in["mask"], eps_low=0.2, eps_high=0.28, beta=beta,
                                    max_completion_length=T + 2, num_items_in_batch=num_items_in_batch,
                                    accumulation_steps=accumulation_steps)
    assert abs(ours.loss.item() - theirs.item()) <= TOL
    names = ["logp", "old_logp", "advantages"] + (["ref_logp"] if beta else [])
    grads_ours = torch.autograd.grad(ours.loss, [ours_in[n] for n in names])
    grads_trl = torch.autograd.grad(theirs, [trl_in[n] for n in names])
    for name, a, b in zip(names, grads_ours, grads_trl, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL, msg=f"gradient with respect to {name}")
    if T == 1:
        # TRL's global_masked_mean reads a (N, 1) tensor as sequence-level values and drops the mask;
        # we keep masking (a one-token completion is token-level here): TRL's metric is the plain mean
        ratio = torch.exp(batch["logp"] - batch["old_logp"])
        A = batch["advantages"][:, None]
        region = (((ratio < 0.8) & (A < 0)) | ((ratio > 1.28) & (A > 0))).to(ratio.dtype)
        assert abs(region.mean().item() - metrics["clip_ratio/region_mean"][-1]) <= TOL
    else:
        assert abs(ours.clip_fraction - metrics["clip_ratio/region_mean"][-1]) <= TOL
        if beta:
            assert abs(ours.kl - metrics["kl"][-1]) <= TOL
    return {"loss": ours.loss.item(), "clip_fraction": ours.clip_fraction, "kl": ours.kl}


@pytest.mark.peers
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("clipping", [False, True])
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_policy_loss_matches_trl_compute_loss(
    trl: SimpleNamespace, loss_type: str, clipping: bool, beta: float, dtype: torch.dtype
) -> None:
    batch = make_batch(7, N=6, T=9, clipping=clipping, dtype=dtype)
    seen = compare_with_trl(trl, loss_type, batch, beta=beta)
    assert (seen["clip_fraction"] > 0.05) == clipping  # the clipped branch really was exercised
    assert (seen["kl"] > 0.01) == (beta > 0)


@pytest.mark.peers
@settings(max_examples=25, deadline=None)
@given(st.sampled_from(LOSS_TYPES), st.integers(0, 2**31 - 1), st.integers(1, 8), st.integers(1, 12),
       st.booleans(), st.sampled_from([0.0, 0.04, 1.0]))
def test_policy_loss_matches_trl_on_drawn_batches(
    trl: SimpleNamespace, loss_type: str, seed: int, N: int, T: int, clipping: bool, beta: float
) -> None:
    compare_with_trl(trl, loss_type, make_batch(seed, N, T, clipping=clipping, dtype=torch.float64), beta=beta)


@pytest.mark.peers
@pytest.mark.parametrize("accumulation_steps", [1, 4])
def test_dapo_normaliser_matches_trl_num_items_in_batch(trl: SimpleNamespace, accumulation_steps: int) -> None:
    """TRL's dapo divides by the token count of the whole step; here this mini-batch is one of several."""
    batch = make_batch(3, N=5, T=7, clipping=True, dtype=torch.float64)
    step_tokens = 4 * batch["mask"].sum().item() + 3
    compare_with_trl(trl, "dapo", batch, beta=0.04, num_items_in_batch=step_tokens,
                     accumulation_steps=accumulation_steps)


def trl_dpo_sigmoid_loss(trainer: type, chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor,
                         ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """TRL's ``DPOTrainer._compute_loss`` with ``loss_type=["sigmoid"]`` and precomputed reference
    log-probs, on a stub model whose one completion token carries each sequence's log-prob."""
    P = chosen.shape[0]
    zeros = torch.zeros(2 * P, 1, dtype=chosen.dtype)
    outputs = SimpleNamespace(log_probs=torch.cat([chosen, rejected]).unsqueeze(1),  # (2P, 1): [chosen; rejected]
                              entropy=zeros, mean_logits=zeros, is_top1=torch.zeros(2 * P, 1, dtype=torch.bool))
    stub = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=StubAccelerator(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0],
        beta=beta, use_weighting=False, _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0, _tp_size=1,
    )
    inputs = {"input_ids": torch.zeros(2 * P, 2, dtype=torch.long),
              "attention_mask": torch.ones(2 * P, 2, dtype=torch.long),
              "completion_mask": torch.tensor([[0, 1]] * 2 * P),  # (2P, 2): the second token is the completion
              "ref_chosen_logps": ref_chosen, "ref_rejected_logps": ref_rejected}
    return trainer._compute_loss(stub, lambda **kwargs: outputs, inputs, return_outputs=False)


@pytest.mark.peers
@pytest.mark.parametrize("beta", [0.05, 0.1, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_dpo_sigmoid_loss_matches_trl(trl: SimpleNamespace, beta: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    values = [-20 * torch.rand(5, generator=g, dtype=torch.float64) for _ in range(4)]
    ours_in = [v.clone().requires_grad_(True) for v in values]
    trl_in = [v.clone().requires_grad_(True) for v in values]
    ours = dpo_sigmoid_loss(*ours_in, beta)
    theirs = trl_dpo_sigmoid_loss(trl.DPOTrainer, *trl_in, beta)
    assert abs(ours.item() - theirs.item()) <= TOL
    for a, b in zip(torch.autograd.grad(ours, ours_in), torch.autograd.grad(theirs, trl_in), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL)


@pytest.mark.peers
def test_advantages_come_from_trl_own_trainer(trl: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The peer's advantages are computed by the installed GRPOTrainer: TRL's nanstd, swapped for a
    constant 1 inside TRL's trainer module, changes them to (r - mean) / (1 + 1e-4)."""
    import trl.trainer.grpo_trainer as grpo_trainer

    assert trl_route().startswith("trl 1.16.0 GRPOTrainer.train()")
    r = torch.tensor([[0.0, 1.0, 1.0, 0.35], [0.2, 0.2, 0.9, 0.4]])
    assert torch.equal(trl_group_advantages(r), trl_formula(r))
    monkeypatch.setattr(grpo_trainer, "nanstd", lambda tensor, dim=None, keepdim=False: torch.ones_like(
        tensor.mean(dim=dim, keepdim=keepdim) if dim is not None else tensor.mean()))
    expected = (r - r.mean(dim=1, keepdim=True)) / (1 + 1e-4)
    torch.testing.assert_close(trl_group_advantages(r), expected, rtol=0, atol=1e-7)


def trl_formula(rewards: torch.Tensor) -> torch.Tensor:
    """TRL 1.16's scale_rewards="group" advantages written out in float32: (r - nanmean(r)) /
    (nanstd(r) + 1e-4) per row, nanstd with Bessel's factor count / (count - 1)."""
    r = rewards.float()
    mean = torch.nanmean(r, dim=1, keepdim=True)
    count = torch.sum(~torch.isnan(r), dim=1, keepdim=True)
    variance = torch.nanmean((r - mean) ** 2, dim=1, keepdim=True) * (count / (count - 1))
    return (r - mean) / (torch.sqrt(variance) + 1e-4)


@st.composite
def reward_batches(draw: st.DrawFn) -> np.ndarray:
    """(Q, G) rewards, G = 2..16: binary, ties (0.35 and dyadic values), or real."""
    G, Q = draw(st.integers(2, 16)), draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["binary", "ties", "real"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    if kind == "binary":
        return rng.integers(0, 2, size=(Q, G)).astype(np.float64)
    if kind == "ties":
        return rng.choice([0.0, 0.35, 0.5, 1.0], size=(Q, G))
    return rng.uniform(-2, 2, size=(Q, G))


@pytest.mark.peers
@settings(max_examples=60, deadline=None)
@given(reward_batches())
def test_group_advantages_match_trl(trl: SimpleNamespace, rewards: np.ndarray) -> None:
    """theory's grpo (sample std, eps 1e-4) == the advantages TRL's trainer computes, in float32 (the dtype
    TRL scores rewards in) on every group that is not silent, exactly 0 on silent groups of these
    rewards; TRL's numbers are its formula in float32 bit for bit, and float64 rewards are scored as
    their float32 values."""
    ours = group_advantages(rewards, "grpo", "sample", 1e-4)
    r32 = torch.from_numpy(rewards.astype(np.float32))
    theirs32 = trl_group_advantages(r32)
    assert theirs32.dtype == torch.float32
    loud = ~silent_groups(rewards)
    np.testing.assert_allclose(theirs32.numpy()[loud], ours[loud], rtol=0, atol=2e-5)
    dyadic = np.all(rewards * 4 == np.round(rewards * 4), axis=1)  # 0.35 may leave a float32 residue (BY-4)
    assert np.all(theirs32.numpy()[~loud & dyadic] == 0.0)
    assert torch.equal(theirs32, trl_formula(r32))
    assert torch.equal(trl_group_advantages(torch.from_numpy(rewards)), theirs32)


@pytest.mark.peers
def test_trl_two_grpo_advantages_are_plus_minus_0_7071(trl: SimpleNamespace) -> None:
    """TT-3: with G = 2 TRL gives A = +-1/(sqrt 2 + 2e-4) = +-0.70700, ours (sample std, eps 0) +-0.70711."""
    binary = np.array([[1.0, 0.0], [0.0, 1.0]])
    theirs = trl_group_advantages(torch.from_numpy(binary.astype(np.float32))).double().numpy()
    expected = np.array([[1, -1], [-1, 1]]) / (np.sqrt(2) + 2e-4)
    np.testing.assert_allclose(theirs, expected, rtol=0, atol=1e-7)
    np.testing.assert_allclose(theirs, group_advantages(binary, "grpo", "sample", 1e-4), rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.abs(theirs), 0.7071, atol=1e-4)
    np.testing.assert_allclose(group_advantages(binary, "grpo", "sample", 0.0), (binary * 2 - 1) / np.sqrt(2),
                               rtol=0, atol=1e-15)
