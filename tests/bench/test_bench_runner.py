"""The benchmark runner: a quick smoke run of every benchmark, and the runner's own logic.

No timing thresholds here: figures depend on the machine. What is checked is that every
registered benchmark runs and leaves a row with a numeric ratio in the report.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import registry, runner
from bench.core import Benchmark, Figure, RunConfig, Skip, Target

REPO = Path(__file__).resolve().parents[2]
RATIO_COLUMN = 4


def results_rows(markdown: str) -> list[list[str]]:
    """The body rows of the table under '## Results', as lists of cells."""
    lines = markdown.split("## Results", 1)[1].split("\n## ", 1)[0].splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) >= 2, markdown
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[0] == "Benchmark"
    assert header[RATIO_COLUMN] == "Ratio"
    return [[c.strip() for c in row.strip("|").split("|")] for row in table[2:]]


def ratio_of(row: list[str]) -> float:
    value = float(row[RATIO_COLUMN])
    assert math.isfinite(value), row
    assert value > 0, row
    return value


@pytest.mark.slow
def test_quick_run_leaves_a_row_with_a_ratio_for_every_benchmark(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    markdown = output.read_text(encoding="utf-8")
    rows = results_rows(markdown)
    for bench in registry.BENCHMARKS:
        mine = [row for row in rows if row[0] == bench.name]
        assert mine, f"no row for {bench.name} in:\n{markdown}"
        for row in mine:
            ratio_of(row)
        assert bench.name in done.stdout
    assert {row[0] for row in rows} == {b.name for b in registry.BENCHMARKS}
    assert len([row for row in rows if row[0] == "cli_startup"]) == 2  # --help and balance
    # durable (the target), then the same loop with synchronous=OFF on both sides
    local = [row for row in rows if row[0] == "local_payments"]
    assert len(local) == 2
    assert "synchronous=OFF" in local[1][1]
    # 1 and 16 clients, then 1 worker, aio payments and aio echo at 16 clients
    assert len([row for row in rows if row[0] == "grpc_payments"]) == 5
    assert len([row for row in rows if row[0] == "pg_payments"]) == 1
    # the CPU of the cluster's own processes and of the machine, read from /proc
    assert "PostgreSQL's processes" in markdown
    assert "CPUs were" in markdown
    # first page from a terminal, in-process on history and via the dashboard, End,
    # and the process start beside them
    assert len([row for row in rows if row[0] == "tui_history"]) == 5
    for item in ("CPUs (nproc)", "CPU model", "Python", "SQLite"):
        assert f"| {item} |" in markdown
    assert "Quick smoke run" in markdown


def _figure(name: str, measured: float, baseline: float) -> Figure:
    return Figure(
        benchmark=name,
        label=f"{name} figure",
        unit="ops/s",
        measured=measured,
        baseline=baseline,
        baseline_label="fake baseline",
        ratio=measured / baseline,
        ratio_label="fake / baseline",
        target=Target("ratio", ">=", 0.4),
        samples=(measured,),
        baseline_samples=(baseline,),
    )


def _ok(config: RunConfig) -> list[Figure]:
    assert config.quick
    return [_figure("fake_ok", 50.0, 100.0)]


def _skip(config: RunConfig) -> list[Figure]:
    raise Skip("no database server here")


def _broken(config: RunConfig) -> list[Figure]:
    raise RuntimeError("boom")


FAKES = (
    Benchmark("fake_ok", "A fake that works", "It works.", _ok),
    Benchmark("fake_skip", "A fake that skips", "It skips.", _skip),
    Benchmark("fake_broken", "A fake that fails", "It fails.", _broken),
)


def test_runner_reports_figures_skips_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(registry, "BENCHMARKS", FAKES)
    output = tmp_path / "out.md"
    code = runner.main(["--quick", "--output", str(output)])
    assert code == 1  # one benchmark failed
    rows = {row[0]: row for row in results_rows(output.read_text(encoding="utf-8"))}
    assert ratio_of(rows["fake_ok"]) == pytest.approx(0.5)
    assert rows["fake_ok"][-1] == "yes"
    assert rows["fake_skip"][-1].startswith("skipped: no database server")
    assert rows["fake_broken"][-1].startswith("error: RuntimeError: boom")
    assert "fake_ok" in capsys.readouterr().out


def test_runner_runs_only_the_named_benchmarks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "BENCHMARKS", FAKES)
    output = tmp_path / "out.md"
    assert runner.main(["fake_ok", "--quick", "--output", str(output)]) == 0
    assert [row[0] for row in results_rows(output.read_text(encoding="utf-8"))] == ["fake_ok"]


def test_a_missed_target_fails_only_with_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(config: RunConfig) -> list[Figure]:
        return [_figure("fake_slow", 10.0, 100.0)]

    monkeypatch.setattr(registry, "BENCHMARKS", (Benchmark("fake_slow", "Slow", "Slow.", slow),))
    output = tmp_path / "out.md"
    assert runner.main(["--output", str(output)]) == 0
    assert "**no**" in output.read_text(encoding="utf-8")
    assert runner.main(["--strict", "--output", str(output)]) == 1


def test_an_unknown_benchmark_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        runner.main(["no_such_benchmark"])
    assert exited.value.code == 2
    assert "local_payments" in capsys.readouterr().err
