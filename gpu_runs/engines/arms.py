"""The arms of TT-9 as engine-neutral specs: TT's own settings (THEORY.md TT-9; TT ran verl).

Both Table-1 arms spend 512 rollouts per mini-batch: 16-GRPO as 32 prompts x 16 at lr 1e-6, 2-GRPO as
256 x 2 at lr 8e-6 (linear lr-batch scaling); Adam with a constant lr after 10 warm-up steps, 10 epochs
over the same prompts. 2-GRPO+RS replaces a silent group by a fresh prompt's group, within 16-GRPO's
rollouts. Table 4 varies G at 16-GRPO's 32 prompts per mini-batch; TT states no lr for it, so 16-GRPO's
1e-6 is kept (an assumption, named in the arm's note).
"""

from __future__ import annotations

from dataclasses import dataclass

TT_EPOCHS = 10
TT_WARMUP_STEPS = 10


@dataclass(frozen=True)
class ArmSpec:
    """One arm: ``group_size`` G, ``prompts_per_minibatch`` (prompts per optimizer step), ``lr``;
    ``resample_silent``: 2-GRPO+RS; ``note``: what is assumed beyond TT's text."""

    key: str
    title: str
    group_size: int
    prompts_per_minibatch: int
    lr: float
    resample_silent: bool = False
    note: str = ""

    @property
    def rollouts_per_minibatch(self) -> int:
        return self.group_size * self.prompts_per_minibatch


ARMS: dict[str, ArmSpec] = {arm.key: arm for arm in (
    ArmSpec("grpo16", "16-GRPO (TT Table 1)", 16, 32, 1e-6),
    ArmSpec("grpo2", "2-GRPO (TT Table 1)", 2, 256, 8e-6),
    ArmSpec("grpo2-rs", "2-GRPO+RS (TT Table 1)", 2, 256, 8e-6, resample_silent=True,
            note="a silent group is replaced by a fresh prompt's group; TT caps the rollouts at 16-GRPO's"),
    *(ArmSpec(f"g{G}-fixed-p", f"{G}-GRPO at 32 prompts (TT Table 4)", G, 32, 1e-6,
              note="TT gives no lr for Table 4; 16-GRPO's 1e-6 is kept") for G in (2, 4, 8)),
)}


def arm_spec(key: str) -> ArmSpec:
    """The arm named ``key`` (:data:`ARMS`)."""
    if key not in ARMS:
        raise ValueError(f"arm={key!r} is not allowed; choose one of {', '.join(ARMS)}")
    return ARMS[key]
