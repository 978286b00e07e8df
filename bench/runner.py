"""The runner: picks benchmarks, runs them, writes docs/benchmarks.md, prints a summary.

Exit status: 0 when every benchmark ran (targets missed are reported, not fatal unless
--strict), 1 when one failed (or --strict and a target was missed), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bench import machine, registry
from bench.core import Benchmark, RunConfig, Skip
from bench.report import Outcome, Run, markdown, summary

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [b.name for b in registry.BENCHMARKS]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run CPay's benchmarks and write the figures to docs/benchmarks.md.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(names)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (few iterations, no warm-up)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="PATH",
        help=f"markdown file to write (overwritten; default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a figure misses its target"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    return args


def select(names: Sequence[str]) -> list[Benchmark]:
    """The requested benchmarks in registry order, each once (all when `names` is empty)."""
    wanted = set(names)
    return [b for b in registry.BENCHMARKS if not wanted or b.name in wanted]


def run_one(bench: Benchmark, config: RunConfig) -> Outcome:
    config.log(f"[{bench.name}] {bench.title}{' (quick)' if config.quick else ''}")
    start = time.perf_counter()
    try:
        figures = bench.run(config)
    except Skip as skip:
        config.log(f"[{bench.name}] skipped: {skip}")
        return Outcome(bench, skipped=str(skip), seconds=time.perf_counter() - start)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"{type(exc).__name__}: {exc}"
        config.log(f"[{bench.name}] FAILED: {message}")
        return Outcome(bench, error=message, seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if not figures:
        return Outcome(bench, error="the benchmark reported no figures", seconds=seconds)
    config.log(f"[{bench.name}] done in {seconds:.1f} s")
    return Outcome(bench, figures=tuple(figures), seconds=seconds)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for bench in registry.BENCHMARKS:
            print(f"{bench.name:20} {bench.title}")
        return 0
    registry.by_name()  # refuses duplicate names
    config = RunConfig(quick=args.quick)
    started = datetime.now().astimezone()
    load_before = machine.load_average()
    outcomes = tuple(run_one(bench, config) for bench in select(args.names))
    run = Run(
        started=started,
        machine=machine.describe(load_before),
        outcomes=outcomes,
        quick=args.quick,
        subset=tuple(args.names),
    )
    output: Path = args.output
    write(output, markdown(run))
    print(summary(run))
    print(f"\nwritten to {output}")
    missed = [f for o in outcomes for f in o.figures if not f.met]
    if run.failed:
        return 1
    return 1 if args.strict and missed else 0
