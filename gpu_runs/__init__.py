"""gpu_runs: small transformer LMs trained from scratch with GRPO of any group size (CPU or CUDA),
and the checks that need torch (the LLM tier of the evidence).

Read in this order:

- ``config``: every hyperparameter as a frozen, validated dataclass; the model presets tiny (~0.1M
  parameters), small (~1M) and gpu (~14M), the same names in every command.
- ``tasks``: addition (least-significant digit first) and sorting, verifiers, fixed splits.
- ``tokenizer``, ``model``: a character tokenizer and a nanoGPT-style decoder with a KV cache.
- ``sampling``: batched sampling of ``group_size`` completions per prompt (left padding, EOS
  stopping, temperature, top-p, greedy) with the tokens' log-probs, and teacher-forced log-probs
  for training.
- ``device``: CUDA with bf16 autocast when present, else fp32 CPU; thread count.
- ``cores``: the cores this process may use, whether other work is on them, and the OpenMP wait
  policy that follows (no torch; the CLI's entry calls ``configure_omp_wait_policy``).
- ``evaluation``: rewards of sampled completions, per-prompt pass rates, held-out metrics.
- ``warmstart``: the supervised start, cached by its config hash, with its measured pass-rate
  histogram; ``LoadStart``, the type of a start-policy loader.
- ``losses``: the GRPO losses under TRL's names, pure functions of tensors.
- ``trainer``: the GRPO loop (rollout, advantages, PPO update, evaluation, log, checkpoint); its
  start policy is an argument (``load_start``).
- ``tt9``: the TT-9 / VI-3 experiment (``experiment``, ``start``, ``metrics``, ``report``) and its
  check ``check_tt9_vi3``.
- ``peers``: TT-3 and BY-4 from the peers' advantage code (TRL through its public trainer API;
  verl and OpenRLHF re-implemented), checks ``check_tt3`` and ``check_by4``.

Importing this package has no side effects: it neither probes the machine nor sets variables.
"""
