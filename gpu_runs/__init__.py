"""gpu_runs: small transformer LMs trained from scratch with GRPO of any group size (CPU or CUDA)."""
