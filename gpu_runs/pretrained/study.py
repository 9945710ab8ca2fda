"""TT-5, TT-6 and TT-8 measured on a real pretrained LM: the check :func:`check_pretrained` (method
``pretrained``).

One pipeline gives all three claims' records: a prompt set (``arithmetic``), a probe of its pass rates at
T = 1 (``probe``: k samples per prompt), then an independent pool of K completions per prompt with their
per-completion policy gradients on a parameter subset (``gradients``), from which

- TT-5: rho(g+, g-) two ways. TT's way (v3 App. B.8, Table 2: 100 prompts x 10 responses): one pair per
  prompt, g+_q and g-_q the mean scores of its correct and wrong responses; the covariance is between
  prompts; control: g- of another prompt (TT: 0.08705 against 0.00128). The project's way
  (``simulations.studies.tt5_control_variate``): one pair per group of G, the advantage-weighted positive
  and negative parts of the GRPO update (silent groups give zeros), over groups of random prompts. They
  are not the same quantity: TT's averages scores with equal weights, keeps only prompts with both
  outcomes and has G = 10; the project's weights by |A_i| (so it scales with sqrt(p(1-p)) per group) and
  keeps silent groups. Both are total covariances over prompts and rollouts, the between-prompt part of
  each included.
- TT-6: at a fixed rollout budget B, for G in {2, 4, 8, 16}: tr Cov g_B, SNR, cosine of batch updates to a
  many-rollout reference gradient, and the paper's i.i.d. prediction Var(g_1)/B.
- TT-8: the silent share of the pool's groups against E_q[p_q^G + (1-p_q)^G] from the probe (unbiased per
  prompt), TT v3's printed formula and the mean-pass-rate formula.

Intervals: 95% bias-corrected percentile bootstrap over prompts (each prompt with all of its completions), the same
resampled prompts for every statistic of a replicate (paired across G). Verdicts: ``evidence.verdicts``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evidence.io import atomic_write_json, jsonable
from evidence.record import Evidence, RunContext, Verdict
from evidence.verdicts import Decision, decide
from gpu_runs.pretrained import arithmetic, chat, figures
from gpu_runs.pretrained.gradients import (
    GroupSet,
    KroneckerProjection,
    PairSet,
    batch_cosines,
    bootstrap_interval,
    derangement,
    group_updates,
    grouped_rows,
    per_completion_gradients,
    permutation_control,
    silent_probability_unbiased,
    trainable_linears,
    tt_pairs,
)
from gpu_runs.pretrained.models import LanguageModel, check_model_name, load_model
from gpu_runs.pretrained.probe import TARGET_SHARE, PromptFormat, run_probe
from theory.advantages import silent_groups
from theory.statistics import mean_ci
from theory.validation import check_choice

log = logging.getLogger(__name__)

CLAIMS = ("TT-5", "TT-6", "TT-8")
FOLDER = "pretrained"
"""Subfolder of the report folder for this check's artefacts."""
STREAM = 16
"""Seed stream (issue 16): every draw comes from ``[ctx.seed, STREAM]``."""
GROUP_SIZES = (2, 4, 8, 16)
TT5_PAPER = {"cov": 0.08705, "cov_permuted": 0.00128, "prompts": 100, "responses": 10,
             "model": "Qwen2.5-Math-1.5B", "data": "MATH"}
"""TT v3 App. B.8, Table 2: Cov(g+, g-) and the same for randomly permuted positive-negative pairs."""
IID_TOLERANCE = 0.10
"""TT-6: the paper's Var(g_B) = Var(g_1)/B is taken to hold where measured / predicted lies in 1 +- this."""
REWARD_MEANING = {"answer": "1 if the last number of the completion is the answer",
                  "strict": "1 if the completion is the answer alone",
                  "number": "1 if the completion holds a number: a format reward"}
SILENT_TOLERANCE = 0.05
"""TT-8: a predicted silent share matches where measured - predicted lies within +- this."""

FORMAT = PromptFormat(
    system=None,
    examples=(("What is 4 + 3? Answer with the number only.", "7"),
              ("Mia has 5 cards and gets 2 more. How many cards does Mia have now?", "7")),
)
"""The chat around each problem: the model's own default system message and two worked examples as earlier turns.
Calibrated on SmolLM2-135M-Instruct at T = 1: without examples it rarely answers with a number (pass rates near
0); with three examples of different answers and a short system message of our own, the mean pass rate of the
problems of a comparable mix was 0.06 against 0.16 with this format."""


@dataclass(frozen=True)
class Sizes:
    """What one measurement costs: the ``model``, ``prompts`` in the set, ``probe_samples`` per prompt for the
    pass rates, ``pool_samples`` per prompt with gradients (a multiple of every G), ``max_new_tokens``, the
    gradient subset (``top_layers``, projection ``rank`` per side), the TT-6 ``rollout_budget`` B, the
    ``reward``, TT's ``tt_responses`` per prompt, ``bootstrap`` replicates and ``permutations``."""

    model: str
    prompts: int
    probe_samples: int
    pool_samples: int
    max_new_tokens: int
    top_layers: int
    rank: int
    rollout_budget: int
    reward: str
    tt_responses: int = 10
    bootstrap: int = 1000
    permutations: int = 1000
    prompts_per_batch: int = 8  # prompts per generate call (each with its samples)
    gradient_batch: int = 16  # completions per backward

    def __post_init__(self) -> None:
        check_model_name(self.model)
        check_choice("reward", self.reward, arithmetic.REWARDS)
        for G in GROUP_SIZES:
            if self.pool_samples % G or self.rollout_budget % G:
                raise ValueError(f"pool_samples={self.pool_samples} and rollout_budget={self.rollout_budget} must "
                                 f"be multiples of every group size {GROUP_SIZES}")
        if self.probe_samples < max(GROUP_SIZES):
            raise ValueError(f"probe_samples={self.probe_samples} must be >= {max(GROUP_SIZES)} (TT-8's unbiased "
                             "prediction at the largest G)")
        if self.prompts < self.rollout_budget // min(GROUP_SIZES):
            raise ValueError(f"prompts={self.prompts} must be >= rollout_budget / 2 = {self.rollout_budget // 2}")


SIZES = {
    "smoke": Sizes("tiny-random", prompts=16, probe_samples=16, pool_samples=16, max_new_tokens=6, top_layers=2,
                   rank=4, rollout_budget=16, reward="number", bootstrap=200, permutations=200),
    "default": Sizes("smollm2-135m", prompts=64, probe_samples=16, pool_samples=16, max_new_tokens=8,
                     top_layers=2, rank=8, rollout_budget=32, reward="answer"),
    "full": Sizes("smollm2-135m", prompts=128, probe_samples=32, pool_samples=32, max_new_tokens=16,
                  top_layers=4, rank=16, rollout_budget=64, reward="answer"),
}
"""Per budget. smoke: the tiny random Llama (a format reward, so that its groups are mixed), under 3 minutes on
2 cores; default: SmolLM2-135M, under 30 minutes on 2 cores."""


def check_pretrained(ctx: RunContext) -> list[Evidence]:
    """TT-5, TT-6, TT-8 on the model of ``SIZES[ctx.budget]``: the records ``ctx`` wants (method ``pretrained``);
    artefacts under ``ctx.out_dir / pretrained``."""
    wanted = tuple(c for c in CLAIMS if ctx.wants(c))
    if not wanted:
        return []
    return measure(ctx, SIZES[ctx.budget], wanted)[0]


def seed_streams(seed: int) -> dict[str, int]:
    """The independent seeds of the study's random draws (probe, pool, projection, statistics) from ``seed``."""
    names = ("probe", "pool", "projection", "statistics")
    return dict(zip(names, (int(s) for s in np.random.SeedSequence([seed, STREAM]).generate_state(len(names))),
                    strict=True))


def measure(ctx: RunContext, sizes: Sizes, claims: tuple[str, ...] = CLAIMS,
            lm: LanguageModel | None = None) -> tuple[list[Evidence], dict[str, Any]]:
    """Run the pipeline (module docstring) and return the records of ``claims`` and the measurements (also
    written to ``pretrained/pretrained_measurements.json``). ``lm``: an already loaded model of ``sizes.model``."""
    seeds = seed_streams(ctx.seed)
    folder = ctx.out_dir / FOLDER
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    lm = lm or load_model(sizes.model, seed=ctx.seed)
    timings["load"] = time.perf_counter() - clock
    log.info("model %s: %.1fM parameters (%.0f s)", lm.name, lm.num_parameters / 1e6, timings["load"])

    problems = arithmetic.make_problems(sizes.prompts, ctx.seed)
    clock = time.perf_counter()
    probe, _, _ = run_probe(lm, problems, sizes.probe_samples, prompt_format=FORMAT,
                            max_new_tokens=sizes.max_new_tokens, seed=seeds["probe"], reward=sizes.reward,
                            prompts_per_batch=sizes.prompts_per_batch)
    timings["probe"] = time.perf_counter() - clock
    log.info("%s (%.0f s)", probe.text(), timings["probe"])

    clock = time.perf_counter()
    pool, pool_rewards, pool_texts = _pool(lm, problems, sizes, seeds["pool"])
    timings["pool_sampling"] = time.perf_counter() - clock
    log.info("pool: %d completions, mean reward %.3f (%.0f s)", len(pool), pool_rewards.mean(),
             timings["pool_sampling"])

    clock = time.perf_counter()
    linears = trainable_linears(lm.model, sizes.top_layers)
    projection = KroneckerProjection.make(linears, sizes.rank, seeds["projection"])
    scores = per_completion_gradients(lm.model, pool, linears, projection, batch_size=sizes.gradient_batch)
    timings["gradients"] = time.perf_counter() - clock
    subset = sum(m.weight.numel() for _, m in linears)
    log.info("per-completion gradients: %d x %d (projected from %d weights of the top %d layers) (%.0f s)",
             *scores.shape, subset, sizes.top_layers, timings["gradients"])

    clock = time.perf_counter()
    stats = statistics(scores, pool_rewards, pool.prompt_index, probe.successes, sizes,
                       np.random.default_rng(seeds["statistics"]))
    timings["statistics"] = time.perf_counter() - clock

    data = {
        "model": {"name": lm.name, "source": lm.source, "parameters": lm.num_parameters},
        "sizes": asdict(sizes), "seed": ctx.seed, "prompt_format": asdict(FORMAT),
        "gradient_subset": {"top_layers": sizes.top_layers, "linear_maps": [n for n, _ in linears],
                            "weights": subset, "projection": "Kronecker Gaussian U^T G V per linear map",
                            "rank": sizes.rank, "dimension": projection.dim},
        "probe": probe.to_json(), "pool": {"completions": len(pool), "mean_reward": float(pool_rewards.mean()),
                                           "finished_share": float(pool.finished.mean()),
                                           "mean_tokens": float(pool.completion_mask.sum(1).float().mean()),
                                           "examples": pool_texts[:8]},
        "tt5_paper": TT5_PAPER, **stats, "seconds": timings,
    }
    data = jsonable(data)  # NaN -> None, group sizes as string keys: what the JSON file holds
    json_path = atomic_write_json(folder / "pretrained_measurements.json", data)
    art = {name: f"{FOLDER}/{p.name}" for name, p in figures.write_all(data, probe, folder).items()}
    art["json"] = f"{FOLDER}/{json_path.name}"
    records = [r for r in (_tt5_record(data, art), _tt6_record(data, art), _tt8_record(data, art))
               if r.claim_id in claims]
    return records, data


def _pool(lm: LanguageModel, problems: list[arithmetic.Problem], sizes: Sizes,
          seed: int) -> tuple[chat.Completions, NDArray[np.float64], list[str]]:
    """K = pool_samples fresh completions of every problem and their rewards (independent of the probe)."""
    prompts = chat.render_prompts(lm, [p.question for p in problems], FORMAT.system, FORMAT.examples)
    pool = chat.sample_completions(lm, prompts, sizes.pool_samples, max_new_tokens=sizes.max_new_tokens, seed=seed,
                                   prompts_per_batch=sizes.prompts_per_batch)
    answers = np.array([problems[i].answer for i in pool.prompt_index], dtype=np.float64)
    return pool, arithmetic.rewards(pool.texts, answers, sizes.reward), pool.texts


# ---------------------------------------------------------------------------------------------------------------
# The statistics, with one prompt bootstrap shared by all of them
# ---------------------------------------------------------------------------------------------------------------

def _interval(point: float, replicates: NDArray[np.float64]) -> dict[str, float | None]:
    lo, hi = bootstrap_interval(point, replicates)
    return {"value": point, "low": lo, "high": hi}


def statistics(scores: NDArray[np.float64], rewards: NDArray[np.float64], prompt_index: NDArray[np.int64],
               probe_successes: NDArray[np.int64], sizes: Sizes, rng: np.random.Generator) -> dict[str, Any]:
    """Every TT-5, TT-6 and TT-8 number with its 95% prompt-bootstrap interval (module docstring)."""
    P = int(prompt_index.max()) + 1
    # TT-5, TT's protocol: one pair per prompt with both outcomes among its first tt_responses completions
    tt = tt_pairs(scores, rewards, prompt_index, sizes.tt_responses)
    # per G: disjoint groups, their updates and split
    per_g: dict[int, dict[str, Any]] = {}
    for G in GROUP_SIZES:
        groups = grouped_rows(prompt_index, G, rng)
        updates, pos, neg, sq = group_updates(scores, rewards, groups)
        prompt_of = prompt_index[groups[:, 0]]
        silent = silent_groups(rewards[groups])
        per_g[G] = {"groups": groups, "prompt": prompt_of, "silent": silent,
                    "budget": GroupSet(updates, sq, silent, prompt_of, G), "pairs": PairSet(pos, neg, prompt_of)}
    k = sizes.probe_samples
    predicted = {G: silent_probability_unbiased(probe_successes, k, G) for G in GROUP_SIZES}  # (P,)
    p_hat = probe_successes / k
    rbar = float(p_hat.mean())

    def measured_silent(G: int, counts: NDArray[np.float64]) -> float:
        d = per_g[G]
        return float(counts[d["prompt"]] @ d["silent"] / counts[d["prompt"]].sum())

    def replicate(counts: NDArray[np.float64], pair_rng: np.random.Generator | None) -> dict[str, float]:
        """Every scalar for prompt multiplicities ``counts`` (P,) (all ones: the sample itself); with ``pair_rng``
        also rho minus rho of one random cross-prompt pairing (the permutation control, paired)."""
        out: dict[str, float] = {}
        sets = ([("tt", tt)] if len(tt.prompts) >= 3 else []) + [(f"g{G}", d["pairs"]) for G, d in per_g.items()]
        for name, pairs in sets:
            st = pairs.statistics(counts)
            out |= {f"{name}_{key}": v for key, v in st.items()}
            if pair_rng is not None:
                other = pairs.statistics(counts, derangement(len(pairs.prompts), pair_rng))
                out[f"{name}_rho_gap"] = st["rho"] - other["rho"]
        for G, d in per_g.items():
            b = d["budget"].statistics(sizes.rollout_budget, counts)
            out |= {f"g{G}_{key}": v for key, v in asdict(b).items() if key not in ("group_size", "budget")}
            m = measured_silent(G, counts)
            out[f"g{G}_silent_measured"] = m
            out[f"g{G}_silent_minus_predicted"] = m - float(counts @ predicted[G] / counts.sum())
            rb = float(counts @ p_hat / counts.sum())
            out[f"g{G}_silent_minus_mean_rate_formula"] = m - (rb**G + (1 - rb) ** G)
            if G == 2:
                out["g2_silent_minus_tt_printed"] = m - (1 - rb**2 - (1 - rb) ** 2)
        s2, s16 = out["g2_snr"], out[f"g{max(GROUP_SIZES)}_snr"]
        out["snr_ratio_2_16"] = s2 / s16 if s16 > 0 and s2 == s2 else math.nan
        return out

    def permuted(pairs: PairSet) -> dict[str, Any]:
        """The permutation control on the sample itself (TT's Table 2, second row)."""
        draws = permutation_control(pairs, sizes.permutations, rng)
        return {"rho_mean": float(np.nanmean(draws["rho"])), "rho_q025": float(np.nanquantile(draws["rho"], 0.025)),
                "rho_q975": float(np.nanquantile(draws["rho"], 0.975)), "cov_mean": float(np.nanmean(draws["cov"]))}

    point = replicate(np.ones(P), None)
    controls = {name: permuted(pairs) for name, pairs in
                ([("tt", tt)] if len(tt.prompts) >= 3 else []) + [(f"g{G}", d["pairs"]) for G, d in per_g.items()]}
    for name, control in controls.items():  # rho minus the mean rho of random cross-prompt pairings
        point[f"{name}_rho_gap"] = point[f"{name}_rho"] - control["rho_mean"]
    reps: dict[str, list[float]] = {}
    for _ in range(sizes.bootstrap):
        counts = np.bincount(rng.integers(0, P, P), minlength=P).astype(np.float64)
        for key, v in replicate(counts, rng).items():
            reps.setdefault(key, []).append(v)
    intervals = {key: _interval(point.get(key, math.nan), np.array(v)) for key, v in reps.items()}

    tt5 = {"tt_protocol": {"prompts_with_both": len(tt.prompts), "responses": sizes.tt_responses,
                           **({k2: intervals[f"tt_{k2}"] for k2 in ("rho", "cov", "var_pos", "var_neg", "threshold",
                                                                     "ratio_c1", "c_star", "rho_gap")}
                              if len(tt.prompts) >= 3 else {}),
                           "permuted": controls.get("tt")},
           "group_protocol": {str(G): {**{k2: intervals[f"g{G}_{k2}"] for k2 in ("rho", "cov", "var_pos", "var_neg",
                                                                            "threshold", "ratio_c1", "rho_gap")},
                                  "groups": len(per_g[G]["groups"]), "permuted": controls[f"g{G}"]}
                              for G in GROUP_SIZES}}
    tt6 = {"rollout_budget": sizes.rollout_budget, "rows": {}}
    for G in GROUP_SIZES:
        cos = batch_cosines(scores, rewards, prompt_index, G, sizes.rollout_budget, rng)
        mean, half = (float(x) for x in mean_ci(cos))
        names = ("trace_cov", "snr", "mean_norm_sq", "rollout_variance", "iid_ratio", "silent_fraction")
        tt6["rows"][str(G)] = {**{k2: intervals[f"g{G}_{k2}"] for k2 in names},
                          "cosine": {"value": mean, "low": mean - half, "high": mean + half, "batches": len(cos)}}
    tt6["snr_ratio_2_16"] = intervals["snr_ratio_2_16"]
    tt8 = {"probe_samples": k, "mean_pass_rate": rbar, "rows": {}}
    for G in GROUP_SIZES:
        row = {"measured": intervals[f"g{G}_silent_measured"], "predicted": float(predicted[G].mean()),
               "predicted_plug_in": float(np.mean(p_hat**G + (1 - p_hat) ** G)),
               "mean_rate_formula": rbar**G + (1 - rbar) ** G,
               "measured_minus_predicted": intervals[f"g{G}_silent_minus_predicted"],
               "measured_minus_mean_rate_formula": intervals[f"g{G}_silent_minus_mean_rate_formula"]}
        if G == 2:
            row["tt_v3_printed"] = 1 - rbar**2 - (1 - rbar) ** 2
            row["measured_minus_tt_v3_printed"] = intervals["g2_silent_minus_tt_printed"]
        tt8["rows"][str(G)] = row
    return {"tt5": tt5, "tt6": tt6, "tt8": tt8, "bootstrap": sizes.bootstrap, "permutations": sizes.permutations}


# ---------------------------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------------------------

def _decide(iv: dict[str, Any], threshold: float, n: int, *, at_least: bool = True) -> Decision:
    lo, hi = iv["low"], iv["high"]
    if iv["value"] is None or not all(isinstance(x, float) and math.isfinite(x) for x in (iv["value"], lo, hi)):
        return decide(None, None, None, threshold, n=n, at_least=at_least)
    return decide(iv["value"], lo, hi, threshold, n=n, at_least=at_least)


def within(iv: dict[str, Any], low: float, high: float, n: int) -> Decision:
    """'low <= value <= high': holds when the whole interval lies inside, fails when it lies wholly outside,
    inconclusive otherwise (both one-sided decisions of ``evidence.verdicts.decide``)."""
    above, below = _decide(iv, low, n), _decide(iv, high, n, at_least=False)
    verdicts = {above.verdict, below.verdict}
    verdict = (Verdict.FAILS if Verdict.FAILS in verdicts else Verdict.HOLDS if verdicts == {Verdict.HOLDS}
               else Verdict.INCONCLUSIVE)
    return replace(above, verdict=verdict, threshold=low)


def outside(iv: dict[str, Any], low: float, high: float, n: int) -> Decision:
    """'value < low or value > high': the mirror of :func:`within`."""
    inside = within(iv, low, high, n)
    lo, hi = iv["low"], iv["high"]
    if isinstance(lo, float) and isinstance(hi, float) and (hi < low or lo > high):
        verdict = Verdict.HOLDS
    elif inside.verdict == Verdict.HOLDS:
        verdict = Verdict.FAILS
    else:
        verdict = Verdict.INCONCLUSIVE
    return replace(inside, verdict=verdict)


def every(decisions: list[Decision]) -> bool | None:
    """True if every decision holds, False if any fails, else None (undecided)."""
    passed = [d.passed for d in decisions]
    return False if False in passed else True if all(p is True for p in passed) else None


def _fmt(iv: dict[str, Any], digits: int = 3) -> str:
    def f(x: Any) -> str:
        return "nan" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"
    return f"{f(iv['value'])} [{f(iv['low'])}, {f(iv['high'])}]"


def tt5_checks(tt5: dict[str, Any], prompts: int) -> dict[str, bool | None]:
    """TT-5 checks: Cov(g+, g-) > 0 and above the permutation control (TT's pairs), and GRPO's c = 1 inside
    the variance-reducing range (both pairings)."""
    tt = tt5["tt_protocol"]
    n = tt["prompts_with_both"]
    checks: dict[str, bool | None] = {}
    if "rho" not in tt:
        return {"TT's pairs: at least 3 prompts with both outcomes": False}
    groups = tt5["group_protocol"]
    checks["TT's pairs (between prompts): rho(g+, g-) > 0"] = _decide(tt["rho"], 0.0, n).passed
    checks["TT's pairs: rho exceeds the cross-prompt permutation control"] = _decide(tt["rho_gap"], 0.0, n).passed
    checks["TT's pairs: c = 1 reduces the variance, Var(g+ - g-) / Var(g+) < 1"] = _decide(
        tt["ratio_c1"], 1.0, n, at_least=False).passed
    checks["GRPO groups: rho(g+, g-) > 0 at every G"] = every(
        [_decide(r["rho"], 0.0, prompts) for r in groups.values()])
    checks["GRPO groups: c = 1 reduces the variance at every G"] = every(
        [_decide(r["ratio_c1"], 1.0, prompts, at_least=False) for r in groups.values()])
    return checks


def tt6_checks(tt6: dict[str, Any], prompts: int) -> dict[str, bool | None]:
    """TT-6 checks: the paper's Var(g_B) = Var(g_1)/B within IID_TOLERANCE at every G, and 2-GRPO's SNR at
    least 16-GRPO's at the same budget (the consequence TT draws for small groups)."""
    rows = tt6["rows"]
    return {
        f"tr Cov g_B = Var(g_1)/B within {IID_TOLERANCE:.0%} at every G (the paper's i.i.d. formula)": every(
            [within(r["iid_ratio"], 1 - IID_TOLERANCE, 1 + IID_TOLERANCE, prompts) for r in rows.values()]),
        "2-GRPO's SNR >= 16-GRPO's at the same rollout budget": _decide(tt6["snr_ratio_2_16"], 1.0, prompts).passed,
    }


def tt8_checks(tt8: dict[str, Any], prompts: int) -> dict[str, bool | None]:
    """TT-8 checks, as the simulation's: the per-prompt formula matches, TT v3's printed formula does not, the
    mean pass rate under-estimates."""
    rows = tt8["rows"]
    tol = SILENT_TOLERANCE
    return {
        f"measured silent share = E_q[p_q^G + (1-p_q)^G] from the probe within +-{tol} at every G": every(
            [within(r["measured_minus_predicted"], -tol, tol, prompts) for r in rows.values()]),
        "TT v3's printed 1 - rbar^2 - (1-rbar)^2 is off the measured G = 2 share": outside(
            rows["2"]["measured_minus_tt_v3_printed"], -tol, tol, prompts).passed,
        "the mean pass rate under-estimates the silent share (rbar^G + (1-rbar)^G < measured) at every G": every(
            [_decide(r["measured_minus_mean_rate_formula"], 0.0, prompts) for r in rows.values()]),
    }


def _common_steps(data: dict[str, Any]) -> list[str]:
    s, sub, probe = data["sizes"], data["gradient_subset"], data["probe"]
    return [
        f"Model {data['model']['name']} ({data['model']['parameters'] / 1e6:.1f}M parameters, fp32, dropout off); "
        f"{s['prompts']} arithmetic and word problems in its chat template with two worked examples; reward "
        f"`{s['reward']}` ({REWARD_MEANING[s['reward']]}).",
        f"Probe: {s['probe_samples']} samples per prompt at T = 1: mean pass rate {probe['mean_pass_rate']:.3f}, "
        f"{probe['share_in_band']:.0%} of prompts with pass rate in (0.1, 0.9) (target >= {TARGET_SHARE:.0%}).",
        f"Pool: {s['pool_samples']} fresh completions per prompt (up to {s['max_new_tokens']} tokens); score "
        f"s_i = grad log pi(o_i|q_i) on the {sub['weights']:,} weights of the linear maps of the top "
        f"{sub['top_layers']} layers, projected to {sub['dimension']} dimensions (Kronecker Gaussian, inner "
        "products preserved in expectation).",
        f"95% intervals: bias-corrected percentile bootstrap over prompts, {data['bootstrap']} replicates.",
    ]


def _tt5_record(data: dict[str, Any], art: dict[str, str]) -> Evidence:
    tt5, P = data["tt5"], data["sizes"]["prompts"]
    tt = tt5["tt_protocol"]
    numbers: dict[str, Any] = {"prompts with both outcomes (TT's pairs)": tt["prompts_with_both"]}
    steps = _common_steps(data)
    if "rho" in tt:
        perm = tt["permuted"]
        numbers |= {"TT's pairs: rho": tt["rho"], "TT's pairs: Cov": tt["cov"],
                    "TT's pairs: permuted rho (mean)": perm["rho_mean"], "TT's pairs: permuted Cov (mean)":
                    perm["cov_mean"], "TT's pairs: Var(g+ - g-)/Var(g+)": tt["ratio_c1"],
                    "TT's pairs: c = 1 needs rho >=": tt["threshold"]}
        steps.append(
            f"TT's way (v3 App. B.8: one pair per prompt, mean score of the correct vs of the wrong responses among "
            f"its first {tt['responses']}, covariance between prompts): {tt['prompts_with_both']} prompts, rho = "
            f"{_fmt(tt['rho'])}, Cov = {_fmt(tt['cov'], 5)}; random cross-prompt pairing: rho {perm['rho_mean']:+.3f} "
            f"(95% of permutations in [{perm['rho_q025']:+.3f}, {perm['rho_q975']:+.3f}]), Cov {perm['cov_mean']:.5f}. "
            f"TT: Cov 0.08705 vs 0.00128 permuted (Qwen2.5-Math-1.5B, MATH); covariances are in each model's own "
            "units, so rho and the gap to the control are what compare.")
        steps.append(f"c = 1 (GRPO) reduces the variance iff rho >= (1/2) sqrt(Var-/Var+) = {_fmt(tt['threshold'])}; "
                     f"Var(g+ - g-)/Var(g+) = {_fmt(tt['ratio_c1'])}.")
    for G, r in tt5["group_protocol"].items():
        numbers[f"GRPO groups G={G}: rho"] = r["rho"]
        numbers[f"GRPO groups G={G}: Var(g+ - g-)/Var(g+)"] = r["ratio_c1"]
    steps.append("The project's way (as simulations.studies.tt5_control_variate: advantage-weighted g+ and g- of "
                 "each GRPO group, silent groups as zeros): " + "; ".join(
                     f"G={G}: rho {_fmt(r['rho'])}, ratio {_fmt(r['ratio_c1'])}"
                     for G, r in tt5["group_protocol"].items()) + ". Not the same quantity as TT's (weights |A_i|, "
                 "silent groups kept, any G): both are total covariances over prompts and responses.")
    return Evidence.from_checks("TT-5", "pretrained", "Negative samples as a control variate on a pretrained LM",
                                tt5_checks(tt5, P), numbers=numbers, steps=tuple(steps),
                                artefacts=(art["tt5"], art["json"]))


def _tt6_record(data: dict[str, Any], art: dict[str, str]) -> Evidence:
    tt6, P = data["tt6"], data["sizes"]["prompts"]
    numbers: dict[str, Any] = {"rollout budget B": tt6["rollout_budget"],
                               "SNR(G=2) / SNR(G=16)": tt6["snr_ratio_2_16"]}
    for G, r in tt6["rows"].items():
        numbers |= {f"G={G}: tr Cov g_B": r["trace_cov"], f"G={G}: SNR": r["snr"], f"G={G}: cosine to reference":
                    r["cosine"], f"G={G}: measured / (Var(g_1)/B)": r["iid_ratio"]}
    steps = [
        *_common_steps(data),
        f"Fixed budget B = {tt6['rollout_budget']} = Q G: each prompt's completions cut into disjoint groups of G "
        "(GRPO advantages, sample std); tr Cov g_B = tr Var(u)/Q for Q i.i.d. prompts, u a group's update; "
        "SNR = ||E u||^2 / tr Cov g_B (||E u||^2 de-biased); cosine: disjoint batches of Q distinct prompts against "
        "the RLOO gradient of the mean pass rate from every completion outside the batch (t interval over batches).",
        "; ".join(f"G={G}: tr Cov {r['trace_cov']['value']:.4g}, SNR {_fmt(r['snr'], 4)}, cos {_fmt(r['cosine'])}, "
                  f"i.i.d. ratio {_fmt(r['iid_ratio'], 2)}" for G, r in tt6["rows"].items()) + ".",
        f"SNR(G=2)/SNR(G=16) at the same budget: {_fmt(tt6['snr_ratio_2_16'], 2)}.",
    ]
    return Evidence.from_checks("TT-6", "pretrained", "Update variance, SNR and cosine at a fixed rollout budget on a "
                                "pretrained LM", tt6_checks(tt6, P), numbers=numbers, steps=tuple(steps),
                                artefacts=(art["tt6"], art["probe"], art["json"]))


def _tt8_record(data: dict[str, Any], art: dict[str, str]) -> Evidence:
    tt8, P = data["tt8"], data["sizes"]["prompts"]
    numbers: dict[str, Any] = {"mean pass rate (probe)": tt8["mean_pass_rate"]}
    for G, r in tt8["rows"].items():
        numbers |= {f"G={G}: measured silent share": r["measured"], f"G={G}: predicted": r["predicted"],
                    f"G={G}: mean-pass-rate formula": r["mean_rate_formula"]}
    numbers["G=2: TT v3 printed formula"] = tt8["rows"]["2"]["tt_v3_printed"]
    steps = [
        *_common_steps(data),
        f"Predicted: E_q[p_q^G + (1-p_q)^G] from the probe, per prompt the unbiased [C(s,G) + C(k-s,G)]/C(k,G) of "
        f"s successes in k = {tt8['probe_samples']} samples; measured: the share of silent groups in the "
        "independent pool.",
        "; ".join(f"G={G}: measured {_fmt(r['measured'])} vs predicted {r['predicted']:.3f} (mean-rate formula "
                  f"{r['mean_rate_formula']:.3f})" for G, r in tt8["rows"].items()) + ".",
        f"TT v3's printed discard rate 1 - rbar^2 - (1-rbar)^2 = {tt8['rows']['2']['tt_v3_printed']:.3f} at G = 2: the "
        "complement of the silent share at the mean pass rate.",
    ]
    return Evidence.from_checks("TT-8", "pretrained", "Silent-group share on a pretrained LM against p^G + (1-p)^G",
                                tt8_checks(tt8, P), numbers=numbers, steps=tuple(steps),
                                artefacts=(art["tt8"], art["probe"], art["json"]))


def with_model(sizes: Sizes, model: str) -> Sizes:
    """``sizes`` with another model (the CLI's --model); the reward stays the budget's."""
    return replace(sizes, model=check_model_name(model))


def output_folder(out_dir: Path) -> Path:
    """Where :func:`measure` writes its artefacts."""
    return Path(out_dir) / FOLDER
