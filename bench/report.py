"""Renders a run as docs/benchmarks.md and as a plain-text summary for stdout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bench.core import Benchmark, Figure
from bench.machine import Machine

RESULTS_HEADER = (
    "Benchmark",
    "Figure",
    "Measured",
    "Baseline (same run)",
    "Ratio",
    "Target",
    "Met",
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one benchmark gave: figures, or why it was skipped or failed."""

    benchmark: Benchmark
    figures: tuple[Figure, ...] = ()
    skipped: str = ""
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Run:
    started: datetime
    machine: Machine
    outcomes: tuple[Outcome, ...]
    quick: bool
    subset: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return any(o.error for o in self.outcomes)


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def format_ratio(ratio: float) -> str:
    return "n/a" if math.isnan(ratio) else f"{ratio:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def result_rows(run: Run) -> list[list[str]]:
    rows: list[list[str]] = []
    for outcome in run.outcomes:
        name = outcome.benchmark.name
        if outcome.error or outcome.skipped:
            status = f"error: {outcome.error}" if outcome.error else f"skipped: {outcome.skipped}"
            rows.append([name, outcome.benchmark.title, "—", "—", "—", "—", status])
            continue
        for f in outcome.figures:
            rows.append(
                [
                    f.benchmark,
                    f.label,
                    format_value(f.measured, f.unit),
                    f"{format_value(f.baseline, f.unit)} ({f.baseline_label})",
                    format_ratio(f.ratio),
                    f.target.describe(),
                    "—" if f.target.informational else "yes" if f.met else "**no**",
                ]
            )
    return rows


def markdown(run: Run) -> str:
    lines = [
        "# CPay benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`); do not edit by hand, rerun it. "
        "Every figure sits next to a baseline measured in the same run on the same machine, "
        "so the ratio is the number to compare across machines.",
        "",
        f"- Date: {run.started.strftime('%Y-%m-%d %H:%M:%S %Z').strip()}",
        "- Benchmarks run: " + ", ".join(f"`{o.benchmark.name}`" for o in run.outcomes),
    ]
    if run.quick:
        lines.append(
            "- **Quick smoke run (`--quick`)**: few iterations, no warm-up; the figures only "
            "show that the benchmarks work, not how fast anything is."
        )
    if run.subset:
        lines.append("- Subset requested on the command line: " + " ".join(run.subset))
    lines += ["", "## Machine", "", _row(("Item", "Value")), _row(("---", "---"))]
    lines += [_row(r) for r in run.machine.rows()]
    lines += ["", "## Results", "", _row(RESULTS_HEADER), _row(["---"] * len(RESULTS_HEADER))]
    lines += [_row(r) for r in result_rows(run)]
    lines += ["", "## Method and samples", ""]
    for outcome in run.outcomes:
        bench = outcome.benchmark
        lines += [f"### `{bench.name}`: {bench.title}", "", bench.method, ""]
        for f in outcome.figures:
            lines.append(
                f"- {f.label}: ratio = {f.ratio_label}. Samples: "
                + ", ".join(format_value(v, f.unit) for v in f.samples)
                + "; baseline samples: "
                + ", ".join(format_value(v, f.unit) for v in f.baseline_samples)
                + "."
            )
            if f.notes:
                lines.append(f"  {f.notes}")
        if outcome.skipped:
            lines.append(f"- Skipped: {outcome.skipped}")
        if outcome.error:
            lines.append(f"- Failed: {outcome.error}")
        lines += [f"- Wall time of this benchmark: {outcome.seconds:.1f} s", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def summary(run: Run) -> str:
    """A compact plain-text table for stdout."""
    table = [["benchmark", "figure", "measured", "baseline", "ratio", "target", "met"]]
    for outcome in run.outcomes:
        name = outcome.benchmark.name
        if outcome.error or outcome.skipped:
            status = "ERROR" if outcome.error else "skipped"
            table.append([name, outcome.error or outcome.skipped, "", "", "", "", status])
            continue
        for f in outcome.figures:
            table.append(
                [
                    name,
                    f.label.split(" (")[0].replace("`", ""),
                    format_value(f.measured, f.unit),
                    format_value(f.baseline, f.unit),
                    format_ratio(f.ratio),
                    f.target.describe(),
                    "-" if f.target.informational else "yes" if f.met else "NO",
                ]
            )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    header = f"CPay benchmarks, {run.started:%Y-%m-%d %H:%M %Z}" + (
        " (QUICK smoke run)" if run.quick else ""
    )
    machine = (
        f"{run.machine.nproc} CPU(s), {run.machine.cpu_model}; Python "
        f"{run.machine.python.split(' ')[0]}; SQLite {run.machine.sqlite.split(' ')[0]}"
    )
    return "\n".join([header, machine, "", *out])
