"""GRPO of any group size on a small LM, in one loop (CleanRL-style): every phase of a step is
visible in order in :func:`train`.

Per step: (1) rollout: a generation batch of prompts, G samples each, scored by the task's
verifier; with 2-GRPO+RS (TT-9) silent groups are replaced by fresh prompts' groups up to a
rollout cap. (2) advantages: ``theory.estimators.compute_advantages`` by name (grpovi with the
warm start's sequence log-probs as weights). (3) update: PPO epochs over mini-batches of prompts,
clipped importance ratios against the behaviour policy, optional k3 KL to the warm start, the loss
aggregated under TRL's names (``gpu_runs.losses``). (4) held-out evaluation, a JSON-lines log row,
an atomic checkpoint.

A group whose advantages are all 0 (a silent group, TT-8) adds exactly 0 to the clipped surrogate
(each ratio multiplies A = 0), so with beta = 0 it needs no forward or backward: its slots in the
loss are filled with the behaviour log-probs (constants), which keeps every loss type's
normaliser (sequences, tokens) what it would be with the full forward. The forward of a group's
prompt is run once and shared by its G completions.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from evidence.io import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    digest_problem,
    remove_with_digest,
    write_digest,
)
from gpu_runs.config import TrainConfig, to_json
from gpu_runs.device import pick_device, set_threads
from gpu_runs.evaluation import completion_texts, heldout_metrics, score
from gpu_runs.losses import LossOutput, k3_kl, policy_loss
from gpu_runs.model import GPT
from gpu_runs.sampling import Samples, completion_logprobs, concat_samples, generate, pad_columns, select_rows
from gpu_runs.tasks import REWARD_RANGE, Problem, build_splits
from gpu_runs.tokenizer import CharTokenizer
from gpu_runs.warmstart import LoadStart, load_or_train
from theory.advantages import silent_groups
from theory.estimators import compute_advantages

log = logging.getLogger(__name__)


class PromptStream:
    """Indices of the training prompts, epoch after epoch, each epoch a permutation seeded by
    (seed, epoch); its state is (epoch, position)."""

    def __init__(self, size: int, seed: int, epoch: int = 0, position: int = 0):
        self.size, self.seed, self.epoch, self.position = size, seed, epoch, position

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            order = np.random.default_rng([self.seed, self.epoch, 11]).permutation(self.size)
            n = min(k - len(out), self.size - self.position)
            out += order[self.position:self.position + n].tolist()
            self.position += n
            if self.position == self.size:
                self.epoch, self.position = self.epoch + 1, 0
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}


@dataclass
class Rollout:
    """G samples of each of P prompts, scored: rows i*G .. i*G + G-1 are prompt i's group."""

    problems: list[Problem]
    samples: Samples
    rewards: np.ndarray  # (P, G) task rewards
    passed: np.ndarray   # (P, G) binary verifier outcomes


def rollout(policy: GPT, tokenizer: CharTokenizer, config: TrainConfig, problems: list[Problem],
            generator: torch.Generator) -> Rollout:
    """G samples of each problem, scored by the task (reward) and its verifier (pass)."""
    device = next(policy.parameters()).device
    ids, mask = tokenizer.pad_left([p.prompt for p in problems], device)
    samples = generate(policy, ids, mask, max_new_tokens=config.max_new_tokens, group_size=config.group_size,
                       temperature=config.temperature, top_p=config.top_p, generator=generator)
    texts = completion_texts(tokenizer, samples)
    task = config.warm_start.task
    return Rollout(problems, samples, score(task, problems, texts, config.group_size, config.reward),
                   score(task, problems, texts, config.group_size, "binary"))


def merge_rollouts(parts: list[Rollout]) -> Rollout:
    return Rollout([p for r in parts for p in r.problems], concat_samples([r.samples for r in parts]),
                   np.concatenate([r.rewards for r in parts]), np.concatenate([r.passed for r in parts]))


def keep_groups(batch: Rollout, groups: np.ndarray, group_size: int) -> Rollout:
    rows = torch.as_tensor((groups[:, None] * group_size + np.arange(group_size)).ravel(),
                           device=batch.samples.prompt_ids.device)
    return Rollout([batch.problems[g] for g in groups], select_rows(batch.samples, rows), batch.rewards[groups],
                   batch.passed[groups])


@torch.no_grad()
def reference_logprobs(reference: GPT, samples: Samples, config: TrainConfig) -> torch.Tensor:
    """log pi_ref(o_t | q, o_<t), (N, Tc), 0 on padding."""
    return completion_logprobs(reference, samples.prompt_ids, samples.prompt_mask, samples.completion_ids,
                               samples.completion_mask, temperature=config.temperature, group_size=config.group_size)


def minibatch_loss(policy: GPT, samples: Samples, advantages: torch.Tensor, ref_logp: torch.Tensor | None,
                   config: TrainConfig, *, skip_zero: bool) -> tuple[LossOutput, int]:
    """(LossOutput, rows forwarded) for one mini-batch of whole groups. With ``skip_zero`` (exact
    when beta = 0), groups whose advantages are all 0 are not forwarded; their log-probs are the
    behaviour ones, constants."""
    G = config.group_size
    old_logp = samples.token_logp
    active = advantages.view(-1, G).ne(0).any(dim=1) if skip_zero else advantages.new_ones(len(advantages) // G).bool()
    rows = (active.nonzero() * G + torch.arange(G, device=advantages.device)).view(-1)  # whole groups
    logp = old_logp
    if rows.numel():
        sub = select_rows(samples, rows, trim=True)
        sub_logp = completion_logprobs(policy, sub.prompt_ids, sub.prompt_mask, sub.completion_ids,
                                       sub.completion_mask, temperature=config.temperature, group_size=G)
        logp = old_logp.index_put((rows,), pad_columns(sub_logp, old_logp.size(1), 0.0, False))
    out = policy_loss(config.loss_type, logp, old_logp, ref_logp, advantages, samples.completion_mask,
                      eps_low=config.eps_low, eps_high=config.eps_high, beta=config.beta,
                      max_completion_length=config.max_new_tokens)
    return out, int(rows.numel())


def read_log(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    """Rows of ``log.jsonl`` with step <= ``up_to_step``; a half-written last line is dropped."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row["step"] <= up_to_step:
                rows.append(row)
    return rows


def append_log(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line to the step log. The one result file written in place, not atomically:
    a run killed mid-append leaves a half line, which :func:`read_log` drops, and a resumed run
    rewrites the log (atomically) up to its checkpoint's step."""
    with path.open("a") as f:
        f.write(json.dumps(row, allow_nan=False) + "\n")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoints/step_*.pt that matches its sha256 sidecar; newer ones that do not
    (truncated, corrupted, or killed before the sidecar was written) are logged and removed."""
    for path in sorted((run_dir / "checkpoints").glob("step_*.pt"), reverse=True):
        problem = digest_problem(path)
        if problem is None:
            return path
        log.warning("checkpoint %s is unusable (%s): removed", path, problem)
        remove_with_digest(path)
    return None


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved in checkpoint ``path`` (checked by :func:`latest_checkpoint`); one that still
    fails to load is a ValueError naming it."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise ValueError(f"checkpoint {path} does not load ({exc}); delete it to restart the run") from exc


def save_checkpoint(run_dir: Path, step: int, state: dict[str, Any]) -> None:
    """checkpoints/step_NNNNNN.pt written atomically, then its sha256 sidecar; older ones removed
    afterwards, so a kill at any point leaves at least one checkpoint that verifies (or none yet)."""
    path = run_dir / "checkpoints" / f"step_{step:06d}.pt"
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_digest(path)
    for old in (run_dir / "checkpoints").glob("step_*.pt"):
        if old != path:
            remove_with_digest(old)


def prepare_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Write config.json, or check that the one there is this config (a resumed run)."""
    path = run_dir / "config.json"
    if path.exists():
        if json.loads(path.read_text()) != to_json(config):
            raise ValueError(f"run directory {run_dir} holds a run of another config; choose another one "
                             "or delete it")
    else:
        atomic_write_json(path, to_json(config))


def train(config: TrainConfig, run_dir: Path, cache_dir: Path, *, load_start: LoadStart = load_or_train,
          progress: bool = True) -> dict[str, Any]:
    """Run (or resume) GRPO as configured in ``run_dir`` (config.json, log.jsonl, checkpoints/,
    summary.json), starting from the policy ``load_start(config.warm_start, cache_dir, device)``
    returns (default: the test bed's supervised warm start, cached in ``cache_dir``). Returns the
    summary."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    prepare_run_dir(run_dir, config)
    device = pick_device(config.device)
    threads = set_threads(config.threads)
    tokenizer = CharTokenizer()
    task = config.warm_start.task
    train_set, heldout = build_splits(task)
    heldout = heldout[:config.eval_prompts]
    start_model, warm_start = load_start(config.warm_start, cache_dir, device, progress=progress)
    policy = copy.deepcopy(start_model).train()
    needs_reference = config.beta > 0 or config.estimator == "grpovi" or config.track_kl
    reference = start_model.requires_grad_(False) if needs_reference else None
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=0.0, fused=True)  # one kernel
    generator = torch.Generator(device=device).manual_seed(config.seed)
    stream = PromptStream(len(train_set), config.seed)
    skip_zero = config.skip_silent and config.beta == 0
    log_path = run_dir / "log.jsonl"
    step, rollouts_total = 0, 0
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None:  # resume: the state after `step`, and the log up to it
        state = load_checkpoint(checkpoint)  # on CPU: the generator state stays there
        policy.load_state_dict(state["policy"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        stream = PromptStream(len(train_set), config.seed, **state["stream"])
        step, rollouts_total = state["step"], state["rollouts_total"]
        atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in read_log(log_path, step)))
    else:
        log_path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        metrics = heldout_metrics(policy, tokenizer, task, heldout, max_new_tokens=config.max_new_tokens,
                                  seed=config.seed, reward_kind=config.reward)
        append_log(log_path, {"step": 0, "rollouts_total": 0, **{f"heldout_{k}": v for k, v in metrics.items()},
                              "time_eval": time.perf_counter() - t0})
    G, P = config.group_size, config.prompts_per_step
    bar = tqdm(total=config.steps, initial=step, desc=f"GRPO G={G}", disable=not progress)
    while step < config.steps:
        step += 1
        t_start = time.perf_counter()

        # 1. rollout: P prompts x G samples; 2-GRPO+RS replaces silent groups while the cap allows
        batch = rollout(policy, tokenizer, config, [train_set[i] for i in stream.take(P)], generator)
        rollouts_step = P * G
        silent_first = float(silent_groups(batch.rewards).mean())
        resampled = 0
        cap = config.resample_rollouts_per_prompt * P
        while config.resample_silent:
            silent = np.flatnonzero(silent_groups(batch.rewards))
            k = min(silent.size, (cap - rollouts_step) // G)
            if k == 0:
                break
            fresh = rollout(policy, tokenizer, config, [train_set[i] for i in stream.take(k)], generator)
            keep = np.setdiff1d(np.arange(P), silent[:k])
            batch = merge_rollouts([keep_groups(batch, keep, G), fresh])
            rollouts_step += k * G
            resampled += k
        rollouts_total += rollouts_step
        t_rollout = time.perf_counter() - t_start

        # 2. advantages from the (P, G) rewards, by the estimator's theory name (counted in the update's time)
        t_update = time.perf_counter()
        ref_logp = reference_logprobs(reference, batch.samples, config) if reference else None
        ref_seq = ref_logp.sum(dim=1).reshape(P, G).cpu().numpy() if ref_logp is not None else None
        advantages = compute_advantages(batch.rewards, config.estimator, std=config.std, eps=config.adv_eps,
                                        reward_range=REWARD_RANGE, ref_log_probs=ref_seq)
        advantages = torch.as_tensor(advantages.ravel(), dtype=torch.float32, device=device)  # (P*G,)

        # 3. update: ppo_epochs passes, each over mini-batches of prompts in a seeded order
        order_rng = np.random.default_rng([config.seed, step, 13])
        stats: dict[str, list[float]] = {"loss": [], "clip_fraction": [], "grad_norm": []}
        rows_forwarded = rows_total = 0
        for _ in range(config.ppo_epochs):
            for groups in order_rng.permutation(P).reshape(-1, config.prompts_per_minibatch):
                rows = torch.as_tensor((groups[:, None] * G + np.arange(G)).ravel(), device=device)
                mb = select_rows(batch.samples, rows)
                mb_ref = ref_logp[rows] if config.beta > 0 else None
                rows_total += rows.numel()
                if skip_zero and not bool(advantages[rows].any()):
                    continue  # every advantage is 0: the loss and its gradient are exactly 0
                out, forwarded = minibatch_loss(policy, mb, advantages[rows], mb_ref, config, skip_zero=skip_zero)
                rows_forwarded += forwarded
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                optimizer.step()
                for name, value in (("loss", out.loss.item()), ("clip_fraction", out.clip_fraction),
                                    ("grad_norm", grad_norm.item())):
                    stats[name].append(value)
        t_update = time.perf_counter() - t_update

        # 4. held-out evaluation, log row, checkpoint
        t_eval = time.perf_counter()
        last = step == config.steps
        metrics = {}
        if step % config.eval_every == 0 or last:
            metrics = heldout_metrics(policy, tokenizer, task, heldout, max_new_tokens=config.max_new_tokens,
                                      seed=config.seed, reward_kind=config.reward)
        t_eval = time.perf_counter() - t_eval
        mask = batch.samples.completion_mask
        row = {
            "step": step,
            "reward_mean": float(batch.rewards.mean()),
            "reward_std": float(batch.rewards.std()),
            "pass_rate": float(batch.passed.mean()),
            "silent_fraction": silent_first,
            "silent_fraction_final": float(silent_groups(batch.rewards).mean()),
            "groups_resampled": resampled,
            "rows_forwarded_fraction": rows_forwarded / max(rows_total, 1),
            "optimizer_steps": len(stats["loss"]),
            **{name: (float(np.mean(v)) if v else None) for name, v in stats.items()},
            "kl": float((k3_kl(batch.samples.token_logp, ref_logp) * mask).sum() / mask.sum()) if reference else None,
            "entropy": float((batch.samples.entropy * mask).sum() / mask.sum()),
            "completion_length": float(mask.sum(dim=1).mean()),
            "rollouts": rollouts_step,
            "rollouts_total": rollouts_total,
            **{f"heldout_{k}": v for k, v in metrics.items()},
            "time_rollout": t_rollout,
            "time_update": t_update,
            "time_eval": t_eval,
            "time_step": time.perf_counter() - t_start,
        }
        append_log(log_path, row)
        if step % config.checkpoint_every == 0 or last:
            save_checkpoint(run_dir, step, {
                "step": step, "rollouts_total": rollouts_total, "stream": stream.state(),
                "policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
            })
        bar.update(1)
        bar.set_postfix(reward=f"{row['reward_mean']:.3f}", silent=f"{row['silent_fraction']:.2f}")
    bar.close()
    rows = read_log(log_path, config.steps)
    evals = [r for r in rows if "heldout_pass_rate" in r]
    summary = {
        "steps": config.steps, "group_size": G, "estimator": config.estimator, "loss_type": config.loss_type,
        "rollouts_total": rollouts_total, "params": policy.num_params(), "device": device.type, "threads": threads,
        "warm_start": {k: warm_start[k] for k in ("key", "folder", "cache_hit", "histogram", "heldout")},
        "start": evals[0] if evals else None,
        "final": evals[-1] if evals else None,
        "seconds": {name: float(sum(r.get(f"time_{name}", 0.0) for r in rows))
                    for name in ("rollout", "update", "eval", "step")},
    }
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
