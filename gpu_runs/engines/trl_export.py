"""An arm of TT-9 as TRL 1.16 ``GRPOConfig`` options, every name TRL's own (``trl/trainer/grpo_config.py``).

Mapping (:mod:`gpu_runs.engines.arms`):

    group size G                 -> num_generations
    rollouts per optimizer step  -> num_processes x per_device_train_batch_size x gradient_accumulation_steps
                                    (one generation batch per optimizer step: TRL's default
                                    steps_per_generation = gradient_accumulation_steps)
    lr, constant after warm-up   -> learning_rate, lr_scheduler_type="constant_with_warmup", warmup_steps=10
    Adam                         -> optim="adamw_torch", weight_decay=0.0
    10 epochs                    -> num_train_epochs=10
    verl's defaults TT kept      -> loss_type="dapo" (tokens averaged over the mini-batch, verl's token-mean),
                                    beta=0.0 (no KL), epsilon=0.2, num_iterations=1, scale_rewards="group"
    what ``grpo-verify ingest`` reads -> log_completions=True, logging_steps=1

2-GRPO+RS cannot be expressed: TRL 1.16's GRPOTrainer has no option that replaces a silent group by a
fresh prompt's group (it only logs ``frac_reward_zero_std``); :func:`trl_config` raises for it.

Two forms: :func:`trl_yaml` for TRL's own command (``trl grpo --config FILE``, whose options are
GRPOConfig's plus ``model_name_or_path``, ``dataset_name`` and ``reward_funcs``), and :func:`trl_script`,
a short Python script with the reward function in view.
"""

from __future__ import annotations

import json
from typing import Any

from gpu_runs.engines.arms import TT_EPOCHS, TT_WARMUP_STEPS, ArmSpec, arm_spec

SCRIPT_KEYS = ("model_name_or_path", "dataset_name", "reward_funcs")
"""Keys of the YAML that belong to ``trl grpo``'s script and model arguments, not to GRPOConfig."""
DEFAULT_REWARD = "accuracy_reward"
"""TRL's math verifier (``trl.rewards.accuracy_reward``: the dataset needs a ``solution`` column)."""
MAX_PER_DEVICE = 16


def _check_count(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return value


def batch_split(rollouts: int, num_processes: int, per_device: int | None) -> tuple[int, int]:
    """(per_device_train_batch_size, gradient_accumulation_steps) with num_processes x per_device x accumulation
    = rollouts; per_device defaults to the largest divisor of rollouts / num_processes up to 16."""
    _check_count("num_processes", num_processes)
    if rollouts % num_processes:
        raise ValueError(f"num_processes={num_processes} must divide the arm's {rollouts} rollouts per step")
    local = rollouts // num_processes
    if per_device is None:
        per_device = max(d for d in range(1, min(local, MAX_PER_DEVICE) + 1) if local % d == 0)
    _check_count("per_device_batch", per_device)
    if local % per_device:
        raise ValueError(f"per_device_batch={per_device} must divide {local} (the arm's {rollouts} rollouts per step "
                         f"over {num_processes} process(es))")
    return per_device, local // per_device


def trl_config(arm: str | ArmSpec, *, output_dir: str, num_processes: int = 1, per_device_batch: int | None = None,
               seed: int = 0) -> dict[str, Any]:
    """GRPOConfig keyword arguments of ``arm`` (module docstring); ``GRPOConfig(**trl_config(...))`` builds it."""
    spec = arm if isinstance(arm, ArmSpec) else arm_spec(arm)
    if spec.resample_silent:
        raise ValueError(f"arm={spec.key!r} (2-GRPO+RS) cannot be expressed for TRL 1.16: GRPOTrainer has no option "
                         "that replaces a silent group by a fresh prompt's group; verl's algorithm.filter_groups "
                         "comes close (grpo-verify export verl --arm grpo2-rs)")
    per_device, accumulation = batch_split(spec.rollouts_per_minibatch, num_processes, per_device_batch)
    return {
        "output_dir": output_dir,
        "num_generations": spec.group_size,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": spec.lr,
        "lr_scheduler_type": "constant_with_warmup",
        "warmup_steps": TT_WARMUP_STEPS,
        "optim": "adamw_torch",
        "weight_decay": 0.0,
        "num_train_epochs": TT_EPOCHS,
        "loss_type": "dapo",
        "beta": 0.0,
        "epsilon": 0.2,
        "num_iterations": 1,
        "scale_rewards": "group",
        "temperature": 1.0,
        "log_completions": True,
        "logging_steps": 1,
        "report_to": "none",
        "seed": seed,
    }


def _header(spec: ArmSpec, num_processes: int) -> list[str]:
    lines = [f"{spec.title}: G = {spec.group_size}, {spec.prompts_per_minibatch} prompts x {spec.group_size} = "
             f"{spec.rollouts_per_minibatch} rollouts per optimizer step on {num_processes} process(es), "
             f"lr {spec.lr:g}",
             f"constant after {TT_WARMUP_STEPS} warm-up steps, {TT_EPOCHS} epochs (TT-9's settings; TT ran verl)."]
    if spec.note:
        lines.append(f"Note: {spec.note}.")
    return lines


def yaml_scalar(value: Any) -> str:
    """A value as YAML 1.1 reads it back (PyYAML, TRL's loader): JSON, with floats written with a point and a
    signed exponent ("8.0e-06", not "8e-06", which YAML 1.1 reads as a string)."""
    if isinstance(value, float):
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        return mantissa + (f"e{exponent if exponent[0] in '+-' else '+' + exponent}" if exponent else "")
    if isinstance(value, list):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    return json.dumps(value)


def trl_yaml(arm: str, *, model: str, dataset: str, output_dir: str, num_processes: int = 1,
             per_device_batch: int | None = None, seed: int = 0, reward: str = DEFAULT_REWARD) -> str:
    """YAML for ``trl grpo --config FILE`` (values are JSON scalars, valid YAML): the script keys
    :data:`SCRIPT_KEYS` first, then the GRPOConfig options of :func:`trl_config`."""
    spec = arm_spec(arm)
    config = trl_config(spec, output_dir=output_dir, num_processes=num_processes, per_device_batch=per_device_batch,
                        seed=seed)
    launch = (f"trl grpo --config {spec.key}.yaml" if num_processes == 1
              else f"accelerate launch --num_processes {num_processes} -m trl.scripts.grpo --config {spec.key}.yaml")
    lines = [f"# {line}" for line in _header(spec, num_processes)]
    lines += [f"# Run: {launch}", f"# Check: grpo-verify ingest {output_dir}", ""]
    values = {"model_name_or_path": model, "dataset_name": dataset, "reward_funcs": [reward], **config}
    lines += [f"{key}: {yaml_scalar(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def trl_script(arm: str, *, model: str, dataset: str, output_dir: str, num_processes: int = 1,
               per_device_batch: int | None = None, seed: int = 0) -> str:
    """A runnable Python script: the arm's GRPOConfig, TRL's accuracy reward (replace it with your verifier),
    ``trainer.save_state()`` at the end so that ``trainer_state.json`` lands in ``output_dir``."""
    spec = arm_spec(arm)
    config = trl_config(spec, output_dir=output_dir, num_processes=num_processes, per_device_batch=per_device_batch,
                        seed=seed)
    body = ",\n".join(f"    {key}={value!r}" for key, value in config.items())
    header = "\n".join(_header(spec, num_processes))
    launch = (f"python {spec.key}_trl.py" if num_processes == 1
              else f"accelerate launch --num_processes {num_processes} {spec.key}_trl.py")
    return f'''"""{header}

Run: {launch}; then: grpo-verify ingest {output_dir}
"""

from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer
from trl.rewards import accuracy_reward  # TRL's math verifier (needs a `solution` column); or your own:
# def reward(completions, **columns) -> list[float]: one number per completion, columns from the dataset


config = GRPOConfig(
{body},
)

if __name__ == "__main__":
    trainer = GRPOTrainer(model={model!r}, reward_funcs=[accuracy_reward], args=config,
                          train_dataset=load_dataset({dataset!r}, split="train"))
    trainer.train()
    trainer.save_state()  # trainer_state.json in output_dir, for grpo-verify ingest
'''
