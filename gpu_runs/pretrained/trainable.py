"""Which parameters of a pretrained LM GRPO updates (issue 16, item 2), and the learning rates that suit them.

Modes (the CLI's ``--trainable``):

- ``full``: every parameter (tied input/output embeddings counted once).
- ``topK`` (``top2``, ``top4``, ...): every parameter of the top K decoder layers (attention q, k, v, o, the MLP's
  gate, up, down and the layer's two norms); embeddings, the lower layers, the final norm and the LM head stay
  frozen. The lower layers run forward without a graph, so a step costs one forward plus the backward of K layers.
- ``lora``: LoRA (Hu et al. 2021, via ``peft``) of rank r on the attention and MLP projections of every layer:
  W x + (alpha / r) B A x with A (r x in) random, B (out x r) zero at the start, so the adapted model starts as the
  base model; only A and B train, the base weights stay frozen. No LoRA dropout (log-probs with dropout off).

Learning rates. The reference is TRL 1.16's own ``GRPOConfig`` (read from the installed package, not guessed):
learning_rate 1e-6, max_grad_norm 1.0, beta 0.0, epsilon 0.2 (epsilon_high None: the same on both sides), AdamW
(betas 0.9 / 0.999, eps 1e-8, weight decay 0), a linear decay of the rate to 0, no warm-up, loss_type ``dapo``.
Its 1e-6 is meant for full fine-tuning of a pretrained model over hundreds of steps; the from-scratch test bed's
rates (2e-4 and up) would wreck a pretrained model and are not used here. ``full`` and ``topK`` default to TRL's
1e-6; ``lora`` to 10x that, 1e-5: B starts at zero and the update of W is the product B A, so LoRA's effective step
on W is much smaller than the rate on A and B (the usual LoRA rates are ~10x full fine-tuning's). A short run may
need a higher rate to move at all; the CLI's ``--lr`` sets it, and a results README says which was used and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from gpu_runs.pretrained.gradients import decoder_layers

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The Llama projections LoRA adapts (attention and MLP)."""
LEARNING_RATES = {"full": 1e-6, "top": 1e-6, "lora": 1e-5}
"""Default learning rate per mode kind (module docstring: TRL's 1e-6, LoRA 10x)."""
_MODE = re.compile(r"^(full|lora|top([1-9][0-9]*))$")


@dataclass(frozen=True)
class Trainable:
    """A trainable-parameter mode: ``mode`` ``full``, ``topK`` or ``lora``; ``lora_rank`` r and ``lora_alpha``
    (scale alpha / r) are used by ``lora`` only."""

    mode: str
    lora_rank: int = 16
    lora_alpha: int = 32

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank={self.lora_rank} must be an integer >= 1")
        if self.lora_alpha < 1:
            raise ValueError(f"lora_alpha={self.lora_alpha} must be an integer >= 1")

    @property
    def kind(self) -> str:
        """``full``, ``top`` or ``lora``."""
        return "top" if self.mode.startswith("top") else self.mode

    @property
    def top_layers(self) -> int | None:
        """K of ``topK``; None for the other modes."""
        return int(self.mode[3:]) if self.kind == "top" else None

    @property
    def default_learning_rate(self) -> float:
        return LEARNING_RATES[self.kind]

    def describe(self) -> str:
        """'top2 (the top 2 decoder layers)', 'lora (rank 16, alpha 32, ...)', 'full (every parameter)'."""
        if self.kind == "top":
            return f"{self.mode} (every parameter of the top {self.top_layers} decoder layers)"
        if self.kind == "lora":
            return (f"lora (rank {self.lora_rank}, alpha {self.lora_alpha}, on {', '.join(LORA_TARGETS)} of every "
                    "layer; base weights frozen)")
        return "full (every parameter)"


def check_mode(mode: str) -> str:
    """``mode`` if it is ``full``, ``lora`` or ``topK`` with an integer K >= 1; else ValueError naming it."""
    if not isinstance(mode, str) or not _MODE.match(mode):
        raise ValueError(f"trainable={mode!r} is not allowed; choose full, lora or topK with K an integer >= 1 "
                         "(e.g. top2: the top 2 decoder layers)")
    return mode


def make_trainable(model: torch.nn.Module, trainable: Trainable, seed: int = 0) -> torch.nn.Module:
    """The module to train, with ``requires_grad`` on exactly the mode's parameters and off on all others: ``model``
    itself for ``full`` and ``topK``, a ``peft`` LoRA model around it for ``lora`` (A drawn from ``seed``, B = 0).
    ``model`` stays in eval mode (dropout off); ValueError when K exceeds the model's decoder layers."""
    model.requires_grad_(False)
    if trainable.kind == "full":
        model.requires_grad_(True)
        return model
    if trainable.kind == "top":
        layers = decoder_layers(check_fits(model, trainable))
        for layer in layers[len(layers) - trainable.top_layers:]:
            layer.requires_grad_(True)
        return model
    return lora_model(model, trainable, seed)


def check_fits(model: torch.nn.Module, trainable: Trainable) -> torch.nn.Module:
    """``model`` if ``trainable`` applies to it (K of ``topK`` at most its decoder layers); else ValueError."""
    if trainable.kind == "top":
        layers = len(decoder_layers(model))
        if not trainable.top_layers <= layers:
            raise ValueError(f"trainable={trainable.mode!r}: K={trainable.top_layers} must lie in 1..{layers} (the "
                             "model's decoder layers)")
    return model


def lora_config(trainable: Trainable) -> object:
    """peft's ``LoraConfig`` of a ``lora`` mode (also handed to TRL's trainer by the speed benchmark)."""
    from peft import LoraConfig

    return LoraConfig(r=trainable.lora_rank, lora_alpha=trainable.lora_alpha, lora_dropout=0.0, bias="none",
                      target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")


def lora_model(model: torch.nn.Module, trainable: Trainable, seed: int) -> torch.nn.Module:
    """``model`` wrapped by peft's LoRA (:func:`lora_config`); A initialised from ``seed``, the caller's RNG state
    kept; eval mode."""
    from peft import get_peft_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wrapped = get_peft_model(model, lora_config(trainable))
    wrapped.eval()
    return wrapped


def trainable_parameters(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) of every parameter with ``requires_grad``, each tensor once."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def count_trainable(model: torch.nn.Module) -> int:
    """Number of trainable weights (tied tensors counted once)."""
    return sum(p.numel() for _, p in trainable_parameters(model))
