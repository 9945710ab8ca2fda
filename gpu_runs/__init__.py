"""gpu_runs: small transformer LMs trained from scratch with GRPO of any group size (CPU or CUDA).

Read in this order:

- ``config``: every hyperparameter as a frozen, validated dataclass; presets cpu-smoke, cpu, gpu.
- ``tasks``: addition (least-significant digit first) and sorting, verifiers, fixed splits.
- ``tokenizer``, ``model``: a character tokenizer and a nanoGPT-style decoder with a KV cache.
- ``sampling``: batched sampling (left padding, EOS stopping, temperature, top-p, greedy) with the
  tokens' log-probs, and teacher-forced log-probs for training.
- ``device``: CUDA with bf16 autocast when present, else fp32 CPU; thread count.
- ``evaluation``: rewards of sampled completions, per-prompt pass rates, held-out metrics.
- ``warmstart``: the supervised start, cached by its config hash, with its measured pass-rate
  histogram.
- ``losses``: the GRPO losses under TRL's names, pure functions of tensors.
- ``trainer``: the GRPO loop (rollout, advantages, PPO update, evaluation, log, checkpoint).
"""

import os

# Threads waiting for work sleep instead of spinning, unless the user chose otherwise. On a machine
# shared with other jobs, spinning OpenMP threads steal the cores their partners need: measured on
# this project's 2-core machines, a 2-thread GRPO step ran 3-20x slower than with passive waiting.
# It must be set before torch loads its OpenMP runtime, so it lives in the package's first import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
