"""grpc_payments: ProcessPayment requests per second over gRPC on loopback, SQLite server.

The server is `start_server(engine, "127.0.0.1:0")` in this process, its engine on a fresh
SQLite file (WAL, synchronous=FULL, BEGIN IMMEDIATE per payment), with sixteen funded
users. 1 and 16 closed-loop client threads, each with its own channel (`GrpcTransport`
under a `SignedClient`) and its own payer, pay 1 minor unit to a random other user.

Baseline, same server stack and run: a unary echo RPC (raw bytes in, same bytes out,
no (de)serializer) registered through `extra_handlers`, called with a payload the size
of a signed PaymentRequest by 1 and 16 client threads with their own channels.

Then the architecture question, each at 16 clients: the same sync server with one
worker thread instead of sixteen, and a `grpc.aio` server (bench.grpc_load.AioServer)
that hands every blocking engine call to a 16-thread executor.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.core import Benchmark, Figure, RunConfig, Target, safe_ratio
from bench.grpc_load import (
    STAGES,
    AioServer,
    Population,
    Sample,
    StageTimes,
    TimedEngine,
    echo_callers,
    echo_handler,
    measure,
    payment_callers,
    signed_payment_size,
)
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import initialize_local, open_local_engine
from cpay_engine.rpc.server import start_server

NAME = "grpc_payments"
CLIENTS = 16
WARMUP_S = 1.0
WINDOW_S = 5.0
QUICK_WARMUP_S = 0.1
QUICK_WINDOW_S = 0.3
SERVER_WORKERS = 16  # start_server's default max_workers
TARGET = Target("ratio", ">=", 0.3)
CONTEXT = Target("none", ">=", 0.0)
UNIT = "requests/s"
ECHO_LABEL = "echo RPC, same server stack"


@dataclass(frozen=True)
class Results:
    echo: dict[int, Sample]  # by client count, sync server (start_server)
    pay: dict[int, Sample]
    pay_one_worker: Sample  # 16 clients, start_server(max_workers=1)
    aio_echo: Sample  # 16 clients, grpc.aio server
    aio_pay: Sample
    payload_bytes: int


def describe(sample: Sample, clients: int) -> str:
    latency_ms = clients / sample.rate * 1e3 if sample.rate else 0.0
    return (
        f"{sample.rate:7,.0f}/s, {latency_ms:6.2f} ms/call per client, "
        f"CPU {sample.cpu_us_per_call:5,.0f} µs/call ({sample.cores:.2f} cores)"
    )


def measure_all(config: RunConfig, root: Path) -> Results:
    warmup, window = (QUICK_WARMUP_S, QUICK_WINDOW_S) if config.quick else (WARMUP_S, WINDOW_S)
    path = root / "server.db"
    engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
    initialize_local(path, "admin", admin_key, engine_key)
    times = StageTimes()
    engine = TimedEngine(open_local_engine(path, receipt_key=lambda: engine_key), times)
    try:
        population = Population.create(engine, admin_key, CLIENTS)
        payload = os.urandom(signed_payment_size(population.keys[population.handles[0]]))
        echo: dict[int, Sample] = {}
        pay: dict[int, Sample] = {}
        server = start_server(
            engine, "127.0.0.1:0", max_workers=SERVER_WORKERS, extra_handlers=[echo_handler()]
        )
        try:
            target = f"127.0.0.1:{server.port}"
            for clients in (1, CLIENTS):
                echo[clients] = measure(echo_callers(target, payload), clients, warmup, window)
                config.log(
                    f"  sync server, {clients:2} client(s): echo     "
                    f"{describe(echo[clients], clients)}"
                )
                pay[clients] = measure(
                    payment_callers(target, population), clients, warmup, window, times
                )
                config.log(
                    f"  sync server, {clients:2} client(s): payments "
                    f"{describe(pay[clients], clients)}"
                )
                config.log(f"    server stages: {pay[clients].stages.describe(STAGES)}")
        finally:
            server.stop(grace_s=1.0)
        single = start_server(engine, "127.0.0.1:0", max_workers=1)
        try:
            pay_one_worker = measure(
                payment_callers(f"127.0.0.1:{single.port}", population),
                CLIENTS,
                warmup,
                window,
                times,
            )
        finally:
            single.stop(grace_s=1.0)
        config.log(
            f"  sync server, 1 worker, {CLIENTS} clients: payments "
            f"{describe(pay_one_worker, CLIENTS)}"
        )
        config.log(f"    server stages: {pay_one_worker.stages.describe(STAGES)}")
        aio = AioServer(engine, workers=SERVER_WORKERS)
        try:
            aio_target = f"127.0.0.1:{aio.port}"
            aio_echo = measure(echo_callers(aio_target, payload), CLIENTS, warmup, window)
            config.log(
                f"  grpc.aio server, {CLIENTS} clients: echo     {describe(aio_echo, CLIENTS)}"
            )
            aio_pay = measure(
                payment_callers(aio_target, population), CLIENTS, warmup, window, times
            )
            config.log(
                f"  grpc.aio server, {CLIENTS} clients: payments {describe(aio_pay, CLIENTS)}"
            )
            config.log(f"    server stages: {aio_pay.stages.describe(STAGES)}")
        finally:
            aio.stop()
    finally:
        engine.close()
    return Results(echo, pay, pay_one_worker, aio_echo, aio_pay, len(payload))


def stage_note(sample: Sample, clients: int) -> str:
    wall_us = clients / sample.rate * 1e6 if sample.rate else 0.0
    return (
        f"Per payment at {clients} client(s): {wall_us:,.0f} µs round trip per client, "
        f"{sample.cpu_us_per_call:,.0f} µs CPU in this process (clients and server, "
        f"{sample.cores:.2f} cores busy); server side {sample.stages.describe(STAGES)}."
    )


def figures(r: Results) -> list[Figure]:
    pay1, pay16 = r.pay[1], r.pay[CLIENTS]
    echo1, echo16 = r.echo[1], r.echo[CLIENTS]
    scaling = safe_ratio(pay16.rate, pay1.rate)
    echo_scaling = safe_ratio(echo16.rate, echo1.rate)
    return [
        Figure(
            benchmark=NAME,
            label="ProcessPayment/s over gRPC, SQLite server, 1 client",
            unit=UNIT,
            measured=pay1.rate,
            baseline=echo1.rate,
            baseline_label=f"{ECHO_LABEL}, 1 client, {r.payload_bytes} B",
            ratio=safe_ratio(pay1.rate, echo1.rate),
            ratio_label="payments / echo",
            target=CONTEXT,
            samples=(pay1.rate,),
            baseline_samples=(echo1.rate,),
            notes=stage_note(pay1, 1),
        ),
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s over gRPC, SQLite server, {CLIENTS} clients",
            unit=UNIT,
            measured=pay16.rate,
            baseline=echo16.rate,
            baseline_label=f"{ECHO_LABEL}, {CLIENTS} clients, {r.payload_bytes} B",
            ratio=safe_ratio(pay16.rate, echo16.rate),
            ratio_label="payments / echo",
            target=TARGET,
            samples=(pay16.rate,),
            baseline_samples=(echo16.rate,),
            notes=(
                f"{stage_note(pay16, CLIENTS)} Going from 1 to {CLIENTS} clients multiplies "
                f"payments/s by {scaling:.2f} and echo/s by {echo_scaling:.2f}."
            ),
        ),
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s, {CLIENTS} clients, sync server with 1 worker thread",
            unit=UNIT,
            measured=r.pay_one_worker.rate,
            baseline=pay16.rate,
            baseline_label=f"the same with start_server's {SERVER_WORKERS} workers",
            ratio=safe_ratio(r.pay_one_worker.rate, pay16.rate),
            ratio_label=f"1 worker / {SERVER_WORKERS} workers",
            target=CONTEXT,
            samples=(r.pay_one_worker.rate,),
            baseline_samples=(pay16.rate,),
            notes=stage_note(r.pay_one_worker, CLIENTS),
        ),
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s, {CLIENTS} clients, grpc.aio server + "
            f"{SERVER_WORKERS}-thread executor",
            unit=UNIT,
            measured=r.aio_pay.rate,
            baseline=pay16.rate,
            baseline_label="sync grpc.server + ThreadPoolExecutor (start_server)",
            ratio=safe_ratio(r.aio_pay.rate, pay16.rate),
            ratio_label="aio / sync",
            target=CONTEXT,
            samples=(r.aio_pay.rate,),
            baseline_samples=(pay16.rate,),
            notes=stage_note(r.aio_pay, CLIENTS),
        ),
        Figure(
            benchmark=NAME,
            label=f"echo RPCs/s, {CLIENTS} clients, grpc.aio server",
            unit=UNIT,
            measured=r.aio_echo.rate,
            baseline=echo16.rate,
            baseline_label="sync grpc.server + ThreadPoolExecutor (start_server)",
            ratio=safe_ratio(r.aio_echo.rate, echo16.rate),
            ratio_label="aio / sync",
            target=CONTEXT,
            samples=(r.aio_echo.rate,),
            baseline_samples=(echo16.rate,),
            notes=(
                f"CPU per echo in this process: aio {r.aio_echo.cpu_us_per_call:,.0f} µs, "
                f"sync {echo16.cpu_us_per_call:,.0f} µs."
            ),
        ),
    ]


def run(config: RunConfig) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="cpay-bench-grpc-") as tmp:
        return figures(measure_all(config, Path(tmp)))


BENCHMARK = Benchmark(
    name=NAME,
    title="ProcessPayment over gRPC on loopback, SQLite server",
    method=(
        'Server: `start_server(engine, "127.0.0.1:0")` in the benchmark\'s process (sync '
        f"`grpc.server` on a {SERVER_WORKERS}-thread `ThreadPoolExecutor`), its engine on a "
        "fresh SQLite file (WAL, `synchronous=FULL`, one `BEGIN IMMEDIATE` transaction per "
        f"payment), {CLIENTS} users each minted far more than a run can spend. Clients: 1 and "
        f"{CLIENTS} closed-loop threads, each with its own channel (`SignedClient` over its own "
        "`GrpcTransport`) and its own payer user, paying 1 minor unit to a random other user; "
        "every request is serialized, signed, sent, verified, committed and answered with a "
        "signed receipt. Baseline in the same run and server: a unary echo RPC added with "
        "`extra_handlers` (identity on raw bytes, no (de)serializer), called through "
        '`channel.unary_unary("/bench.Echo/Echo")` with random bytes the size of a signed '
        "PaymentRequest, by the same number of threads with their own channels. Each "
        f"measurement: every client connects and makes one call, {WARMUP_S:g} s warm-up, then "
        f"the calls answered in a {WINDOW_S:g} s window are counted. Ratio = payments / echo "
        f"(higher is better), target at {CLIENTS} clients. Server-side stages come from "
        "wrapping the same engine and store with timers (`bench.grpc_load.TimedEngine`): "
        "dispatch = all of `Engine.dispatch`, read = the key and user lookup, begin = "
        "`BEGIN IMMEDIATE` including the wait for SQLite's write lock, work = the payment's "
        "statements, commit = `COMMIT` including the WAL fsync; they are means over the "
        "window's calls, so at 16 clients they overlap in time. CPU is this whole process "
        "(clients and server share it and its GIL). "
        "**Architecture.** CPay serves gRPC with the sync `grpc.server` on a thread pool "
        "(`start_server`), and the engine calls it makes are blocking (sqlite3, psycopg). "
        f"Two more windows at {CLIENTS} clients test that choice: the same sync server with "
        "one worker thread (if more server threads added write throughput, this would be "
        "much slower: SQLite admits one writer at a time, so they do not), and a `grpc.aio` "
        f"server (`bench.grpc_load.AioServer`) that must hand every engine call to a "
        f"{SERVER_WORKERS}-thread executor anyway (asyncio cannot run a blocking sqlite3 or "
        "psycopg call on its loop), echo and payments. An aio server only pays off when "
        "the handler itself is cheap or async; the payment's time is in the engine's "
        "blocking work, so it would add a loop hop per call and a second concurrency model "
        "for the same throughput. The rows below give the measured numbers."
    ),
    run=run,
)
