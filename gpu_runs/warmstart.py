"""The supervised warm start, cached on disk under a hash of its config, so that every arm and seed
of an experiment starts RL from the same policy.

Why noisy targets: a plain supervised start leaves per-prompt pass rates bimodal (easy prompts
near 1, hard ones near 0), so most small groups are silent (TT-8) and an RL comparison tests the
data, not the algorithm. Here the last ``noisy_fraction`` of the steps trains on targets whose
answer characters are each replaced by a uniform random digit with probability ``label_noise``
(the clean steps before learn the task itself, which noise would slow down): cross-entropy then
teaches a per-character accuracy of about q = 1 - 0.9 label_noise at T = 1, and an answer of L
characters passes with p ~ q^L. The difficulty mix spreads L, hence p, over (0.1, 0.9); RL can
raise p by making the policy sharper, as it does for large LMs. The pass-rate histogram of every
start point is measured (never assumed) and stored beside the weights.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pickle
import shutil
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from evidence.io import atomic_path, atomic_write_json, digest_problem, write_digest
from gpu_runs.config import WarmStartConfig
from gpu_runs.device import autocast
from gpu_runs.evaluation import heldout_metrics, pass_rate_histogram, sample_problems
from gpu_runs.model import GPT
from gpu_runs.tasks import Problem, build_splits, draw_problems
from gpu_runs.tokenizer import EOS, PAD, CharTokenizer

log = logging.getLogger(__name__)


def noisy_targets(problems: list[Problem], rng: np.random.Generator, label_noise: float) -> list[str]:
    """Each answer with every character replaced by a uniform digit with probability ``label_noise``."""
    out = []
    for p in problems:
        chars = [str(int(rng.integers(10))) if rng.random() < label_noise else c for c in p.answer]
        out.append("".join(chars))
    return out


def supervised_batch(tokenizer: CharTokenizer, problems: list[Problem], targets: list[str],
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, attention mask, loss mask), each (B, T): prompt + target + EOS, left-padded; the loss
    mask marks the positions that predict a target character or the EOS."""
    rows = [tokenizer.encode(p.prompt) + tokenizer.encode(t) + [EOS] for p, t in zip(problems, targets, strict=True)]
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    loss_mask = torch.zeros((len(rows), T), dtype=torch.float32)
    for i, (row, t) in enumerate(zip(rows, targets, strict=True)):
        ids[i, T - len(row):] = torch.tensor(row)
        mask[i, T - len(row):] = 1
        loss_mask[i, T - len(t) - 2:T - 1] = 1.0  # predicting position j + 1 from position j
    return ids.to(device), mask.to(device), loss_mask.to(device)


def train_supervised(config: WarmStartConfig, device: torch.device, *, progress: bool = True) -> GPT:
    """Cross-entropy on prompt -> answer + EOS (noisy answers in the last ``noisy_fraction`` of the
    steps), fresh problems every step."""
    torch.manual_seed(config.seed)
    tokenizer = CharTokenizer()
    model = GPT(config.model).to(device)
    _, heldout = build_splits(config.task)
    exclude = frozenset(p.prompt for p in heldout)
    rng = np.random.default_rng([config.seed, 2])
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    model.train()
    for step in tqdm(range(config.steps), desc="warm start", disable=not progress):
        warm = (step + 1) / max(config.warmup_steps, 1)
        cosine = 0.1 + 0.45 * (1 + math.cos(math.pi * step / config.steps))
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(warm, cosine)
        problems = draw_problems(config.task, rng, config.batch_size, exclude=exclude, unique=False)
        noise = config.label_noise if step >= (1 - config.noisy_fraction) * config.steps else 0.0
        ids, mask, loss_mask = supervised_batch(tokenizer, problems, noisy_targets(problems, rng, noise), device)
        with autocast(device):
            logits = model(ids[:, :-1], mask[:, :-1])  # (B, T-1, V)
        loss = F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none")  # (B, T-1)
        loss = (loss * loss_mask[:, :-1]).sum() / loss_mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    return model


def measure_start_point(model: GPT, config: WarmStartConfig, *, seed: int, max_new_tokens: int) -> dict[str, Any]:
    """Pass-rate histogram of ``probe_prompts`` training prompts (``probe_samples`` rollouts each at
    T = 1), per difficulty too, and the metrics of as many held-out prompts."""
    tokenizer = CharTokenizer()
    train, heldout = build_splits(config.task)
    probe = train[:config.probe_prompts]
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    binary, _ = sample_problems(model, tokenizer, config.task, probe, group_size=config.probe_samples,
                                max_new_tokens=max_new_tokens, generator=generator, batch_prompts=64)
    p = binary.mean(axis=1)
    difficulty = np.array([q.difficulty for q in probe])
    return {
        "histogram": pass_rate_histogram(p),
        "by_difficulty": {str(d): pass_rate_histogram(p[difficulty == d]) for d in sorted(set(difficulty.tolist()))},
        "heldout": heldout_metrics(model, tokenizer, config.task, heldout[:config.probe_prompts],
                                   max_new_tokens=max_new_tokens, seed=seed),
    }


def plot_pass_rates(record: dict[str, Any], path: Path) -> None:
    """Bar chart of the start point's per-prompt pass rates, one bar series per difficulty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    histogram = record["histogram"]
    bins = np.asarray(histogram["bins"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bottom = np.zeros(len(bins) - 1)
    for difficulty, h in record["by_difficulty"].items():
        ax.bar(bins[:-1], h["counts"], width=0.1, align="edge", bottom=bottom, edgecolor="white",
               label=f"difficulty {difficulty}")
        bottom += np.asarray(h["counts"])
    ax.axvspan(0.1, 0.9, color="grey", alpha=0.12, label=f"0.1 < p < 0.9: {histogram['share_informative']:.0%}")
    ax.set_xlabel("pass rate p at T = 1 (per training prompt)")
    ax.set_ylabel("prompts")
    ax.set_title(f"Warm start {record['key']}: {histogram['prompts']} prompts x "
                 f"{record['config']['probe_samples']} samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


class LoadStart(Protocol):
    """A start-policy loader: the start model for ``config`` on ``device`` and its record (``key``,
    ``folder``, ``cache_hit``, the measured ``histogram`` and ``heldout`` metrics), cached under
    ``cache_dir``. :func:`load_or_train` is the test bed's; ``gpu_runs.tt9.start`` has a Hugging
    Face model's. :func:`gpu_runs.trainer.train` takes one as its ``load_start``."""

    def __call__(self, config: WarmStartConfig, cache_dir: Path, device: torch.device, *,
                 progress: bool = True) -> tuple[nn.Module, dict[str, Any]]: ...


def load_or_train(config: WarmStartConfig, cache_dir: Path, device: torch.device, *,
                  progress: bool = True) -> tuple[GPT, dict[str, Any]]:
    """The warm-start model and its record (config, key, measured start point, seconds); trained
    and written to ``cache_dir/<key>/`` (model.pt and its sha256 sidecar, warmstart.json,
    pass_rates.png) on a miss, loaded on a hit (record["cache_hit"]). An entry whose model.pt does
    not match its sha256 or does not load is logged, removed and retrained, never used."""
    folder = Path(cache_dir) / config.key()
    weights, record_path = folder / "model.pt", folder / "warmstart.json"
    model = GPT(config.model).to(device)
    if record_path.exists():
        state, problem = _read_cached_weights(weights, device)
        if state is not None:
            model.load_state_dict(state)
            model.eval()
            record = json.loads(record_path.read_text())
            return model, {**record, "cache_hit": True, "folder": str(folder)}
        log.warning("warm-start cache entry %s is unusable (%s): removed, training it again", folder, problem)
        shutil.rmtree(folder)
    start = time.perf_counter()
    model = train_supervised(config, device, progress=progress)
    train_seconds = time.perf_counter() - start
    start_point = measure_start_point(model, config, seed=config.seed, max_new_tokens=config.task.max_answer_len + 1)
    record = {"key": config.key(), "config": dataclasses.asdict(config), "params": model.num_params(),
              "device": device.type, "train_seconds": train_seconds,
              "measure_seconds": time.perf_counter() - start - train_seconds, **start_point}
    with atomic_path(weights) as tmp:
        torch.save(model.state_dict(), tmp)
    write_digest(weights)
    plot_pass_rates(record, folder / "pass_rates.png")
    atomic_write_json(record_path, record)  # last: its presence marks a complete cache entry
    return model, {**record, "cache_hit": False, "folder": str(folder)}


def _read_cached_weights(weights: Path, device: torch.device) -> tuple[dict[str, Any] | None, str | None]:
    """(state dict, None) when ``weights`` matches its sha256 sidecar and loads; (None, why) otherwise."""
    problem = digest_problem(weights)
    if problem is not None:
        return None, problem
    try:
        return torch.load(weights, map_location=device, weights_only=True), None
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        return None, f"{weights} does not load: {exc}"
