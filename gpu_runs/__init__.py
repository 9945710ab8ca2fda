"""gpu_runs: small transformer LMs trained from scratch with GRPO of any group size (CPU or CUDA).

Read in this order:

- ``config``: every hyperparameter as a frozen, validated dataclass; presets cpu-smoke, cpu, gpu.
- ``tasks``: addition (least-significant digit first) and sorting, verifiers, fixed splits.
- ``tokenizer``, ``model``: a character tokenizer and a nanoGPT-style decoder with a KV cache.
- ``sampling``: batched sampling (left padding, EOS stopping, temperature, top-p, greedy) with the
  tokens' log-probs, and teacher-forced log-probs for training.
- ``device``: CUDA with bf16 autocast when present, else fp32 CPU; thread count.
- ``cores``: the cores this process may use and whether other work is on them (no torch).
- ``evaluation``: rewards of sampled completions, per-prompt pass rates, held-out metrics.
- ``warmstart``: the supervised start, cached by its config hash, with its measured pass-rate
  histogram.
- ``losses``: the GRPO losses under TRL's names, pure functions of tensors.
- ``trainer``: the GRPO loop (rollout, advantages, PPO update, evaluation, log, checkpoint).
"""

import os

from gpu_runs.cores import cores_busy

# OpenMP threads between two parallel regions first spin, then sleep (libgomp's default). The many
# small ops of sampling a small model leave them short gaps, so spinning pays while the cores are
# free: measured on this project's 2-core machines, sampling and the update ran ~25% faster than
# with passive waiting. With another job on the cores, the spinning threads steal the time their
# partners need: with one core busy the same work ran 2-2.6x slower than with passive waiting. So
# waiting is passive when other work holds the cores as this package is imported (``cores_busy``),
# unless the user set OMP_WAIT_POLICY. It must be set before torch loads its OpenMP runtime, hence here.
if cores_busy():
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
