"""gpu_runs: small transformer LMs trained from scratch with GRPO of any group size (CPU or CUDA).

Read in this order:

- ``config``: every hyperparameter as a frozen, validated dataclass; presets cpu-smoke, cpu, gpu.
- ``tasks``: addition (least-significant digit first) and sorting, verifiers, fixed splits.
- ``tokenizer``, ``model``: a character tokenizer and a nanoGPT-style decoder with a KV cache.
- ``sampling``: batched sampling (left padding, EOS stopping, temperature, top-p, greedy) with the
  tokens' log-probs, and teacher-forced log-probs for training.
- ``warmstart``: the supervised start, cached by its config hash, with its measured pass-rate
  histogram.
- ``losses``: the GRPO losses under TRL's names, pure functions of tensors.
- ``trainer``: the GRPO loop (rollout, advantages, PPO update, evaluation, log, checkpoint).
"""
