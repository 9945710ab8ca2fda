"""Configurations as frozen dataclasses, validated on construction: the model (:class:`GPTConfig`),
the supervised warm start (:class:`WarmStartConfig`), the GRPO run (:class:`TrainConfig`, whose
fields are the papers' hyperparameters), and the presets ``tiny`` (~0.1M parameters), ``small``
(~1M) and ``gpu`` (~14M), named by the model they train; ``llm train`` and ``llm experiment`` take
the same names for the same models.

Imports no torch: the CLI builds its options from this module and stays fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpu_runs.tasks import ALPHABET, REWARDS, TASKS, TaskConfig
from theory.advantages import STD_MODES
from theory.estimators import ALL_ESTIMATORS
from theory.validation import check_choice, check_group_size, check_integer, check_real

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = len(ALPHABET) + 2  # characters + PAD + EOS (gpu_runs.tokenizer)
    block_size: int = 32     # longest prompt + completion, in tokens
    n_layer: int = 5         # transformer blocks
    n_head: int = 4          # attention heads per block
    n_embd: int = 128        # residual stream width; must be a multiple of n_head
    dropout: float = 0.0     # RL needs the same policy for sampling and training: keep 0 there

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_integer(name, getattr(self, name), 1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class WarmStartConfig:
    model: GPTConfig = field(default_factory=GPTConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    steps: int = 3000           # optimizer steps of supervised training
    batch_size: int = 256       # sequences per step, drawn fresh (held-out prompts excluded)
    lr: float = 2e-3            # AdamW peak learning rate, cosine decay to lr / 10
    warmup_steps: int = 100     # linear warm-up
    label_noise: float = 0.1    # P(an answer character of a noisy target is replaced by a uniform digit)
    noisy_fraction: float = 0.33  # the last share of steps trains on noisy targets (clean first: learns faster)
    seed: int = 0               # init and data order of the warm start (not the RL seed)
    probe_prompts: int = 512    # training prompts whose pass rate is measured
    probe_samples: int = 32     # T = 1 rollouts per probed prompt

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "probe_prompts", "probe_samples"):
            check_integer(name, getattr(self, name), 1)
        for name in ("warmup_steps", "seed"):
            check_integer(name, getattr(self, name), 0)
        check_real("lr", self.lr, 0.0, low_open=True)
        check_real("label_noise", self.label_noise, 0.0, 1.0, high_open=True)
        check_real("noisy_fraction", self.noisy_fraction, 0.0, 1.0)
        needed = self.task.max_prompt_len + self.task.max_answer_len + 1
        if self.model.block_size < needed:
            raise ValueError(f"block_size={self.model.block_size} must be >= {needed} (prompt + answer + EOS)")

    def key(self) -> str:
        """16 hex digits of sha256 over the config: the cache folder's name."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _loss_types() -> tuple[str, ...]:
    from gpu_runs.losses import LOSS_TYPES  # torch is imported by the trainer anyway; keep this module light

    return LOSS_TYPES


@dataclass(frozen=True)
class TrainConfig:
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)  # model, task and supervised start
    steps: int = 200                   # RL steps; each samples one generation batch
    group_size: int = 16               # G: rollouts per prompt (TRL: num_generations)
    prompts_per_step: int = 16         # prompts per generation batch
    prompts_per_minibatch: int = 16    # prompts per optimizer step; must divide prompts_per_step
    ppo_epochs: int = 1                # passes over each generation batch (mu)
    lr: float = 1e-4                   # AdamW learning rate (constant)
    max_grad_norm: float = 1.0         # gradient clipping (TRL's default)
    estimator: str = "grpo"            # advantage estimator, by its theory name (grpo, dr_grpo, rloo, grpovi, ...)
    std: str = "sample"                # std of grpo: sample (TRL, verl) or population (the papers' analysis)
    adv_eps: float = 1e-4              # eps added to the std (TRL: 1e-4)
    loss_type: str = "grpo"            # loss aggregation, TRL's names: grpo, bnpo, dr_grpo, dapo
    reward: str = "binary"             # binary verifier, or partial credit in [0, 1] (continuous, for GRPOVI)
    eps_low: float = 0.2               # ratio clipped below at 1 - eps_low (TT: 0.2)
    eps_high: float = 0.28             # ratio clipped above at 1 + eps_high (TT: 0.28)
    beta: float = 0.0                  # coefficient of the k3 KL to the warm start (0: no KL term)
    temperature: float = 1.0           # sampling temperature; log-probs are those of the tempered policy
    top_p: float = 1.0                 # nucleus sampling mass
    max_new_tokens: int = 8            # completion length cap, EOS included
    resample_silent: bool = False      # 2-GRPO+RS: replace each silent group by a fresh prompt's group
    resample_rollouts_per_prompt: int = 16  # RS cap: at most this many rollouts per prompt of the step (TT: 16-GRPO's)
    skip_silent: bool = True           # no forward/backward for rows with A = 0 (exact when beta = 0)
    track_kl: bool = True              # measure KL to the warm start every step (one no-grad forward)
    eval_every: int = 20               # held-out evaluation every this many steps (and at the end)
    eval_prompts: int = 2048           # held-out prompts evaluated (at most the task's heldout_size)
    checkpoint_every: int = 20         # checkpoint every this many steps (and at the end)
    seed: int = 0                      # RL seed: sampling, data order, mini-batch order
    device: str = "auto"               # auto (CUDA when present), cpu or cuda
    threads: int = 0                   # torch threads on CPU (0: every core this process may use)

    def __post_init__(self) -> None:
        check_group_size("group_size", self.group_size)
        for name in ("steps", "prompts_per_step", "prompts_per_minibatch", "ppo_epochs", "max_new_tokens",
                     "eval_every", "eval_prompts", "checkpoint_every"):
            check_integer(name, getattr(self, name), 1)
        if self.prompts_per_step % self.prompts_per_minibatch:
            raise ValueError(f"prompts_per_minibatch={self.prompts_per_minibatch} must divide "
                             f"prompts_per_step={self.prompts_per_step}")
        check_choice("estimator", self.estimator, ALL_ESTIMATORS)
        check_choice("std", self.std, STD_MODES)
        check_choice("loss_type", self.loss_type, _loss_types())
        check_choice("reward", self.reward, REWARDS)
        check_choice("device", self.device, DEVICES)
        for name in ("lr", "max_grad_norm", "temperature"):
            check_real(name, getattr(self, name), 0.0, low_open=True)
        for name in ("adv_eps", "eps_high", "beta"):
            check_real(name, getattr(self, name), 0.0)
        check_real("eps_low", self.eps_low, 0.0, 1.0, high_open=True)
        check_real("top_p", self.top_p, 0.0, 1.0, low_open=True)
        check_integer("resample_rollouts_per_prompt", self.resample_rollouts_per_prompt, 1)
        if self.resample_rollouts_per_prompt < self.group_size:
            raise ValueError(f"resample_rollouts_per_prompt={self.resample_rollouts_per_prompt} must be >= "
                             f"group_size={self.group_size}")
        check_integer("threads", self.threads, 0)
        check_integer("seed", self.seed, 0)
        task = self.warm_start.task
        if self.prompts_per_step > task.train_size:
            raise ValueError(f"prompts_per_step={self.prompts_per_step} must be <= train_size={task.train_size}")
        if self.eval_prompts > task.heldout_size:
            raise ValueError(f"eval_prompts={self.eval_prompts} must be <= heldout_size={task.heldout_size}")
        if self.warm_start.model.block_size < task.max_prompt_len + self.max_new_tokens:
            raise ValueError(f"block_size={self.warm_start.model.block_size} must be >= longest prompt "
                             f"{task.max_prompt_len} + max_new_tokens={self.max_new_tokens}")

    @property
    def rollouts_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


def with_group_size(config: TrainConfig, group_size: int, rollouts_per_step: int | None = None,
                    rollouts_per_minibatch: int | None = None) -> TrainConfig:
    """``config`` at group size G with the given rollouts per generation batch and per mini-batch
    (default: those of ``config``), so prompts = rollouts / G: TT's comparison, where 2-GRPO
    takes 8x the prompts of 16-GRPO per step."""
    check_group_size("group_size", group_size)
    per_step = config.rollouts_per_step if rollouts_per_step is None else rollouts_per_step
    per_minibatch = (config.prompts_per_minibatch * config.group_size if rollouts_per_minibatch is None
                     else rollouts_per_minibatch)
    for name, value in (("rollouts_per_step", per_step), ("rollouts_per_minibatch", per_minibatch)):
        check_integer(name, value, group_size)
        if value % group_size:
            raise ValueError(f"{name}={value} must be a positive multiple of group_size={group_size}")
    return dataclasses.replace(config, group_size=group_size, prompts_per_step=per_step // group_size,
                               prompts_per_minibatch=per_minibatch // group_size)


def to_json(config: TrainConfig) -> dict[str, Any]:
    """The config as JSON-ready nested dicts (tuples become lists)."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


def _check_fields(name: str, data: Any, cls: type) -> dict[str, Any]:
    """``data`` as a dict holding exactly the fields of the dataclass ``cls`` (no default fills a gap)."""
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be an object of {cls.__name__}'s fields, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    missing, unknown = sorted(fields - data.keys()), sorted(data.keys() - fields)
    if missing or unknown:
        raise ValueError(f"{name} must hold exactly {cls.__name__}'s fields; missing: {', '.join(missing) or '-'}; "
                         f"unknown: {', '.join(map(str, unknown)) or '-'}")
    return data


def from_json(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`to_json`. A malformed config (not an object, a field missing, unknown or of the
    wrong type, as in a truncated or hand-edited config.json) is a ValueError naming the field."""
    data = _check_fields("data", data, TrainConfig)
    ws = _check_fields("warm_start", data["warm_start"], WarmStartConfig)
    model = _check_fields("model", ws["model"], GPTConfig)
    task = _check_fields("task", ws["task"], TaskConfig)
    try:
        task = TaskConfig(**{**task, "difficulties": tuple(task["difficulties"])})
        warm_start = WarmStartConfig(**{**ws, "model": GPTConfig(**model), "task": task})
        return TrainConfig(**{**data, "warm_start": warm_start})
    except TypeError as exc:  # a value of the wrong type where a check compares it
        raise ValueError(f"data must be a TrainConfig as to_json writes it: {exc}") from None


def task_config(task: str, addition: tuple[int, ...], train_size: int, heldout_size: int) -> TaskConfig:
    """Difficulties ``addition`` for addition; sorting lists are 2 digits longer (enough distinct prompts)."""
    difficulties = addition if task == "addition" else tuple(d + 2 for d in addition)
    return TaskConfig(name=task, difficulties=difficulties, train_size=train_size, heldout_size=heldout_size)


def tiny(task: str = "addition") -> TrainConfig:
    """About 0.1M parameters, numbers of 2-3 digits, 256 training prompts (TT-9's 10 epochs fit a
    few minutes), one thread (its matrices are too small to split): a minute on a laptop core."""
    return TrainConfig(
        warm_start=WarmStartConfig(
            model=GPTConfig(block_size=16, n_layer=2, n_head=4, n_embd=64),
            task=task_config(task, (2, 3), train_size=256, heldout_size=2048),
            steps=500, batch_size=128, lr=1e-2, warmup_steps=50, probe_prompts=128, probe_samples=16,
        ),
        steps=4, group_size=16, prompts_per_step=8, prompts_per_minibatch=4, lr=1e-4, max_new_tokens=5,
        eval_every=4, eval_prompts=256, checkpoint_every=2, threads=1,
    )


def small(task: str = "addition") -> TrainConfig:
    """About 1M parameters, the task of ``tiny`` (numbers of 2-3 digits, 256 training prompts: the
    scale ladder of TT-9 changes the model only): a warm start of a few minutes on one core."""
    return TrainConfig(
        warm_start=WarmStartConfig(
            model=GPTConfig(block_size=16, n_layer=5, n_head=4, n_embd=128),
            task=task_config(task, (2, 3), train_size=256, heldout_size=2048),
            steps=1000, batch_size=128, lr=5e-3,
        ),
        steps=200, group_size=16, prompts_per_step=16, prompts_per_minibatch=16, lr=1e-4, max_new_tokens=5,
        eval_every=20, eval_prompts=2048, checkpoint_every=20,
    )


def gpu(task: str = "addition") -> TrainConfig:
    """About 14M parameters, numbers of 2-6 digits, 2048 training prompts (TT-9's 10 epochs: 640 steps
    of 32 x 16): for one GPU."""
    return TrainConfig(
        warm_start=WarmStartConfig(
            model=GPTConfig(block_size=32, n_layer=8, n_head=6, n_embd=384),
            task=task_config(task, (2, 3, 4, 5, 6), train_size=2048, heldout_size=4096),
            steps=6000, batch_size=512, lr=1e-3, probe_prompts=1024, probe_samples=64,
        ),
        steps=500, group_size=16, prompts_per_step=32, prompts_per_minibatch=32, lr=3e-5, max_new_tokens=8,
        eval_every=25, eval_prompts=4096, checkpoint_every=25,
    )


PRESETS: dict[str, Callable[[str], TrainConfig]] = {"tiny": tiny, "small": small, "gpu": gpu}
"""The model presets by name, the same in every command (``llm train``, ``llm experiment``, the benchmarks)."""


def preset(name: str, task: str = "addition") -> TrainConfig:
    """The named preset (``tiny``, ``small`` or ``gpu``) for ``task``."""
    check_choice("preset", name, PRESETS)
    check_choice("task", task, TASKS)
    return PRESETS[name](task)
