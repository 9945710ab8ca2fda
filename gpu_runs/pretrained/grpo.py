"""GRPO on a pretrained Hugging Face LM (issue 16, item 5): sample G completions of each prompt, reward them,
update the trainable parameters (:mod:`gpu_runs.pretrained.trainable`) once per batch.

One step, in order:

1. Rollout: Q prompts x G completions at temperature T, KV cache with one prefill per prompt
   (:func:`gpu_runs.pretrained.chat.sample_completions`); rewards r in {0, 1} from the decoded text
   (:mod:`gpu_runs.pretrained.arithmetic`).
2. Advantages per group: A_i = (r_i - mean(r)) / (std(r) + eps), sample std (TRL's ``scale_rewards="group"``);
   a silent group (all rewards equal) has A = 0 exactly (:func:`theory.advantages.group_advantages`).
3. Update: the GRPO loss of :func:`gpu_runs.losses.policy_loss` (TRL 1.16's ``_compute_loss``) with
   old_logp = logp.detach() (one update per batch: rho = 1, the clip inactive, gradient -A grad log pi / norm),
   beta = 0 (no reference model: TRL's default). Silent groups are skipped: their completions enter neither the
   forward nor the backward, which changes nothing, since their loss and gradient are exactly 0, while the
   normaliser still counts them (``dapo``: every completion token of the batch; ``grpo``: every completion), so the
   update equals the full batch's. Log-probs are recomputed with dropout off (the model stays in ``eval()``):
   the prompt of a group runs forward once, its keys and values are shared by the group's G completions
   (:func:`group_logprobs`), in micro-batches of whole groups whose gradients add up to the batch's.
   Then the gradient's global norm is clipped to ``max_grad_norm`` and AdamW takes one step; the learning rate
   decays linearly to 0 over the run (TRL's defaults, see :mod:`gpu_runs.pretrained.trainable`).

Every draw is seeded: the step's rollouts from ``[seed, STREAM, step]``; the same seed, sizes and thread count
give the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from gpu_runs.losses import policy_loss
from gpu_runs.pretrained import arithmetic, chat
from gpu_runs.pretrained.chat import Completions
from gpu_runs.pretrained.models import LanguageModel
from gpu_runs.pretrained.probe import PromptFormat
from gpu_runs.pretrained.trainable import Trainable, count_trainable, make_trainable, trainable_parameters
from theory.advantages import group_advantages, silent_groups
from theory.validation import check_choice

STREAM = 1605
"""Seed stream of the GRPO runs (issue 16, item 5)."""
LOSS_TYPES = ("dapo", "grpo")
"""``dapo``: sum of token losses / completion tokens of the batch (TRL 1.16's default); ``grpo``: each completion's
mean token loss, averaged over the batch's completions (the from-scratch trainer's)."""


@dataclass(frozen=True)
class GRPOSettings:
    """One GRPO run: ``group_size`` G, ``prompts_per_step`` Q (Q G completions per step), ``steps``,
    ``max_new_tokens``, ``learning_rate`` (AdamW, linear decay to 0), the ``trainable`` mode; TRL 1.16's defaults
    for ``max_grad_norm``, the clip ``epsilon`` (both sides), AdamW's betas/eps/weight decay and ``loss_type``;
    ``reward`` kind, sampling ``temperature``, ``prompts_per_batch`` per generate call and ``rows_per_microbatch``
    (completions per backward, whole groups)."""

    group_size: int
    prompts_per_step: int
    steps: int
    max_new_tokens: int
    learning_rate: float
    trainable: Trainable
    reward: str = "answer"
    temperature: float = 1.0
    max_grad_norm: float = 1.0
    epsilon: float = 0.2
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    loss_type: str = "dapo"
    prompts_per_batch: int = 8
    rows_per_microbatch: int = 64

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(f"group_size={self.group_size} must be >= 2 (a group of one has no baseline)")
        for name in ("prompts_per_step", "steps", "max_new_tokens", "prompts_per_batch", "rows_per_microbatch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be an integer >= 1")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate} must lie in (0, 1)")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm={self.max_grad_norm} must be > 0")
        if not self.temperature > 0:
            raise ValueError(f"temperature={self.temperature} must be > 0")
        check_choice("reward", self.reward, arithmetic.REWARDS)
        check_choice("loss_type", self.loss_type, LOSS_TYPES)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "trainable": asdict(self.trainable)}


@dataclass(frozen=True)
class UpdateStats:
    """One optimizer step: the batch's ``loss`` (summed over micro-batches), the gradient's global norm before
    clipping, the share of ``silent`` groups (skipped), the completions that entered the backward."""

    loss: float
    grad_norm: float
    silent_fraction: float
    rows_updated: int


def step_seed(seed: int, step: int) -> int:
    """The rollout seed of ``step`` of the run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, STREAM, step]).generate_state(1)[0])


def make_optimizer(model: torch.nn.Module, settings: GRPOSettings) -> tuple[torch.optim.Optimizer,
                                                                            torch.optim.lr_scheduler.LRScheduler]:
    """AdamW on the trainable parameters and the linear decay lr_t = lr (1 - t / steps) (TRL's defaults)."""
    params = [p for _, p in trainable_parameters(model)]
    if not params:
        raise ValueError("the model has no trainable parameter; call trainable.make_trainable first")
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, betas=settings.adam_betas, eps=settings.adam_eps,
                                  weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: max(0.0, 1.0 - t / settings.steps))
    return optimizer, schedule


def trim_left(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the columns that are padding in every row of left-padded ``ids`` (B, T) / ``mask`` (B, T)."""
    first = int((mask.sum(0) > 0).float().argmax())
    return ids[:, first:], mask[:, first:]


def group_logprobs(model: torch.nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                   completion_ids: torch.Tensor, mask: torch.Tensor, group_size: int) -> torch.Tensor:
    """log pi(o_t | q, o_<t) (N, Tc) of completions whose rows come in groups of ``group_size`` sharing one prompt
    (row g G + j: completion j of prompt g), 0 where ``mask`` is 0; differentiable. Each prompt runs forward once;
    its keys and values are repeated for its G completions, which run forward on that cache: the same numbers as
    :func:`gpu_runs.pretrained.chat.completion_logprobs` on [prompt | completion] at a fraction of the cost."""
    if model.training:
        raise ValueError("model is in train mode; log-probs are those of the policy, with dropout off (eval())")
    N, G = completion_ids.size(0), group_size
    if N % G:
        raise ValueError(f"{N} completions do not split into groups of group_size={G}")
    ids, pmask = trim_left(prompt_ids[::G], prompt_mask[::G])  # (N / G, Tp): one row per group
    if not torch.equal(prompt_ids[:, -ids.size(1):], ids.repeat_interleave(G, 0)):
        raise ValueError(f"the rows of a group of group_size={G} do not share their prompt")
    decoder = model.get_decoder()
    prompt = decoder(input_ids=ids, attention_mask=pmask, position_ids=chat.positions_of(pmask), use_cache=True)
    cache = prompt.cache
    cache.batch_repeat_interleave(G)  # (N, heads, Tp, d) per layer, still on the graph
    attention = torch.cat([pmask.repeat_interleave(G, 0), mask], dim=1)  # (N, Tp + Tc)
    positions = chat.positions_of(attention)[:, ids.size(1):]
    completion = decoder(input_ids=completion_ids, attention_mask=attention, position_ids=positions, cache=cache,
                         use_cache=True)
    hidden = torch.cat([prompt.last_hidden_state[:, -1:].repeat_interleave(G, 0), completion.last_hidden_state],
                       dim=1)  # (N, 1 + Tc, H): the state before each completion token, and one after the last
    return chat.logprobs_from_hidden(model, hidden, completion_ids, mask)


def grpo_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, completions: Completions,
                rewards: NDArray[np.float64], settings: GRPOSettings) -> UpdateStats:
    """One GRPO optimizer step on ``completions`` (rows in groups of G, see :func:`group_logprobs`) with
    ``rewards`` (N,): the module docstring's step 2 and 3. The caller steps the learning-rate schedule."""
    G = settings.group_size
    N = len(completions)
    if rewards.shape != (N,) or N % G:
        raise ValueError(f"rewards has shape {rewards.shape}; it must be ({N},) with {N} a multiple of G={G}")
    grouped = rewards.reshape(-1, G)
    silent = silent_groups(grouped)
    advantages = torch.as_tensor(group_advantages(grouped, "grpo", "sample").ravel(), dtype=torch.float32)
    total_tokens = float(completions.completion_mask.sum())
    active = np.flatnonzero(~silent)  # groups that carry a gradient
    per_micro = max(1, settings.rows_per_microbatch // G)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for start in range(0, active.size, per_micro):
        rows = (active[start:start + per_micro, None] * G + np.arange(G)).ravel()
        batch = completions.select(rows)
        ids, pmask = trim_left(batch.prompt_ids, batch.prompt_mask)
        logp = group_logprobs(model, ids, pmask, batch.completion_ids, batch.completion_mask, G)  # (n, Tc)
        A = advantages[torch.as_tensor(rows)]
        out = policy_loss(settings.loss_type, logp, logp.detach(), None, A, batch.completion_mask.float(),
                          eps_low=settings.epsilon, eps_high=settings.epsilon, num_items_in_batch=total_tokens)
        loss = out.loss if settings.loss_type == "dapo" else out.loss * (rows.size / N)  # grpo: mean over all N
        loss.backward()
        loss_sum += float(loss.detach())
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)) if params else 0.0
    optimizer.step()  # every group silent: no gradient, and the optimizer passes over parameters without one
    optimizer.zero_grad(set_to_none=True)
    return UpdateStats(loss_sum, grad_norm, float(silent.mean()), int(active.size * G))


def render(lm: LanguageModel, problems: Sequence[arithmetic.Problem], prompt_format: PromptFormat) -> list[str]:
    """The problems' chat prompts."""
    return chat.render_prompts(lm, [p.question for p in problems], prompt_format.system, prompt_format.examples)


def rollout(lm: LanguageModel, problems: Sequence[arithmetic.Problem], samples: int, *, prompt_format: PromptFormat,
            max_new_tokens: int, seed: int, reward: str, temperature: float = 1.0,
            prompts_per_batch: int = 8) -> tuple[Completions, NDArray[np.float64]]:
    """``samples`` completions of each problem (rows in groups, see :func:`group_logprobs`) and their rewards."""
    completions = chat.sample_completions(lm, render(lm, problems, prompt_format), samples,
                                          max_new_tokens=max_new_tokens, seed=seed, temperature=temperature,
                                          prompts_per_batch=prompts_per_batch)
    answers = np.array([problems[i].answer for i in completions.prompt_index], dtype=np.float64)
    return completions, arithmetic.rewards(completions.texts, answers, reward)


def pass_rate(lm: LanguageModel, problems: Sequence[arithmetic.Problem], samples: int, *,
              prompt_format: PromptFormat, max_new_tokens: int, seed: int, reward: str,
              prompts_per_batch: int = 8) -> float:
    """Mean reward of ``samples`` completions per problem at T = 1: the pass rate mean_q p_q of the problems."""
    _, r = rollout(lm, problems, samples, prompt_format=prompt_format, max_new_tokens=max_new_tokens, seed=seed,
                   reward=reward, prompts_per_batch=prompts_per_batch)
    return float(r.mean())


def train(lm: LanguageModel, settings: GRPOSettings, problems: Sequence[arithmetic.Problem], *,
          prompt_format: PromptFormat, seed: int,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> tuple[LanguageModel, list[dict[str, Any]]]:
    """GRPO for ``settings.steps`` steps on ``problems`` (step t takes problems [t Q, (t + 1) Q)), starting from
    ``lm``'s weights, which are left untouched (the run trains a copy). Returns the trained model (its ``model``
    has the trainable mode applied) and one log row per step; ``on_step`` is called with each row."""
    import copy

    Q = settings.prompts_per_step
    if len(problems) < settings.steps * Q:
        raise ValueError(f"problems has {len(problems)} entries; {settings.steps} steps x {Q} prompts need "
                         f"{settings.steps * Q}")
    model = make_trainable(copy.deepcopy(lm.model), settings.trainable, seed)
    policy = replace(lm, model=model)
    optimizer, schedule = make_optimizer(model, settings)
    log: list[dict[str, Any]] = []
    for step in range(settings.steps):
        clock = time.perf_counter()
        completions, rewards = rollout(policy, problems[step * Q:(step + 1) * Q], settings.group_size,
                                       prompt_format=prompt_format, max_new_tokens=settings.max_new_tokens,
                                       seed=step_seed(seed, step), reward=settings.reward,
                                       temperature=settings.temperature, prompts_per_batch=settings.prompts_per_batch)
        sampled = time.perf_counter()
        lr = schedule.get_last_lr()[0]
        stats = grpo_update(model, optimizer, completions, rewards, settings)
        schedule.step()
        done = time.perf_counter()
        row = {"step": step + 1, "reward_mean": float(rewards.mean()), "rollouts": (step + 1) * Q * settings.group_size,
               "learning_rate": lr, **asdict(stats), "seconds_rollout": sampled - clock,
               "seconds_update": done - sampled}
        log.append(row)
        if on_step is not None:
            on_step(row)
    return policy, log


def trainable_count(lm: LanguageModel, trainable: Trainable) -> int:
    """Trainable weights of ``lm`` under ``trainable`` (counted on a copy)."""
    import copy

    return count_trainable(make_trainable(copy.deepcopy(lm.model), trainable))
