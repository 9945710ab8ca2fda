"""TT-9 (and VI-3) on small LMs: 2-GRPO against 16-GRPO with the test bed of ``gpu_runs.trainer``.

The check :func:`check_tt9_vi3` (claims TT-9 and VI-3, method ``llm``) runs the ``tiny`` preset at the
run's budget; ``grpo-verify llm experiment --preset {tiny,small,gpu}`` runs any preset (the model
presets of ``gpu_runs.config``: ~0.1M, ~1M and ~14M parameters), sized by :data:`SIZES`.

The arms (P prompts per step of 16-GRPO, N training prompts, E epochs, possibly fractional: every
arm trains on the same first E N prompts of each seed's order; one optimizer step per generation
batch):

- Table-1 analogue (TT Table 1): ``grpo16`` P x 16 at lr; ``grpo2-tt`` 8P x 2 at 8 lr (TT's scaling:
  lr proportional to the prompts of a mini-batch), E N / 8P steps, so 12.5% of the rollouts;
  ``grpo2-own`` the same at its own lr, the best of a small sweep of multipliers of 8 lr run on
  tuning seeds (never the evaluation seeds) and scored on training prompts (never the held-out set);
  ``grpo2-rs`` 2-GRPO+RS: silent groups replaced by fresh prompts' groups, at most 16 rollouts per
  prompt of the step, so never more rollouts than 16-GRPO.
- Table-4 analogue: ``g{G}-fixed-p`` G in {2, 4, 8} at P prompts per mini-batch and lr, E N / P
  steps (G = 16 is ``grpo16``).
- Equal rollouts: ``grpo2-equal`` 8P x 2 for as many steps (hence rollouts) as 16-GRPO: 8x the
  prompts, 8E epochs.

``grpo2-rs`` and ``grpo2-equal`` run at 2-GRPO's own lr when the sweep ran (TT ran RS at the lr they
chose for 2-GRPO), else at TT's scaled lr; their labels say which.
- VI-3: ``grpo16-partial`` and ``grpovi16-partial``, P x 16 on partial-credit rewards, GRPO's
  advantages against GRPOVI's adjusted rewards (weights from the start policy).

Each (arm, seed) run trains with :func:`gpu_runs.trainer.train` (which resumes a killed run from its
checkpoint), then evaluates its final policy on the held-out set (greedy accuracy, Mean@k, Pass@k,
per difficulty) and probes k samples of training prompts (the silent share p^G + (1-p)^G it
predicts); ``result.json`` is written atomically and the checkpoints removed. A run whose
``result.json`` exists is skipped, so re-running the experiment resumes it. The start policy of
every run comes from ``gpu_runs.tt9.start``; ``gpu_runs.tt9.report`` turns the results into the
ratio table, the plots and the evidence.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from evidence.io import atomic_write_json
from evidence.record import BUDGETS, Evidence, RunContext
from gpu_runs.config import PRESETS, TrainConfig, to_json, with_group_size
from gpu_runs.config import preset as model_preset
from gpu_runs.tasks import TASKS
from theory.validation import check_choice

if TYPE_CHECKING:  # torch-free at import: the CLI builds its options from this module
    from gpu_runs.tt9.start import StartPolicy

REFERENCE = "grpo16"
TABLE1 = ("grpo16", "grpo2-tt", "grpo2-own", "grpo2-rs")
TABLE4_GROUP_SIZES = (2, 4, 8)
ARM_KEYS = (*TABLE1, *(f"g{G}-fixed-p" for G in TABLE4_GROUP_SIZES), "grpo2-equal", "grpo16-partial",
            "grpovi16-partial")
"""Every arm of the experiment, in the order of the report."""
EVAL_SEED = 2024
"""Seed of the final held-out sampling and of the probes: the same noise for every run and the start."""
TUNING_SEED_OFFSET = 1000
"""Tuning seeds are seed + 1000 + j, never an evaluation seed (seed + i, i < 1000)."""
DEFAULT_CACHE_DIR = Path("out/warmstarts")
"""Warm-start cache shared with ``grpo-verify llm train``."""
CHECK_PRESET = "tiny"
"""The preset :func:`check_tt9_vi3` runs, on every machine (a GPU user runs ``llm experiment --preset gpu``)."""


@dataclass(frozen=True)
class ExperimentConfig:
    base: TrainConfig                  # the 16-GRPO arm: P prompts x G per step, one mini-batch, its lr; steps derived
    epochs: float = 2.0                # E: passes over the N training prompts (Table-1, Table-4 arms); E N prompts
    seeds: int = 3                     # evaluation RL seeds per arm (>= 2 for confidence intervals)
    lr_multipliers: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)  # 2-GRPO's own lr: multiples of TT's scaled lr
    tuning_seeds: int = 1              # RL seeds of the lr sweep, disjoint from the evaluation seeds
    eval_points: int = 8               # held-out curve evaluations per run (plus step 0)
    k: int = 16                        # samples per prompt at the end: Mean@k, Pass@k, silent-share probes
    final_prompts: int = 2048          # held-out prompts of the final evaluation
    probe_prompts: int = 256           # training prompts probed for pass rates (silent share, lr selection)
    arms: tuple[str, ...] = ARM_KEYS   # the arms to run
    model: str = "gpt"                 # gpt (the test bed's transformer) or hf:PATH (a local Hugging Face LM)

    def __post_init__(self) -> None:
        for name in ("seeds", "tuning_seeds", "eval_points", "final_prompts", "probe_prompts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        task = self.base.warm_start.task
        G = self.base.group_size
        if G != 16:
            raise ValueError(f"base.group_size={G} must be 16 (the reference arm of TT-9 is 16-GRPO)")
        if self.base.prompts_per_minibatch != self.base.prompts_per_step:
            raise ValueError(f"base.prompts_per_minibatch={self.base.prompts_per_minibatch} must equal "
                             f"prompts_per_step={self.base.prompts_per_step} (one optimizer step per batch, as TT)")
        prompts = self.epochs * task.train_size if isinstance(self.epochs, (int, float)) else -1.0
        if not (prompts > 0 and prompts == round(prompts) and round(prompts) % (8 * self.base.prompts_per_step) == 0):
            raise ValueError(f"epochs={self.epochs!r} must be > 0 with epochs x train_size ({task.train_size}) a "
                             f"multiple of 8 x prompts_per_step = {8 * self.base.prompts_per_step} (2-GRPO's "
                             "prompts per step), so every arm sees the same prompts")
        if self.k < G:
            raise ValueError(f"k={self.k!r} must be >= {G} (the silent share of 16-GRPO is estimated from k samples)")
        if self.final_prompts > task.heldout_size:
            raise ValueError(f"final_prompts={self.final_prompts} must be <= heldout_size={task.heldout_size}")
        if self.probe_prompts > task.train_size:
            raise ValueError(f"probe_prompts={self.probe_prompts} must be <= train_size={task.train_size}")
        if not self.lr_multipliers or not all(m > 0 for m in self.lr_multipliers):
            raise ValueError(f"lr_multipliers={self.lr_multipliers!r} must be a non-empty tuple of numbers > 0")
        for arm in self.arms:
            check_choice("arms", arm, ARM_KEYS)
        if REFERENCE not in self.arms:
            raise ValueError(f"arms={self.arms!r} must include the reference arm {REFERENCE!r}")
        if not (self.model == "gpt" or (self.model.startswith("hf:") and len(self.model) > 3)):
            raise ValueError(f"model={self.model!r} is not allowed; use gpt or hf:PATH")

    @property
    def prompts(self) -> int:
        """E N: prompts each Table-1 / Table-4 arm trains on (the first E N of each seed's order)."""
        return round(self.epochs * self.base.warm_start.task.train_size)


@dataclass(frozen=True)
class Arm:
    """One arm: ``key`` (folder name), ``label`` (legend), ``family`` (table1, table4, equal,
    grpovi or sweep) and its config (seed set per run)."""

    key: str
    label: str
    family: str
    config: TrainConfig
    lr_multiplier: float = 1.0  # of TT's scaled lr (2-GRPO arms)
    notes: str = ""


def _cadence(config: TrainConfig, steps: int, eval_points: int) -> TrainConfig:
    every = max(1, steps // eval_points)
    return dataclasses.replace(config, steps=steps, eval_every=every, checkpoint_every=every)


def two_grpo_config(exp: ExperimentConfig, *, lr_multiplier: float = 1.0, epochs_factor: int = 1,
                    resample: bool = False) -> TrainConfig:
    """2-GRPO as TT ran it: 8P prompts x 2 per step (16-GRPO's rollouts per step), lr x 8 x
    ``lr_multiplier``, ``epochs_factor`` x E passes over the prompts; with ``resample``, 2-GRPO+RS
    capped at 16 rollouts per prompt of the step."""
    base = exp.base
    config = with_group_size(base, 2)
    scale = config.prompts_per_step / base.prompts_per_step  # TT: lr 1e-6 -> 8e-6 for 32 -> 256 prompts
    config = dataclasses.replace(config, lr=base.lr * scale * lr_multiplier, resample_silent=resample,
                                 resample_rollouts_per_prompt=base.group_size)
    steps = epochs_factor * exp.prompts // config.prompts_per_step
    return _cadence(config, steps, exp.eval_points)


def build_arms(exp: ExperimentConfig, own_lr_multiplier: float | None = None) -> dict[str, Arm]:
    """The arms of ``exp.arms`` (``grpo2-own`` only once its multiplier is known), keyed by name."""
    base = exp.base
    P, G = base.prompts_per_step, base.group_size
    steps16 = exp.prompts // P
    reference = _cadence(base, steps16, exp.eval_points)
    Q = 8 * P
    own = 1.0 if own_lr_multiplier is None else own_lr_multiplier
    lr_name = "TT lr" if own_lr_multiplier is None else f"own lr x{own:g}"
    arms = {
        "grpo16": Arm("grpo16", f"16-GRPO ({P}x{G})", "table1", reference),
        "grpo2-tt": Arm("grpo2-tt", f"2-GRPO ({Q}x2, TT lr)", "table1", two_grpo_config(exp)),
        "grpo2-rs": Arm("grpo2-rs", f"2-GRPO+RS ({Q}x2, {lr_name})", "table1",
                        two_grpo_config(exp, lr_multiplier=own, resample=True), lr_multiplier=own,
                        notes="silent groups replaced by fresh prompts' groups, <= 16 rollouts per prompt"),
        "grpo2-equal": Arm("grpo2-equal", f"2-GRPO equal rollouts ({Q}x2, {lr_name}, {8 * exp.epochs:g} epochs)",
                           "equal", two_grpo_config(exp, lr_multiplier=own, epochs_factor=8), lr_multiplier=own,
                           notes="as many rollouts as 16-GRPO: 8x the prompts"),
        "grpo16-partial": Arm("grpo16-partial", f"16-GRPO partial credit ({P}x{G})", "grpovi",
                              dataclasses.replace(reference, reward="partial")),
        "grpovi16-partial": Arm("grpovi16-partial", f"16-GRPOVI partial credit ({P}x{G})", "grpovi",
                                dataclasses.replace(reference, reward="partial", estimator="grpovi")),
    }
    for g in TABLE4_GROUP_SIZES:
        config = _cadence(with_group_size(base, g, P * g, P * g), steps16, exp.eval_points)
        arms[f"g{g}-fixed-p"] = Arm(f"g{g}-fixed-p", f"{g}-GRPO at {P} prompts ({P}x{g})", "table4", config)
    if own_lr_multiplier is not None:
        arms["grpo2-own"] = Arm("grpo2-own", f"2-GRPO ({Q}x2, {lr_name})", "table1",
                                two_grpo_config(exp, lr_multiplier=own), lr_multiplier=own,
                                notes="lr chosen by the sweep on tuning seeds")
    return {key: arms[key] for key in exp.arms if key in arms}


def sweep_arms(exp: ExperimentConfig) -> list[Arm]:
    """2-GRPO at each multiplier of TT's scaled lr (run on the tuning seeds)."""
    return [Arm(f"sweep-lr-x{m:g}", f"2-GRPO sweep lr x{m:g}", "sweep", two_grpo_config(exp, lr_multiplier=m),
                lr_multiplier=m) for m in exp.lr_multipliers]


# --- presets ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizing:
    """The size of the experiment of one preset at one budget: the 16-GRPO arm's prompts per step
    (one mini-batch) and held-out prompts per curve evaluation, then :class:`ExperimentConfig`'s sizes."""

    prompts_per_step: int
    eval_prompts: int
    epochs: float
    seeds: int
    lr_multipliers: tuple[float, ...]
    eval_points: int
    final_prompts: int
    probe_prompts: int
    tuning_seeds: int = 1
    k: int = 16


LR_GRID = (0.0625, 0.125, 0.25, 0.5, 1.0)
SMOKE_LR_GRID = (0.0625, 0.25)
ARM16_LR = {"tiny": 2e-4, "small": 1e-4, "gpu": 3e-5}
"""16-GRPO's learning rate per preset (2-GRPO's is TT's 8x, or its own from the sweep)."""
THREADS = {"tiny": 1, "small": 0, "gpu": 0}
"""torch threads per preset when not given: 1 for ``tiny`` (a model this small gains nothing from more,
and spinning threads cost a shared machine), every core (0) otherwise."""
SIZES: dict[str, dict[str, Sizing]] = {
    "tiny": {  # smoke: a pipeline check of about 3 minutes on 2 cores
        "smoke": Sizing(4, 128, epochs=0.125, seeds=2, lr_multipliers=SMOKE_LR_GRID, eval_points=2, final_prompts=256,
                        probe_prompts=64),
        "default": Sizing(8, 512, epochs=4.0, seeds=3, lr_multipliers=LR_GRID, eval_points=8, final_prompts=2048,
                          probe_prompts=256),
        "full": Sizing(8, 512, epochs=8.0, seeds=5, lr_multipliers=LR_GRID, eval_points=8, final_prompts=2048,
                       probe_prompts=256, tuning_seeds=2),
    },
    "small": {
        "smoke": Sizing(8, 128, epochs=0.125, seeds=2, lr_multipliers=SMOKE_LR_GRID, eval_points=2,
                        final_prompts=256, probe_prompts=64),
        "default": Sizing(16, 512, epochs=0.5, seeds=3, lr_multipliers=LR_GRID, eval_points=8, final_prompts=2048,
                          probe_prompts=256),
        "full": Sizing(16, 512, epochs=1.0, seeds=5, lr_multipliers=LR_GRID, eval_points=8, final_prompts=2048,
                       probe_prompts=256, tuning_seeds=2),
    },
    "gpu": {  # TT's 32 x 16 against 256 x 2
        "smoke": Sizing(32, 1024, epochs=0.125, seeds=2, lr_multipliers=SMOKE_LR_GRID, eval_points=2,
                        final_prompts=512, probe_prompts=64, k=32),
        "default": Sizing(32, 1024, epochs=0.5, seeds=3, lr_multipliers=LR_GRID, eval_points=8, final_prompts=2048,
                          probe_prompts=512, k=32),
        "full": Sizing(32, 1024, epochs=1.0, seeds=5, lr_multipliers=LR_GRID, eval_points=8, final_prompts=2048,
                       probe_prompts=512, tuning_seeds=2, k=32),
    },
}
"""Sizes per preset and budget: smoke (a pipeline check), default (3 seeds, every arm), full (5
seeds, twice the epochs, two tuning seeds)."""


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
             if f.name not in ("prompts_per_step", "eval_prompts")}
    return ExperimentConfig(base=base, arms=tuple(arms) if arms else ARM_KEYS, model=model, **sizes)


# --- runs ------------------------------------------------------------------------------------------------

def run_dir_of(out_dir: Path, arm: Arm, seed: int) -> Path:
    return Path(out_dir) / "runs" / arm.key / f"seed{seed}"


def _curve(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Held-out evaluations of a run against steps, rollouts and cumulative training seconds
    (rollout + update, evaluation excluded)."""
    curve: dict[str, list[float]] = {"step": [], "rollouts": [], "train_seconds": [], "greedy_accuracy": [],
                                     "pass_rate": [], "reward": []}
    seconds = 0.0
    for row in rows:
        seconds += row.get("time_rollout", 0.0) + row.get("time_update", 0.0)
        if "heldout_pass_rate" in row:
            for name, value in (("step", row["step"]), ("rollouts", row["rollouts_total"]),
                                ("train_seconds", seconds), ("greedy_accuracy", row["heldout_greedy_accuracy"]),
                                ("pass_rate", row["heldout_pass_rate"]), ("reward", row["heldout_reward"])):
                curve[name].append(float(value))
    return curve


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def run_one(exp: ExperimentConfig, arm: Arm, seed: int, out_dir: Path, cache_dir: Path, start: StartPolicy, *,
            progress: bool = True) -> dict[str, Any]:
    """Train one (arm, seed) from ``start``, evaluate its final policy, write ``result.json``
    atomically and remove the checkpoints; a run whose ``result.json`` exists is read back instead."""
    run_dir = run_dir_of(out_dir, arm, seed)
    result_path = run_dir / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    import torch

    from gpu_runs.device import pick_device
    from gpu_runs.tasks import build_splits
    from gpu_runs.trainer import latest_checkpoint, read_log, train
    from gpu_runs.tt9.metrics import evaluate_policy, probe_pass_rates

    config = dataclasses.replace(arm.config, seed=seed)
    started = time.perf_counter()
    summary = train(config, run_dir, cache_dir, load_start=start.load, progress=progress)
    train_wall = time.perf_counter() - started
    device = pick_device(config.device)
    start_model, _ = start.load(config.warm_start, cache_dir, device, progress=progress)
    policy = copy.deepcopy(start_model)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"run directory {run_dir} has no checkpoint to evaluate")
    policy.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=False)["policy"])
    policy.eval()
    task = config.warm_start.task
    train_set, heldout = build_splits(task)
    t0 = time.perf_counter()
    sampling = dict(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
                    seed=EVAL_SEED)
    final = evaluate_policy(policy, task, heldout[:exp.final_prompts], k=exp.k, reward_kind="partial", **sampling)
    probe = probe_pass_rates(policy, task, train_set[:exp.probe_prompts], k=exp.k, group_sizes=(config.group_size,),
                             **sampling)
    eval_seconds = time.perf_counter() - t0
    rows = [r for r in read_log(run_dir / "log.jsonl", config.steps) if r["step"] > 0]
    result = {
        "arm": arm.key, "label": arm.label, "family": arm.family, "seed": seed, "lr_multiplier": arm.lr_multiplier,
        "group_size": config.group_size, "prompts_per_step": config.prompts_per_step, "lr": config.lr,
        "steps": config.steps, "reward_kind": config.reward, "estimator": config.estimator,
        "device": _device_name(device), **start.description,
        "rollouts_total": summary["rollouts_total"],
        "seconds": {**summary["seconds"], "train": summary["seconds"]["rollout"] + summary["seconds"]["update"],
                    "final_eval": eval_seconds, "wall": train_wall + eval_seconds},
        "curve": _curve(read_log(run_dir / "log.jsonl", config.steps)),
        "silent_fraction": [r["silent_fraction"] for r in rows],
        "batch_pass_rate": [r["pass_rate"] for r in rows],
        "groups_resampled": [r["groups_resampled"] for r in rows],
        "rollouts_per_step": [r["rollouts"] for r in rows],
        "train_reward": [r["reward_mean"] for r in rows],
        "kl": [r["kl"] for r in rows],
        "entropy": [r["entropy"] for r in rows],
        "final": final,
        "probe_end": probe,
        "config": to_json(config),
    }
    atomic_write_json(result_path, result)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return result


def start_point(exp: ExperimentConfig, out_dir: Path, cache_dir: Path, start: StartPolicy, *,
                progress: bool = True) -> dict[str, Any]:
    """The start policy's held-out metrics and training-prompt probe (``start.json``, computed once)."""
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
    point = {
        "warm_start": {k: record[k] for k in ("key", "histogram", "heldout") if k in record},
        "final": evaluate_policy(model, task, heldout[:exp.final_prompts], k=exp.k, reward_kind="partial", **sampling),
        "probe": probe_pass_rates(model, task, train_set[:exp.probe_prompts], k=exp.k,
                                  group_sizes=(2, 4, 8, 16), **sampling),
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


def choose_multiplier(sweep: dict[str, list[dict[str, Any]]]) -> tuple[float, dict[str, Any]]:
    """The lr multiplier whose sweep runs reach the highest mean pass rate on the training-prompt
    probe (held-out prompts are never used to choose), and the table it was chosen from."""
    table = {}
    for runs in sweep.values():
        m = runs[0]["lr_multiplier"]
        table[f"{m:g}"] = float(sum(r["probe_end"]["mean_pass_rate"] for r in runs) / len(runs))
    best = max(table, key=table.__getitem__)
    multipliers = sorted(float(m) for m in table)
    return float(best), {"probe_pass_rate": table, "chosen": float(best),
                         "at_grid_edge": float(best) in (multipliers[0], multipliers[-1]) and len(multipliers) > 1}


def run_experiment(exp: ExperimentConfig, out_dir: Path, cache_dir: Path = DEFAULT_CACHE_DIR, *, seed: int = 0,
                   progress: bool = True) -> dict[str, Any]:
    """Every run of ``exp`` (the sweep first), resumable; returns the start point, the lr sweep and
    the results by arm (lists over the evaluation seeds), and writes ``experiment_config.json``."""
    from gpu_runs.tt9.start import start_policy

    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    start = start_policy(exp.model)
    prepare_out_dir(exp, out_dir, seed)
    eval_seeds = [seed + i for i in range(exp.seeds)]
    tuning = [seed + TUNING_SEED_OFFSET + j for j in range(exp.tuning_seeds)]
    wants_own = "grpo2-own" in exp.arms
    sweeps = sweep_arms(exp) if wants_own else []
    total = len(sweeps) * len(tuning) + len(exp.arms) * len(eval_seeds)
    point = start_point(exp, out_dir, cache_dir, start, progress=progress)
    bar = tqdm(total=total, desc="TT-9 experiment", disable=not progress)

    def run_all(arms: Sequence[Arm], seeds: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for arm in arms:
            for s in seeds:
                bar.set_postfix(arm=arm.key, seed=s)
                out.setdefault(arm.key, []).append(run_one(exp, arm, s, out_dir, cache_dir, start, progress=False))
                bar.update(1)
        return out

    sweep = run_all(sweeps, tuning)
    multiplier, sweep_table = choose_multiplier(sweep) if sweep else (None, None)
    arms = build_arms(exp, multiplier)
    results = run_all(list(arms.values()), eval_seeds)
    bar.close()
    return {"start": point, "sweep": sweep_table, "sweep_runs": sweep, "arms": arms, "results": results,
            "seeds": eval_seeds, "tuning_seeds": tuning}


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
