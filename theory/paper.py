"""The papers' own numbers that a claim is judged against, each with the table row it comes from.

TT = Wu et al., "It Takes Two: Your GRPO Is Secretly DPO" (arXiv 2510.00977, v3). Every threshold of an
empirical verdict is defined here once; simulations, gpu_runs and the run-log checks import it.
"""

from __future__ import annotations

TT9_SCORE_RATIO = 0.976
"""TT-9, TT Table 1 (v3): 2-GRPO's mean score over the benchmarks as a share of 16-GRPO's."""

TT9_IMPROVEMENT_RATIO = 0.95
"""TT-9: the share of 16-GRPO's improvement over the base model that 2-GRPO keeps in TT's Table-1 rows
(about 95%: 2-GRPO keeps 97.6% of the score, and the base model starts at about half of 16-GRPO's score,
so (0.976 - 0.5) / (1 - 0.5) = 0.952). The claim holds where the lower 95% bound of the improvement
ratio reaches it."""

TT9_RS_SCORE_RATIO = 1.011
"""TT-9, TT Table 1 (v3): 2-GRPO+RS (silent groups resampled) as a share of 16-GRPO's score."""

TT9_ROLLOUT_RATIO = 0.125
"""TT-9: 2-GRPO's rollouts per prompt as a share of 16-GRPO's (2 / 16)."""

TT9_WALLCLOCK_RATIO = 0.21
"""TT-9, TT Table 1 (v3): 2-GRPO's training time as a share of 16-GRPO's (about 21%)."""

TT9_SMALL_DIFFERENCE = 0.90
"""TT-9, TT Table 4: "small differences across G at fixed prompts per mini-batch", read as: G-GRPO at
16-GRPO's prompts keeps at least 90% of 16-GRPO's improvement."""
