"""Read a TRL 1.16 ``GRPOTrainer`` output folder into a :class:`gpu_runs.engines.run_log.RunLog`.

What TRL writes (read from its source, ``trl/trainer/grpo_trainer.py``):

- ``trainer_state.json`` (top level after ``trainer.save_state()``, else in each ``checkpoint-N/``): its
  ``log_history`` has one entry per logging step with ``step`` and the means since the previous log of
  ``reward``, ``reward_std`` (sample std over the batch), ``frac_reward_zero_std`` (share of groups with
  zero reward std, for ``scale_rewards`` group or none), ``completions/mean_length``, ``entropy``,
  ``clip_ratio/*`` and ``step_time`` (seconds per optimizer step); ``rewards/NAME/mean`` per reward
  function; eval entries are prefixed ``eval_``; the last entry holds ``train_runtime``.
- with ``log_completions=True``: ``completions/completions_NNNNN.parquet`` at each logging step NNNNN,
  the last generation batch (its rows = rollouts), columns ``step``, ``prompt``, ``completion``, one column
  per reward function (named as in ``rewards/NAME/mean``), any ``log_extra`` columns, ``advantage``.
  A group's G rows are consecutive (TRL's RepeatSampler); the reward is the sum of the reward functions'
  columns (``reward_weights`` 1, TRL's default).

Missing or truncated files raise ``ValueError`` naming the file and the field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from gpu_runs.engines.run_log import Group, RunLog, StepRow, split_groups

STATE_FILE = "trainer_state.json"
COMPLETIONS_DIR = "completions"
REQUIRED_STEP_KEYS = ("step", "reward")
"""Every training entry of log_history must have these (TRL 1.16's GRPOTrainer logs both)."""
OPTIONAL_STEP_KEYS = {"reward_std": "reward_std", "frac_reward_zero_std": "silent_share",
                      "completions/mean_length": "mean_length", "entropy": "entropy", "step_time": "seconds"}
"""TRL's key -> :class:`StepRow` field."""
PARQUET_COLUMNS = ("step", "prompt", "completion", "advantage")
"""Columns every completions parquet of TRL 1.16 has besides the reward functions' own."""
NOT_TRAINING = ("train_runtime",)
"""Keys of log_history's summary entry (not a training step)."""


def find_state(run_dir: Path) -> Path:
    """``run_dir/trainer_state.json``, else the one of the latest ``checkpoint-N``."""
    top = run_dir / STATE_FILE
    if top.is_file():
        return top
    checkpoints = sorted((p for p in run_dir.glob("checkpoint-*") if (p / STATE_FILE).is_file()),
                         key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    if not checkpoints:
        raise ValueError(f"run_dir={str(run_dir)!r} has no {STATE_FILE} (nor checkpoint-*/{STATE_FILE}): not a TRL "
                         "output folder, or the run saved no state (call trainer.save_state() at the end)")
    return checkpoints[-1] / STATE_FILE


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (truncated?): {exc.msg} at line {exc.lineno} column {exc.colno}"
                         ) from exc


def training_entries(state: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """log_history's training entries (not eval_*, not the summary), each checked for :data:`REQUIRED_STEP_KEYS`."""
    if "log_history" not in state or not isinstance(state["log_history"], list):
        raise ValueError(f"{path} has no 'log_history' list: not a Trainer state file")
    entries = []
    for i, entry in enumerate(state["log_history"]):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: log_history[{i}] is {type(entry).__name__}, not an object")
        if any(k in entry for k in NOT_TRAINING) or (entry and all(k.startswith("eval_") or k in ("step", "epoch")
                                                                     for k in entry)):
            continue
        missing = [k for k in REQUIRED_STEP_KEYS if k not in entry]
        if missing:
            raise ValueError(f"{path}: log_history[{i}] (step {entry.get('step', '?')}) lacks "
                             f"{', '.join(map(repr, missing))}; TRL 1.16's GRPOTrainer logs "
                             f"{', '.join(REQUIRED_STEP_KEYS)} at every logging step (a log of another trainer, or an "
                             "older TRL)")
        entries.append(entry)
    if not entries:
        raise ValueError(f"{path}: log_history has no training entry with {', '.join(REQUIRED_STEP_KEYS)} "
                         "(the run logged no step: logging_steps larger than the steps run?)")
    return entries


def reward_columns(names: list[str], entries: list[dict[str, Any]], path: Path) -> list[str]:
    """The parquet's reward columns: those named in log_history's ``rewards/NAME/mean``."""
    logged = {key[len("rewards/"):-len("/mean")] for e in entries for key in e  # a name may hold "/" (a model's)
              if key.startswith("rewards/") and key.endswith("/mean")}
    columns = [n for n in names if n in logged]
    if not columns:
        raise ValueError(f"{path}: no column is a reward function of the log (log_history names "
                         f"{sorted(logged) or 'none'}; columns are {names})")
    return columns


def read_completions(run_dir: Path, entries: list[dict[str, Any]],
                     group_size: int | None) -> tuple[list[Group], dict[int, int], list[str]]:
    """Groups and rollouts per step from ``completions/completions_*.parquet`` (none when absent)."""
    files = sorted((run_dir / COMPLETIONS_DIR).glob("completions_*.parquet"))
    if not files:
        return [], {}, ["no completions/*.parquet (run with log_completions=True for per-prompt rewards)"]
    try:
        import pyarrow.parquet as pq  # TRL's datasets dependency brings it
    except ImportError as exc:
        raise ValueError(f"{run_dir / COMPLETIONS_DIR} holds parquet files; reading them needs pyarrow "
                         "(pip install pyarrow, or the peers extra)") from exc

    groups: list[Group] = []
    rollouts: dict[int, int] = {}
    sizes: set[int] = set()
    for path in files:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ValueError(f"{path} cannot be read as parquet (truncated?): {exc}") from exc
        names = table.column_names
        missing = [c for c in PARQUET_COLUMNS if c not in names]
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(map(repr, missing))}; TRL 1.16 writes "
                             f"{', '.join(PARQUET_COLUMNS)} and one column per reward function")
        rewards = np.zeros(table.num_rows)
        for column in reward_columns(names, entries, path):
            values = np.array(table.column(column).to_pylist(), dtype=np.float64)  # None (unscorable) -> nan
            rewards = rewards + np.nan_to_num(values)
        steps = set(table.column("step").to_pylist())
        if len(steps) != 1:
            raise ValueError(f"{path} holds steps {sorted(steps)}; TRL writes one step per file")
        step = int(steps.pop())
        prompts = [p if isinstance(p, str) else json.dumps(p, sort_keys=True)  # conversational: a message list
                   for p in table.column("prompt").to_pylist()]
        found, size = split_groups(step, list(zip(prompts, rewards.tolist(), strict=True)), group_size)
        groups += found
        sizes.add(size)
        rollouts[step] = table.num_rows
    notes = [f"per-prompt rewards of {len(files)} logged steps from completions/*.parquet, group size "
             f"{'given' if group_size else 'inferred'}: {sorted(sizes)}",
             "rollouts per step = rows of that step's parquet (one generation batch per optimizer step, TRL's "
             "default steps_per_generation = gradient_accumulation_steps)"]
    return groups, rollouts, notes


def read_trl_run(run_dir: str | Path, *, group_size: int | None = None, rollouts_per_step: int | None = None) -> RunLog:
    """The RunLog of a TRL output folder: steps from trainer_state.json's log_history, groups from the
    completions parquet files when present. ``group_size`` and ``rollouts_per_step`` override inference."""
    run_dir = Path(run_dir)
    state_path = find_state(run_dir)
    entries = training_entries(_load_json(state_path), state_path)
    groups, rollouts, notes = read_completions(run_dir, entries, group_size)
    rows = []
    for entry in entries:
        fields = {field: float(entry[key]) for key, field in OPTIONAL_STEP_KEYS.items()
                  if entry.get(key) is not None}
        clip = {k: float(v) for k, v in entry.items() if k.startswith("clip_ratio/") and v is not None}
        step = int(entry["step"])
        rows.append(StepRow(step=step, reward=float(entry["reward"]), clip_ratio=clip,
                            rollouts=rollouts_per_step or rollouts.get(step), **fields))
    if rollouts_per_step:
        notes.append(f"rollouts per step given: {rollouts_per_step}")
    notes.insert(0, f"steps from {state_path.relative_to(run_dir)}")
    return RunLog("trl", str(run_dir), tuple(rows), tuple(groups), tuple(notes))
