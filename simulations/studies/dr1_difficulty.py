"""DR-1 in simulation: the prompt weights implied by std normalisation, measured during training.

For binary rewards the expected group update of prompt q is lambda_G(p_q) grad p_q (TT-4), so an estimator
weights prompts by lambda_G(p): constant for Dr. GRPO ((G-1)/G) and for 2-GRPO (c), U-shaped for GRPO with
G > 2 (std normalisation up-weights p near 0 or 1, DR). On a softmax bandit whose P prompts have pass rates
at the quantiles of U(0, 1), every update takes one group of every prompt (Q = P), and for each prompt the
implied weight

    w_q = P <g_q, grad p_q> / ||grad p_q||^2      (g_q: the update's block of prompt q; E w_q = lambda_G(p_q))

is recorded at every update, pooled in bins of the current p (sums of P <g_q, grad p_q> over sums of
||grad p_q||^2, per seed), and compared with lambda_G(p) from :func:`theory.expectations.gradient_scale`
pooled the same way. Arms: GRPO (G = 16), Dr. GRPO (G = 16), 2-GRPO; each lr divided by the arm's mean
lambda over the initial prompts, so the arms move at the same average speed and only the weighting differs.
"Learned first": updates until a prompt's log-odds of passing rose by 1, against its initial pass rate.

Judged (:func:`dr1_checks`, :mod:`evidence.verdicts`' three-way rule on 95% intervals over seeds): GRPO G=16's
ratio of pooled weights, extreme p over middle p, exceeds 1 (DR: std normalisation up-weights extreme
prompts; 1 = no re-weighting); Dr. GRPO's and 2-GRPO's ratios are flat, inside ``FLAT_BAND`` (the whole
interval inside the band holds, a whole interval beyond either end fails);
GRPO reaches extreme prompts relatively sooner (Spearman correlation > 0). The per-bin agreement of the
measured weights with lambda_G(p) is a Monte Carlo-against-exact test (no bin rejects at Bonferroni 95%),
kept as it was. The arms share seeds: seed s is one environment for every arm, and every update takes one
group of every prompt. Check :func:`check_dr1`; artefacts under ``sim-training/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logit
from scipy.stats import spearmanr
from scipy.stats import t as student_t
from tqdm.auto import tqdm

from evidence.record import Evidence, RunContext
from evidence.verdicts import Decision
from simulations.engine import UpdateRule
from simulations.environments import make_environment
from simulations.plotting import band, color, error_points, finish, new_figure, save_figure
from simulations.studies.common import (
    TRAINING_FOLDER,
    Outcome,
    StudyContext,
    all_of,
    check_values,
    decide_seeds,
    decision_numbers,
    decision_reason,
    fmt_ci,
)
from simulations.training import PolicyBatch, check_count, group_update, sample_outcomes, summary
from theory.expectations import gradient_scale
from theory.statistics import mean_ci

CLAIM = "DR-1"
STUDY_KEY = 4
"""Seed key: the study's seeds are ``SeedSequence([ctx.seed, STUDY_KEY, stream])`` (4: its index in the old
table of training studies, kept so that its numbers stay the same)."""
ARMS = (("GRPO G=16", 16, UpdateRule("grpo")), ("Dr. GRPO G=16", 16, UpdateRule("dr_grpo")),
        ("2-GRPO", 2, UpdateRule("grpo")))
BINS = np.array([0.0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0])
EXTREME, MIDDLE = (0.1, 0.9), (0.35, 0.65)
FLAT_BAND = (0.8, 1.2)
"""A flat weighting: the ratio extreme / middle within this band around 1 (our margin, not a paper's: GRPO G=16's
lambda_16 gives about 1.6 on these bins, so the band separates flat from DR's re-weighting)."""
FLAT_ARMS = ("Dr. GRPO G=16", "2-GRPO")
"""The arms whose weighting theory says is flat (lambda_G constant in p)."""


@dataclass(frozen=True)
class DifficultySizes:
    """Prompts and answers of the bandit, updates, base lr and seeds of a sizes."""

    prompts: int
    answers: int
    updates: int
    lr: float
    seeds: int


SIZES = {"smoke": DifficultySizes(24, 4, 60, 4.0, 5), "default": DifficultySizes(64, 4, 300, 4.0, 8),
           "full": DifficultySizes(128, 4, 600, 4.0, 16)}


def pass_rate_gradients(batch: PolicyBatch) -> np.ndarray:
    """grad_theta[q] p_q = pi_q * (c_q - p_q) for a softmax bandit, (S, P, K)."""
    if batch.kind != "bandit":
        raise ValueError(f"implied prompt weights need a softmax bandit (per-prompt logits); got kind={batch.kind!r}")
    pi = batch.probs()
    c = batch.correct.astype(np.float64)
    return pi * (c - (pi * c).sum(axis=-1, keepdims=True))


def train_recording_weights(batch: PolicyBatch, G: int, rule: UpdateRule, lr: float, updates: int, seed: int, *,
                            progress: bool = False, desc: str = "") -> dict[str, np.ndarray]:
    """Every update: one group of every prompt, g = (1/(P G)) sum A s, theta <- theta + lr g. Returns pass rates
    ``p`` (S, U+1, P), and per update ``signal`` P <g_q, grad p_q> and ``norm`` ||grad p_q||^2 (S, U, P)."""
    U = check_count("updates", updates, 1)
    rng = np.random.default_rng(seed)
    S, P, K = batch.rewards.shape
    prompts = np.tile(np.arange(P), (S, 1))
    p = np.zeros((S, U + 1, P))
    signal, norm = np.zeros((S, U, P)), np.zeros((S, U, P))
    p[:, 0] = batch.pass_rates()
    for t in tqdm(range(U), disable=not progress, desc=desc, leave=False):
        grad = pass_rate_gradients(batch)
        update = group_update(batch, prompts, sample_outcomes(batch, prompts, G, rng), rule)
        signal[:, t] = P * (update.reshape(S, P, K) * grad).sum(axis=-1)
        norm[:, t] = (grad**2).sum(axis=-1)
        batch.step(update, lr)
        p[:, t + 1] = batch.pass_rates()
    return {"p": p, "signal": signal, "norm": norm}


def binned_weights(p: np.ndarray, numerator: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Per seed and bin of the current pass rate: sum numerator / sum norm, (S, bins); NaN for an empty bin."""
    which = np.clip(np.digitize(p, BINS) - 1, 0, len(BINS) - 2)
    out = np.full((p.shape[0], len(BINS) - 1), np.nan)
    for b in range(len(BINS) - 1):
        mask = which == b
        den = (norm * mask).sum(axis=(1, 2))
        out[:, b] = np.where(den > 0, (numerator * mask).sum(axis=(1, 2)) / np.where(den > 0, den, 1.0), np.nan)
    return out


def region_weight(p: np.ndarray, numerator: np.ndarray, norm: np.ndarray, region: str) -> np.ndarray:
    """Pooled implied weight per seed over the extreme (p < 0.1 or > 0.9) or middle (0.35..0.65) region, (S,)."""
    mask = ((p < EXTREME[0]) | (p > EXTREME[1])) if region == "extreme" else ((p >= MIDDLE[0]) & (p <= MIDDLE[1]))
    den = (norm * mask).sum(axis=(1, 2))
    return np.where(den > 0, (numerator * mask).sum(axis=(1, 2)) / np.where(den > 0, den, 1.0), np.nan)


def time_to_learn(p: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Updates until logit(p_q) - logit(p_q at 0) >= gain, (S, P); NaN if never."""
    rise = logit(np.clip(p, 1e-12, 1 - 1e-12)) - logit(np.clip(p[:, :1], 1e-12, 1 - 1e-12))
    reached = rise >= gain
    return np.where(reached.any(axis=1), np.argmax(reached, axis=1).astype(np.float64), np.nan)


def check_dr1(ctx: RunContext) -> list[Evidence]:
    """DR-1: train the three arms, write ``dr1_weights.{json,png}``; return the DR-1 record."""
    if not ctx.wants(CLAIM):
        return []
    study = StudyContext.of(ctx, TRAINING_FOLDER, STUDY_KEY)
    sizes = SIZES[ctx.budget]
    envs = [make_environment("bandit", "uniform", num_prompts=sizes.prompts, num_answers=sizes.answers, seed=s)
            for s in study.seeds(0, sizes.seeds)]
    p0 = PolicyBatch.stack(envs).pass_rates()
    seeds = study.seeds(1, len(ARMS))
    records: dict[str, dict[str, Any]] = {}
    for i, (name, G, rule) in enumerate(ARMS):
        lam0 = float(np.mean(gradient_scale(G, p0.ravel(), rule.estimator, rule.std, rule.eps)))
        rec = train_recording_weights(PolicyBatch.stack(envs), G, rule, sizes.lr / lam0, sizes.updates, seeds[i],
                                      progress=study.progress, desc=name)
        current = rec["p"][:, :-1]
        predicted = gradient_scale(G, current.ravel(), rule.estimator, rule.std, rule.eps).reshape(current.shape)
        rec |= {"G": G, "rule": rule.label, "lr": sizes.lr / lam0, "mean_lambda0": lam0,
                "measured": binned_weights(current, rec["signal"], rec["norm"]),
                "predicted": binned_weights(current, predicted * rec["norm"], rec["norm"]),
                "extreme": region_weight(current, rec["signal"], rec["norm"], "extreme"),
                "middle": region_weight(current, rec["signal"], rec["norm"], "middle"),
                "time": time_to_learn(rec["p"])}
        records[name] = rec
    ratios = {name: r["extreme"] / r["middle"] for name, r in records.items()}
    ratio = {name: summary(v) for name, v in ratios.items()}
    agreement = {name: _agreement(r["measured"], r["predicted"]) for name, r in records.items()}
    grpo, dr = records["GRPO G=16"], records["Dr. GRPO G=16"]
    distance = np.abs(p0 - 0.5)
    rho = np.array([spearmanr(distance[s], np.log(dr["time"][s] / grpo["time"][s]), nan_policy="omit")[0]
                    for s in range(sizes.seeds)])
    rho_summary = summary(rho)
    outcomes = dr1_checks(ratios, {name: a["all_within"] for name, a in agreement.items()}, rho)
    checks = check_values(outcomes)
    rows = [f"| {name} | {r['lr']:.3g} | {fmt_ci(np.nanmean(r['extreme']), summary(r['extreme']).half_width, 2)} | "
            f"{fmt_ci(np.nanmean(r['middle']), summary(r['middle']).half_width, 2)} | "
            f"{fmt_ci(ratio[name].mean, ratio[name].half_width, 2)} | {agreement[name]['max_z']:.2f} |"
            for name, r in records.items()]
    steps = (
        f"Softmax bandit, P = {sizes.prompts} prompts at the quantiles of U(0, 1), K = {sizes.answers} answers, "
        f"binary rewards; {sizes.seeds} seeds; {sizes.updates} updates, each with one group of every prompt; "
        f"lr = {sizes.lr:g} / mean_q lambda_G(p_q(0)) per arm.",
        "| arm | lr | weight, extreme p | weight, middle p | ratio extreme / middle | max |z| vs lambda_G |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows),
        f"Spearman correlation, per seed, between |p_0 - 1/2| and log(time Dr. GRPO / time GRPO) to raise a prompt's "
        f"log-odds by 1: {fmt_ci(rho_summary.mean, rho_summary.half_width, 2)} (positive: GRPO reaches the extreme "
        "prompts relatively sooner).",
    )
    data = {"claim": CLAIM, "budget": sizes.__dict__, "bins": BINS.tolist(), "initial_pass_rates": p0[0],
            "arms": {name: {"G": r["G"], "rule": r["rule"], "lr": r["lr"], "mean_lambda0": r["mean_lambda0"],
                            "measured": _bin_summary(r["measured"]), "predicted": _bin_summary(r["predicted"]),
                            "ratio_extreme_middle": ratio[name].to_json(), "agreement": agreement[name],
                            "time_to_learn": _prompt_summary(r["time"])} for name, r in records.items()},
            "spearman_distance_vs_time_ratio": rho.tolist()}
    json_path = study.write_json("dr1_weights.json", data)
    png_path = _plot(study, records, p0[0], sizes)
    shown = {name: fmt_ci(v.mean, v.half_width, 2) for name, v in ratio.items()}
    reason = (f"Implied weight ratio extreme / middle p: GRPO G=16 {shown['GRPO G=16']}, Dr. GRPO "
              f"{shown['Dr. GRPO G=16']}, 2-GRPO {shown['2-GRPO']} (95% CI over seeds). Agreement with "
              "lambda_G(p): every bin's |measured - predicted| within the Bonferroni-corrected 95% t bound.")
    decisions = outcomes | {f"{arm}: ratio {'>=' if i == 0 else '<='} {bound:g}": d for arm in FLAT_ARMS
                            for i, (d, bound) in enumerate(zip(flat_band(ratios[arm]), FLAT_BAND, strict=True))}
    numbers = {"ratio_extreme_middle": {k: v.to_json() for k, v in ratio.items()},
               "max_abs_z": {k: v["max_z"] for k, v in agreement.items()}, "spearman": rho_summary.to_json(),
               "decisions": decision_numbers(decisions)}
    reason += (f" {decision_reason(decisions)} Rule: a check holds when the whole 95% interval over seeds meets its "
               f"bound (flat: inside {FLAT_BAND[0]:g} .. {FLAT_BAND[1]:g}), fails when the whole interval misses it, "
               "and is inconclusive otherwise.")
    return [Evidence.from_checks(CLAIM, "simulation", "prompt weights of std normalisation, measured in training",
                                 checks, reason=reason, numbers=numbers, steps=steps, artefacts=(json_path, png_path))]


def flat_band(ratios: Any) -> tuple[Decision, Decision]:
    """The two halves of "flat": the per-seed ratios' mean >= FLAT_BAND[0] and <= FLAT_BAND[1], each three-way."""
    return decide_seeds(ratios, FLAT_BAND[0]), decide_seeds(ratios, FLAT_BAND[1], at_least=False)


def dr1_checks(ratios: dict[str, Any], agreement: dict[str, bool], spearman: Any) -> dict[str, Outcome | None]:
    """DR-1's checks from per-seed numbers: ``ratios[arm]`` the implied weight ratio extreme / middle p per seed
    (arms "GRPO G=16" and :data:`FLAT_ARMS`), ``agreement[arm]`` whether every bin of the measured weights agreed
    with lambda_G(p), ``spearman`` the per-seed Spearman correlation of |p_0 - 1/2| with log(time Dr. GRPO / time
    GRPO). Ratios and correlations are judged three-way on their 95% intervals (NaN seeds left out); "flat" is both
    halves of :func:`flat_band` (fails if either fails, undecided if either is)."""
    outcomes: dict[str, Outcome | None] = {
        "GRPO G=16 up-weights extreme prompts: weight(p<0.1 or >0.9) / weight(0.35..0.65) > 1":
            decide_seeds(ratios["GRPO G=16"], 1.0),
    }
    for arm in FLAT_ARMS:
        outcomes[f"{arm} weights are flat: that ratio within {FLAT_BAND[0]:g} .. {FLAT_BAND[1]:g}"] = all_of(
            flat_band(ratios[arm]))
    outcomes["measured weights match lambda_G(p) of theory.expectations in every bin (Bonferroni 95%)"] = all(
        agreement.values())
    outcomes["GRPO learns extreme prompts relatively earlier than Dr. GRPO (Spearman of |p0 - 1/2| vs time ratio "
             "> 0)"] = decide_seeds(spearman, 0.0)
    return outcomes


def _agreement(measured: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Per bin: t statistic of mean(measured - predicted) over seeds; within when |t| <= t_{1 - 0.025/bins}."""
    diff = measured - predicted
    ok = np.sum(np.isfinite(diff), axis=0) >= 3
    mean = np.nanmean(np.where(ok, diff, 0.0), axis=0)
    se = np.nanstd(np.where(ok, diff, 0.0), axis=0, ddof=1) / np.sqrt(np.maximum(np.sum(np.isfinite(diff), axis=0), 1))
    z = np.where(ok & (se > 0), np.abs(mean) / np.where(se > 0, se, 1.0), 0.0)
    n = int(np.min(np.sum(np.isfinite(diff), axis=0)[ok])) if ok.any() else 2
    bound = float(student_t.ppf(1 - 0.025 / max(int(ok.sum()), 1), max(n - 1, 1)))
    return {"z": z.tolist(), "bins_used": int(ok.sum()), "bound": bound, "max_z": float(z.max()),
            "all_within": bool(np.all(z <= bound))}


def _bin_summary(values: np.ndarray) -> dict[str, list[float]]:
    mean, half = mean_ci(values)
    return {"mean": mean.tolist(), "ci95": half.tolist()}


def _prompt_summary(values: np.ndarray) -> dict[str, list[float]]:
    mean, half = mean_ci(values)
    return {"mean": mean.tolist(), "ci95": half.tolist()}


def _plot(study: StudyContext, records: dict[str, dict[str, Any]], p0: np.ndarray, sizes: DifficultySizes) -> str:
    fig, axes = new_figure(1, 2, f"{CLAIM}: prompt weights implied by std normalisation ({sizes.seeds} seeds, 95% CI)",
                           panel_size=(5.4, 3.9))
    centres = (BINS[:-1] + BINS[1:]) / 2
    for i, (name, r) in enumerate(records.items()):
        mean, half = mean_ci(r["measured"])
        error_points(axes[0, 0], centres + 0.008 * (i - 1), mean, half, label=f"{name}, measured", c=color(i))
        pred, _ = mean_ci(r["predicted"])
        axes[0, 0].plot(centres, pred, color=color(i), linestyle="--", linewidth=1, label=f"{name}, lambda_G(p)")
        t_mean, t_half = mean_ci(r["time"])
        band(axes[0, 1], p0, t_mean, t_half, label=name, c=color(i), marker="")
    finish(axes[0, 0], "implied weight w = P<g_q, grad p_q>/||grad p_q||^2", "weight (pooled per bin)",
           xlabel="current pass rate p")
    finish(axes[0, 1], "which prompts are learned first", "updates until log-odds +1", xlabel="initial pass rate p_0")
    axes[0, 1].set_yscale("log")
    save_figure(fig, study.path("dr1_weights.png"),
                note="Each arm's lr divided by its mean lambda_G over the initial prompts; dashed: exact lambda_G(p).")
    return study.rel("dr1_weights.png")
