"""The pieces of the gRPC benchmarks that can be checked without timing anything."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from bench import registry, runner
from bench.core import Benchmark, Figure, RunConfig, Target
from bench.grpc_load import ECHO_METHOD, EchoCaller, echo_handler, measure
from bench.machine import family_cpu_s, machine_cpu_s, process_cpu_s
from bench.pg_payments import PgbenchFailed, parse_tps, wait_label
from tests.bench.test_bench_runner import results_rows

PGBENCH_15_OUTPUT = """\
pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 16
query mode: simple
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 13895
number of failed transactions: 0 (0.000%)
latency average = 11.513 ms
initial connection time = 20.361 ms
tps = 1389.731942 (without initial connection time)
"""


def test_parse_tps_reads_pgbench_15_output() -> None:
    assert parse_tps(PGBENCH_15_OUTPUT) == pytest.approx(1389.731942)


def test_parse_tps_refuses_output_without_a_tps_line() -> None:
    with pytest.raises(PgbenchFailed, match="no 'tps = …' line"):
        parse_tps("pgbench: error: connection to server failed\n")


def test_wait_labels_name_what_a_backend_waits_for() -> None:
    assert wait_label("active", "Lock", "transactionid") == "waiting for a row lock"
    assert wait_label("active", "Lock", "advisory") == "waiting for an advisory lock"
    assert wait_label("active", "IO", "WALSync") == "flushing WAL"
    assert wait_label("active", None, None) == "running a statement"
    assert wait_label("idle in transaction", "Client", "ClientRead").startswith("idle in tr")
    assert wait_label("active", "LWLock", "BufferContent") == "LWLock/BufferContent"


class CountingCaller:
    def __init__(self, calls: list[int], fail_after: int | None = None) -> None:
        self.calls = calls
        self.fail_after = fail_after
        self.closed = False

    def call(self) -> None:
        self.calls.append(1)
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise ValueError("the server said no")

    def close(self) -> None:
        self.closed = True


def counting_callers() -> tuple[list[CountingCaller], Callable[[int], CountingCaller]]:
    """A caller factory for measure, and the callers it made (clients make them at once)."""
    made: list[CountingCaller] = []
    lock = threading.Lock()

    def make(_i: int) -> CountingCaller:
        caller = CountingCaller([])
        with lock:
            made.append(caller)
        return caller

    return made, make


def test_measure_counts_only_the_calls_of_the_window() -> None:
    made, make = counting_callers()
    sample = measure(make, 3, warmup_s=0.05, window_s=0.1)
    assert len(made) == 3
    assert all(c.closed for c in made)
    total = sum(len(c.calls) for c in made)
    assert 0 < sample.calls < total  # the connecting calls and the warm-up are not counted
    # the window lasts at least window_s (a slow machine only makes it longer)
    assert sample.wall_s >= 0.1 * 0.99
    assert sample.rate == sample.calls / sample.wall_s


class EdgeMeter:
    """Notes when measure starts and stops it, and how many calls were made by then."""

    def __init__(self, made: list[CountingCaller]) -> None:
        self.made = made
        self.events: list[tuple[str, float, int]] = []

    def _note(self, what: str) -> None:
        self.events.append((what, time.perf_counter(), sum(len(c.calls) for c in self.made)))

    def start(self) -> None:
        self._note("start")

    def stop(self) -> None:
        self._note("stop")


def test_measure_reads_its_meters_at_the_edges_of_the_window() -> None:
    made, make = counting_callers()
    meter = EdgeMeter(made)
    sample = measure(make, 2, warmup_s=0.05, window_s=0.1, meters=(meter,))
    assert [event[0] for event in meter.events] == ["start", "stop"]
    (_, started, calls_then), (_, stopped, calls_after) = meter.events
    assert calls_then > 2  # after each client's connecting call and the warm-up
    assert stopped - started >= 0.1 * 0.99
    assert calls_after - calls_then >= sample.calls > 0


def test_machine_and_process_cpu_are_read_from_proc() -> None:
    before = machine_cpu_s()
    mine = process_cpu_s(os.getpid())
    assert before is not None
    assert mine is not None
    end = time.process_time() + 0.05
    while time.process_time() < end:  # burn a little CPU
        pass
    after = machine_cpu_s()
    assert after is not None
    assert after[0] - before[0] > 0
    tick = 1 / os.sysconf("SC_CLK_TCK")  # the seconds are whole ticks: compare to within one
    assert after[1] - before[1] >= after[0] - before[0] - tick
    later = process_cpu_s(os.getpid())
    assert later is not None
    assert later >= mine + 0.02
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        family = family_cpu_s(os.getpid())
        assert set(family) >= {os.getpid(), child.pid}
        assert family[os.getpid()] >= later
    finally:
        child.kill()
        child.wait()
    assert process_cpu_s(child.pid) is None  # gone: nothing to read


def test_measure_raises_what_a_client_hit() -> None:
    def make(_i: int) -> CountingCaller:
        return CountingCaller([], fail_after=5)

    with pytest.raises(RuntimeError, match="ValueError: the server said no"):
        measure(make, 2, warmup_s=0.05, window_s=0.5)


def test_the_echo_handler_answers_the_bytes_it_got() -> None:
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((echo_handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        caller = EchoCaller(f"127.0.0.1:{port}", b"\x00\x01 payload \xff")
        try:
            caller.call()  # raises if the answer differs
            assert caller.stub(b"other", timeout=10) == b"other"
        finally:
            caller.close()
    finally:
        server.stop(None)
    assert ECHO_METHOD == "/bench.Echo/Echo"


def _context_only(config: RunConfig) -> list[Figure]:
    return [
        Figure(
            benchmark="fake_context",
            label="a figure for context",
            unit="ops/s",
            measured=1.0,
            baseline=100.0,
            baseline_label="fake baseline",
            ratio=0.01,
            ratio_label="fake / baseline",
            target=Target("none", ">=", 0.0),
        )
    ]


def test_a_context_figure_has_no_target_to_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Benchmark("fake_context", "Context", "Context.", _context_only)
    monkeypatch.setattr(registry, "BENCHMARKS", (fake,))
    output = tmp_path / "out.md"
    assert runner.main(["--strict", "--output", str(output)]) == 0
    [row] = results_rows(output.read_text(encoding="utf-8"))
    assert row[5] == "none (context)"
    assert row[6] == "—"
    assert "**no**" not in output.read_text(encoding="utf-8")
