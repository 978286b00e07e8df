"""local_payments' figure: the ratio is taken within each repetition, then the median."""

from __future__ import annotations

from bench.core import median
from bench.local_payments import Tally, paired_ratios


def tally(rate: float) -> Tally:
    return Tally(wall_s=1000 / rate, cpu_s=0.5, paid=1000)


def test_the_ratio_is_the_median_of_the_paired_repetitions_not_of_the_medians() -> None:
    # This session's run: each side's median came from a different repetition, and the
    # ratio of those medians (958 / 2,372 = 0.40) overstated every pair but one.
    engine = [tally(r) for r in (1017, 958, 983, 888, 794)]
    raw = [tally(r) for r in (2708, 2348, 2624, 2372, 2117)]

    ratios = paired_ratios(engine, raw)

    assert [round(r, 2) for r in ratios] == [0.38, 0.41, 0.37, 0.37, 0.38]
    assert round(median(ratios), 2) == 0.38
    assert round(median([t.rate for t in engine]) / median([t.rate for t in raw]), 2) == 0.40
