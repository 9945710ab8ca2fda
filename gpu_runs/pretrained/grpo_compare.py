"""2-GRPO against 16-GRPO at equal prompts on a pretrained LM (issue 16, item 5; TT-9's comparison, a short run).

Design: every arm (a group size G) and every seed s trains from the same start (the loaded model) on the same
prompts in the same order (Q per step, the problems of seed s), for the same number of steps; G = 16 samples 8x
G = 2's rollouts. Score: the pass rate of a fixed held-out problem set (disjoint from every training problem), K
completions per problem at T = 1, sampled with one fixed seed before and after training (common random numbers:
the sampling noise of "before" and "after" is shared). Improvement of run (G, s): after - before.

Per arm: the mean improvement over seeds with its Student-t 95% interval (:func:`evidence.verdicts.decide_mean`
against 0). Between arms, paired by seed: the improvement ratio IR = mean(impr of the smallest G) / mean(impr of the
largest G) with Fieller's interval against TT's 0.95 (:func:`evidence.verdicts.decide_ratio`, theory.paper), and the
wall-clock ratio of training (rollouts + updates) against TT's 0.21. Both are three-way: holds, fails, or
inconclusive with the seeds that would decide it. A short run on a small model is not TT's setting: the verdicts
say what these steps show, not what a full run would.

Resume: each finished (G, seed) is written to ``runs/G{G}-seed{s}.json`` (atomically, with the settings it ran
under) and skipped on a rerun with the same settings; the baseline pass rate likewise (``runs/baseline.json``). No
weights are saved anywhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from evidence.io import atomic_path, atomic_write_json, folder_lock, jsonable
from evidence.verdicts import decide_mean, decide_ratio
from gpu_runs.pretrained import arithmetic
from gpu_runs.pretrained.grpo import GRPOSettings, pass_rate, train, trainable_count
from gpu_runs.pretrained.models import LanguageModel, check_model_name
from gpu_runs.pretrained.study import FORMAT
from gpu_runs.pretrained.trainable import Trainable, check_fits
from theory.paper import TT9_IMPROVEMENT_RATIO, TT9_ROLLOUT_RATIO, TT9_WALLCLOCK_RATIO
from theory.validation import check_choice

log = logging.getLogger(__name__)

STREAM = 1606
"""Seed stream of the comparison's problem sets and evaluation (issue 16, item 5)."""
RESULTS = "pretrained_grpo.json"
SHORT_RUN = "SHORT RUN"


@dataclass(frozen=True)
class CompareSizes:
    """A comparison: the ``model``, ``group_sizes`` (the arms), ``seeds`` per arm, ``steps`` of ``prompts_per_step``
    prompts, ``max_new_tokens``, the ``trainable`` mode (``lora_rank`` for lora), ``learning_rate`` (None: the
    mode's default), the ``reward``, and the held-out set: ``eval_prompts`` problems x ``eval_samples``."""

    model: str
    group_sizes: tuple[int, ...]
    seeds: int
    steps: int
    prompts_per_step: int
    max_new_tokens: int
    trainable: str
    reward: str
    eval_prompts: int
    eval_samples: int
    learning_rate: float | None = None
    lora_rank: int = 16
    prompts_per_batch: int = 8

    def __post_init__(self) -> None:
        check_model_name(self.model)
        check_choice("reward", self.reward, arithmetic.REWARDS)
        if len(self.group_sizes) < 2 or len(set(self.group_sizes)) != len(self.group_sizes):
            raise ValueError(f"group_sizes={list(self.group_sizes)} must hold at least two different sizes")
        if min(self.group_sizes) < 2:
            raise ValueError(f"group_sizes={list(self.group_sizes)}: every G must be >= 2")
        if self.seeds < 2:
            raise ValueError(f"seeds={self.seeds} must be >= 2 (one seed has no spread for an interval)")
        for name in ("steps", "prompts_per_step", "max_new_tokens", "eval_prompts", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be an integer >= 1")
        self.trainable_mode()  # checks the mode and the LoRA rank

    def trainable_mode(self) -> Trainable:
        return Trainable(self.trainable, lora_rank=self.lora_rank, lora_alpha=2 * self.lora_rank)

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else self.trainable_mode().default_learning_rate

    def settings(self, group_size: int) -> GRPOSettings:
        """The GRPO settings of the arm with ``group_size``."""
        return GRPOSettings(group_size=group_size, prompts_per_step=self.prompts_per_step, steps=self.steps,
                            max_new_tokens=self.max_new_tokens, learning_rate=self.lr,
                            trainable=self.trainable_mode(), reward=self.reward,
                            prompts_per_batch=self.prompts_per_batch)


SIZES = {
    "smoke": CompareSizes("tiny-random", (2, 16), seeds=2, steps=2, prompts_per_step=2, max_new_tokens=4,
                          trainable="top2", reward="number", eval_prompts=4, eval_samples=4),
    "default": CompareSizes("smollm2-135m", (2, 16), seeds=3, steps=12, prompts_per_step=8, max_new_tokens=8,
                            trainable="top2", reward="answer", eval_prompts=32, eval_samples=16),
    "full": CompareSizes("smollm2-135m", (2, 16), seeds=5, steps=40, prompts_per_step=16, max_new_tokens=8,
                         trainable="top2", reward="answer", eval_prompts=64, eval_samples=32),
}
"""Per budget. smoke: the tiny random Llama with a format reward, seconds (tests); default: SmolLM2-135M, sized for
about 30 minutes on 2 cores; full: hours."""


def derived_seed(seed: int, *keys: int) -> int:
    """A seed for the draw named ``keys`` of the comparison seeded ``seed``."""
    return int(np.random.SeedSequence([seed, STREAM, *keys]).generate_state(1)[0])


def held_out_problems(sizes: CompareSizes, seed: int) -> list[arithmetic.Problem]:
    """The held-out problems of the comparison seeded ``seed`` (the same for every arm and run seed)."""
    return arithmetic.make_problems(sizes.eval_prompts, derived_seed(seed, 1))


def training_problems(sizes: CompareSizes, run_seed: int,
                      held_out: Sequence[arithmetic.Problem]) -> list[arithmetic.Problem]:
    """steps x Q training problems of run seed ``run_seed`` (the same for every arm), none of them held out."""
    needed = sizes.steps * sizes.prompts_per_step
    excluded = {p.question for p in held_out}
    problems = [p for p in arithmetic.make_problems(2 * needed + len(excluded), derived_seed(run_seed, 2))
                if p.question not in excluded]
    if len(problems) < needed:
        raise ValueError(f"only {len(problems)} training problems outside the held-out set; {needed} are needed")
    return problems[:needed]


def run_name(group_size: int, seed: int) -> str:
    return f"G{group_size}-seed{seed}"


def fingerprint(sizes: CompareSizes, seed: int, model_source: str) -> dict[str, Any]:
    """What a stored run must share with this comparison to be reused (the arms and seed count may grow)."""
    kept = {k: v for k, v in asdict(sizes).items() if k not in ("group_sizes", "seeds")}
    return jsonable({**kept, "learning_rate": sizes.lr, "seed": seed, "model_source": model_source,
                     "prompt_format": asdict(FORMAT)})


def _stored(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result at ``path`` if it ran under ``key``; ValueError if it ran under other settings."""
    import json

    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("fingerprint") != key:
        raise ValueError(f"out={str(path.parent.parent)!r} holds {path.name} from a run with other settings; choose "
                         "another folder, or remove it to start afresh")
    return data


def compare(lm: LanguageModel, sizes: CompareSizes, out: Path, *, seed: int = 0,
            progress: bool = False) -> dict[str, Any]:
    """Run every (G, seed) not already in ``out/runs`` (module docstring), then the summary with its verdicts,
    written to ``out/pretrained_grpo.json`` with a reward-curve figure per arm. Returns the summary."""
    from tqdm import tqdm

    check_fits(lm.model, sizes.trainable_mode())
    with folder_lock(out):
        key = fingerprint(sizes, seed, lm.source)
        runs_dir = out / "runs"
        held_out = held_out_problems(sizes, seed)
        eval_seed = derived_seed(seed, 3)

        def evaluate(model: LanguageModel) -> float:
            return pass_rate(model, held_out, sizes.eval_samples, prompt_format=FORMAT,
                             max_new_tokens=sizes.max_new_tokens, seed=eval_seed, reward=sizes.reward,
                             prompts_per_batch=sizes.prompts_per_batch)

        baseline = _stored(runs_dir / "baseline.json", key)
        if baseline is None:
            clock = time.perf_counter()
            baseline = {"fingerprint": key, "pass_rate": evaluate(lm), "seconds": time.perf_counter() - clock}
            atomic_write_json(runs_dir / "baseline.json", baseline)
        seeds = [seed + i for i in range(sizes.seeds)]
        runs: dict[str, dict[str, Any]] = {}
        todo = []
        for s in seeds:
            for G in sizes.group_sizes:
                stored = _stored(runs_dir / f"{run_name(G, s)}.json", key)
                if stored is None:
                    todo.append((G, s))
                else:
                    runs[run_name(G, s)] = stored
        bar = tqdm(total=len(todo) * sizes.steps, desc="GRPO runs", unit="step", disable=not progress)
        for s in seeds:  # arms alternate within a seed: a slow spell of a shared machine falls on both
            problems = training_problems(sizes, s, held_out)
            for G in sizes.group_sizes:
                if (G, s) not in todo:
                    continue
                bar.set_postfix_str(run_name(G, s))
                clock = time.perf_counter()
                policy, steps = train(lm, sizes.settings(G), problems, prompt_format=FORMAT, seed=s,
                                      on_step=lambda row: bar.update(1))
                seconds_train = time.perf_counter() - clock
                clock = time.perf_counter()
                after = evaluate(policy)
                run = {"fingerprint": key, "group_size": G, "seed": s, "pass_rate_before": baseline["pass_rate"],
                       "pass_rate_after": after, "improvement": after - baseline["pass_rate"],
                       "rollouts": int(steps[-1]["rollouts"]),
                       "seconds": {"train": seconds_train, "rollout": sum(r["seconds_rollout"] for r in steps),
                                   "update": sum(r["seconds_update"] for r in steps),
                                   "evaluation": time.perf_counter() - clock},
                       "steps": steps}
                atomic_write_json(runs_dir / f"{run_name(G, s)}.json", jsonable(run))
                runs[run_name(G, s)] = jsonable(run)
                log.info("%s: pass rate %.3f -> %.3f (%d rollouts, %.0f s)", run_name(G, s), baseline["pass_rate"],
                         after, run["rollouts"], seconds_train)
        bar.close()
        summary = summarise(sizes, seeds, runs, baseline, lm, seed)
        atomic_write_json(out / RESULTS, summary)
        for G in sizes.group_sizes:
            plot_rewards(summary, G, out / f"reward_curve_G{G}.png")
        return summary


def summarise(sizes: CompareSizes, seeds: Sequence[int], runs: dict[str, dict[str, Any]],
              baseline: dict[str, Any], lm: LanguageModel, seed: int) -> dict[str, Any]:
    """Per arm: improvement per seed, its mean with a 95% interval, rollouts and wall-clock; between the smallest
    and the largest G: the paired improvement and wall-clock ratios with their three-way verdicts."""
    arms: dict[str, Any] = {}
    for G in sizes.group_sizes:
        rows = [runs[run_name(G, s)] for s in seeds]
        impr = np.array([r["improvement"] for r in rows])
        arms[str(G)] = {
            "group_size": G, "seeds": list(seeds), "improvement": impr.tolist(),
            "pass_rate_after": [r["pass_rate_after"] for r in rows],
            "improves": decide_mean(impr, 0.0).to_json(),
            "rollouts": rows[0]["rollouts"], "seconds_train": [r["seconds"]["train"] for r in rows],
            "seconds_rollout": [r["seconds"]["rollout"] for r in rows],
            "seconds_update": [r["seconds"]["update"] for r in rows],
            "reward_curve": [[step["reward_mean"] for step in r["steps"]] for r in rows],
            "silent_fraction": float(np.mean([step["silent_fraction"] for r in rows for step in r["steps"]])),
        }
    small, large = str(min(sizes.group_sizes)), str(max(sizes.group_sizes))
    a, b = arms[small], arms[large]
    settings = sizes.settings(min(sizes.group_sizes))
    return jsonable({
        "label": f"{SHORT_RUN}: {sizes.steps} steps of {sizes.prompts_per_step} prompts per arm and seed, "
                 f"{sizes.seeds} seeds; TT trained for hundreds of steps on MATH with a 1.5B model",
        "model": {"name": lm.name, "source": lm.source, "parameters": lm.num_parameters},
        "sizes": asdict(sizes), "seed": seed,
        "trainable": {"mode": settings.trainable.describe(), "parameters": trainable_count(lm, settings.trainable)},
        "settings": {k: v for k, v in settings.to_json().items() if k != "group_size"},
        "prompt_format": asdict(FORMAT),
        "held_out": {"problems": sizes.eval_prompts, "samples_per_problem": sizes.eval_samples,
                     "pass_rate_before": baseline["pass_rate"], "seconds": baseline["seconds"]},
        "arms": arms,
        "comparison": {
            "arms": [int(small), int(large)],
            "improvement_ratio": decide_ratio(a["improvement"], b["improvement"], TT9_IMPROVEMENT_RATIO,
                                              paired=True).to_json(),
            "wallclock_ratio": decide_ratio(a["seconds_train"], b["seconds_train"], TT9_WALLCLOCK_RATIO,
                                            paired=True, at_least=False).to_json(),
            "rollout_ratio": a["rollouts"] / b["rollouts"], "rollout_ratio_tt": TT9_ROLLOUT_RATIO,
        },
    })


def plot_rewards(summary: dict[str, Any], group_size: int, path: Path) -> Path:
    """Training reward per step of the arm ``group_size``: each seed thin, their mean thick; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arm = summary["arms"][str(group_size)]
    curves = np.array(arm["reward_curve"], dtype=np.float64)  # (seeds, steps)
    steps = np.arange(1, curves.shape[1] + 1)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for s, curve in zip(arm["seeds"], curves, strict=True):
        ax.plot(steps, curve, color="C0", alpha=0.35, lw=1, label=f"seed {s}")
    ax.plot(steps, curves.mean(axis=0), color="C0", lw=2.5, label="mean over seeds")
    ax.set_xlabel(f"step ({summary['sizes']['prompts_per_step']} prompts x G = {group_size} rollouts each)")
    ax.set_ylabel("mean training reward")
    ax.set_title(f"{SHORT_RUN}: {group_size}-GRPO on {summary['model']['name']} "
                 f"({summary['sizes']['trainable']}, lr {summary['settings']['learning_rate']:g})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def with_overrides(sizes: CompareSizes, **overrides: Any) -> CompareSizes:
    """``sizes`` with the given fields replaced (None values ignored); checked again."""
    return replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
