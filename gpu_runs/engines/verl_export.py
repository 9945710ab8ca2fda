"""An arm of TT-9 as verl 0.9 Hydra overrides (every key exists in ``verl/trainer/config/_generated_ppo_trainer.yaml``)
and a launch line of ``python3 -m verl.trainer.main_ppo``.

Mapping (:mod:`gpu_runs.engines.arms`; TT ran verl, so most settings are verl's own):

    GRPO, std-normalised        -> algorithm.adv_estimator=grpo, algorithm.norm_adv_by_std_in_grpo=true
    group size G                -> actor_rollout_ref.rollout.n
    prompts per mini-batch      -> actor_rollout_ref.actor.ppo_mini_batch_size (verl counts prompts and
                                   multiplies by n itself); data.train_batch_size = prompts per rollout step
                                   (default: one mini-batch, one optimizer step per rollout step)
    lr, constant, 10 warm-up    -> actor_rollout_ref.actor.optim.{lr, lr_scheduler_type=constant,
                                   lr_warmup_steps=10}; Adam: optim.weight_decay=0.0
    10 epochs                   -> trainer.total_epochs=10
    what ``grpo-verify ingest`` reads -> trainer.rollout_data_dir=RUN_DIR/rollouts and verl's file logger
                                   (trainer.logger=[console,file], VERL_FILE_LOGGER_PATH=RUN_DIR/metrics.jsonl)

2-GRPO+RS maps only in part: ``algorithm.filter_groups`` (DAPO's dynamic sampling, metric ``reward``) drops a
group whose rewards are all equal and refills the batch with fresh prompts' groups, as RS does; TT's cap at
16-GRPO's rollouts cannot be expressed: verl 0.9.1's built-in V1 replay buffer ignores
``filter_groups.max_num_gen_batches`` (it says so in a warning), so the refill is not bounded by a budget.
"""

from __future__ import annotations

import shlex

from gpu_runs.engines.arms import TT_EPOCHS, TT_WARMUP_STEPS, ArmSpec, arm_spec

RS_CAVEAT = ("2-GRPO+RS maps in part: algorithm.filter_groups drops silent groups and refills the batch with fresh "
             "prompts' groups; TT's cap at 16-GRPO's rollouts is not expressible (verl 0.9.1's V1 replay buffer "
             "ignores filter_groups.max_num_gen_batches)")


def verl_overrides(arm: str | ArmSpec, *, model: str, train_files: str, val_files: str | None = None,
                   run_dir: str, prompts_per_step: int | None = None, seed: int = 0) -> list[str]:
    """Hydra overrides ``key=value`` of ``arm`` (module docstring), in verl's own key names."""
    spec = arm if isinstance(arm, ArmSpec) else arm_spec(arm)
    per_step = prompts_per_step or spec.prompts_per_minibatch
    if isinstance(per_step, bool) or not isinstance(per_step, int) or per_step % spec.prompts_per_minibatch:
        raise ValueError(f"prompts_per_step={per_step!r} must be a positive multiple of the arm's "
                         f"{spec.prompts_per_minibatch} prompts per mini-batch")
    overrides = {
        "algorithm.adv_estimator": "grpo",
        "algorithm.norm_adv_by_std_in_grpo": "true",
        "algorithm.use_kl_in_reward": "false",
        "actor_rollout_ref.model.path": model,
        "actor_rollout_ref.rollout.n": spec.group_size,
        "data.train_files": train_files,
        "data.val_files": val_files or train_files,
        "data.train_batch_size": per_step,
        "data.seed": seed,
        "actor_rollout_ref.actor.ppo_mini_batch_size": spec.prompts_per_minibatch,
        "actor_rollout_ref.actor.ppo_epochs": 1,
        "actor_rollout_ref.actor.use_kl_loss": "false",
        "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
        "actor_rollout_ref.actor.optim.lr": spec.lr,
        "actor_rollout_ref.actor.optim.lr_scheduler_type": "constant",
        "actor_rollout_ref.actor.optim.lr_warmup_steps": TT_WARMUP_STEPS,
        "actor_rollout_ref.actor.optim.weight_decay": 0.0,
        "trainer.total_epochs": TT_EPOCHS,
        "trainer.project_name": "grpo-verify",
        "trainer.experiment_name": spec.key,
        "trainer.logger": "[console,file]",
        "trainer.rollout_data_dir": f"{run_dir}/rollouts",
    }
    if spec.resample_silent:
        overrides |= {"algorithm.filter_groups.enable": "true", "algorithm.filter_groups.metric": "reward"}
    return [f"{key}={value}" for key, value in overrides.items()]


def verl_launch(arm: str, *, model: str, train_files: str, val_files: str | None = None, run_dir: str,
                prompts_per_step: int | None = None, seed: int = 0) -> str:
    """A shell script: comments on the arm, then ``VERL_FILE_LOGGER_PATH=RUN_DIR/metrics.jsonl python3 -m
    verl.trainer.main_ppo OVERRIDES`` (add your reward and cluster settings)."""
    spec = arm_spec(arm)
    overrides = verl_overrides(spec, model=model, train_files=train_files, val_files=val_files, run_dir=run_dir,
                               prompts_per_step=prompts_per_step, seed=seed)
    lines = ["#!/usr/bin/env bash",
             f"# {spec.title}: G = {spec.group_size}, {spec.prompts_per_minibatch} prompts x {spec.group_size} per "
             f"mini-batch, lr {spec.lr:g} constant after {TT_WARMUP_STEPS} warm-up steps, {TT_EPOCHS} epochs "
             "(TT-9's settings)."]
    if spec.note:
        lines.append(f"# Note: {spec.note}.")
    if spec.resample_silent:
        lines.append(f"# {RS_CAVEAT}.")
    lines += ["# Add your reward (custom_reward_function.path=...) and cluster settings (trainer.n_gpus_per_node=...).",
              f"# Check: grpo-verify ingest {run_dir}",
              f"VERL_FILE_LOGGER_PATH={shlex.quote(run_dir + '/metrics.jsonl')} python3 -m verl.trainer.main_ppo \\"]
    lines += [f"    {shlex.quote(o)} \\" for o in overrides[:-1]] + [f"    {shlex.quote(overrides[-1])}"]
    return "\n".join(lines) + "\n"
