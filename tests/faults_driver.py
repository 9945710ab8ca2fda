"""A tiny TT-9 experiment run in its own process by ``tests/test_faults.py`` (to be killed with
SIGKILL and run again): ``python tests/faults_driver.py OUT CACHE``. One arm (16-GRPO), one
evaluation seed, a two-point lr grid: three (arm, seed) runs of 16 steps, after a warm start long
enough (a few seconds) to be killed in the middle of."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gpu_runs.config import GPTConfig, TrainConfig, WarmStartConfig, task_config
from gpu_runs.tt9.experiment import ExperimentConfig, run_experiment

TASK = task_config("addition", (2,), train_size=16, heldout_size=32)
WARM = WarmStartConfig(model=GPTConfig(block_size=TASK.max_prompt_len + TASK.max_answer_len + 2, n_layer=1, n_head=2,
                                       n_embd=16),
                       task=TASK, steps=40, batch_size=32, warmup_steps=2, lr=1e-2, label_noise=0.3, probe_prompts=8,
                       probe_samples=4)
BASE = TrainConfig(warm_start=WARM, group_size=16, prompts_per_step=2, prompts_per_minibatch=2, lr=1e-3,
                   max_new_tokens=TASK.max_answer_len + 1, eval_prompts=16, threads=1, device="cpu")
EXPERIMENT = ExperimentConfig(base=BASE, epochs=2, max_epochs=2, seeds=1, lr_grid=(0.5, 1.0), max_grid_extensions=0,
                              eval_points=2, final_prompts=32, probe_prompts=8, arms=("grpo16",))


def main(out: str, cache: str) -> int:
    """Run (or resume) :data:`EXPERIMENT` into ``out`` with the warm-start cache ``cache``."""
    torch.set_num_threads(1)  # the warm start runs in this process: one thread, as each run
    run_experiment(EXPERIMENT, Path(out), Path(cache), progress=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
