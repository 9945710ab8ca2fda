"""Pass rates at temperature 1: k samples per prompt, p_q = (successes of q) / k, their histogram and the
share of prompts with p_q in (0.1, 0.9) (the prompts whose groups carry signal at any G; issue 16 asks
for >= 40% of them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evidence.io import atomic_path
from gpu_runs.pretrained import arithmetic, chat
from gpu_runs.pretrained.models import LanguageModel

BAND = (0.1, 0.9)
"""Pass rates strictly inside this band count as 'with spread'."""
TARGET_SHARE = 0.4
"""Issue 16: at least this share of the prompt set should have its pass rate inside BAND."""
BINS = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class PromptFormat:
    """How a problem becomes a chat: an optional ``system`` message and worked ``examples`` (earlier turns)."""

    system: str | None = None
    examples: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """``successes`` (P,) of ``samples`` completions per problem at ``temperature``, rewarded by ``reward``."""

    problems: tuple[arithmetic.Problem, ...]
    samples: int
    successes: NDArray[np.int64]
    temperature: float
    reward: str
    examples: tuple[str, ...]  # the first completion of the first few prompts, to read what the model does

    @property
    def pass_rates(self) -> NDArray[np.float64]:
        return self.successes / self.samples

    def share_in_band(self, band: tuple[float, float] = BAND) -> float:
        """Share of prompts with band[0] < p_q < band[1]."""
        p = self.pass_rates
        return float(np.mean((p > band[0]) & (p < band[1])))

    def histogram(self) -> NDArray[np.int64]:
        """Prompt counts in the ten bins [0, 0.1), ..., [0.9, 1.0] of the pass rate."""
        return np.histogram(self.pass_rates, bins=BINS)[0]

    def by_kind(self) -> dict[str, dict[str, float]]:
        """Mean pass rate, prompt count and share in band of each problem kind."""
        kinds = np.array([p.kind for p in self.problems])
        out = {}
        for kind in dict.fromkeys(kinds.tolist()):
            p = self.pass_rates[kinds == kind]
            out[kind] = {"prompts": int(p.size), "mean_pass_rate": float(p.mean()),
                         "share_in_band": float(np.mean((p > BAND[0]) & (p < BAND[1])))}
        return out

    def to_json(self) -> dict[str, Any]:
        return {"samples_per_prompt": self.samples, "temperature": self.temperature, "reward": self.reward,
                "prompts": len(self.problems), "band": list(BAND), "share_in_band": self.share_in_band(),
                "target_share": TARGET_SHARE, "mean_pass_rate": float(self.pass_rates.mean()),
                "histogram_edges": BINS.tolist(), "histogram": self.histogram().tolist(), "by_kind": self.by_kind(),
                "rows": [{"question": p.question, "answer": p.answer, "kind": p.kind, "successes": int(s)}
                         for p, s in zip(self.problems, self.successes, strict=True)],
                "example_completions": list(self.examples)}

    def text(self) -> str:
        """The histogram as text lines (what the CLI prints)."""
        counts = self.histogram()
        lines = [f"pass rates of {len(self.problems)} prompts, {self.samples} samples each at T = {self.temperature:g} "
                 f"(reward {self.reward}): mean {self.pass_rates.mean():.3f}, share in {BAND}: "
                 f"{self.share_in_band():.2f} (target >= {TARGET_SHARE})"]
        for lo, hi, c in zip(BINS[:-1], BINS[1:], counts, strict=True):
            lines.append(f"  [{lo:.1f}, {hi:.1f}{']' if hi == 1 else ')'} {c:4d} {'#' * int(c)}")
        return "\n".join(lines)


def run_probe(lm: LanguageModel, problems: list[arithmetic.Problem], samples: int, *, prompt_format: PromptFormat,
              max_new_tokens: int, seed: int, reward: str = "answer", temperature: float = 1.0,
              prompts_per_batch: int = 8) -> tuple[ProbeResult, chat.Completions, NDArray[np.float64]]:
    """Sample ``samples`` completions of every problem at ``temperature`` and reward them; returns the
    result, the completions and their rewards (N,)."""
    prompts = chat.render_prompts(lm, [p.question for p in problems], prompt_format.system, prompt_format.examples)
    completions = chat.sample_completions(lm, prompts, samples, max_new_tokens=max_new_tokens, seed=seed,
                                          temperature=temperature, prompts_per_batch=prompts_per_batch)
    answers = np.array([problems[i].answer for i in completions.prompt_index], dtype=np.float64)
    r = arithmetic.rewards(completions.texts, answers, reward)
    successes = np.bincount(completions.prompt_index, weights=r, minlength=len(problems)).round().astype(np.int64)
    examples = tuple(completions.texts[i * samples] for i in range(min(6, len(problems))))
    return ProbeResult(tuple(problems), samples, successes, temperature, reward, examples), completions, r


def plot_histogram(result: ProbeResult, path: Path, title: str) -> Path:
    """Bar chart of the pass-rate histogram with the (0.1, 0.9) band shaded; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.axvspan(*BAND, color="0.92", label=f"band {BAND}: {result.share_in_band():.0%} of prompts")
    ax.bar(BINS[:-1], result.histogram(), width=0.1, align="edge", edgecolor="k", color="C0")
    ax.set_xlabel(f"pass rate at T = {result.temperature:g} ({result.samples} samples per prompt)")
    ax.set_ylabel("prompts")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path
