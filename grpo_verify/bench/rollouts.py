"""Rollout speed: KV-cache sampling against recomputing the whole prefix at every token, side by
side on the ``small`` preset's model (~1M parameters), and the rollout / update share of a GRPO step.

The model is randomly initialised, so (almost) no completion stops before ``max_new_tokens``: both
samplers generate the same number of tokens, from the same seed, and are checked to return the
same tokens. torch is imported inside the functions: the CLI's entry chooses the OpenMP wait policy
(``gpu_runs.cores.configure_omp_wait_policy``) before torch loads.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from grpo_verify.bench import BenchReport

THREADS = 2


def time_sampler(model, ids, mask, *, group_size: int, new_tokens: int, use_cache: bool,
                 repeats: int) -> tuple[float, list[list[int]]]:
    """(median seconds of ``repeats`` calls after a warm-up call, completion ids of the last one)."""
    import torch

    from gpu_runs.sampling import generate

    seconds = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = generate(model, ids, mask, max_new_tokens=new_tokens, group_size=group_size, use_cache=use_cache,
                       generator=torch.Generator().manual_seed(0))
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds[1:]), out.completion_ids.tolist()


def step_shares(steps: int) -> dict[str, float]:
    """Mean seconds of rollout and update per GRPO step of the ``small`` preset at G = 16 (partial-credit
    reward, so every group carries signal), after a warm-up step."""
    from gpu_runs.config import preset
    from gpu_runs.trainer import train

    base = preset("small")
    config = dataclasses.replace(base, warm_start=dataclasses.replace(base.warm_start, steps=1, probe_prompts=1,
                                                                      probe_samples=1),
                                 steps=steps, reward="partial", track_kl=False, eval_every=10_000,
                                 checkpoint_every=10_000, eval_prompts=16, threads=THREADS, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        train(config, Path(tmp) / "run", Path(tmp) / "cache", progress=False)
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "log.jsonl").read_text().splitlines()][2:]
    return {name: statistics.mean(r[f"time_{name}"] for r in rows) for name in ("rollout", "update")}


def run(quick: bool = False) -> BenchReport:
    import torch

    from gpu_runs.config import preset
    from gpu_runs.device import set_threads
    from gpu_runs.model import GPT
    from gpu_runs.tasks import build_splits
    from gpu_runs.tokenizer import CharTokenizer

    set_threads(THREADS)
    config = preset("small")
    torch.manual_seed(0)
    model = GPT(config.warm_start.model).eval()
    train, _ = build_splits(config.warm_start.task)
    repeats = 2 if quick else 5
    new_tokens = config.warm_start.model.block_size - config.warm_start.task.max_prompt_len
    rows, ratios = [], {}
    for prompts, group_size in ((16, 16), (128, 2)):
        ids, mask = CharTokenizer().pad_left([p.prompt for p in train[:prompts]])
        tokens = prompts * group_size * new_tokens
        cached, a = time_sampler(model, ids, mask, group_size=group_size, new_tokens=new_tokens, use_cache=True,
                                 repeats=repeats)
        full, b = time_sampler(model, ids, mask, group_size=group_size, new_tokens=new_tokens, use_cache=False,
                               repeats=repeats)
        same = a == b
        ratios[group_size] = full / cached
        for name, seconds in (("KV cache (prefill once per group)", cached), ("recompute the prefix", full)):
            rows.append({"sampler": name, "batch": f"{prompts} prompts x G={group_size}", "new tokens": new_tokens,
                         "seconds": f"{seconds:.3f}", "tokens/s": f"{tokens / seconds:.0f}",
                         "speed-up": f"{full / seconds:.2f}x", "same tokens": same})
    shares = step_shares(3 if quick else 6)
    total = shares["rollout"] + shares["update"]
    return BenchReport(
        title=f"Rollouts of the small preset ({model.num_params():,} parameters, random init), {THREADS} threads, CPU",
        columns=("sampler", "batch", "new tokens", "seconds", "tokens/s", "speed-up", "same tokens"),
        rows=rows,
        targets={f"KV cache >= 3x recomputation (G={G})": r >= 3.0 for G, r in ratios.items()},
        notes=(f"a GRPO step of the small preset (G=16 x 16 prompts, partial-credit reward, no silent group): "
               f"rollout {shares['rollout']:.3f} s ({shares['rollout'] / total:.0%}), update "
               f"{shares['update']:.3f} s ({shares['update'] / total:.0%})",
               f"median of {repeats} calls after a warm-up; timings on a shared machine are noisy"),
    )
