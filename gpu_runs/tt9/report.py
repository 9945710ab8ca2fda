"""The TT-9 / VI-3 experiment's results as ratio tables with three-way verdicts, plots and evidence.

TT's form: an arm's final score as a share of 16-GRPO's, its rollouts and its training wall-clock
(rollout + update seconds) as shares of 16-GRPO's. The honest form, on which TT-9 is judged: the
share of 16-GRPO's improvement over the start policy that the arm recovers,

    IR = mean_s(score_arm,s - score_0) / mean_s(score_16,s - score_0),

score_0 the start policy's score (one measurement shared by every arm). The design is paired (arm
and 16-GRPO at seed s share the start policy, the RL seed, the prompt order and the evaluation
noise), so every ratio gets the paired 95% Fieller interval of :func:`theory.statistics.fieller_ratio`
and every verdict is :func:`evidence.verdicts.decide_ratio` of the per-seed values against the arm's
threshold: holds when the lower bound reaches it, fails when the upper bound misses it,
inconclusive otherwise, with the seeds that would decide it.

Thresholds, each from TT's own rows (``theory.paper``): 2-GRPO (TT's lr and its own tuned lr) and the
equal-rollout arm: IR >= :data:`theory.paper.TT9_IMPROVEMENT_RATIO` (0.95: 2-GRPO keeps 97.6% of the
score from a base model at about half of 16-GRPO's score, (0.976 - 0.5) / (1 - 0.5) = 0.952);
2-GRPO+RS: IR >= (1.011 - 0.5) / 0.5 = 1.022, the same reading of its 101.1% score row; Table-4 arms
(G at fixed prompts): IR >= :data:`theory.paper.TT9_SMALL_DIFFERENCE` (0.90, "small differences");
2-GRPO's training time: at most :data:`theory.paper.TT9_WALLCLOCK_RATIO` (0.21) of 16-GRPO's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
import numpy as np
from numpy.typing import ArrayLike

from evidence.io import atomic_path, atomic_write_json, atomic_write_text, jsonable
from evidence.record import Evidence
from evidence.verdicts import Decision, decide_mean, decide_ratio
from theory import paper, statistics

TT_BASE_SHARE = 0.5
"""TT's base models score about half of 16-GRPO's score (the reading behind ``TT9_IMPROVEMENT_RATIO``)."""
LEVEL = statistics.LEVEL
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def improvement_threshold(score_ratio: float, base_share: float = TT_BASE_SHARE) -> float:
    """(s - b) / (1 - b): the improvement ratio a score ratio s implies when the base model scores a
    share b of 16-GRPO's score (TT: b ~ 0.5, so 97.6% of the score is ~95% of the improvement)."""
    if not 0 <= base_share < 1:
        raise ValueError(f"base_share={base_share!r} must lie in [0, 1)")
    return (score_ratio - base_share) / (1 - base_share)


THRESHOLDS: dict[str, tuple[float, str]] = {
    "grpo2-tt": (paper.TT9_IMPROVEMENT_RATIO, "TT Table 1: 2-GRPO keeps 97.6% of the score, ~95% of the improvement"),
    "grpo2-own": (paper.TT9_IMPROVEMENT_RATIO, "TT Table 1: 2-GRPO keeps 97.6% of the score, ~95% of the improvement"),
    "grpo2-rs": (improvement_threshold(paper.TT9_RS_SCORE_RATIO),
                 "TT Table 1: 2-GRPO+RS reaches 101.1% of the score, (1.011 - 0.5) / 0.5 = 1.022 of the improvement"),
    "grpo2-equal": (paper.TT9_IMPROVEMENT_RATIO,
                    "our reading: with 16-GRPO's rollouts 2-GRPO keeps at least what TT report at 12.5% of them"),
    **{f"g{G}-fixed-p": (paper.TT9_SMALL_DIFFERENCE, "TT Table 4: 'small differences' across G at fixed prompts")
       for G in (2, 4, 8)},
}
"""The TT-9 threshold of each arm's improvement ratio (at least) and where it comes from."""
WALLCLOCK_ARMS = ("grpo2-tt", "grpo2-own")
"""Arms whose training time is checked against TT's ~21% (2-GRPO as TT ran it)."""


# --- statistics ------------------------------------------------------------------------------------------

def mean_ci(values: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """:func:`theory.statistics.mean_ci` of per-seed values, which here must all be finite: (mean, half width)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"values={x!r} must be a non-empty array of finite numbers")
    mean, half = statistics.mean_ci(x, level=level)
    return float(mean), float(half)


def ratio(numerator: ArrayLike, denominator: ArrayLike) -> dict[str, float | None]:
    """mean(a) / mean(b) with its paired 95% Fieller interval (None bounds: unbounded)."""
    value, low, high = statistics.fieller_ratio(numerator, denominator, paired=True)
    return {"value": value, "low": low, "high": high}


def paired(arm_runs: Sequence[dict[str, Any]], ref_runs: Sequence[dict[str, Any]],
           value: Callable[[dict[str, Any]], float]) -> tuple[np.ndarray, np.ndarray]:
    """(arm values, reference values) over the seeds both ran, in seed order: the paired samples."""
    arm = {r["seed"]: value(r) for r in arm_runs}
    ref = {r["seed"]: value(r) for r in ref_runs}
    seeds = sorted(set(arm) & set(ref))
    if not seeds:
        raise ValueError("the arm and the reference share no seed: nothing to pair")
    return np.array([arm[s] for s in seeds]), np.array([ref[s] for s in seeds])


def final_score(metric: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r["final"][metric])


def improvement_decision(arm_runs: Sequence[dict[str, Any]], ref_runs: Sequence[dict[str, Any]], start_score: float,
                         metric: str, threshold: float) -> Decision:
    """:func:`evidence.verdicts.decide_ratio` of IR = mean(arm - s0) / mean(ref - s0) over the paired
    seeds against ``threshold`` (at least)."""
    arm, ref = paired(arm_runs, ref_runs, final_score(metric))
    return decide_ratio(arm - start_score, ref - start_score, threshold, paired=True)


def wallclock_decision(arm_runs: Sequence[dict[str, Any]], ref_runs: Sequence[dict[str, Any]],
                       threshold: float = paper.TT9_WALLCLOCK_RATIO) -> Decision:
    """Training seconds (rollout + update) of the arm over 16-GRPO's, paired by seed, at most ``threshold``."""
    arm, ref = paired(arm_runs, ref_runs, lambda r: float(r["seconds"]["train"]))
    return decide_ratio(arm, ref, threshold, paired=True, at_least=False)


def curve_at(run: dict[str, Any], x_name: str, x: float, metric: str = "pass_rate") -> float:
    """A run's held-out ``metric`` curve linearly interpolated at ``x`` of ``x_name`` (rollouts,
    train_seconds or epochs); held at its last value beyond the curve."""
    xs, ys = np.asarray(run["curve"][x_name], dtype=np.float64), np.asarray(run["curve"][metric], dtype=np.float64)
    return float(np.interp(x, xs, ys))


def matched_ratio(arm_runs: Sequence[dict[str, Any]], ref_runs: Sequence[dict[str, Any]], x_name: str,
                  metric: str = "pass_rate") -> dict[str, Any]:
    """IR at an equal budget: the arm's final held-out ``metric`` minus its start over 16-GRPO's
    curve, at the arm's final ``x_name`` (rollouts or train_seconds), minus the start, paired by seed."""
    ref = {r["seed"]: r for r in ref_runs}
    rows = [(r["curve"][metric][-1], curve_at(ref[r["seed"]], x_name, r["curve"][x_name][-1], metric),
             r["curve"][metric][0]) for r in arm_runs if r["seed"] in ref]
    a, b, s0 = (np.array(c, dtype=np.float64) for c in zip(*rows, strict=True))
    return {**ratio(a - s0, b - s0), "x": x_name, "seeds": len(rows)}


# --- tables ----------------------------------------------------------------------------------------------

def ratio_row(arm_runs: Sequence[dict[str, Any]], ref_runs: Sequence[dict[str, Any]], start: dict[str, Any],
              metrics: Sequence[str], threshold: float | None) -> dict[str, Any]:
    """One row of the ratio table: for each metric the arm's mean score (and CI), its score ratio and
    improvement ratio to the reference (paired Fieller); the rollouts and wall-clock ratios; the
    TT-9 decision on the headline metric (``metrics[0]``) against ``threshold`` (None: the reference)."""
    is_ref = arm_runs[0]["arm"] == ref_runs[0]["arm"]
    exact = {"value": 1.0, "low": 1.0, "high": 1.0}
    row: dict[str, Any] = {"label": arm_runs[0]["label"], "seeds": len(arm_runs), "metrics": {},
                           "lr": arm_runs[0]["lr"], "epochs": arm_runs[0]["epochs"]}
    for metric in metrics:
        arm, ref = paired(arm_runs, ref_runs, final_score(metric))
        s0 = float(start["final"][metric])
        mean, half = mean_ci([final_score(metric)(r) for r in arm_runs])
        row["metrics"][metric] = {"mean": mean, "ci95": half, "start": s0,
                                  "score_ratio": exact if is_ref else ratio(arm, ref),
                                  "improvement_ratio": exact if is_ref else ratio(arm - s0, ref - s0)}
    row["rollouts"] = float(np.mean([r["rollouts_total"] for r in arm_runs]))
    seconds = paired(arm_runs, ref_runs, lambda r: float(r["seconds"]["train"]))
    rollouts = paired(arm_runs, ref_runs, lambda r: float(r["rollouts_total"]))
    row["rollouts_ratio"] = exact if is_ref else ratio(*rollouts)
    row["train_seconds"] = float(np.mean([r["seconds"]["train"] for r in arm_runs]))
    row["wallclock_ratio"] = exact if is_ref else ratio(*seconds)
    if threshold is not None and not is_ref:
        row["decision"] = improvement_decision(arm_runs, ref_runs, float(start["final"][metrics[0]]), metrics[0],
                                               threshold).to_json()
        if arm_runs[0]["arm"] in WALLCLOCK_ARMS:
            row["wallclock_decision"] = wallclock_decision(arm_runs, ref_runs).to_json()
        if arm_runs[0]["group_size"] != ref_runs[0]["group_size"] or arm_runs[0]["arm"] == "grpo2-rs":
            row["at_equal_rollouts"] = matched_ratio(arm_runs, ref_runs, "rollouts")
            row["at_equal_wallclock"] = matched_ratio(arm_runs, ref_runs, "train_seconds")
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
    """Ratio tables with decisions (Table-1 analogue with the equal-rollout arm, Table-4 analogue),
    matched-budget ratios, silent shares, the tuning, the plateau test, the start's spread and the
    GRPOVI comparison, from :func:`gpu_runs.tt9.experiment.run_experiment`'s output."""
    results, start = run["results"], run["start"]
    headline = f"mean_at_{k}"
    metrics = (headline, "greedy_accuracy", f"pass_at_{k}")
    ref = results["grpo16"]
    family = {key: arm.family for key, arm in run["arms"].items()}
    rows = {key: ratio_row(runs, ref, start, metrics, THRESHOLDS.get(key, (None, ""))[0])
            for key, runs in results.items() if family[key] in ("table1", "table4", "equal")}
    gains = {m: dict(zip(("mean", "ci95"), mean_ci(np.array([final_score(m)(r) for r in ref]) - start["final"][m]),
                         strict=True)) for m in metrics}
    tables: dict[str, Any] = {
        "headline_metric": headline,
        "params": ref[0]["params"],
        "epochs": run["epochs"],
        "seeds": run["seeds"],
        "tuning_seeds": run["tuning_seeds"],
        "start": {m: start["final"][m] for m in metrics},
        "spread": start["spread"],
        "reference_improvement": gains[headline],
        "reference_gains": gains,
        "table1": {key: row for key, row in rows.items() if family[key] in ("table1", "equal")},
        "table4": {key: row for key, row in rows.items() if family[key] == "table4" or key == "grpo16"},
        "thresholds": {key: {"threshold": t, "source": source} for key, (t, source) in THRESHOLDS.items()
                       if key in results},
        "silent": {key: silent_row(runs, start) for key, runs in results.items()
                   if runs[0]["reward_kind"] == "binary"},
        "tuning": run["tuning"],
        "plateau": run["plateau"],
        "by_difficulty": {"start": start["final"]["by_difficulty"],
                          **{key: by_difficulty(runs, metrics) for key, runs in results.items()}},
        "seconds": {key: {part: float(np.mean([r["seconds"][part] for r in runs]))
                          for part in ("rollout", "update", "eval", "final_eval", "wall")}
                    for key, runs in results.items()},
    }
    if "grpo16-partial" in results and "grpovi16-partial" in results:
        vi, grpo = paired(results["grpovi16-partial"], results["grpo16-partial"], final_score("reward"))
        tables["grpovi"] = {
            "metric": f"held-out partial-credit reward, mean over {k} samples per prompt",
            "start": start["final"]["reward"],
            "grpo": dict(zip(("mean", "ci95"), mean_ci(grpo), strict=True)),
            "grpovi": dict(zip(("mean", "ci95"), mean_ci(vi), strict=True)),
            "decision": decide_mean(vi - grpo, 0.0).to_json() if vi.size >= 2 else None,
            "binary_mean_at_k": {"grpo": mean_ci([final_score(headline)(r) for r in results["grpo16-partial"]])[0],
                                 "grpovi": mean_ci([final_score(headline)(r)
                                                    for r in results["grpovi16-partial"]])[0]},
        }
    return tables


# --- evidence --------------------------------------------------------------------------------------------

def pct(r: dict[str, float | None]) -> str:
    """'95.0% [88.1, 101.9]' from a ratio with its interval ('unbounded CI' where a bound is None)."""
    if r["value"] is None:
        return "undefined"
    low = "-inf" if r["low"] is None else f"{100 * r['low']:.1f}"
    high = "inf" if r["high"] is None else f"{100 * r['high']:.1f}"
    return f"{100 * r['value']:.1f}% [{low}, {high}]"


def decision_text(d: dict[str, Any]) -> str:
    """'holds', 'fails' or 'inconclusive (about N seeds would decide)' of a :class:`Decision`'s JSON."""
    if d["verdict"] != "inconclusive":
        return d["verdict"]
    return ("inconclusive (about {} seeds would decide)".format(d["seeds_needed"]) if d["seeds_needed"]
            else "inconclusive (no number of seeds decides it at this estimate)")


def _decision_of(d: dict[str, Any]) -> bool | None:
    return {"holds": True, "fails": False}.get(d["verdict"])


def evidence_tt9(tables: dict[str, Any], *, command: str, artefacts: tuple[str, ...]) -> list[Evidence]:
    """TT-9 from the Table-1 analogue (each 2-GRPO arm's IR against its threshold, 2-GRPO's training
    time against ~21%) and the Table-4 analogue (IR of each G at fixed P against 90%): one
    three-way :class:`evidence.verdicts.Decision` per check, an undecided arm an undecided check."""
    head = tables["headline_metric"]
    gain = tables["reference_improvement"]
    spread = tables["spread"]
    base_steps = [
        f"Model: {tables['params']:,} parameters; {tables['epochs']:g} epochs (plateau test: "
        + "; ".join(f"E={p['epochs']:g}: rise {p['rise']:+.4f} +- {p['ci95']:.4f} -> "
                    f"{'plateaued' if p['plateaued'] else 'still rising'}" for p in tables["plateau"])
        + f"); {len(tables['seeds'])} paired evaluation seeds; every arm but grpo2-tt tuned on the same grid and "
          f"tuning seeds {tables['tuning_seeds']} (training-prompt probes).",
        f"Start policy: {spread['share_informative']:.0%} of {spread['prompts']} training prompts with pass rate in "
        f"(0.1, 0.9) (required {spread['required']:.0%}).",
        f"Headline score: {head} on the held-out prompts; start policy {tables['start'][head]:.4f}; 16-GRPO's "
        f"improvement {gain['mean']:+.4f} +- {gain['ci95']:.4f} (95% CI over seeds)."]
    out = []
    for name, title in (("table1", "2-GRPO vs 16-GRPO on a small LM (TT Table 1 analogue): improvement recovered"),
                        ("table4", "G in {2, 4, 8, 16} at fixed prompts per mini-batch (TT Table 4 analogue)")):
        table = tables[name]
        arms = {k: row for k, row in table.items() if "decision" in row}
        if not arms:
            continue
        checks: dict[str, bool | None] = {}
        steps = list(base_steps)
        numbers: dict[str, Any] = {"headline_metric": head, "seeds": len(tables["seeds"]), "params": tables["params"],
                                   "start_score": tables["start"][head], "reference_gain": [gain["mean"], gain["ci95"]]}
        for key, row in arms.items():
            d = row["decision"]
            threshold, source = tables["thresholds"][key]["threshold"], tables["thresholds"][key]["source"]
            checks[f"{key}: improvement ratio >= {threshold:.3g}"] = _decision_of(d)
            m = row["metrics"][head]
            steps.append(f"{row['label']}: improvement ratio {pct(m['improvement_ratio'])} vs >= {threshold:.3g} "
                         f"({source}) -> {decision_text(d)}; score {pct(m['score_ratio'])} of 16-GRPO's, rollouts "
                         f"{pct(row['rollouts_ratio'])}, training wall-clock {pct(row['wallclock_ratio'])}.")
            if "wallclock_decision" in row:
                w = row["wallclock_decision"]
                checks[f"{key}: wall-clock ratio <= {w['threshold']:g}"] = _decision_of(w)
                steps.append(f"{row['label']}: training time {pct(row['wallclock_ratio'])} of 16-GRPO's vs <= "
                             f"{w['threshold']:.0%} (TT Table 1) -> {decision_text(w)}.")
            numbers[f"improvement_ratio {key}"] = [d["estimate"], d["low"], d["high"]]
            numbers[f"verdict {key}"] = d["verdict"]
            numbers[f"seeds_needed {key}"] = d["seeds_needed"]
            numbers[f"score_ratio {key}"] = [m["score_ratio"][q] for q in ("value", "low", "high")]
            numbers[f"wallclock_ratio {key}"] = [row["wallclock_ratio"][q] for q in ("value", "low", "high")]
        significant = gain["mean"] - gain["ci95"] > 0
        reason = ("Each check is a three-way verdict (evidence.verdicts.decide_ratio) of the paired per-seed values: "
                  "holds when the 95% Fieller interval's lower bound reaches the threshold, fails when its upper "
                  "bound misses it, inconclusive otherwise (never counted as a failure)."
                  + ("" if significant else " 16-GRPO's own gain over the start is not significant, so the "
                                            "improvement ratios are wide."))
        out.append(Evidence.from_checks("TT-9", "llm", title, checks, reason=reason, numbers=numbers,
                                        steps=tuple(steps), artefacts=artefacts, command=command))
    return out


def evidence_vi3(tables: dict[str, Any], *, command: str, artefacts: tuple[str, ...]) -> Evidence:
    """VI-3: GRPOVI's held-out partial-credit reward minus GRPO's after the same steps, paired by
    seed, at least 0 (:func:`evidence.verdicts.decide_mean`)."""
    vi = tables["grpovi"]
    d = vi["decision"]
    checks = {} if d is None else {"GRPOVI's partial-credit reward >= GRPO's": _decision_of(d)}
    steps = (f"{vi['metric']}; start policy {vi['start']:.4f}.",
             f"16-GRPO: {vi['grpo']['mean']:.4f} +- {vi['grpo']['ci95']:.4f}; 16-GRPOVI: {vi['grpovi']['mean']:.4f} "
             f"+- {vi['grpovi']['ci95']:.4f} (95% CI over seeds).",
             "Paired difference GRPOVI - GRPO: " + ("one seed, no interval" if d is None else
                                                    f"{d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] -> "
                                                    f"{decision_text(d)}") + ".")
    return Evidence.from_checks("VI-3", "llm", "GRPOVI vs GRPO on partial-credit rewards, same steps (small LM)",
                                checks, steps=steps, artefacts=artefacts, command=command,
                                reason="" if d else "one seed per arm: no confidence interval, so nothing is checked",
                                numbers={"metric": vi["metric"], "start": vi["start"],
                                         "grpo": [vi["grpo"]["mean"], vi["grpo"]["ci95"]],
                                         "grpovi": [vi["grpovi"]["mean"], vi["grpovi"]["ci95"]],
                                         "difference": None if d is None else [d["estimate"], d["low"], d["high"]],
                                         "binary_mean_at_k grpo": vi["binary_mean_at_k"]["grpo"],
                                         "binary_mean_at_k grpovi": vi["binary_mean_at_k"]["grpovi"]})


# --- markdown --------------------------------------------------------------------------------------------

def markdown_table(tables: dict[str, Any], device: str) -> str:
    """The ratio tables in TT's form plus the improvement ratio and its verdict, as Markdown."""
    head = tables["headline_metric"]
    greedy_gain = tables["reference_gains"]["greedy_accuracy"]
    spread = tables["spread"]
    lines = [f"Device: {device}. Model: {tables['params']:,} parameters. Epochs: {tables['epochs']:g}. Seeds: "
             f"{len(tables['seeds'])} paired evaluation seeds. Score: {head} on held-out prompts (start policy "
             f"{tables['start'][head]:.4f}; 16-GRPO's gain {tables['reference_improvement']['mean']:+.4f} +- "
             f"{tables['reference_improvement']['ci95']:.4f}). Ratios of seed means to 16-GRPO's with paired 95% "
             "Fieller intervals; verdicts by evidence.verdicts.decide_ratio (holds: lower bound >= threshold; fails: "
             "upper bound < threshold; else inconclusive with the seeds that would decide); wall-clock = rollout + "
             f"update seconds, each run timed in its own process (noisy on a shared machine). Greedy accuracy: start "
             f"{tables['start']['greedy_accuracy']:.4f}, 16-GRPO's gain {greedy_gain['mean']:+.4f} +- "
             f"{greedy_gain['ci95']:.4f}.", "",
             f"Start policy spread: {spread['share_informative']:.1%} of {spread['prompts']} training prompts have a "
             f"pass rate ({spread['samples']} samples) in (0.1, 0.9) (required >= {spread['required']:.0%}: "
             f"{'met' if spread['ok'] else 'NOT met'}); histogram of pass rates in tenths: {spread['histogram']}.", ""]
    for name, title in (("table1", "Table-1 analogue (same prompts, same epochs; equal-rollout arm last)"),
                        ("table4", "Table-4 analogue (fixed prompts per mini-batch)")):
        lines += [f"### {title}", "",
                  f"| arm | seeds | {head} | score % | rollouts % | wall-clock % | improvement recovered "
                  "| threshold | verdict |", "|---|---|---|---|---|---|---|---|---|"]
        for key, row in tables[name].items():
            m = row["metrics"][head]
            d = row.get("decision")
            threshold = f">= {tables['thresholds'][key]['threshold']:.3g}" if d else "reference"
            verdict = decision_text(d) if d else ""
            if "wallclock_decision" in row:
                verdict += f"; time <= 21%: {decision_text(row['wallclock_decision'])}"
            lines.append(f"| {row['label']} | {row['seeds']} | {m['mean']:.4f} +- {m['ci95']:.4f} | "
                         f"{pct(m['score_ratio'])} | {pct(row['rollouts_ratio'])} | {pct(row['wallclock_ratio'])} | "
                         f"{pct(m['improvement_ratio'])} | {threshold} | {verdict} |")
        lines.append("")
    matched = {key: row for key, row in {**tables["table1"], **tables["table4"]}.items() if "at_equal_rollouts" in row}
    if matched:
        lines += ["### Improvement recovered at an equal budget (held-out pass rate of one sample, curves)", "",
                  "The arm's final score against 16-GRPO's curve interpolated at the arm's rollouts, and at its "
                  "training seconds (TT's accuracy-vs-time comparison); paired Fieller 95% intervals.", "",
                  "| arm | at equal rollouts | at equal wall-clock |", "|---|---|---|"]
        lines += [f"| {row['label']} | {pct(row['at_equal_rollouts'])} | {pct(row['at_equal_wallclock'])} |"
                  for row in matched.values()]
        lines.append("")
    lines += ["### Equal tuning (tuning seeds; score on training-prompt probes, never held-out)", "",
              "| arm | TT-scaled lr | grid (multipliers) | probe score per multiplier | chosen | lr | extensions |",
              "|---|---|---|---|---|---|---|"]
    for key, t in tables["tuning"].items():
        scores = ", ".join(f"x{float(m):g}: {v:.4f}" for m, v in t["probe_score"].items())
        edge = " (at the grid's edge: extension cap reached)" if t["at_grid_edge"] else ""
        lines.append(f"| {key} | {t['tt_lr']:.3g} | {', '.join(f'{float(m):g}' for m in t['grid'])} | {scores} | "
                     f"x{float(t['chosen']):g}{edge} | {t['lr']:.3g} | {t['extensions']} |")
    lines += ["", "grpo2-tt is not tuned: TT's protocol, 8x 16-GRPO's tuned lr.", "",
              "### Plateau test of 16-GRPO (tuning runs at its chosen lr)", "",
              "| epochs | multiplier | rise of the last quarter of held-out evaluations | 95% half width | plateaued |",
              "|---|---|---|---|---|"]
    lines += [f"| {p['epochs']:g} | x{p['multiplier']:g} | {p['rise']:+.4f} | {p['ci95']:.4f} | "
              f"{'yes' if p['plateaued'] else 'no'} (min rise {p['min_rise']:g}) |" for p in tables["plateau"]]
    lines += ["", "### Silent groups: measured share vs E[p^G + (1-p)^G] from probe pass rates", "",
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
    if "grpovi" in tables and tables["grpovi"]["decision"]:
        d = tables["grpovi"]["decision"]
        lines += ["", f"### VI-3: GRPOVI - GRPO, {tables['grpovi']['metric']} (paired)", "",
                  f"{d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] vs >= 0: {decision_text(d)}"]
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
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")  # legends may sit outside the axes
    plt.close(fig)


X_AXES = (("epochs", "epochs (passes over the training prompts)"), ("rollouts", "rollouts consumed"),
          ("train_seconds", "training wall-clock (s, rollout + update)"))


def plot_curves(results: dict[str, list[dict[str, Any]]], keys: Sequence[str], path: Path, title: str) -> None:
    """Held-out greedy accuracy and one-sample pass rate against epochs, rollouts consumed and
    training wall-clock (equal epochs, equal rollouts, equal time), mean and 95% band over seeds."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for i, key in enumerate(k for k in keys if k in results):
        runs, color = results[key], PALETTE[i % len(PALETTE)]
        for row, metric in enumerate(("greedy_accuracy", "pass_rate")):
            for col, (xname, _) in enumerate(X_AXES):
                _band(axes[row, col], _stack(runs, xname).mean(axis=0), _stack(runs, metric), runs[0]["label"], color)
    for row, ylabel in enumerate(("held-out greedy accuracy", "held-out pass rate (1 sample, T = 1)")):
        for col, (_, xlabel) in enumerate(X_AXES):
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
