"""The one list of benchmarks. A new benchmark is a module with a `BENCHMARK`, added here.

Order matters: it is the order they run in and the order of the rows in the report.
"""

from __future__ import annotations

from bench import cli_startup, grpc_payments, local_payments, pg_payments, tui_history
from bench.core import Benchmark

BENCHMARKS: tuple[Benchmark, ...] = (
    local_payments.BENCHMARK,
    grpc_payments.BENCHMARK,
    pg_payments.BENCHMARK,
    cli_startup.BENCHMARK,
    tui_history.BENCHMARK,
)


def by_name() -> dict[str, Benchmark]:
    names = [b.name for b in BENCHMARKS]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"benchmarks registered twice: {sorted(duplicates)}")
    return {b.name: b for b in BENCHMARKS}
