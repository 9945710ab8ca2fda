"""TT-9 (and VI-3) on small LMs: 2-GRPO against 16-GRPO with the test bed of ``gpu_runs.trainer``.

The check :func:`check_tt9_vi3` (claims TT-9 and VI-3, method ``llm``) runs the ``tiny`` preset at the
run's budget; ``grpo-verify llm experiment --preset {tiny,small,gpu}`` runs any preset (the model
presets of ``gpu_runs.config``: ~0.1M, ~1M and ~14M parameters), sized by :data:`SIZES`.

The arms (P prompts per step of 16-GRPO, N training prompts, E epochs: every arm trains on the same
first E N prompts of each seed's order; one optimizer step per generation batch). Each arm's
*TT-scaled* lr is 16-GRPO's base lr times its prompts per mini-batch over P (TT: 1e-6 for 32
prompts, 8e-6 for 256):

- Table-1 analogue (TT Table 1): ``grpo16`` P x 16; ``grpo2-own`` 8P x 2, E N / 8P steps, so 12.5%
  of the rollouts, at its own tuned lr; ``grpo2-tt`` the same at TT's protocol, 8x 16-GRPO's tuned lr
  (not tuned: a row of its own); ``grpo2-rs`` 2-GRPO+RS: silent groups replaced by fresh prompts'
  groups, at most 16 rollouts per prompt of the step, so never more rollouts than 16-GRPO.
- Table-4 analogue: ``g{G}-fixed-p`` G in {2, 4, 8} at P prompts per mini-batch, E N / P steps
  (G = 16 is ``grpo16``).
- Equal rollouts: ``grpo2-equal`` 8P x 2 for as many steps (hence rollouts) as 16-GRPO: 8E epochs.
- VI-3: ``grpo16-partial`` and ``grpovi16-partial``, P x 16 on partial-credit rewards, GRPO's
  advantages against GRPOVI's adjusted rewards (weights from the start policy).

Equal tuning: every arm but ``grpo2-tt`` runs the same grid of multipliers of its TT-scaled lr
(``lr_grid``) on the same tuning seeds (seed + 1000 + j, never an evaluation seed) and keeps the
multiplier whose runs score best on a probe of *training* prompts (mean pass rate; mean partial
credit for the partial-credit arms); held-out prompts never choose. A best multiplier at an edge of
the grid extends it by one multiplier beyond that edge (x or / ``grid_factor``), repeated until the
best is inside (at most ``max_grid_extensions`` times; reaching the cap is reported).

Converged runs: E starts at TT's 10 epochs; 16-GRPO's tuning runs at its chosen lr decide whether
its held-out score has plateaued (:func:`plateau`: the mean of the last quarter of its held-out
evaluations rises over the quarter before by less than ``plateau_rise``, or by less than the 95%
half width of that rise); if not, E doubles (up to ``max_epochs``) and the tuning reruns.

Paired design: arm a at evaluation seed s trains from the same start policy, with the same RL seed
(sampling generator and the seeded permutation of the training prompts, so every arm reads the
prompts in the same order), and is scored on the same held-out prompts with the same sampling seed
(:data:`EVAL_SEED`) as every other arm at seed s; the report's intervals are on per-seed paired values.

Each (arm, seed) run trains with :func:`gpu_runs.trainer.train` (which resumes a killed run from its
checkpoint), then probes k samples of training prompts and (evaluation runs) evaluates its final
policy on the held-out set; ``result.json`` is written atomically and the checkpoints removed. A run
whose ``result.json`` exists is skipped, so re-running the experiment resumes it. ``jobs`` > 1 runs
independent runs in that many worker processes (one torch thread each); each run's training seconds
are measured in its own process, so wall-clock ratios compare runs that shared the machine alike.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from tqdm import tqdm

from evidence.io import atomic_write_json, folder_lock
from evidence.record import BUDGETS, Evidence, RunContext
from gpu_runs.config import PRESETS, TrainConfig, to_json, with_group_size
from gpu_runs.config import preset as model_preset
from gpu_runs.tasks import TASKS
from theory import statistics
from theory.validation import check_choice

if TYPE_CHECKING:  # torch-free at import: the CLI builds its options from this module
    from gpu_runs.tt9.start import StartPolicy

REFERENCE = "grpo16"
TABLE1 = ("grpo16", "grpo2-tt", "grpo2-own", "grpo2-rs")
TABLE4_GROUP_SIZES = (2, 4, 8)
ARM_KEYS = (*TABLE1, *(f"g{G}-fixed-p" for G in TABLE4_GROUP_SIZES), "grpo2-equal", "grpo16-partial",
            "grpovi16-partial")
"""Every arm of the experiment, in the order of the report."""
UNTUNED = ("grpo2-tt",)
"""Arms that take their lr from another arm's tuning (TT's protocol: 8x 16-GRPO's lr) instead of a grid."""
EVAL_SEED = 2024
"""Seed of the final held-out sampling and of the probes: the same noise for every run and the start."""
TUNING_SEED_OFFSET = 1000
"""Tuning seeds are seed + 1000 + j, never an evaluation seed (seed + i, i < 1000)."""
SPREAD_BAND = (0.1, 0.9)
MIN_SPREAD = 0.4
"""The start policy must leave >= 40% of the probed training prompts with a pass rate in (0.1, 0.9)."""
DEFAULT_CACHE_DIR = Path("out/warmstarts")
"""Warm-start cache shared with ``grpo-verify llm train``."""
CHECK_PRESET = "tiny"
"""The preset :func:`check_tt9_vi3` runs, on every machine (a GPU user runs ``llm experiment --preset gpu``)."""


def _is_count(value: Any, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= low


@dataclass(frozen=True)
class ExperimentConfig:
    base: TrainConfig                  # 16-GRPO: P prompts x 16 per step, one mini-batch, TT-scaled lr; steps derived
    epochs: float = 10.0               # E: passes over the N training prompts (TT: 10), the least every arm trains
    max_epochs: float = 20.0           # E doubles up to this while 16-GRPO's held-out score has not plateaued
    plateau_rise: float = 0.01         # plateau: the last quarter of held-out evaluations rises by < this (or < its CI)
    seeds: int = 8                     # evaluation RL seeds per arm (>= 2 for confidence intervals)
    lr_grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)  # multipliers of every arm's TT-scaled lr (tuning grid)
    grid_factor: float = 2.0           # a best multiplier at an edge adds edge x factor (or / factor) to the grid
    max_grid_extensions: int = 3       # per arm and epoch count; reaching it is reported
    tuning_seeds: int = 1              # RL seeds of the lr tuning, disjoint from the evaluation seeds
    eval_points: int = 16              # held-out curve evaluations per run (plus step 0)
    k: int = 16                        # samples per prompt at the end: Mean@k, Pass@k, probes
    final_prompts: int = 1024          # held-out prompts of the final evaluation
    probe_prompts: int = 256           # training prompts probed (pass rates, silent share, lr choice)
    arms: tuple[str, ...] = ARM_KEYS   # the arms to run
    model: str = "gpt"                 # gpt (the test bed's transformer) or hf:PATH (a local Hugging Face LM)

    def __post_init__(self) -> None:
        for name in ("seeds", "tuning_seeds", "eval_points", "final_prompts", "probe_prompts"):
            if not _is_count(getattr(self, name), 1):
                raise ValueError(f"{name}={getattr(self, name)!r} must be an integer >= 1")
        if not _is_count(self.max_grid_extensions, 0):
            raise ValueError(f"max_grid_extensions={self.max_grid_extensions!r} must be an integer >= 0")
        task = self.base.warm_start.task
        G = self.base.group_size
        if G != 16:
            raise ValueError(f"base.group_size={G} must be 16 (the reference arm of TT-9 is 16-GRPO)")
        if self.base.prompts_per_minibatch != self.base.prompts_per_step:
            raise ValueError(f"base.prompts_per_minibatch={self.base.prompts_per_minibatch} must equal "
                             f"prompts_per_step={self.base.prompts_per_step} (one optimizer step per batch, as TT)")
        for name in ("epochs", "max_epochs"):
            value = getattr(self, name)
            prompts = value * task.train_size if isinstance(value, (int, float)) else -1.0
            if not (prompts > 0 and prompts == round(prompts)
                    and round(prompts) % (8 * self.base.prompts_per_step) == 0):
                raise ValueError(f"{name}={value!r} must be > 0 with {name} x train_size ({task.train_size}) a "
                                 f"multiple of 8 x prompts_per_step = {8 * self.base.prompts_per_step} (2-GRPO's "
                                 "prompts per step), so every arm sees the same prompts")
        if self.max_epochs < self.epochs:
            raise ValueError(f"max_epochs={self.max_epochs!r} must be >= epochs={self.epochs!r}")
        if not (isinstance(self.plateau_rise, (int, float)) and self.plateau_rise >= 0):
            raise ValueError(f"plateau_rise={self.plateau_rise!r} must be a number >= 0")
        if self.k < G:
            raise ValueError(f"k={self.k!r} must be >= {G} (the silent share of 16-GRPO is estimated from k samples)")
        if self.final_prompts > task.heldout_size:
            raise ValueError(f"final_prompts={self.final_prompts} must be <= heldout_size={task.heldout_size}")
        if self.probe_prompts > task.train_size:
            raise ValueError(f"probe_prompts={self.probe_prompts} must be <= train_size={task.train_size}")
        if len(self.lr_grid) < 2 or len(set(self.lr_grid)) != len(self.lr_grid) or not all(
                m > 0 for m in self.lr_grid):
            raise ValueError(f"lr_grid={self.lr_grid!r} must hold >= 2 distinct numbers > 0")
        if not (isinstance(self.grid_factor, (int, float)) and self.grid_factor > 1):
            raise ValueError(f"grid_factor={self.grid_factor!r} must be a number > 1")
        for arm in self.arms:
            check_choice("arms", arm, ARM_KEYS)
        if REFERENCE not in self.arms:
            raise ValueError(f"arms={self.arms!r} must include the reference arm {REFERENCE!r}")
        if not (self.model == "gpt" or (self.model.startswith("hf:") and len(self.model) > 3)):
            raise ValueError(f"model={self.model!r} is not allowed; use gpt or hf:PATH")

    def prompts(self, epochs: float | None = None) -> int:
        """E N: prompts each Table-1 / Table-4 arm trains on at ``epochs`` (default: E)."""
        return round((self.epochs if epochs is None else epochs) * self.base.warm_start.task.train_size)


@dataclass(frozen=True)
class Arm:
    """One arm at one lr: ``key`` (folder name), ``label`` (legend), ``family`` (table1, table4,
    equal or grpovi), its config (seed set per run) and the multiplier of its TT-scaled lr."""

    key: str
    label: str
    family: str
    config: TrainConfig
    lr_multiplier: float = 1.0
    notes: str = ""


FAMILY = {"grpo16": "table1", "grpo2-tt": "table1", "grpo2-own": "table1", "grpo2-rs": "table1",
          **{f"g{G}-fixed-p": "table4" for G in TABLE4_GROUP_SIZES}, "grpo2-equal": "equal",
          "grpo16-partial": "grpovi", "grpovi16-partial": "grpovi"}


def _cadence(config: TrainConfig, steps: int, eval_points: int) -> TrainConfig:
    every = max(1, steps // eval_points)
    return dataclasses.replace(config, steps=steps, eval_every=every, checkpoint_every=every)


def tt_scaled_lr(exp: ExperimentConfig, key: str) -> float:
    """16-GRPO's base lr x (the arm's prompts per mini-batch) / P: TT's lr scaling (1e-6 at 32 prompts,
    8e-6 at 256); the x1 point of the arm's tuning grid."""
    check_choice("arm", key, ARM_KEYS)
    return exp.base.lr * (8 if key.startswith("grpo2") else 1)


def arm_config(exp: ExperimentConfig, key: str, lr: float, epochs: float | None = None) -> TrainConfig:
    """The config of arm ``key`` at learning rate ``lr`` after ``epochs`` (default E) passes over
    the training prompts (8x that for ``grpo2-equal``), steps and evaluation cadence derived."""
    check_choice("arm", key, ARM_KEYS)
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be > 0")
    base, P = exp.base, exp.base.prompts_per_step
    prompts = exp.prompts(epochs)
    if key.startswith("grpo2"):
        config = with_group_size(base, 2)  # 8P prompts x 2: 16-GRPO's rollouts per step
        config = dataclasses.replace(config, resample_silent=key == "grpo2-rs",
                                     resample_rollouts_per_prompt=base.group_size)
        steps = (8 if key == "grpo2-equal" else 1) * prompts // config.prompts_per_step
    elif key.endswith("-fixed-p"):
        G = int(key[1:key.index("-")])
        config = with_group_size(base, G, P * G, P * G)
        steps = prompts // P
    else:
        config = base
        steps = prompts // P
        if key.endswith("-partial"):
            config = dataclasses.replace(config, reward="partial",
                                         estimator="grpovi" if key.startswith("grpovi") else "grpo")
    return _cadence(dataclasses.replace(config, lr=lr), steps, exp.eval_points)


def make_arm(exp: ExperimentConfig, key: str, multiplier: float, epochs: float | None = None) -> Arm:
    """Arm ``key`` at ``multiplier`` x its TT-scaled lr (``grpo2-tt``: ``multiplier`` is 16-GRPO's)."""
    config = arm_config(exp, key, tt_scaled_lr(exp, key) * multiplier, epochs)
    P, G, Q = exp.base.prompts_per_step, exp.base.group_size, 8 * exp.base.prompts_per_step
    lr = f"lr {config.lr:.2g}"
    labels = {
        "grpo16": (f"16-GRPO ({P}x{G}, {lr})", ""),
        "grpo2-tt": (f"2-GRPO ({Q}x2, TT: 8x 16-GRPO's {lr})", "TT's protocol: lr 8x 16-GRPO's tuned lr, not tuned"),
        "grpo2-own": (f"2-GRPO ({Q}x2, tuned {lr})", ""),
        "grpo2-rs": (f"2-GRPO+RS ({Q}x2, tuned {lr})",
                     "silent groups replaced by fresh prompts' groups, <= 16 rollouts per prompt"),
        "grpo2-equal": (f"2-GRPO equal rollouts ({Q}x2, tuned {lr}, 8x epochs)", "as many rollouts as 16-GRPO"),
        "grpo16-partial": (f"16-GRPO partial credit ({P}x{G}, {lr})", ""),
        "grpovi16-partial": (f"16-GRPOVI partial credit ({P}x{G}, {lr})", ""),
        **{f"g{g}-fixed-p": (f"{g}-GRPO at {P} prompts ({P}x{g}, {lr})", "") for g in TABLE4_GROUP_SIZES},
    }
    label, notes = labels[key]
    return Arm(key, label, FAMILY[key], config, multiplier, notes)


# --- tuning and convergence rules ------------------------------------------------------------------------

def next_multiplier(scores: dict[float, float], factor: float) -> float | None:
    """The multiplier to add to a tuning grid: best / factor when the best score sits at the lowest
    multiplier, best x factor at the highest, None when it is inside (the grid is settled)."""
    if len(scores) < 2:
        raise ValueError(f"scores={scores!r} must hold >= 2 multipliers")
    if not factor > 1:
        raise ValueError(f"factor={factor!r} must be > 1")
    grid = sorted(scores)
    best = max(grid, key=lambda m: scores[m])  # ties: the smallest multiplier
    if best == grid[0]:
        return best / factor
    if best == grid[-1]:
        return best * factor
    return None


def plateau(values: ArrayLike, min_rise: float, level: float = statistics.LEVEL) -> dict[str, Any]:
    """rise = mean(last quarter of the evaluations) - mean(the quarter before), per run (rows of
    ``values``, columns the held-out evaluations after step 0), averaged over runs; plateaued when
    rise < ``min_rise`` or rise < its 95% half width (Student t over runs; one run: Welch over the
    two quarters' points)."""
    y = np.atleast_2d(np.asarray(values, dtype=np.float64))
    runs, m = y.shape
    if m < 2 or not np.all(np.isfinite(y)):
        raise ValueError(f"values of shape {y.shape} must be finite with >= 2 evaluations per run")
    if not min_rise >= 0:
        raise ValueError(f"min_rise={min_rise!r} must be >= 0")
    q = max(1, m // 4)
    last, before = y[:, m - q:], y[:, m - 2 * q:m - q]
    rises = last.mean(axis=1) - before.mean(axis=1)
    rise = float(rises.mean())
    if runs >= 2:
        half = float(statistics.mean_ci(rises, level=level)[1])
    elif q >= 2:
        va, vb = last.var(ddof=1) / q, before.var(ddof=1) / q
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (q - 1) + vb**2 / (q - 1)) if se > 0 else 1.0
        from scipy.stats import t as student_t

        half = float(student_t.ppf((1 + level) / 2, df)) * se
    else:
        half = 0.0
    return {"rise": rise, "ci95": half, "quarter": q, "evaluations": m, "runs": runs, "min_rise": min_rise,
            "plateaued": bool(rise < min_rise or rise < half)}


def spread(successes: ArrayLike, k: int) -> dict[str, Any]:
    """The start policy's pass-rate spread: the share of probed prompts with c / k in (0.1, 0.9),
    the 10-bin histogram of c / k, and whether the share reaches :data:`MIN_SPREAD`."""
    c = np.asarray(successes, dtype=np.float64)
    p = c / k
    counts, _ = np.histogram(p, bins=np.linspace(0.0, 1.0, 11))
    share = float(np.mean((p > SPREAD_BAND[0]) & (p < SPREAD_BAND[1])))
    return {"share_informative": share, "required": MIN_SPREAD, "ok": share >= MIN_SPREAD,
            "histogram": counts.tolist(), "prompts": int(p.size), "samples": k}


# --- presets ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizing:
    """The size of the experiment of one preset at one budget: the 16-GRPO arm's prompts per step
    (one mini-batch) and held-out prompts per curve evaluation, then :class:`ExperimentConfig`'s sizes."""

    prompts_per_step: int
    eval_prompts: int
    epochs: float
    max_epochs: float
    seeds: int
    lr_grid: tuple[float, ...]
    eval_points: int
    final_prompts: int
    probe_prompts: int
    tuning_seeds: int = 1
    max_grid_extensions: int = 3
    k: int = 16
    arms: tuple[str, ...] = ARM_KEYS


SMALL_ARMS = ("grpo16", "grpo2-tt", "grpo2-own", "grpo2-rs", "g2-fixed-p", "g4-fixed-p", "grpo2-equal")
"""The small preset's default arms: every Table-1 arm and the equal-rollout arm; of Table 4 the two
that differ most from 16-GRPO (G = 2, 4); not G = 8 (half of 16-GRPO's cost, the closest to it) nor
VI-3's partial-credit arms (twice 16-GRPO's cost; VI-3 runs at tiny): what fits 60 minutes on 2 cores."""
LR_GRID = (0.5, 1.0, 2.0)
SMOKE_LR_GRID = (0.5, 2.0)
ARM16_LR = {"tiny": 4e-4, "small": 2e-4, "gpu": 3e-5}
"""16-GRPO's TT-scaled base lr per preset (the x1 point of its grid; every other arm's is scaled from it)."""
THREADS = {"tiny": 1, "small": 1, "gpu": 0}
"""torch threads per run when not given: 1 on the CPU presets (``--jobs`` uses the other cores), every
core (0) on ``gpu``."""
SIZES: dict[str, dict[str, Sizing]] = {
    "tiny": {  # smoke: a pipeline check of about 2-3 minutes on 2 cores
        "smoke": Sizing(8, 128, epochs=0.25, max_epochs=0.25, seeds=2, lr_grid=SMOKE_LR_GRID, eval_points=4,
                        final_prompts=256, probe_prompts=64, max_grid_extensions=0),
        "default": Sizing(8, 512, epochs=10.0, max_epochs=20.0, seeds=8, lr_grid=LR_GRID, eval_points=12,
                          final_prompts=1024, probe_prompts=256),
        "full": Sizing(8, 512, epochs=10.0, max_epochs=40.0, seeds=16, lr_grid=LR_GRID, eval_points=16,
                       final_prompts=2048, probe_prompts=256, tuning_seeds=2),
    },
    "small": {
        "smoke": Sizing(8, 128, epochs=0.25, max_epochs=0.25, seeds=2, lr_grid=SMOKE_LR_GRID, eval_points=4,
                        final_prompts=256, probe_prompts=64, max_grid_extensions=0),
        "default": Sizing(8, 256, epochs=10.0, max_epochs=20.0, seeds=8, lr_grid=LR_GRID, eval_points=12,
                          final_prompts=512, probe_prompts=256, arms=SMALL_ARMS),
        "full": Sizing(8, 512, epochs=10.0, max_epochs=40.0, seeds=16, lr_grid=LR_GRID, eval_points=16,
                       final_prompts=2048, probe_prompts=256, tuning_seeds=2),
    },
    "gpu": {  # TT's 32 x 16 against 256 x 2; configured for one GPU, not measured on one
        "smoke": Sizing(32, 512, epochs=0.125, max_epochs=0.125, seeds=2, lr_grid=SMOKE_LR_GRID, eval_points=4,
                        final_prompts=512, probe_prompts=64, max_grid_extensions=0, k=32),
        "default": Sizing(32, 1024, epochs=10.0, max_epochs=20.0, seeds=8, lr_grid=LR_GRID, eval_points=12,
                          final_prompts=2048, probe_prompts=512, k=32),
        "full": Sizing(32, 1024, epochs=10.0, max_epochs=40.0, seeds=16, lr_grid=LR_GRID, eval_points=16,
                       final_prompts=2048, probe_prompts=512, tuning_seeds=2, k=32),
    },
}
"""Sizes per preset and budget: smoke (a pipeline check: a quarter of an epoch, no grid extension),
default (TT's 10 epochs or until 16-GRPO plateaus, 8 evaluation seeds, every arm tuned on a grid of
three multipliers, extended at an edge; small: :data:`SMALL_ARMS` and half the held-out prompts),
full (16 seeds, two tuning seeds, longer plateau cap). The gpu rows are configured for one GPU and
were not measured on one: at the gpu preset's 2048 training prompts, 10 epochs are 640 steps of
32 x 16 per 16-GRPO run."""


def experiment_config(preset: str = "tiny", budget: str = "default", task: str = "addition", *,
                      model: str = "gpt", arms: Sequence[str] | None = None, threads: int | None = None,
                      device: str = "auto") -> ExperimentConfig:
    """The experiment on the model of ``preset`` (the start point of :func:`gpu_runs.config.preset`
    of that name: ``tiny`` ~0.1M parameters, ``small`` ~1M, ``gpu`` ~14M) sized by
    ``SIZES[preset][budget]``, on ``device``; ``threads`` None: ``THREADS[preset]``."""
    check_choice("preset", preset, PRESETS)
    check_choice("budget", budget, BUDGETS)
    check_choice("task", task, TASKS)
    warm = model_preset(preset, task).warm_start
    size = SIZES[preset][budget]
    base = TrainConfig(warm_start=warm, group_size=16, prompts_per_step=size.prompts_per_step,
                       prompts_per_minibatch=size.prompts_per_step, lr=ARM16_LR[preset],
                       max_new_tokens=warm.task.max_answer_len + 1, eval_prompts=size.eval_prompts,
                       threads=THREADS[preset] if threads is None else threads, device=device)
    sizes = {f.name: getattr(size, f.name) for f in dataclasses.fields(Sizing)
             if f.name not in ("prompts_per_step", "eval_prompts", "arms")}
    return ExperimentConfig(base=base, arms=tuple(arms) if arms else size.arms, model=model, **sizes)


# --- runs ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One training run: ``arm`` at RL ``seed`` in ``run_dir``; ``evaluate``: a held-out final
    evaluation too (evaluation runs), else the training-prompt probe only (tuning runs)."""

    arm: Arm
    seed: int
    run_dir: Path
    evaluate: bool


def _curve(rows: list[dict[str, Any]], prompts_per_step: int, train_size: int) -> dict[str, list[float]]:
    """Held-out evaluations of a run against steps, epochs, rollouts and cumulative training
    seconds (rollout + update, evaluation excluded)."""
    curve: dict[str, list[float]] = {"step": [], "epochs": [], "rollouts": [], "train_seconds": [],
                                     "greedy_accuracy": [], "pass_rate": [], "reward": []}
    seconds = 0.0
    for row in rows:
        seconds += row.get("time_rollout", 0.0) + row.get("time_update", 0.0)
        if "heldout_pass_rate" in row:
            for name, value in (("step", row["step"]), ("epochs", row["step"] * prompts_per_step / train_size),
                                ("rollouts", row["rollouts_total"]), ("train_seconds", seconds),
                                ("greedy_accuracy", row["heldout_greedy_accuracy"]),
                                ("pass_rate", row["heldout_pass_rate"]), ("reward", row["heldout_reward"])):
                curve[name].append(float(value))
    return curve


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def run_one(exp: ExperimentConfig, spec: RunSpec, cache_dir: Path, start: StartPolicy, *,
            progress: bool = True) -> dict[str, Any]:
    """Train one (arm, seed) from ``start``, probe (and with ``spec.evaluate``, evaluate) its final
    policy, write ``result.json`` atomically and remove the checkpoints; a run whose ``result.json``
    exists is read back instead (after checking it was this config)."""
    arm, seed, run_dir = spec.arm, spec.seed, Path(spec.run_dir)
    config = dataclasses.replace(arm.config, seed=seed)
    result_path = run_dir / "result.json"
    if result_path.exists():
        result = json.loads(result_path.read_text())
        if result["config"] != to_json(config):
            raise ValueError(f"run directory {run_dir} holds a run of another config; delete it to rerun")
        return result
    from gpu_runs.device import pick_device
    from gpu_runs.tasks import build_splits
    from gpu_runs.trainer import latest_checkpoint, load_checkpoint, read_log, train
    from gpu_runs.tt9.metrics import evaluate_policy, probe_pass_rates

    started = time.perf_counter()
    summary = train(config, run_dir, cache_dir, load_start=start.load, progress=progress)
    train_wall = time.perf_counter() - started
    device = pick_device(config.device)
    start_model, _ = start.load(config.warm_start, cache_dir, device, progress=progress)
    policy = start_model
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"run directory {run_dir} has no checkpoint to evaluate")
    policy.load_state_dict(load_checkpoint(checkpoint, device)["policy"])
    policy.eval()
    task = config.warm_start.task
    train_set, heldout = build_splits(task)
    t0 = time.perf_counter()
    sampling = dict(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
                    seed=EVAL_SEED)
    final = (evaluate_policy(policy, task, heldout[:exp.final_prompts], k=exp.k, reward_kind="partial", **sampling)
             if spec.evaluate else None)
    probe = probe_pass_rates(policy, task, train_set[:exp.probe_prompts], k=exp.k, group_sizes=(config.group_size,),
                             reward_kind=config.reward, **sampling)
    eval_seconds = time.perf_counter() - t0
    log = read_log(run_dir / "log.jsonl", config.steps)
    rows = [r for r in log if r["step"] > 0]
    per_step = {name: [round(r[key], 5) if isinstance(r[key], float) else r[key] for r in rows]
                for name, key in (("silent_fraction", "silent_fraction"), ("batch_pass_rate", "pass_rate"),
                                  ("groups_resampled", "groups_resampled"), ("rollouts_per_step", "rollouts"),
                                  ("train_reward", "reward_mean"), ("kl", "kl"), ("entropy", "entropy"))}
    result = {
        "arm": arm.key, "label": arm.label, "family": arm.family, "seed": seed, "lr_multiplier": arm.lr_multiplier,
        "group_size": config.group_size, "prompts_per_step": config.prompts_per_step, "lr": config.lr,
        "steps": config.steps, "epochs": config.steps * config.prompts_per_step / task.train_size,
        "reward_kind": config.reward, "estimator": config.estimator, "params": summary["params"],
        "device": _device_name(device), **start.description,
        "rollouts_total": summary["rollouts_total"],
        "seconds": {**summary["seconds"], "train": summary["seconds"]["rollout"] + summary["seconds"]["update"],
                    "final_eval": eval_seconds, "wall": train_wall + eval_seconds},
        "curve": _curve(log, config.prompts_per_step, task.train_size),
        **(per_step if spec.evaluate else {}),  # a tuning run keeps its curve and probe only: folders stay small
        "final": final,
        "probe_end": probe,
        "config": to_json(config),
    }
    atomic_write_json(result_path, result)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return result


def _run_in_worker(exp: ExperimentConfig, spec: RunSpec, cache_dir: Path) -> dict[str, Any]:
    """A worker process's run: its own start policy (loaders need not pickle) and the run."""
    from gpu_runs.tt9.start import start_policy

    return run_one(exp, spec, cache_dir, start_policy(exp.model), progress=False)


class Runner:
    """Runs batches of :class:`RunSpec` in order (``jobs`` = 1, in this process) or in ``jobs``
    worker processes (spawned: a fresh interpreter each, one torch thread per run), with one
    progress bar; results come back in the order of the specs."""

    def __init__(self, exp: ExperimentConfig, cache_dir: Path, start: StartPolicy, *, jobs: int = 1,
                 progress: bool = True):
        if not _is_count(jobs, 1):
            raise ValueError(f"jobs={jobs!r} must be an integer >= 1")
        self.exp, self.cache_dir, self.start, self.jobs = exp, Path(cache_dir), start, jobs
        self.bar = tqdm(desc="TT-9 experiment", total=0, disable=not progress)
        self.pool: Any = None

    def run(self, specs: Sequence[RunSpec]) -> list[dict[str, Any]]:
        self.bar.total += len(specs)
        self.bar.refresh()
        if self.jobs == 1:
            out = []
            for spec in specs:
                self.bar.set_postfix(arm=spec.arm.key, seed=spec.seed)
                out.append(run_one(self.exp, spec, self.cache_dir, self.start, progress=False))
                self.bar.update(1)
            return out
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"))
        futures = {self.pool.submit(_run_in_worker, self.exp, spec, self.cache_dir): i for i, spec in enumerate(specs)}
        results: list[dict[str, Any] | None] = [None] * len(specs)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            self.bar.update(1)
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.bar.close()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def start_point(exp: ExperimentConfig, out_dir: Path, cache_dir: Path, start: StartPolicy, *,
                progress: bool = True) -> dict[str, Any]:
    """The start policy's held-out metrics, its training-prompt probe and its pass-rate
    :func:`spread` (``start.json``, computed once)."""
    path = Path(out_dir) / "start.json"
    if path.exists():
        return json.loads(path.read_text())
    from gpu_runs.device import pick_device, set_threads
    from gpu_runs.tasks import build_splits
    from gpu_runs.tt9.metrics import evaluate_policy, probe_pass_rates

    config = exp.base
    set_threads(config.threads)
    model, record = start.load(config.warm_start, cache_dir, pick_device(config.device), progress=progress)
    task = config.warm_start.task
    train_set, heldout = build_splits(task)
    sampling = dict(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
                    seed=EVAL_SEED)
    probe = probe_pass_rates(model, task, train_set[:exp.probe_prompts], k=exp.k, group_sizes=(2, 4, 8, 16),
                             reward_kind="partial", **sampling)
    point = {
        "warm_start": {k: record[k] for k in ("key", "histogram", "heldout", "params") if k in record},
        "final": evaluate_policy(model, task, heldout[:exp.final_prompts], k=exp.k, reward_kind="partial", **sampling),
        "probe": probe,
        "spread": spread(probe["successes"], exp.k),
    }
    atomic_write_json(path, point)
    return point


RESUMABLE_CHANGES = ("arms", "seeds")
"""Fields an experiment may change between runs into one folder (finished runs stay valid)."""


def prepare_out_dir(exp: ExperimentConfig, out_dir: Path, seed: int) -> None:
    """Write ``experiment_config.json``, after checking that a folder holding one was written by the
    same experiment (up to the arms and the number of seeds): its finished runs are reused."""
    config = json.loads(json.dumps({**{k: v for k, v in dataclasses.asdict(exp).items() if k != "base"},
                                    "base": to_json(exp.base), "seed": seed}))
    path = Path(out_dir) / "experiment_config.json"
    if path.exists():
        old = json.loads(path.read_text())
        differ = sorted(k for k in set(old) | set(config) if k not in RESUMABLE_CHANGES and old.get(k) != config.get(k))
        if differ:
            raise ValueError(f"out folder {out_dir} holds another experiment (it differs in {', '.join(differ)}); "
                             "choose another folder or delete it")
    atomic_write_json(path, config)


def probe_score(result: dict[str, Any]) -> float:
    """What tuning maximises: the final policy's mean pass rate on the training-prompt probe, or its
    mean partial credit for a partial-credit arm (held-out prompts never choose)."""
    probe = result["probe_end"]
    return float(probe["mean_reward"] if result["reward_kind"] == "partial" else probe["mean_pass_rate"])


def tuned_arms(exp: ExperimentConfig) -> tuple[str, ...]:
    """The arms that run the tuning grid: every arm but :data:`UNTUNED` (16-GRPO's always, since
    ``grpo2-tt`` takes its lr from it)."""
    return tuple(k for k in exp.arms if k not in UNTUNED)


def tune(exp: ExperimentConfig, runner: Runner, out_dir: Path, epochs: float,
         tuning_seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Equal tuning at ``epochs``: every tuned arm runs ``lr_grid`` on ``tuning_seeds`` (all arms'
    runs in one batch), then each arm whose best probe score sits at an edge of its grid gets one
    multiplier beyond that edge (:func:`next_multiplier`), round after round until every best is
    inside or ``max_grid_extensions`` is reached. Returns, per arm, the grid, the probe scores
    (per multiplier, mean over tuning seeds), the choice, its lr and the runs."""
    folder = Path(out_dir) / "runs" / "tune" / f"e{epochs:g}"
    grids = {key: list(exp.lr_grid) for key in tuned_arms(exp)}
    runs: dict[str, dict[float, list[dict[str, Any]]]] = {key: {} for key in grids}
    extensions = dict.fromkeys(grids, 0)
    pending = dict.fromkeys(grids, True)
    while any(pending.values()):
        specs = [RunSpec(make_arm(exp, key, m, epochs), s, folder / key / f"x{m:g}" / f"seed{s}", evaluate=False)
                 for key in grids if pending[key] for m in grids[key] if m not in runs[key] for s in tuning_seeds]
        for spec, result in zip(specs, runner.run(specs), strict=True):
            runs[spec.arm.key].setdefault(spec.arm.lr_multiplier, []).append(result)
        for key in grids:
            if not pending[key]:
                continue
            scores = {m: float(np.mean([probe_score(r) for r in rs])) for m, rs in runs[key].items()}
            extra = next_multiplier(scores, exp.grid_factor)
            if extra is None or extensions[key] >= exp.max_grid_extensions:
                pending[key] = False
            else:
                grids[key].append(extra)
                extensions[key] += 1
    out = {}
    for key, by_m in runs.items():
        scores = {m: float(np.mean([probe_score(r) for r in rs])) for m, rs in sorted(by_m.items())}
        chosen = max(sorted(scores), key=lambda m: scores[m])
        out[key] = {"tt_lr": tt_scaled_lr(exp, key), "grid": sorted(scores), "probe_score": scores,
                    "probe_score_by_seed": {m: [probe_score(r) for r in rs] for m, rs in sorted(by_m.items())},
                    "metric": "probe partial credit" if key.endswith("-partial") else "probe pass rate",
                    "chosen": chosen, "lr": tt_scaled_lr(exp, key) * chosen, "extensions": extensions[key],
                    "at_grid_edge": chosen in (min(scores), max(scores)), "runs": by_m[chosen]}
    return out


def converged_epochs(exp: ExperimentConfig, runner: Runner, out_dir: Path,
                     tuning_seeds: Sequence[int]) -> tuple[float, dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """E: TT's ``epochs`` doubled until 16-GRPO's tuning runs at its chosen lr have a held-out
    :func:`plateau` (or ``max_epochs``); returns E, the tuning at E and the plateau test at each E tried."""
    epochs, history = exp.epochs, []
    while True:
        tuning = tune(exp, runner, out_dir, epochs, tuning_seeds)
        curves = [r["curve"]["pass_rate"][1:] for r in tuning[REFERENCE]["runs"]]
        test = {"epochs": epochs, "multiplier": tuning[REFERENCE]["chosen"], **plateau(curves, exp.plateau_rise)}
        history.append(test)
        if test["plateaued"] or 2 * epochs > exp.max_epochs:
            return epochs, tuning, history
        epochs *= 2


def run_experiment(exp: ExperimentConfig, out_dir: Path, cache_dir: Path = DEFAULT_CACHE_DIR, *, seed: int = 0,
                   jobs: int = 1, progress: bool = True) -> dict[str, Any]:
    """Every run of ``exp``, resumable: the start point, the equal tuning and the plateau test, then
    every arm at its chosen lr on the evaluation seeds (seed-major, so a stopped run leaves whole
    seeds). Returns the start point, the tuning table, E, the arms and the results by arm (lists over
    the evaluation seeds); writes ``experiment_config.json``. Holds ``out_dir``'s
    :func:`evidence.io.folder_lock`: a second run into the same folder is a ValueError."""
    from gpu_runs.tt9.start import start_policy

    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    with folder_lock(out_dir):  # one writer per results folder
        return _run_experiment(exp, out_dir, cache_dir, start_policy(exp.model), seed=seed, jobs=jobs,
                               progress=progress)


def _run_experiment(exp: ExperimentConfig, out_dir: Path, cache_dir: Path, start: StartPolicy, *, seed: int,
                    jobs: int, progress: bool) -> dict[str, Any]:
    """:func:`run_experiment` once its folder is locked."""
    prepare_out_dir(exp, out_dir, seed)
    eval_seeds = [seed + i for i in range(exp.seeds)]
    tuning_seeds = [seed + TUNING_SEED_OFFSET + j for j in range(exp.tuning_seeds)]
    point = start_point(exp, out_dir, cache_dir, start, progress=progress)
    runner = Runner(exp, cache_dir, start, jobs=jobs, progress=progress)
    try:
        epochs, tuning, history = converged_epochs(exp, runner, out_dir, tuning_seeds)
        chosen = {key: t["chosen"] for key, t in tuning.items()}
        chosen.update(dict.fromkeys((k for k in UNTUNED if k in exp.arms), chosen[REFERENCE]))
        arms = {key: make_arm(exp, key, chosen[key], epochs) for key in exp.arms}
        specs = [RunSpec(arm, s, out_dir / "runs" / key / f"seed{s}", evaluate=True)
                 for s in eval_seeds for key, arm in arms.items()]
        results: dict[str, list[dict[str, Any]]] = {key: [] for key in arms}
        for spec, result in zip(specs, runner.run(specs), strict=True):
            results[spec.arm.key].append(result)
    finally:
        runner.close()
    table = {key: {k: v for k, v in t.items() if k != "runs"} for key, t in tuning.items()}
    return {"start": point, "tuning": table, "plateau": history, "epochs": epochs, "arms": arms, "results": results,
            "seeds": eval_seeds, "tuning_seeds": tuning_seeds}


def check_tt9_vi3(ctx: RunContext) -> list[Evidence]:
    """TT-9 (2-GRPO keeps 16-GRPO's improvement: the ratio tables) and VI-3 (GRPOVI's partial-credit
    reward above GRPO's after the same steps) from the ``tiny`` experiment at ``ctx.budget``, seeds
    ``ctx.seed``, ``ctx.seed`` + 1, ...; the records of the claims ``ctx.wants``, artefacts under
    ``ctx.out_dir / "llm"`` (only VI-3's arms run when TT-9 is not wanted). The preset is ``tiny``
    on every machine, CUDA or not: ``grpo-verify llm experiment --preset gpu`` runs the larger one."""
    from gpu_runs.tt9.report import write_report  # matplotlib: only when running

    wanted = [c for c in ("TT-9", "VI-3") if ctx.wants(c)]
    if not wanted:
        return []
    arms = ARM_KEYS if ctx.wants("TT-9") else (REFERENCE, "grpo16-partial", "grpovi16-partial")
    exp = experiment_config(CHECK_PRESET, ctx.budget, arms=arms)
    out = ctx.out_dir / "llm"
    run = run_experiment(exp, out, DEFAULT_CACHE_DIR, seed=ctx.seed, progress=True)
    evidence = write_report(exp, run, out, artefact_prefix="llm")
    return [e for e in evidence if e.claim_id in wanted]

