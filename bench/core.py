"""The pieces every benchmark module shares: what a benchmark is, what it reports.

A benchmark module exposes one `Benchmark` (name, title, method text, run function) and
is listed once in `bench.registry.BENCHMARKS`. Its run function gets a `RunConfig` and
returns `Figure`s: one row each in docs/benchmarks.md, every one with the baseline
measured in the same run, the ratio between the two and the target it is held to.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Metric = Literal["measured", "ratio", "none"]
Comparison = Literal[">=", "<", "<="]

_SYMBOLS: dict[Comparison, str] = {">=": "≥", "<": "<", "<=": "≤"}


class Skip(Exception):
    """Raised by a benchmark that cannot run here (a missing service, an absent extra)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a figure is held to: the measured value or the ratio, compared with a bound.

    Metric "none" marks a figure reported for context only (it has no target to meet).
    """

    metric: Metric
    op: Comparison
    bound: float
    unit: str = ""

    @property
    def informational(self) -> bool:
        return self.metric == "none"

    def met(self, measured: float, ratio: float) -> bool:
        if self.informational:
            return True
        value = measured if self.metric == "measured" else ratio
        if math.isnan(value):
            return False
        if self.op == ">=":
            return value >= self.bound
        if self.op == "<=":
            return value <= self.bound
        return value < self.bound

    def describe(self) -> str:
        if self.informational:
            return "none (context)"
        bound = f"{self.bound:g}" + (f" {self.unit}" if self.unit else "")
        subject = "ratio" if self.metric == "ratio" else "measured"
        return f"{subject} {_SYMBOLS[self.op]} {bound}"


CONTEXT = Target("none", ">=", 0.0)  # a figure reported for context, with no target


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure with its same-run baseline, the ratio and the target."""

    benchmark: str
    label: str
    unit: str
    measured: float
    baseline: float
    baseline_label: str
    ratio: float
    ratio_label: str
    target: Target
    samples: tuple[float, ...] = ()
    baseline_samples: tuple[float, ...] = ()
    notes: str = ""

    @property
    def met(self) -> bool:
        return self.target.met(self.measured, self.ratio)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How a benchmark should run: `quick` is a short smoke run whose figures mean little."""

    quick: bool = False
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr))


RunFunction = Callable[[RunConfig], list[Figure]]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A registered benchmark: `method` is the markdown paragraph docs/benchmarks.md shows."""

    name: str
    title: str
    method: str
    run: RunFunction


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no samples to take the median of")
    return float(statistics.median(values))


def safe_ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan
