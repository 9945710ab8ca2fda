"""The TT-9 / VI-3 experiment's results as ratio tables, plots and evidence.

TT's form: an arm's final score as a share of 16-GRPO's, its rollouts and its training wall-clock
(rollout + update seconds) as shares of 16-GRPO's. The honest form: the share of 16-GRPO's
improvement over the start policy that the arm recovers,

    IR = mean_s(score_arm,s - score_0) / mean_s(score_16,s - score_0),

with score_0 the start policy's score (one measurement shared by every arm). Every ratio of seed
means gets a 95% Fieller interval (the exact interval of a ratio of two normal means, arms
independent, t quantile with min(n) - 1 degrees of freedom); it is unbounded, and reported as
such, when the denominator is not significantly away from 0. The TT-9 verdict is computed from
IR's lower bound against TT's own improvement ratio (about 95%, from their base-model rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import t as student_t

from evidence.io import atomic_path, atomic_write_json, atomic_write_text, jsonable
from evidence.record import Evidence
from theory import statistics

TT_SCORE_RATIO = 0.976
"""TT Table 1 (v3): 2-GRPO's mean score as a share of 16-GRPO's."""
TT_IMPROVEMENT_RATIO = 0.95
"""About 95%: the share of 16-GRPO's improvement over the base model that 2-GRPO keeps in TT's rows;
TT-9 holds here when IR's lower 95% bound reaches it."""
SMALL_DIFFERENCE = 0.90
"""TT's Table-4 'small differences' read as: G at fixed P keeps >= 90% of 16-GRPO's improvement
(lower 95% bound)."""
LEVEL = statistics.LEVEL
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


# --- statistics ------------------------------------------------------------------------------------------

def mean_ci(values: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """:func:`theory.statistics.mean_ci` of per-seed values, which here must all be finite: (mean, half width)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"values={x!r} must be a non-empty array of finite numbers")
    mean, half = statistics.mean_ci(x, level=level)
    return float(mean), float(half)


def fieller_interval(numerator: ArrayLike, denominator: ArrayLike,
                     level: float = LEVEL) -> dict[str, float | None]:
    """mean(num) / mean(den) and its Fieller interval: the R with
    (a - R b)^2 <= t^2 (v_a + R^2 v_b), a, b the means, v_a, v_b their squared standard errors
    (independent samples), t the (1+level)/2 quantile with min(n) - 1 degrees of freedom.
    ``low``/``high`` are None when the set is unbounded (b not significantly away from 0) or a
    sample has one value; ``value`` is None when b = 0."""
    num = np.asarray(numerator, dtype=np.float64).ravel()
    den = np.asarray(denominator, dtype=np.float64).ravel()
    for name, x in (("numerator", num), ("denominator", den)):
        if x.size == 0 or not np.all(np.isfinite(x)):
            raise ValueError(f"{name}={x!r} must be a non-empty array of finite numbers")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    a, b = float(num.mean()), float(den.mean())
    out: dict[str, float | None] = {"value": a / b if b != 0 else None, "low": None, "high": None}
    n = min(num.size, den.size)
    if n < 2:
        return out
    t = float(student_t.ppf((1 + level) / 2, n - 1))
    va, vb = num.var(ddof=1) / num.size, den.var(ddof=1) / den.size
    A = b * b - t * t * vb
    if A <= 0:
        return out
    half = math.sqrt(t * t * (va * A + vb * a * a))
    out["low"], out["high"] = (a * b - half) / A, (a * b + half) / A
    return out


# --- tables ----------------------------------------------------------------------------------------------

def final_scores(runs: Sequence[dict[str, Any]], metric: str) -> np.ndarray:
    return np.array([r["final"][metric] for r in runs], dtype=np.float64)


def ratio_row(arm_runs: Sequence[dict[str, Any]], ref_runs: Sequence[dict[str, Any]], start: dict[str, Any],
              metrics: Sequence[str]) -> dict[str, Any]:
    """One row of the ratio table: for each metric, the arm's mean score (and CI), its score ratio
    and improvement ratio to the reference; the rollouts and wall-clock ratios."""
    row: dict[str, Any] = {"label": arm_runs[0]["label"], "seeds": len(arm_runs), "metrics": {}}
    ratio = fieller_interval
    if arm_runs[0]["arm"] == ref_runs[0]["arm"]:  # the reference against itself: exactly 1, no interval
        def ratio(num: ArrayLike, den: ArrayLike) -> dict[str, float | None]:
            return {"value": 1.0, "low": 1.0, "high": 1.0}
    for metric in metrics:
        arm, ref = final_scores(arm_runs, metric), final_scores(ref_runs, metric)
        s0 = float(start["final"][metric])
        mean, half = mean_ci(arm)
        row["metrics"][metric] = {
            "mean": mean, "ci95": half, "start": s0,
            "score_ratio": ratio(arm, ref),
            "improvement_ratio": ratio(arm - s0, ref - s0),
        }
    rollouts = [float(r["rollouts_total"]) for r in arm_runs]
    row["rollouts"] = float(np.mean(rollouts))
    row["rollouts_ratio"] = ratio(rollouts, [float(r["rollouts_total"]) for r in ref_runs])
    row["train_seconds"] = float(np.mean([r["seconds"]["train"] for r in arm_runs]))
    row["wallclock_ratio"] = ratio([r["seconds"]["train"] for r in arm_runs], [r["seconds"]["train"] for r in ref_runs])
    row["wallclock_with_eval_ratio"] = ratio([r["seconds"]["wall"] for r in arm_runs],
                                             [r["seconds"]["wall"] for r in ref_runs])
    return row


def silent_row(runs: Sequence[dict[str, Any]], start: dict[str, Any]) -> dict[str, Any]:
    """Measured silent share (first and last eighth of training, mean over seeds) against the
    share E[p^G + (1-p)^G] predicted from the start policy's and the final policies' probes."""
    G = runs[0]["group_size"]
    silent = np.array([r["silent_fraction"] for r in runs], dtype=np.float64)  # (S, steps)
    window = max(1, silent.shape[1] // 8)
    first, last = silent[:, :window].mean(axis=1), silent[:, -window:].mean(axis=1)
    predicted_end = [r["probe_end"]["predicted_silent"][str(G)] for r in runs]
    def ci(values: ArrayLike) -> dict[str, float]:
        return dict(zip(("mean", "ci95"), mean_ci(values), strict=True))

    return {
        "group_size": G, "window_steps": window,
        "measured_first": ci(first), "predicted_start": start["probe"]["predicted_silent"][str(G)],
        "measured_last": ci(last), "predicted_end": ci(predicted_end),
        "measured_over_training": float(silent.mean()),
    }


def by_difficulty(runs: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean over seeds of each metric, per difficulty."""
    levels = runs[0]["final"]["by_difficulty"]
    return {d: {m: float(np.mean([r["final"]["by_difficulty"][d][m] for r in runs])) for m in metrics}
            for d in levels}


def experiment_tables(run: dict[str, Any], k: int) -> dict[str, Any]:
    """Ratio tables (Table-1 analogue with the equal-rollout arm, Table-4 analogue), silent shares,
    and the GRPOVI comparison, from :func:`gpu_runs.tt9.experiment.run_experiment`'s output."""
    results, start = run["results"], run["start"]
    headline = f"mean_at_{k}"
    metrics = (headline, "greedy_accuracy", f"pass_at_{k}")
    ref = results["grpo16"]
    family = {key: arm.family for key, arm in run["arms"].items()}
    rows = {key: ratio_row(runs, ref, start, metrics) for key, runs in results.items()
            if family[key] in ("table1", "table4", "equal")}
    gains = {m: dict(zip(("mean", "ci95"), mean_ci(final_scores(ref, m) - start["final"][m]), strict=True))
             for m in metrics}
    tables: dict[str, Any] = {
        "headline_metric": headline,
        "start": {m: start["final"][m] for m in metrics},
        "reference_improvement": gains[headline],
        "reference_gains": gains,
        "table1": {key: row for key, row in rows.items() if family[key] in ("table1", "equal")},
        "table4": {key: row for key, row in rows.items() if family[key] == "table4" or key == "grpo16"},
        "silent": {key: silent_row(runs, start) for key, runs in results.items()
                   if runs[0]["reward_kind"] == "binary"},
        "lr_sweep": run["sweep"],
        "by_difficulty": {"start": start["final"]["by_difficulty"],
                          **{key: by_difficulty(runs, metrics) for key, runs in results.items()}},
        "seconds": {key: {part: float(np.mean([r["seconds"][part] for r in runs]))
                          for part in ("rollout", "update", "eval", "final_eval", "wall")}
                    for key, runs in results.items()},
    }
    if "grpo16-partial" in results and "grpovi16-partial" in results:
        grpo = final_scores(results["grpo16-partial"], "reward")
        vi = final_scores(results["grpovi16-partial"], "reward")
        tables["grpovi"] = {
            "metric": f"held-out partial-credit reward, mean over {k} samples per prompt",
            "start": start["final"]["reward"],
            "grpo": dict(zip(("mean", "ci95"), mean_ci(grpo), strict=True)),
            "grpovi": dict(zip(("mean", "ci95"), mean_ci(vi), strict=True)),
            "difference": welch_difference(vi, grpo),
            "binary_mean_at_k": {"grpo": mean_ci(final_scores(results["grpo16-partial"], headline))[0],
                                 "grpovi": mean_ci(final_scores(results["grpovi16-partial"], headline))[0]},
        }
    return tables


def welch_difference(a: ArrayLike, b: ArrayLike, level: float = LEVEL) -> dict[str, float | None]:
    """mean(a) - mean(b) with a Welch t interval (None bounds with fewer than 2 values each)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return {"value": diff, "low": None, "high": None}
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return {"value": diff, "low": diff, "high": diff}
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(student_t.ppf((1 + level) / 2, df)) * se
    return {"value": diff, "low": diff - half, "high": diff + half}


# --- evidence --------------------------------------------------------------------------------------------

def _pct(r: dict[str, float | None]) -> str:
    if r["value"] is None:
        return "undefined"
    bounds = "unbounded CI" if r["low"] is None else f"[{100 * r['low']:.1f}, {100 * r['high']:.1f}]"
    return f"{100 * r['value']:.1f}% {bounds}"


def _lower_at_least(r: dict[str, float | None], threshold: float) -> bool:
    return r["low"] is not None and r["low"] >= threshold


def evidence_tt9(tables: dict[str, Any], *, command: str, artefacts: tuple[str, ...]) -> list[Evidence]:
    """TT-9 from the Table-1 analogue (IR of each 2-GRPO arm, lower bound >= 95%) and the Table-4
    analogue (IR of each G at fixed P, lower bound >= 90%); not checked when 16-GRPO itself did not
    improve significantly on the start policy (every ratio would be of noise)."""
    head = tables["headline_metric"]
    gain = tables["reference_improvement"]
    seeds = tables["table1"]["grpo16"]["seeds"]
    improved = seeds >= 2 and gain["mean"] - gain["ci95"] > 0
    why_not = ("one seed per arm: no confidence interval, so nothing is checked" if seeds < 2 else
               "16-GRPO did not improve significantly on the start policy (95% CI of its gain includes 0): the "
               "ratios compare noise, so nothing is checked.")
    base_steps = [f"Headline score: {head} on the held-out prompts; start policy {tables['start'][head]:.4f}; "
                  f"16-GRPO's improvement {gain['mean']:+.4f} +- {gain['ci95']:.4f} (95% CI over seeds)."]
    out = []
    for name, table, threshold, title in (
        ("table1", tables["table1"], TT_IMPROVEMENT_RATIO,
         "2-GRPO vs 16-GRPO on a small LM (TT Table 1 analogue): improvement recovered"),
        ("table4", tables["table4"], SMALL_DIFFERENCE,
         "G in {2, 4, 8, 16} at fixed prompts per mini-batch (TT Table 4 analogue)"),
    ):
        arms = {k: row for k, row in table.items() if k != "grpo16" and k != "grpo2-equal"}
        if not arms:
            continue
        checks = {f"{k}_improvement_ratio_lower_bound_at_least_{threshold:g}":
                  _lower_at_least(row["metrics"][head]["improvement_ratio"], threshold) for k, row in arms.items()}
        steps = base_steps + [
            f"{row['label']}: score {_pct(row['metrics'][head]['score_ratio'])} of 16-GRPO's, rollouts "
            f"{_pct(row['rollouts_ratio'])}, training wall-clock {_pct(row['wallclock_ratio'])}, improvement "
            f"recovered {_pct(row['metrics'][head]['improvement_ratio'])}" for row in table.values()]
        numbers: dict[str, Any] = {
            "headline_metric": head, "threshold": threshold, "tt_score_ratio": TT_SCORE_RATIO,
            "tt_improvement_ratio": TT_IMPROVEMENT_RATIO, "seeds": seeds, "start_score": tables["start"][head],
            "reference_gain": [gain["mean"], gain["ci95"]]}
        for key, row in table.items():  # [value, low 95%, high 95%]; null bounds: unbounded interval
            m = row["metrics"][head]
            for quantity, r in (("score_ratio", m["score_ratio"]), ("improvement_ratio", m["improvement_ratio"]),
                                ("rollouts_ratio", row["rollouts_ratio"]), ("wallclock_ratio", row["wallclock_ratio"])):
                numbers[f"{quantity} {key}"] = [r["value"], r["low"], r["high"]]
        if not improved:
            out.append(Evidence.from_checks(
                "TT-9", "llm", title, {}, complete=False, numbers=numbers, steps=tuple(steps), artefacts=artefacts,
                command=command, reason=why_not))
            continue
        refuted = [k for k, row in arms.items() if (r := row["metrics"][head]["improvement_ratio"])["high"] is not None
                   and r["high"] < threshold]
        undecided = [k for k in arms if k not in refuted and not checks[
            f"{k}_improvement_ratio_lower_bound_at_least_{threshold:g}"]]
        reason = (f"Verdict from the improvement ratio IR = mean(arm - start) / mean(16-GRPO - start) of {head}: "
                  f"a check passes when IR's lower 95% Fieller bound is >= {threshold:.0%}"
                  + (" (TT's ~95%)." if name == "table1" else " ('small differences').")
                  + (f" Below the threshold with 95% confidence (upper bound < {threshold:.0%}): "
                     f"{', '.join(refuted)}." if refuted else "")
                  + (f" Not shown either way (the interval straddles {threshold:.0%}): {', '.join(undecided)}."
                     if undecided else ""))
        out.append(Evidence.from_checks("TT-9", "llm", title, checks, complete=False, reason=reason, numbers=numbers,
                                        steps=tuple(steps), artefacts=artefacts, command=command))
    return out


def evidence_vi3(tables: dict[str, Any], *, command: str, artefacts: tuple[str, ...]) -> Evidence:
    """VI-3: GRPOVI's held-out partial-credit reward above GRPO's after the same steps (point
    estimate, and the lower bound of the Welch 95% interval of the difference above 0)."""
    vi = tables["grpovi"]
    diff = vi["difference"]
    checks = {"grpovi_reward_above_grpo": diff["value"] > 0,
              "grpovi_reward_above_grpo_significantly": diff["low"] is not None and diff["low"] > 0}
    steps = (f"{vi['metric']}; start policy {vi['start']:.4f}.",
             f"16-GRPO: {vi['grpo']['mean']:.4f} +- {vi['grpo']['ci95']:.4f}; 16-GRPOVI: {vi['grpovi']['mean']:.4f} "
             f"+- {vi['grpovi']['ci95']:.4f} (95% CI over seeds).",
             f"Difference GRPOVI - GRPO: {diff['value']:+.4f}, Welch 95% CI "
             + ("undefined" if diff["low"] is None else f"[{diff['low']:+.4f}, {diff['high']:+.4f}]") + ".")
    return Evidence.from_checks("VI-3", "llm", "GRPOVI vs GRPO on partial-credit rewards, same steps (small LM)",
                                checks, complete=False, steps=steps, artefacts=artefacts, command=command,
                                numbers={"metric": vi["metric"], "start": vi["start"],
                                         "grpo": [vi["grpo"]["mean"], vi["grpo"]["ci95"]],
                                         "grpovi": [vi["grpovi"]["mean"], vi["grpovi"]["ci95"]],
                                         "difference": [diff["value"], diff["low"], diff["high"]],
                                         "binary_mean_at_k grpo": vi["binary_mean_at_k"]["grpo"],
                                         "binary_mean_at_k grpovi": vi["binary_mean_at_k"]["grpovi"]})


# --- markdown --------------------------------------------------------------------------------------------

def _significant(gain: dict[str, float]) -> bool:
    return gain["mean"] - gain["ci95"] > 0 or gain["mean"] + gain["ci95"] < 0


def markdown_table(tables: dict[str, Any], device: str) -> str:
    """The ratio tables in TT's form plus the improvement ratio, as Markdown."""
    head = tables["headline_metric"]
    greedy_gain = tables["reference_gains"]["greedy_accuracy"]
    lines = [f"Device: {device}. Score: {head} on held-out prompts (start policy {tables['start'][head]:.4f}; "
             f"16-GRPO's gain {tables['reference_improvement']['mean']:+.4f} +- "
             f"{tables['reference_improvement']['ci95']:.4f}). Ratios of seed means to 16-GRPO's with 95% Fieller "
             "intervals; wall-clock = rollout + update seconds (noisy on a shared machine). Greedy accuracy: start "
             f"{tables['start']['greedy_accuracy']:.4f}, 16-GRPO's gain {greedy_gain['mean']:+.4f} +- "
             f"{greedy_gain['ci95']:.4f}.", ""]
    for name, title in (("table1", "Table-1 analogue (same prompts, same epochs; equal-rollout arm last)"),
                        ("table4", "Table-4 analogue (fixed prompts per mini-batch)")):
        lines += [f"### {title}", "",
                  f"| arm | seeds | {head} | score % | rollouts % | wall-clock % | improvement recovered "
                  "| greedy: improvement recovered |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in tables[name].values():
            m = row["metrics"][head]
            greedy = (_pct(row["metrics"]["greedy_accuracy"]["improvement_ratio"]) if _significant(greedy_gain)
                      else "n/a: 16-GRPO's greedy gain not significant")
            lines.append(f"| {row['label']} | {row['seeds']} | {m['mean']:.4f} +- {m['ci95']:.4f} | "
                         f"{_pct(m['score_ratio'])} | {_pct(row['rollouts_ratio'])} | {_pct(row['wallclock_ratio'])} | "
                         f"{_pct(m['improvement_ratio'])} | {greedy} |")
        lines.append("")
    lines += ["### Silent groups: measured share vs E[p^G + (1-p)^G] from probe pass rates", "",
              "| arm | G | measured, first eighth | predicted, start policy | measured, last eighth "
              "| predicted, final policies |", "|---|---|---|---|---|---|"]
    for key, row in tables["silent"].items():
        label = tables["table1"].get(key, tables["table4"].get(key, {"label": key}))["label"]
        lines.append(f"| {label} | {row['group_size']} | {row['measured_first']['mean']:.3f} | "
                     f"{row['predicted_start']:.3f} | {row['measured_last']['mean']:.3f} | "
                     f"{row['predicted_end']['mean']:.3f} |")
    levels = list(tables["by_difficulty"]["start"])
    lines += ["", f"### {head} per difficulty (mean over seeds)", "",
              "| arm | " + " | ".join(f"d={d}" for d in levels) + " |", "|---|" + "---|" * len(levels)]
    for key, values in tables["by_difficulty"].items():
        lines.append(f"| {key} | " + " | ".join(f"{values[d][head]:.4f}" for d in levels) + " |")
    lines += ["", "### Seconds per run (mean over seeds): rollout / update / curve evaluations / final evaluation",
              "", "| arm | rollout | update | curve eval | final eval | wall |", "|---|---|---|---|---|---|"]
    for key, sec in tables["seconds"].items():
        lines.append(f"| {key} | {sec['rollout']:.1f} | {sec['update']:.1f} | {sec['eval']:.1f} | "
                     f"{sec['final_eval']:.1f} | {sec['wall']:.1f} |")
    if tables.get("lr_sweep"):
        sweep = tables["lr_sweep"]
        lines += ["", "### 2-GRPO lr sweep (tuning seeds; pass rate on training prompts, never held-out)", "",
                  "| multiple of TT's lr | probe pass rate |", "|---|---|"]
        lines += [f"| x{m} | {v:.4f} |" for m, v in sweep["probe_pass_rate"].items()]
        edge = " (at the edge of the grid)" if sweep["at_grid_edge"] else ""
        lines.append(f"\nChosen: x{sweep['chosen']:g}{edge}")
    return "\n".join(lines) + "\n"


# --- plots -----------------------------------------------------------------------------------------------

def _stack(runs: Sequence[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([r["curve"][name] for r in runs], dtype=np.float64)  # (S, evals)


def _band(ax: Any, x: np.ndarray, values: np.ndarray, label: str, color: str) -> None:
    stats = [mean_ci(values[:, j]) for j in range(values.shape[1])]
    mean, half = np.array([s[0] for s in stats]), np.array([s[1] for s in stats])
    ax.plot(x, mean, marker="o", markersize=3, color=color, label=label)
    ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")  # legends may sit outside the axes
    plt.close(fig)


def plot_curves(results: dict[str, list[dict[str, Any]]], keys: Sequence[str], path: Path, title: str) -> None:
    """Held-out greedy accuracy and one-sample pass rate against rollouts consumed and training
    wall-clock, mean and 95% band over seeds, one line per arm."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for i, key in enumerate(k for k in keys if k in results):
        runs, color = results[key], PALETTE[i % len(PALETTE)]
        for row, metric in enumerate(("greedy_accuracy", "pass_rate")):
            for col, xname in enumerate(("rollouts", "train_seconds")):
                _band(axes[row, col], _stack(runs, xname).mean(axis=0), _stack(runs, metric), runs[0]["label"], color)
    for row, ylabel in enumerate(("held-out greedy accuracy", "held-out pass rate (1 sample, T = 1)")):
        for col, xlabel in enumerate(("rollouts consumed", "training wall-clock (s, rollout + update)")):
            ax = axes[row, col]
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{ylabel.split(' (')[0]} vs {xlabel.split(' (')[0]}", fontsize=10)
    axes[0, 0].legend(fontsize=7)
    _save(fig, path)


def plot_silent(results: dict[str, list[dict[str, Any]]], silent: dict[str, Any], path: Path) -> None:
    """Measured silent-group share over training (mean over seeds, smoothed over an eighth of the
    run) against E[p^G + (1-p)^G] predicted from the start and final probes (open markers)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    fig.suptitle("TT-8/TT-9: silent groups over training, measured vs p^G + (1-p)^G", fontsize=12,
                 fontweight="bold")
    for i, (key, row) in enumerate(silent.items()):
        color = PALETTE[i % len(PALETTE)]
        values = np.array([r["silent_fraction"] for r in results[key]], dtype=np.float64).mean(axis=0)
        window = row["window_steps"]
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        x = (np.arange(smooth.size) + window) / values.size
        ax.plot(x, smooth, color=color, label=f"{results[key][0]['label']} (G={row['group_size']})")
        ax.plot([0.0, 1.0], [row["predicted_start"], row["predicted_end"]["mean"]], linestyle="none", marker="o",
                markerfacecolor="none", color=color, markersize=8)
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", color="k",
            label="predicted from probe pass rates (start, end)")
    ax.set_xlabel("training progress (share of steps)")
    ax.set_ylabel("silent-group share")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)


def plot_grpovi(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Held-out partial-credit reward and pass rate against steps for GRPO and GRPOVI."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    fig.suptitle("VI-3: GRPOVI vs GRPO on partial-credit rewards", fontsize=12, fontweight="bold")
    for i, key in enumerate(("grpo16-partial", "grpovi16-partial")):
        runs = results[key]
        for ax, metric in zip(axes, ("reward", "pass_rate"), strict=True):
            _band(ax, _stack(runs, "step").mean(axis=0), _stack(runs, metric), runs[0]["label"], PALETTE[i])
    for ax, ylabel in zip(axes, ("held-out partial-credit reward (1 sample)", "held-out pass rate (1 sample)"),
                          strict=True):
        ax.set_xlabel("RL step")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.set_title(ylabel.split(" (")[0] + " vs step", fontsize=10)
        ax.legend(fontsize=7)
    _save(fig, path)


# --- everything ------------------------------------------------------------------------------------------

def write_report(exp: Any, run: dict[str, Any], out_dir: Path, *, command: str = "",
                 artefact_prefix: str = "") -> list[Evidence]:
    """Write experiment.json, ratio_table.md and the figures under ``out_dir``; return the evidence
    (artefact paths prefixed by ``artefact_prefix``, i.e. relative to the report folder).
    ``command`` is the command line that reproduces the run (``llm experiment`` passes its own; a
    check leaves it empty and the grpo_verify runner fills it)."""
    out_dir = Path(out_dir)
    results = run["results"]
    tables = experiment_tables(run, exp.k)
    device = results["grpo16"][0]["device"]
    prefix = f"{artefact_prefix}/" if artefact_prefix else ""
    table1 = [k for k in run["arms"] if run["arms"][k].family in ("table1", "equal")]
    table4 = ["grpo16", *(k for k in run["arms"] if run["arms"][k].family == "table4")]
    plot_curves(results, table1, out_dir / "curves_table1.png",
                f"TT-9 Table-1 analogue on a small LM ({device})")
    plot_curves(results, table4, out_dir / "curves_table4.png",
                f"TT-9 Table-4 analogue: G at fixed prompts per mini-batch ({device})")
    plot_silent(results, tables["silent"], out_dir / "silent_fraction.png")
    if "grpovi" in tables:
        plot_grpovi(results, out_dir / "grpovi.png")
    runs = {key: [f"runs/{key}/seed{r['seed']}/result.json" for r in rs] for key, rs in results.items()}
    summary = {"device": device, "command": command, "tables": tables, "runs": runs}
    atomic_write_json(out_dir / "experiment.json", jsonable(summary))
    atomic_write_text(out_dir / "ratio_table.md", markdown_table(tables, device))
    data = (f"{prefix}experiment.json", f"{prefix}ratio_table.md")
    evidence = evidence_tt9(tables, command=command,
                            artefacts=(f"{prefix}curves_table1.png", f"{prefix}curves_table4.png",
                                       f"{prefix}silent_fraction.png", *data))
    if "grpovi" in tables:
        evidence.append(evidence_vi3(tables, command=command, artefacts=(f"{prefix}grpovi.png", *data)))
    return [Evidence.from_json(jsonable(e.to_json())) for e in evidence]
