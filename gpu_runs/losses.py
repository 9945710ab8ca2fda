"""GRPO policy losses and the DPO sigmoid loss as pure functions of tensors.

Semantics are those of TRL 1.16.0 ``GRPOTrainer._compute_loss`` (token-level importance
sampling, no vLLM correction, no entropy mask) and ``DPOTrainer`` with ``loss_type="sigmoid"``;
``tests/test_peers_trl.py`` feeds identical tensors to both and compares values and gradients.

Completion i of the batch has tokens t with mask m_it (1 on completion tokens, 0 on padding),
n_i = sum_t m_it of them, and one advantage A_i. Per token:

    rho_it = exp(logp_it - old_logp_it)                                  importance ratio
    l_it   = -min(rho_it A_i, clip(rho_it, 1 - eps_low, 1 + eps_high) A_i)   clipped surrogate
           + beta * (exp(ref_it - logp_it) - (ref_it - logp_it) - 1)      k3 estimate of KL(pi || ref)

and the loss aggregates the masked l_it under TRL's ``loss_type`` names:

| loss_type | loss                                              | normaliser                      |
|-----------|---------------------------------------------------|---------------------------------|
| ``grpo``  | (1/N) sum_i (1/max(n_i, 1)) sum_t m_it l_it        | each sequence's length (DS)     |
| ``bnpo``  | sum_it m_it l_it / max(sum_it m_it, 1)             | tokens of this batch            |
| ``dr_grpo`` | sum_it m_it l_it / (N * max_completion_length)   | a constant (DR, DR-2)           |
| ``dapo``  | sum_it m_it l_it / max(num_items_in_batch, 1)      | tokens of the whole optimizer step |

TRL divides the ``grpo``, ``bnpo`` and ``dr_grpo`` losses of each micro-batch by its number of
gradient-accumulation steps, and normalises ``dapo`` by the token count of the whole accumulation
window (``num_items_in_batch``); a caller that accumulates gradients does the same. Without
accumulation ``dapo`` equals ``bnpo``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from theory.validation import check_choice, check_nonnegative

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")

Aggregation = Callable[[torch.Tensor, torch.Tensor, int | None, float | torch.Tensor | None], torch.Tensor]
"""(per_token_loss (N, T), mask (N, T), max_completion_length, num_items_in_batch) -> scalar loss."""


@dataclass(frozen=True)
class LossOutput:
    """``loss``: scalar tensor to back-propagate; ``clip_fraction``: share of completion tokens whose
    ratio left the clip range on the side that stops the gradient (TRL's ``clip_ratio/region_mean``);
    ``kl``: mean k3 KL to the reference over completion tokens (0.0 when no ``ref_logp`` was given)."""

    loss: torch.Tensor
    clip_fraction: float
    kl: float


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, eps_low: float, eps_high: float
) -> torch.Tensor:
    """-min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) per token, rho = exp(logp - old_logp); (N, T)."""
    ratio = torch.exp(logp - old_logp)  # (N, T)
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    A = advantages.unsqueeze(1)  # (N, 1): one advantage per completion, shared by its tokens
    return -torch.min(ratio * A, clipped * A)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """exp(ref - logp) - (ref - logp) - 1 per token: the k3 estimate of KL(pi || ref), >= 0; (N, T)."""
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1


def clip_region(ratio: torch.Tensor, advantages: torch.Tensor, eps_low: float, eps_high: float) -> torch.Tensor:
    """1 where the clip is active: (rho < 1 - eps_low and A < 0) or (rho > 1 + eps_high and A > 0); (N, T)."""
    A = advantages.unsqueeze(1)
    return ((ratio < 1 - eps_low) & (A < 0)) | ((ratio > 1 + eps_high) & (A > 0))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    """sum(m x) / max(sum(m), 1) over every token of the batch, as a detached python float."""
    return float((values.detach() * mask).sum() / mask.sum().clamp(min=1.0))


def aggregate_grpo(per_token_loss: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None = None,
                   num_items_in_batch: float | torch.Tensor | None = None) -> torch.Tensor:
    """(1/N) sum_i (1/max(n_i, 1)) sum_t m_it l_it: mean over each sequence's tokens, then over sequences."""
    return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


def aggregate_bnpo(per_token_loss: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None = None,
                   num_items_in_batch: float | torch.Tensor | None = None) -> torch.Tensor:
    """sum_it m_it l_it / max(sum_it m_it, 1): mean over every completion token of the batch."""
    return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)


def aggregate_dr_grpo(per_token_loss: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None = None,
                      num_items_in_batch: float | torch.Tensor | None = None) -> torch.Tensor:
    """sum_it m_it l_it / (N * max_completion_length): a constant normaliser, no length bias (DR-2)."""
    if max_completion_length is None:
        raise ValueError("max_completion_length=None is not allowed for loss_type='dr_grpo'; give an integer >= 1")
    return (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length)


def aggregate_dapo(per_token_loss: torch.Tensor, mask: torch.Tensor, max_completion_length: int | None = None,
                   num_items_in_batch: float | torch.Tensor | None = None) -> torch.Tensor:
    """sum_it m_it l_it / max(num_items_in_batch, 1), num_items_in_batch = completion tokens of the
    whole optimizer step (default: sum_it m_it of this batch)."""
    if num_items_in_batch is None:
        total = mask.sum()
    else:
        total = torch.as_tensor(num_items_in_batch, dtype=mask.dtype, device=mask.device)
    return (per_token_loss * mask).sum() / total.clamp(min=1.0)


AGGREGATIONS: dict[str, Aggregation] = {
    "grpo": aggregate_grpo,
    "bnpo": aggregate_bnpo,
    "dr_grpo": aggregate_dr_grpo,
    "dapo": aggregate_dapo,
}


def _check_inputs(
    logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, advantages: torch.Tensor,
    mask: torch.Tensor, beta: float, max_completion_length: int | None, num_items_in_batch: object,
) -> None:
    if logp.dim() != 2:
        raise ValueError(f"logp has shape {tuple(logp.shape)}; it must be (N, T): completions x tokens")
    for name, tensor in (("old_logp", old_logp), ("ref_logp", ref_logp), ("mask", mask)):
        if tensor is not None and tensor.shape != logp.shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}; it must match logp {tuple(logp.shape)}")
    if advantages.shape != logp.shape[:1]:
        raise ValueError(f"advantages has shape {tuple(advantages.shape)}; it must be ({logp.shape[0]},): "
                         "one advantage per completion")
    if beta != 0.0 and ref_logp is None:
        raise ValueError(f"ref_logp=None is not allowed with beta={beta!r}; give reference log-probs or beta=0")
    if max_completion_length is not None and (
        isinstance(max_completion_length, bool) or not isinstance(max_completion_length, int)
        or max_completion_length < max(logp.shape[1], 1)
    ):
        raise ValueError(f"max_completion_length={max_completion_length!r} must be an integer >= the number "
                         f"of token columns T = {logp.shape[1]} (and >= 1)")
    if num_items_in_batch is not None and not float(num_items_in_batch) >= 0:
        raise ValueError(f"num_items_in_batch={num_items_in_batch!r} must be a number of tokens >= 0")


def policy_loss(
    loss_type: str,
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    beta: float = 0.0,
    max_completion_length: int | None = None,
    num_items_in_batch: float | torch.Tensor | None = None,
) -> LossOutput:
    """loss = aggregate_{loss_type}(m * (-min(rho A, clip(rho, 1-eps_low, 1+eps_high) A) + beta k3)); see
    the module docstring. TRL 1.16.0 ``GRPOTrainer._compute_loss``, token-level ratios.

    ``logp``, ``old_logp``, ``ref_logp`` and ``mask`` are (N, T) per-token tensors, ``advantages``
    is (N,). Only ``logp`` normally carries gradient; the others are used as given (TRL does not
    detach them either). ``ref_logp`` may be None when ``beta == 0``; when it is given, ``kl`` is
    measured even with ``beta == 0`` and enters the loss only when ``beta != 0`` (as in TRL).
    ``max_completion_length`` is needed by ``dr_grpo`` and ``num_items_in_batch`` is used by ``dapo``;
    the other loss types ignore them.
    """
    check_choice("loss_type", loss_type, LOSS_TYPES)
    check_nonnegative("eps_low", eps_low)
    check_nonnegative("eps_high", eps_high)
    check_nonnegative("beta", beta)
    _check_inputs(logp, old_logp, ref_logp, advantages, mask, beta, max_completion_length, num_items_in_batch)
    mask = mask.to(logp.dtype)
    per_token_loss = clipped_surrogate(logp, old_logp, advantages, eps_low, eps_high)  # (N, T)
    kl = 0.0
    if ref_logp is not None:
        per_token_kl = k3_kl(logp, ref_logp)  # (N, T)
        kl = masked_mean(per_token_kl, mask)
        if beta != 0.0:
            per_token_loss = per_token_loss + beta * per_token_kl
    loss = AGGREGATIONS[loss_type](per_token_loss, mask, max_completion_length, num_items_in_batch)
    ratio = torch.exp(logp.detach() - old_logp.detach())
    clip_fraction = masked_mean(clip_region(ratio, advantages.detach(), eps_low, eps_high).to(mask.dtype), mask)
    return LossOutput(loss=loss, clip_fraction=clip_fraction, kl=kl)


def dpo_sigmoid_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """mean over pairs of -log sigmoid(beta (h+ - h-)), h = log pi(y|x) - log pi_ref(y|x) (DPO; TRL
    ``loss_type="sigmoid"``).

    Its gradient with respect to h+ is -beta sigmoid(beta (h- - h+)) / P for P pairs: the pair
    weight of TT-2 (:func:`theory.contrastive.dpo_pair_weight`), and the opposite for h-.
    Every argument is a (P,) tensor of sequence log-probabilities; ``beta`` > 0.
    """
    if not beta > 0 or beta == float("inf"):
        raise ValueError(f"beta={beta!r} must be a finite number > 0")
    shape = policy_chosen_logps.shape
    if policy_chosen_logps.dim() != 1:
        raise ValueError(f"policy_chosen_logps has shape {tuple(shape)}; it must be (P,): one value per pair")
    for name, tensor in (("policy_rejected_logps", policy_rejected_logps), ("ref_chosen_logps", ref_chosen_logps),
                         ("ref_rejected_logps", ref_rejected_logps)):
        if tensor.shape != shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}; it must match "
                             f"policy_chosen_logps {tuple(shape)}")
    margin = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)  # h+ - h-
    return -F.logsigmoid(beta * margin).mean()
