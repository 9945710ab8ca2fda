"""TT-9 across model sizes: the improvement ratio IR of every arm against the number of parameters,
one rung per ``llm experiment`` folder (its committed ``experiment.json``), with the 95% intervals
and the three-way verdicts those experiments computed (nothing is recomputed here).

:func:`write_ladder` writes ``ladder.json`` (the rows), ``ladder.md`` (the table: model size,
improvement ratio [CI], score ratio, wall-clock ratio, verdict, seeds needed, and the improvement
ratio at equal rollouts read off 16-GRPO's curve) and ``ladder.png``
(IR against parameters on a log axis, one line per arm, each arm's threshold dashed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
import numpy as np

from evidence.io import atomic_path, atomic_write_json, atomic_write_text, jsonable
from gpu_runs.tt9.report import PALETTE, decision_text, pct

LADDER_ARMS = ("grpo2-tt", "grpo2-own", "grpo2-rs", "grpo2-equal", "g2-fixed-p", "g4-fixed-p", "g8-fixed-p")
"""The arms of the ladder, in its order (each is judged against 16-GRPO at its rung)."""


def ladder_rows(experiments: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (rung, arm): the rung's name and parameters, the arm's IR and score ratio of the
    headline metric and its wall-clock ratio (value, low, high), its verdict and seeds needed;
    rungs in order of size. ``experiments`` maps a rung's name to its ``experiment.json``."""
    rows = []
    for name, experiment in sorted(experiments.items(), key=lambda item: item[1]["tables"]["params"]):
        tables = experiment["tables"]
        head = tables["headline_metric"]
        for key in LADDER_ARMS:
            row = {**tables["table1"], **tables["table4"]}.get(key)
            if row is None or "decision" not in row:
                continue
            m, d = row["metrics"][head], row["decision"]
            rows.append({
                "rung": name, "params": tables["params"], "arm": key, "label": row["label"], "metric": head,
                "epochs": tables["epochs"], "seeds": row["seeds"],
                "improvement_ratio": m["improvement_ratio"], "score_ratio": m["score_ratio"],
                "wallclock_ratio": row["wallclock_ratio"], "threshold": d["threshold"], "verdict": d["verdict"],
                "seeds_needed": d["seeds_needed"], "decision": decision_text(d),
                "reference_gain": tables["reference_improvement"],
                "at_equal_rollouts": row.get("at_equal_rollouts"),
            })
    return rows


def ladder_markdown(rows: Sequence[dict[str, Any]], notes: Sequence[str] = ()) -> str:
    """The ladder table as Markdown, then ``notes``."""
    lines = ["# TT-9 scale ladder: improvement recovered vs model size", "",
             "Improvement ratio IR = mean(arm - start) / mean(16-GRPO - start) of the held-out score, paired 95% "
             "Fieller interval over the evaluation seeds; verdict by evidence.verdicts.decide_ratio against the "
             "arm's threshold (holds: lower bound >= it; fails: upper bound < it; else inconclusive with the seeds "
             "that would decide it).", "",
             "| rung | parameters | arm | seeds | improvement ratio [95% CI] | score ratio | wall-clock ratio "
             "| threshold | verdict | seeds needed | IR at equal rollouts (curves) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        matched = pct(r["at_equal_rollouts"]) if r.get("at_equal_rollouts") else ""
        lines.append(f"| {r['rung']} | {r['params']:,} | {r['arm']} | {r['seeds']} | {pct(r['improvement_ratio'])} "
                     f"| {pct(r['score_ratio'])} | {pct(r['wallclock_ratio'])} | >= {r['threshold']:.3g} "
                     f"| {r['verdict']} | {r['seeds_needed'] if r['seeds_needed'] else ''} | {matched} |")
    return "\n".join([*lines, "", *notes]) + "\n"


def plot_ladder(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """IR with its 95% interval against parameters (log axis), one line per arm, thresholds dotted;
    the axis spans [-0.6, 1.6] at most: an estimate beyond it is drawn at the edge with its value
    written beside it, an unbounded or clipped interval runs to the edge."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    arms = [a for a in LADDER_ARMS if any(r["arm"] == a for r in rows)]
    values = [v for r in rows for v in (r["improvement_ratio"]["low"], r["improvement_ratio"]["high"],
                                        r["improvement_ratio"]["value"]) if v is not None]
    bottom = max(min([*values, 0.0]) - 0.1, -0.6)
    top = min(max([*values, 1.2]) + 0.1, 1.6)
    for i, arm in enumerate(arms):
        mine = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["params"])
        color = PALETTE[i % len(PALETTE)]
        x = np.array([r["params"] for r in mine], dtype=np.float64) * (1 + 0.04 * (i - len(arms) / 2))  # dodge
        raw = np.array([np.nan if r["improvement_ratio"]["value"] is None else r["improvement_ratio"]["value"]
                        for r in mine])
        y = np.clip(raw, bottom + 0.02, top - 0.02)
        low = np.array([bottom if r["improvement_ratio"]["low"] is None else r["improvement_ratio"]["low"]
                        for r in mine]).clip(bottom, top)
        high = np.array([top if r["improvement_ratio"]["high"] is None else r["improvement_ratio"]["high"]
                         for r in mine]).clip(bottom, top)
        ax.errorbar(x, y, yerr=[np.maximum(y - low, 0), np.maximum(high - y, 0)], marker="o", capsize=4,
                    color=color, label=f"{arm} (>= {mine[0]['threshold']:.3g})")
        for xi, yi, ri in zip(x, y, raw, strict=True):
            if np.isfinite(ri) and ri != yi:  # off the axis: say where it is
                ax.annotate(f"{ri:.2f}", (xi, yi), textcoords="offset points", xytext=(6, 0), fontsize=7,
                            color=color, va="center")
        ax.axhline(mine[0]["threshold"], color=color, linestyle=":", linewidth=0.8)
    ax.axhline(1.0, color="k", linewidth=0.8)
    params = [r["params"] for r in rows]
    ax.set_xscale("log")
    ax.set_xlim(min(params) / 2, max(params) * 2)
    ax.set_ylim(bottom, top)
    ax.set_xlabel("model parameters")
    ax.set_ylabel("improvement recovered (IR), 95% CI")
    ax.set_title("TT-9: share of 16-GRPO's improvement each arm recovers, by model size", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)


def write_ladder(folders: Sequence[Path], out_dir: Path, notes: Sequence[str] = ()) -> list[dict[str, Any]]:
    """ladder.json, ladder.md and ladder.png under ``out_dir`` from the ``experiment.json`` of each
    folder (a rung, named by its folder); returns the rows."""
    experiments = {}
    for folder in folders:
        path = Path(folder) / "experiment.json"
        if not path.is_file():
            raise ValueError(f"folder={str(folder)!r} holds no experiment.json (run `llm experiment` into it first)")
        experiments[Path(folder).name] = json.loads(path.read_text())
    rows = ladder_rows(experiments)
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "ladder.json", jsonable({"rungs": {n: str(f) for n, f in
                                                                   zip(experiments, folders, strict=True)},
                                                         "rows": rows, "notes": list(notes)}))
    atomic_write_text(out_dir / "ladder.md", ladder_markdown(rows, notes))
    plot_ladder(rows, out_dir / "ladder.png")
    return rows
