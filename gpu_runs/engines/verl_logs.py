"""Read a verl 0.9 run (its ``trainer.rollout_data_dir``) into a :class:`gpu_runs.engines.run_log.RunLog`.

What verl writes (read from its source: ``RayPPOTrainer._write_generations`` in
``verl/trainer/ppo/ray_trainer.py`` and its twin in ``verl/trainer/ppo/v1/trainer_base.py``): after each
training step, ``{rollout_data_dir}/{global_steps}.jsonl`` with one JSON object per rollout::

    {"input": prompt text, "output": response text, "gts": ground truth, "score": reward, "step": global_steps,
     ...reward_extra_info keys of the same length (e.g. "acc"), "request_id", and (v1 trainer) "uid"}

``score`` is the sequence reward (token_level_scores summed). The v1 trainer (verl's default,
``trainer.use_v1``) writes ``uid`` as ``{sample}_{rollout}_{output}`` and sorts by it, so a group is the rows
sharing ``{sample}``; the legacy trainer repeats each prompt's rollouts consecutively (interleave), so a
group is a prompt's consecutive rows, cut by the group size.

Optional: verl's ``file`` logger (``trainer.logger=[console,file]``, path from ``VERL_FILE_LOGGER_PATH``,
which ``grpo-verify export verl`` sets to ``RUN_DIR/metrics.jsonl``) writes ``{"step": s, "data": {...}}``
per step; from it: ``timing_s/step`` (seconds), ``critic/score/mean`` (logged mean reward),
``response_length/mean``, ``actor/entropy``, ``actor/pg_clipfrac``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gpu_runs.engines.run_log import Group, RunLog, StepRow, split_groups

ROLLOUT_FIELDS = ("input", "output", "score", "step")
"""Keys of every rollout line that the reader needs (a subset of what verl's writer dumps)."""
ROLLOUTS_SUBDIR = "rollouts"
METRICS_FILE = "metrics.jsonl"
METRIC_FIELDS = {"timing_s/step": "seconds", "response_length/mean": "mean_length", "actor/entropy": "entropy"}
CLIP_METRICS = ("actor/pg_clipfrac", "actor/pg_clipfrac_lower")
STEP_FILE = re.compile(r"^(\d+)\.jsonl$")


def find_rollout_dir(run_dir: Path) -> Path | None:
    """``run_dir`` itself or ``run_dir/rollouts`` when it holds verl's ``{step}.jsonl`` files, else None."""
    for folder in (run_dir, run_dir / ROLLOUTS_SUBDIR):
        if folder.is_dir() and any(STEP_FILE.match(p.name) for p in folder.iterdir()):
            return folder
    return None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Objects of a JSON-lines file; a bad line (a truncated write) raises ValueError naming file and line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number} is not valid JSON (truncated write?): {exc.msg}") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number} is {type(row).__name__}, not a JSON object")
        rows.append(row)
    return rows


def group_key(row: dict[str, Any]) -> str:
    """The sample a rollout belongs to: ``{sample}`` of the v1 ``uid`` ({sample}_{rollout}_{output}), else
    the prompt text."""
    uid = row.get("uid")
    if isinstance(uid, str):
        parts = uid.rsplit("_", 2)
        return parts[0] if len(parts) == 3 else uid
    return str(row["input"])


def read_step_file(path: Path, group_size: int | None) -> tuple[int, list[Group], int, float]:
    """(step, groups, rollouts, mean score) of one ``{step}.jsonl``."""
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{path} is empty (a step file holds one line per rollout)")
    for number, row in enumerate(rows, 1):
        missing = [k for k in ROLLOUT_FIELDS if k not in row]
        if missing:
            raise ValueError(f"{path}: rollout {number} lacks {', '.join(map(repr, missing))}; verl's writer dumps "
                             f"{', '.join(ROLLOUT_FIELDS)} (and gts) for every rollout")
        if not isinstance(row["score"], (int, float)) or isinstance(row["score"], bool):
            raise ValueError(f"{path}: rollout {number} has score={row['score']!r}; it must be a number")
    step = int(STEP_FILE.match(path.name).group(1))
    if any(int(row["step"]) != step for row in rows):
        raise ValueError(f"{path}: its rows' 'step' must all be {step} (the file's name)")
    keyed = [(group_key(row), float(row["score"])) for row in rows]
    groups, _ = split_groups(step, keyed, group_size)
    prompts = {group_key(row): str(row["input"]) for row in rows}
    groups = [Group(g.step, prompts[g.prompt], g.rewards) for g in groups]
    return step, groups, len(rows), sum(s for _, s in keyed) / len(keyed)


def read_metrics(path: Path) -> dict[int, dict[str, Any]]:
    """Step -> metrics of verl's file logger (``{"step": s, "data": {...}}`` per line)."""
    out = {}
    for number, row in enumerate(read_jsonl(path), 1):
        if "step" not in row or not isinstance(row.get("data"), dict):
            raise ValueError(f"{path}:{number} lacks 'step' or a 'data' object; verl's file logger writes "
                             '{"step": s, "data": {...}}')
        out[int(row["step"])] = row["data"]
    return out


def read_verl_run(run_dir: str | Path, *, group_size: int | None = None) -> RunLog:
    """The RunLog of a verl run: every ``{step}.jsonl`` of its rollout_data_dir (``run_dir`` or
    ``run_dir/rollouts``), with ``run_dir/metrics.jsonl`` (verl's file logger) for time and metrics."""
    run_dir = Path(run_dir)
    folder = find_rollout_dir(run_dir)
    if folder is None:
        raise ValueError(f"run_dir={str(run_dir)!r} holds no verl rollout file '{{step}}.jsonl' (itself or "
                         f"{ROLLOUTS_SUBDIR}/): set trainer.rollout_data_dir in the run")
    metrics_path = run_dir / METRICS_FILE
    metrics = read_metrics(metrics_path) if metrics_path.is_file() else {}
    files = sorted((p for p in folder.iterdir() if STEP_FILE.match(p.name)), key=lambda p: int(p.stem))
    rows, groups = [], []
    for path in files:
        step, found, rollouts, reward = read_step_file(path, group_size)
        data = metrics.get(step, {})
        fields = {field: float(data[key]) for key, field in METRIC_FIELDS.items() if data.get(key) is not None}
        clip = {k: float(data[k]) for k in CLIP_METRICS if data.get(k) is not None}
        silent = sum(g.silent for g in found) / len(found)
        rows.append(StepRow(step=step, reward=reward, silent_share=silent, rollouts=rollouts, clip_ratio=clip,
                            **fields))
        groups += found
    notes = [f"{len(files)} rollout files from {folder}",
             f"metrics from {metrics_path}" if metrics else f"no {METRICS_FILE} (verl's file logger): no wall-clock",
             "silent share per step computed from the rollouts (verl logs no such metric)"]
    return RunLog("verl", str(run_dir), tuple(rows), tuple(groups), tuple(notes))
