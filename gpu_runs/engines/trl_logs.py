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

Missing or truncated files raise ``ValueError`` naming the file and the field; so does a field of the wrong
type or out of its range (a text reward, a NaN or infinite metric, a step that is no integer), naming the
entry (``log_history[i]`` and its step, or the parquet's row) and what is allowed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from gpu_runs.engines.run_log import Group, RunLog, StepRow, split_groups

STATE_FILE = "trainer_state.json"
COMPLETIONS_DIR = "completions"
REQUIRED_STEP_KEYS = ("step", "reward")
"""Every training entry of log_history must have these (TRL 1.16's GRPOTrainer logs both)."""
OPTIONAL_STEP_KEYS = {"reward_std": ("reward_std", 0.0, None), "frac_reward_zero_std": ("silent_share", 0.0, 1.0),
                      "completions/mean_length": ("mean_length", 0.0, None), "entropy": ("entropy", 0.0, None),
                      "step_time": ("seconds", 0.0, None)}
"""TRL's key -> (:class:`StepRow` field, lowest and highest value allowed; None: unbounded)."""
CLIP_PREFIX = "clip_ratio/"
"""TRL's clipping metrics (shares of tokens, in [0, 1]) are logged under this prefix."""
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


def number(value: Any, key: str, where: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` of field ``key`` as a finite float in [low, high] (None: unbounded); text, null, a list, a
    bool, NaN or an infinity is a ValueError naming ``where`` (the file and the entry), the field and the range."""
    try:
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an integer beyond a float's range
        finite = False
    if not finite or (low is not None and value < low) or (high is not None and value > high):
        bounds = ("" if low is None and high is None else f" >= {low:g}" if high is None
                  else f" in [{low:g}, {high:g}]")
        raise ValueError(f"{where}: {key}={value!r:.80} must be a finite number{bounds}")
    return float(value)


def step_number(value: Any, where: str) -> int:
    """A logged step: an integer >= 0 (JSON's, not a bool, not 1.0 or "1")."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: step={value!r:.80} must be an integer >= 0")
    return value


def training_entries(state: dict[str, Any], path: Path) -> dict[int, dict[str, Any]]:
    """log_history's training entries (not eval_*, not the summary) by their index in it, each checked for
    :data:`REQUIRED_STEP_KEYS`."""
    if "log_history" not in state or not isinstance(state["log_history"], list):
        raise ValueError(f"{path} has no 'log_history' list: not a Trainer state file")
    entries = {}
    for i, entry in enumerate(state["log_history"]):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: log_history[{i}] is {type(entry).__name__}, not an object")
        if any(k in entry for k in NOT_TRAINING) or (entry and all(k.startswith("eval_") or k in ("step", "epoch")
                                                                     for k in entry)):
            continue
        missing = [k for k in REQUIRED_STEP_KEYS if k not in entry]
        if missing:
            raise ValueError(f"{path}: log_history[{i}] (step {entry.get('step', '?')!s:.80}) lacks "
                             f"{', '.join(map(repr, missing))}; TRL 1.16's GRPOTrainer logs "
                             f"{', '.join(REQUIRED_STEP_KEYS)} at every logging step (a log of another trainer, or an "
                             "older TRL)")
        entries[i] = entry
    if not entries:
        raise ValueError(f"{path}: log_history has no training entry with {', '.join(REQUIRED_STEP_KEYS)} "
                         "(the run logged no step: logging_steps larger than the steps run?)")
    return entries


def step_fields(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The :class:`StepRow` fields of one log_history entry (rollouts aside), each checked: step an integer
    >= 0, reward a finite number, every optional metric present a finite number in its range
    (:data:`OPTIONAL_STEP_KEYS`), every ``clip_ratio/*`` in [0, 1]; null means not logged."""
    step = step_number(entry["step"], where)
    where = f"{where} (step {step})"
    fields: dict[str, Any] = {"step": step, "reward": number(entry["reward"], "reward", where)}
    for key, (field, low, high) in OPTIONAL_STEP_KEYS.items():
        if entry.get(key) is not None:
            fields[field] = number(entry[key], key, where, low, high)
    fields["clip_ratio"] = {k: number(v, k, where, 0.0, 1.0) for k, v in entry.items()
                            if k.startswith(CLIP_PREFIX) and v is not None}
    return fields


def reward_columns(names: list[str], entries: dict[int, dict[str, Any]], path: Path) -> list[str]:
    """The parquet's reward columns: those named in log_history's ``rewards/NAME/mean``."""
    logged = {key[len("rewards/"):-len("/mean")] for e in entries.values() for key in e  # a name may hold "/"
              if key.startswith("rewards/") and key.endswith("/mean")}
    columns = [n for n in names if n in logged]
    if not columns:
        raise ValueError(f"{path}: no column is a reward function of the log (log_history names "
                         f"{sorted(logged) or 'none'}; columns are {names})")
    return columns


def read_completions(run_dir: Path, entries: dict[int, dict[str, Any]],
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
            for row, value in enumerate(table.column(column).to_pylist()):
                if value is not None and not (isinstance(value, float) and math.isnan(value)):  # unscorable: 0
                    rewards[row] += number(value, column, f"{path}: row {row}")
        steps = set(table.column("step").to_pylist())
        if len(steps) != 1:
            raise ValueError(f"{path} holds steps {sorted(map(repr, steps))}; TRL writes one step per file")
        step = step_number(steps.pop(), f"{path}: column 'step'")
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
    logged = [step_fields(entry, f"{state_path}: log_history[{i}]") for i, entry in entries.items()]
    groups, rollouts, notes = read_completions(run_dir, entries, group_size)
    rows = [StepRow(**fields, rollouts=rollouts_per_step or rollouts.get(fields["step"])) for fields in logged]
    if rollouts_per_step:
        notes.append(f"rollouts per step given: {rollouts_per_step}")
    notes.insert(0, f"steps from {state_path.relative_to(run_dir)}")
    return RunLog("trl", str(run_dir), tuple(rows), tuple(groups), tuple(notes))
