"""Bring your own run: TT's arms as configs for other engines (TRL, verl) and their logs read back into evidence.

- ``arms``: the arms (16-GRPO, 2-GRPO, 2-GRPO+RS, Table 4's G at fixed prompts) with TT's settings.
- ``trl_export``, ``verl_export``: an arm as TRL's own ``GRPOConfig`` options (YAML for ``trl grpo``, or a
  short script) and as verl's Hydra overrides with a launch line.
- ``run_log``: the common record of a run (per-step rows, per-prompt rewards by group).
- ``trl_logs``, ``verl_logs``: read a TRL output folder / a verl rollout_data_dir into it.
- ``evidence``: TT-8 and TT-9 records from ingested runs, figure and summary.

No module here imports torch: a machine that only reads logs needs numpy, scipy, matplotlib and pyarrow.
"""
