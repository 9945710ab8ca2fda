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

A bad line or field raises ``ValueError`` naming the file, the line, the field and what is allowed: a score
that is text, null, NaN or infinite (``json`` reads verl's ``NaN``), a step that is no integer, a prompt
that is no text, a metric out of its range.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gpu_runs.engines.run_log import Group, RunLog, StepRow, split_groups
from gpu_runs.engines.trl_logs import number, step_number

ROLLOUT_FIELDS = ("input", "output", "score", "step")
"""Keys of every rollout line that the reader needs (a subset of what verl's writer dumps)."""
ROLLOUTS_SUBDIR = "rollouts"
METRICS_FILE = "metrics.jsonl"
METRIC_FIELDS = {"timing_s/step": "seconds", "response_length/mean": "mean_length", "actor/entropy": "entropy"}
"""verl's metric -> :class:`StepRow` field."""
CLIP_METRICS = ("actor/pg_clipfrac", "actor/pg_clipfrac_lower")
METRIC_RANGES = {**{key: (0.0, None) for key in METRIC_FIELDS}, **{key: (0.0, 1.0) for key in CLIP_METRICS}}
"""The metrics read, each with its range (None: unbounded): seconds, lengths and entropies >= 0, clipped shares of
tokens in [0, 1]."""
STEP_FILE = re.compile(r"^(\d+)\.jsonl$")


def find_rollout_dir(run_dir: Path) -> Path | None:
    """``run_dir`` itself or ``run_dir/rollouts`` when it holds verl's ``{step}.jsonl`` files, else None."""
    for folder in (run_dir, run_dir / ROLLOUTS_SUBDIR):
        if folder.is_dir() and any(STEP_FILE.match(p.name) for p in folder.iterdir()):
            return folder
    return None


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSON-lines file; a bad line (a truncated write) raises
    ValueError naming file and line."""
    rows = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{line} is not valid JSON (truncated write?): {exc.msg}") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{line} is {type(row).__name__}, not a JSON object")
        rows.append((line, row))
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
    """(step, groups, rollouts, mean score) of one ``{step}.jsonl``; every line needs :data:`ROLLOUT_FIELDS`,
    with ``input`` text, ``score`` a finite number and ``step`` the file's own."""
    lines = read_jsonl(path)
    if not lines:
        raise ValueError(f"{path} is empty (a step file holds one line per rollout)")
    step = int(STEP_FILE.match(path.name).group(1))
    keyed, prompts = [], {}
    for line, row in lines:
        missing = [k for k in ROLLOUT_FIELDS if k not in row]
        if missing:
            raise ValueError(f"{path}:{line} (a rollout) lacks {', '.join(map(repr, missing))}; verl's writer dumps "
                             f"{', '.join(ROLLOUT_FIELDS)} (and gts) for every rollout")
        if step_number(row["step"], f"{path}:{line}") != step:
            raise ValueError(f"{path}:{line}: step={row['step']!r} must be {step} (the file's name)")
        if not isinstance(row["input"], str):
            raise ValueError(f"{path}:{line}: input={row['input']!r:.80} must be text (the prompt)")
        keyed.append((group_key(row), number(row["score"], "score", f"{path}:{line}")))
        prompts[keyed[-1][0]] = row["input"]
    groups, _ = split_groups(step, keyed, group_size)
    groups = [Group(g.step, prompts[g.prompt], g.rewards) for g in groups]
    return step, groups, len(lines), sum(s for _, s in keyed) / len(keyed)


def read_metrics(path: Path) -> dict[int, dict[str, float]]:
    """Step -> the metrics of :data:`METRIC_RANGES` that verl's file logger wrote (``{"step": s, "data": {...}}``
    per line; null: not logged), each checked against its range."""
    out = {}
    for line, row in read_jsonl(path):
        if "step" not in row or not isinstance(row.get("data"), dict):
            raise ValueError(f"{path}:{line} lacks 'step' or a 'data' object; verl's file logger writes "
                             '{"step": s, "data": {...}}')
        where, data = f"{path}:{line}", row["data"]
        out[step_number(row["step"], where)] = {key: number(data[key], f"data.{key}", where, low, high)
                                                for key, (low, high) in METRIC_RANGES.items()
                                                if data.get(key) is not None}
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
        fields = {field: data[key] for key, field in METRIC_FIELDS.items() if key in data}
        clip = {key: data[key] for key in CLIP_METRICS if key in data}
        silent = sum(g.silent for g in found) / len(found)
        rows.append(StepRow(step=step, reward=reward, silent_share=silent, rollouts=rollouts, clip_ratio=clip,
                            **fields))
        groups += found
    notes = [f"{len(files)} rollout files from {folder}",
             f"metrics from {metrics_path}" if metrics else f"no {METRICS_FILE} (verl's file logger): no wall-clock",
             "silent share per step computed from the rollouts (verl logs no such metric)"]
    return RunLog("verl", str(run_dir), tuple(rows), tuple(groups), tuple(notes))
