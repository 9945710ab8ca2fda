"""TT-9 and VI-3 on small LMs: 2-GRPO against 16-GRPO (and GRPOVI against GRPO) trained with the
test bed of ``gpu_runs.trainer``.

Read in this order: ``experiment`` (the arms, the presets' sizes, the runs and the check
``check_tt9_vi3``), ``start`` (the start policies: the test bed's warm start or a Hugging Face
model), ``metrics`` (Mean@k, Pass@k, the silent-group share predicted from probes), ``report`` (the
ratio tables with their intervals, the plots, the evidence).
"""
