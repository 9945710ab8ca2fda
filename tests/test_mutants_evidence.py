"""Tests written against the mutants of evidence/ that the suite let pass (issue 18, item 4; the list is
results/mutation/survivors.md, the tool tools/mutation.py)."""

from __future__ import annotations

import pytest

from evidence.verdicts import decide_mean


def test_decide_mean_reads_a_missing_seed_as_bad_input() -> None:
    """Guards against reading values without dtype=float64: a seed given as None would make an object array,
    on which np.isfinite raises a TypeError instead of the ValueError that names ``values``."""
    with pytest.raises(ValueError, match="values"):
        decide_mean([None, 1.0, 2.0], 0.5)
