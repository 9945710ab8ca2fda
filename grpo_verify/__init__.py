"""grpo-verify: the command line and the claims report on top of theory, proofs, simulations
and gpu_runs."""
