"""Evidence from ingested runs of other engines: TT-8 (silent share against p^G + (1-p)^G) and TT-9 (2-GRPO's
score, improvement and wall-clock as shares of 16-GRPO's), judged by the same three-way rule as our own runs
(:mod:`evidence.verdicts`).

TT-8, per run with per-prompt rewards: d_g = 1{group g silent} - its prediction from the other groups of its
prompt (:func:`gpu_runs.engines.run_log.compare_silent_shares`); the claim holds when the 95% Student
interval of mean d over the groups lies inside [-SILENT_TOLERANCE, +SILENT_TOLERANCE] (two one-sided
decisions), fails when it lies outside, and is inconclusive otherwise.

TT-9, from runs A (2-GRPO, one per seed) and B (16-GRPO): per run, start = mean training reward over the
first SUMMARY_FRACTION of its logged steps, score = the same over the last, improvement = score - start,
seconds = its wall-clock; the ratios mean(A)/mean(B) with Fieller's interval (seeds independent) against
theory.paper's TT9_SCORE_RATIO, TT9_IMPROVEMENT_RATIO (at least) and TT9_WALLCLOCK_RATIO (at most). The
score here is the training reward, not TT's held-out benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from evidence.io import atomic_path, atomic_write_json, atomic_write_text, jsonable
from evidence.record import Evidence, Verdict
from evidence.verdicts import Decision, decide_mean, decide_ratio
from gpu_runs.engines.run_log import RunLog, SilentComparison, compare_silent_shares
from theory.paper import TT9_IMPROVEMENT_RATIO, TT9_ROLLOUT_RATIO, TT9_SCORE_RATIO, TT9_WALLCLOCK_RATIO

SILENT_TOLERANCE = 0.05
"""TT-8 on a real run: measured and predicted silent shares agree when their mean difference over groups is
within 5 points (the prediction pools other steps' rollouts of a moving policy, so exact equality is not
expected)."""
SUMMARY_FRACTION = 0.1
"""Start and score are means over the first and last tenth of a run's logged steps (at least one step)."""


@dataclass(frozen=True)
class RunSummary:
    """One run in numbers: logged ``steps``, ``group_size``, ``start`` / ``score`` / ``improvement`` of the
    training reward, total ``rollouts`` and ``seconds`` (None when the log lacks them)."""

    name: str
    engine: str
    steps: int
    last_step: int
    group_size: int | None
    start: float
    score: float
    improvement: float
    rollouts: float | None
    seconds: float | None

    def to_json(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def summarise(run: RunLog, name: str) -> RunSummary:
    """start, score = mean reward over the first / last ceil(SUMMARY_FRACTION n) logged steps."""
    rewards = run.rewards
    window = max(1, math.ceil(SUMMARY_FRACTION * rewards.size))
    start, score = float(rewards[:window].mean()), float(rewards[-window:].mean())
    rollouts, clock = run.cumulative_rollouts(), run.wall_clock()
    return RunSummary(name, run.engine, len(run.steps), int(run.step_numbers[-1]), run.group_size(), start, score,
                      score - start, None if rollouts is None else float(rollouts[-1]),
                      None if clock is None else float(clock[-1]))


def decide_within(differences: np.ndarray, tolerance: float) -> tuple[bool | None, str, list[Decision]]:
    """Two one-sided decisions on mean(d): >= -tolerance and <= +tolerance. Passed when both hold, failed
    when either fails, None otherwise; with a text of the interval and, if undecided, the groups needed."""
    low = decide_mean(differences, -tolerance, at_least=True)
    high = decide_mean(differences, tolerance, at_least=False)
    outcomes = (low.passed, high.passed)
    passed = False if False in outcomes else (True if outcomes == (True, True) else None)
    verdict = {True: "within", False: "outside", None: "undecided against"}[passed]
    text = (f"{low.estimate:+.3f} [{low.low:+.3f}, {low.high:+.3f}] over {low.n} groups, {verdict} "
            f"+-{tolerance:g}")
    needed = [d.seeds_needed for d in (low, high) if d.passed is None and d.seeds_needed]
    if passed is None and needed:
        text += f" (about {max(needed)} groups would decide it)"
    return passed, text, [low, high]


def silent_evidence(run: RunLog, name: str) -> tuple[Evidence, SilentComparison | None]:
    """TT-8 on one run (module docstring); ``not checked`` without per-prompt binary rewards or fewer than
    two steps with predictions."""
    title = f"Silent-group share in {run.engine} run {name} vs p^G + (1-p)^G"
    if not run.groups:
        return Evidence.from_checks("TT-8", "llm", title, {}, reason=f"{name}: the log has no per-prompt rewards "
                                    "(TRL: log_completions=True; verl: trainer.rollout_data_dir)."), None
    if run.binary_levels() is None:
        return Evidence.from_checks("TT-8", "llm", title, {}, reason=f"{name}: rewards are not binary; "
                                    "p^G + (1-p)^G is the silent rate of 0/1 rewards."), None
    comparison = compare_silent_shares(run)
    if comparison.group_silent.size < 2:
        return Evidence.from_checks("TT-8", "llm", title, {}, reason=f"{name}: fewer than two groups have a prompt "
                                    "sampled elsewhere in the run (no out-of-group prediction)."), comparison
    differences = comparison.group_silent - comparison.group_predicted
    passed, text, decisions = decide_within(differences, SILENT_TOLERANCE)
    G = run.group_size()
    numbers = {"group_size": G, "steps_compared": int(comparison.steps.size),
               "groups_compared": int(differences.size), "measured": float(comparison.group_silent.mean()),
               "predicted": float(comparison.group_predicted.mean()), "mean_difference": float(differences.mean()),
               "tolerance": SILENT_TOLERANCE, "decisions": [d.to_json() for d in decisions]}
    reason = (f"{name} (G = {G}): silent share {numbers['measured']:.3f} measured vs {numbers['predicted']:.3f} "
              f"predicted from each group's other rollouts of its prompt, in {numbers['steps_compared']} steps; "
              f"difference {text}.")
    check = f"{name}: silent share within +-{SILENT_TOLERANCE} of p^G + (1-p)^G (95% interval over groups)"
    return Evidence.from_checks("TT-8", "llm", title, {check: passed}, reason=reason, numbers=jsonable(numbers)), \
        comparison


def compare_evidence(two: Sequence[RunSummary], sixteen: Sequence[RunSummary]) -> Evidence:
    """TT-9 from runs A (``two``, 2-GRPO) and B (``sixteen``, 16-GRPO): score, improvement and wall-clock
    ratios of the seed means with Fieller intervals (independent seeds), each decided against theory.paper."""
    if not two or not sixteen:
        raise ValueError(f"--compare needs runs on both sides; got {len(two)} and {len(sixteen)}")
    decisions: dict[str, Decision] = {
        f"score ratio >= {TT9_SCORE_RATIO}": decide_ratio([r.score for r in two], [r.score for r in sixteen],
                                                         TT9_SCORE_RATIO, paired=False),
        f"improvement ratio >= {TT9_IMPROVEMENT_RATIO}": decide_ratio(
            [r.improvement for r in two], [r.improvement for r in sixteen], TT9_IMPROVEMENT_RATIO, paired=False),
    }
    timed = all(r.seconds is not None for r in (*two, *sixteen))
    if timed:
        decisions[f"wall-clock ratio <= {TT9_WALLCLOCK_RATIO}"] = decide_ratio(
            [r.seconds for r in two], [r.seconds for r in sixteen], TT9_WALLCLOCK_RATIO, paired=False, at_least=False)
    counted = all(r.rollouts is not None for r in (*two, *sixteen))
    rollout_ratio = (float(np.mean([r.rollouts for r in two]) / np.mean([r.rollouts for r in sixteen]))
                     if counted else None)
    numbers = {"decisions": {k: d.to_json() for k, d in decisions.items()}, "rollout_ratio": rollout_ratio,
               "paper_rollout_ratio": TT9_ROLLOUT_RATIO, "runs_a": [r.to_json() for r in two],
               "runs_b": [r.to_json() for r in sixteen]}
    reason = "; ".join(f"{k.split(' ')[0]} {d.text()}" for k, d in decisions.items())
    reason += (f"; rollouts {rollout_ratio:.3f} of B's (TT: {TT9_ROLLOUT_RATIO})" if rollout_ratio is not None
               else "; rollouts not logged")
    if not timed:
        reason += "; wall-clock not judged (a run logs no step time)"
    reason += ". Score = mean training reward over the last tenth of the logged steps, not held-out benchmarks."
    title = f"2-GRPO ({len(two)} run(s)) vs 16-GRPO ({len(sixteen)} run(s)) from ingested logs"
    return Evidence.from_checks("TT-9", "llm", title, {k: d.passed for k, d in decisions.items()},
                                complete=timed, reason=reason, numbers=jsonable(numbers))


def plot_runs(runs: dict[str, RunLog], silent: dict[str, SilentComparison | None], path: Path) -> Path:
    """Reward against step, rollouts and wall-clock, and the silent share measured vs predicted (TT-8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, run) in enumerate(runs.items()):
        style = {"color": colors[i % len(colors)], "label": name, "marker": "o" if len(run.steps) <= 30 else None,
                 "ms": 3}
        color = style["color"]
        axes[0, 0].plot(run.step_numbers, run.rewards, **style)
        rollouts, clock = run.cumulative_rollouts(), run.wall_clock()
        if rollouts is not None:
            axes[0, 1].plot(rollouts, run.rewards, **style)
        if clock is not None:
            axes[1, 0].plot(clock, run.rewards, **style)
        logged = {r.step: r.silent_share for r in run.steps if r.silent_share is not None}
        measured = run.group_silent_shares() or logged
        if measured:
            axes[1, 1].plot(list(measured), list(measured.values()), color=color, lw=1, alpha=0.6,
                            label=f"{name}: measured")
        comparison = silent.get(name)
        if comparison is not None and comparison.steps.size:
            axes[1, 1].plot(comparison.steps, comparison.predicted, color=color, ls="--",
                            label=f"{name}: p^G + (1-p)^G")
    for ax, xlabel, title in ((axes[0, 0], "optimizer step", "reward vs step"),
                              (axes[0, 1], "rollouts", "reward vs rollouts"),
                              (axes[1, 0], "wall-clock (s)", "reward vs wall-clock"),
                              (axes[1, 1], "optimizer step", "TT-8: silent-group share")):
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not in the log", ha="center", va="center", transform=ax.transAxes, color="grey")
    axes[0, 0].set_ylabel("mean reward")
    axes[1, 1].set_ylabel("share of groups")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_markdown(summaries: Sequence[RunSummary], records: Sequence[Evidence], runs: dict[str, RunLog],
                     figure: str) -> str:
    """The Markdown summary: one row per run, then each record's verdict and reason, then the readers' notes."""
    lines = ["# Ingested runs", "", "| run | engine | steps | G | rollouts | seconds | start | score | improvement |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {s.name} | {s.engine} | {s.steps} (last {s.last_step}) | {s.group_size or 'n/a'} | "
              f"{_fmt(s.rollouts, 0)} | {_fmt(s.seconds, 1)} | {s.start:.3f} | {s.score:.3f} | {s.improvement:+.3f} |"
              for s in summaries]
    lines += ["", f"![reward and silent share]({figure})", "", "## Verdicts", ""]
    for e in records:
        lines.append(f"- **{e.claim_id}** {e.title}: **{e.verdict.value}**. {e.reason}")
    lines += ["", "## What the readers inferred", ""]
    for name, run in runs.items():
        lines += [f"- {name}: " + "; ".join(run.notes)]
    return "\n".join(lines) + "\n"


def write_ingest(runs: dict[str, RunLog], out_dir: Path, *, compare: tuple[Sequence[str], Sequence[str]] | None = None
                 ) -> list[Evidence]:
    """Write ``runs.json`` (per-step rows, silent shares and summaries), ``ingest.png`` and ``summary.md`` under
    ``out_dir``; return the TT-8 record of every run and, with ``compare`` (names of A runs, names of B runs),
    TT-9's."""
    summaries = {name: summarise(run, name) for name, run in runs.items()}
    records, silent = [], {}
    for name, run in runs.items():
        record, silent[name] = silent_evidence(run, name)
        records.append(record)
    if compare is not None:
        records.append(compare_evidence([summaries[n] for n in compare[0]], [summaries[n] for n in compare[1]]))
    figure = plot_runs(runs, silent, out_dir / "ingest.png")
    artefacts = (figure.name, "summary.md", "runs.json")
    records = [replace(e, artefacts=artefacts) for e in records]
    atomic_write_json(out_dir / "runs.json", jsonable({
        name: {"summary": summaries[name].to_json(), "notes": list(run.notes),
               "steps": [asdict(row) for row in run.steps],
               "silent": None if silent[name] is None else {k: v for k, v in asdict(silent[name]).items()
                                                            if not k.startswith("group_")}}
        for name, run in runs.items()}))
    atomic_write_text(out_dir / "summary.md", summary_markdown(list(summaries.values()), records, runs, figure.name))
    return records


def verdict_line(record: Evidence) -> str:
    """'TT-8 [llm] title: HOLDS' with the reason on the next line."""
    mark = record.verdict.value.upper() if record.verdict != Verdict.NOT_CHECKED else "not checked"
    return f"{record.claim_id} [{record.method}] {record.title}: {mark}\n    {record.reason}"
