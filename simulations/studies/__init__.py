"""Checks of method ``simulation``: one module per claim study, each with one ``check_xxx(ctx)``.

Gradient statistics by Monte Carlo (artefacts under ``sim-gradients/``): ``tt4_unbiasedness``,
``tt5_control_variate``, ``tt6_fixed_budget``, ``tt8_silent_rates``. Whole training runs on the
environments (artefacts under ``sim-training/``): ``tt9_training``, ``vi3_grpovi_training``,
``rz1_learning_speed``, ``by2_win_rate``, ``by3_allocation``, ``dr1_difficulty``. ``common`` holds what
they share (the study context, seeds, curve summaries).

Each module keeps its budget sizes in a dict keyed by budget name and its seed stream in a constant,
so a study gives the same numbers alone or beside the others.
"""
