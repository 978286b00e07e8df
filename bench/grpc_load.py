"""What the gRPC benchmarks share: users with money, closed-loop client threads, stage timers.

A `Population` is N users created and funded through an admin `SignedClient` on the
engine in-process (setup, not measured). `measure` runs closed-loop client threads, each
with its own channel, for a warm-up and then a timed window, and counts the calls
answered inside the window. `TimedEngine`/`TimedStore` wrap the server's engine and
store (same objects underneath) to split the server side of a request into stages:
`dispatch` (all of Engine.dispatch), `read` (reader snapshots: the engine reads a key
and its owner, or a recipient, only the first time it sees them), and the
three parts of a `Store.write`: `begin` (until the caller's own statements start:
taking a pool connection on PostgreSQL; on SQLite, queueing for the write lock, BEGIN
IMMEDIATE and the work of the callers batched ahead of it), `work` (its own statements)
and `commit` (until its result is back: on SQLite the callers batched after it, and the
COMMIT with its WAL flush). On SQLite it also counts COMMITs and the writes in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.adapters.sqlite_store import SqliteStore
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.domain.model import Role, TxStatus
from cpay_engine.domain.signing import signing_input
from cpay_engine.errors import CPayError
from cpay_engine.rpc.errors import to_status
from cpay_engine.rpc.server import MAX_MESSAGE_BYTES
from cpay_engine.rpc.transport import GrpcTransport
from cpay_engine.service.engine import METHODS, SERVICE, Engine, method_name
from cpay_engine.service.ports import Store, UnitOfWork
from cpay_engine.wire import cpay_pb2 as pb

CURRENCY = "DBL"
AMOUNT_MINOR = 1
FUNDS_MINOR = 10**12  # per user: far more than any run can spend at 1 minor unit a payment
ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"
CALL_TIMEOUT_S = 30.0
JOIN_TIMEOUT_S = 60.0


# --- the server side ----------------------------------------------------------------------


def echo_handler() -> grpc.GenericRpcHandler:
    """A unary RPC that answers with its request bytes (no (de)serializer: raw bytes)."""

    def echo(request: bytes, _context: grpc.ServicerContext) -> bytes:
        return request

    handler: grpc.GenericRpcHandler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    return handler


class StageTimes:
    """Seconds and counts per stage, summed over every server thread while enabled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.enabled = False
        # Running totals a store keeps (SqliteStore: COMMITs and the writes in them);
        # a window records how much they grew as counts without seconds.
        self.counters: Callable[[], dict[str, int]] | None = None
        self._counted: dict[str, int] = {}

    def add(self, stage: str, seconds: float) -> None:
        if self.enabled:
            with self._lock:
                self.seconds[stage] += seconds
                self.calls[stage] += 1

    def start(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()
            self._counted = self.counters() if self.counters else {}
            self.enabled = True

    def stop(self) -> StageSnapshot:
        with self._lock:
            self.enabled = False
            calls = dict(self.calls)
            if self.counters is not None:
                for name, total in self.counters().items():
                    calls[name] = total - self._counted.get(name, 0)
            return StageSnapshot(dict(self.seconds), calls)


@dataclass(frozen=True, slots=True)
class StageSnapshot:
    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def per_call_us(self, stage: str) -> float:
        calls = self.calls.get(stage, 0)
        return self.seconds.get(stage, 0.0) / calls * 1e6 if calls else 0.0

    def describe(self, stages: tuple[str, ...]) -> str:
        return ", ".join(f"{stage} {self.per_call_us(stage):,.0f} µs" for stage in stages)

    def writes_per_commit(self) -> float:
        """Mean group-commit batch: writes (payments and read nonces) per COMMIT."""
        commits = self.calls.get("commits", 0)
        return self.calls.get("writes", 0) / commits if commits else 0.0


T = TypeVar("T")

STAGES = ("dispatch", "read", "begin", "work", "commit")


class TimedStore:
    """A Store that times reader snapshots and the three parts of every unit of work."""

    def __init__(self, inner: Store, times: StageTimes) -> None:
        self.inner = inner
        self.times = times
        if isinstance(inner, SqliteStore):
            times.counters = lambda: {"commits": inner.commits, "writes": inner.writes}

    def reader(self) -> contextlib.AbstractContextManager[UnitOfWork]:
        return self._timed_read(self.inner.reader())

    def snapshot(self) -> contextlib.AbstractContextManager[UnitOfWork]:
        return self._timed_read(self.inner.snapshot())

    @contextlib.contextmanager
    def _timed_read(
        self, view: contextlib.AbstractContextManager[UnitOfWork]
    ) -> Iterator[UnitOfWork]:
        start = time.perf_counter()
        try:
            with view as uow:
                yield uow
        finally:
            self.times.add("read", time.perf_counter() - start)

    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """begin = from the call until this caller's work starts (queueing for the write
        lock, BEGIN, and on SQLite the work of callers batched ahead of it); work = its
        own statements; commit = from there until its result is back (the work of callers
        batched after it, and the COMMIT with its WAL flush)."""
        clock = time.perf_counter
        start = clock()
        ended = [start]

        def timed(uow: UnitOfWork) -> T:
            began = clock()
            self.times.add("begin", began - start)
            try:
                return work(uow)
            finally:
                ended[0] = clock()
                self.times.add("work", ended[0] - began)

        try:
            return self.inner.write(timed)
        finally:
            self.times.add("commit", clock() - ended[0])

    def close(self) -> None:
        self.inner.close()


class TimedEngine(Engine):
    """The same engine (its store wrapped in a TimedStore), timing every dispatch."""

    def __init__(self, engine: Engine, times: StageTimes) -> None:
        super().__init__(
            TimedStore(engine.store, times), receipt_key=engine.receipt_key, clock=engine.clock
        )
        self.times = times

    def dispatch(self, method: str, request: Message) -> Message:
        start = time.perf_counter()
        try:
            return super().dispatch(method, request)
        finally:
            self.times.add("dispatch", time.perf_counter() - start)


# --- users with money ---------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """Funded users: `handles[i]` signs with `keys[handles[i]]`."""

    handles: tuple[str, ...]
    keys: dict[str, SigningKey]

    @classmethod
    def create(cls, engine: Engine, admin_key: SigningKey, count: int) -> Population:
        """`count` users, each minted FUNDS_MINOR, through the engine in this process."""
        admin = SignedClient(InProcessTransport(engine), admin_key)  # never closed: the
        handles = tuple(f"u{n:02d}" for n in range(count))  # engine is the caller's
        keys: dict[str, SigningKey] = {}
        for handle in handles:
            key = SigningKey.generate()
            admin.create_user(handle=handle, role=Role.USER, public_key=key.public_key)
            admin.mint(
                payment_id=str(uuid.uuid4()),
                recipient=f"@{handle}",
                amount_minor=FUNDS_MINOR,
                currency=CURRENCY,
            )
            keys[handle] = key
        return cls(handles, keys)

    def payees(self, payer: str) -> tuple[str, ...]:
        return tuple(f"@{h}" for h in self.handles if h != payer)


def signed_payment_size(key: SigningKey) -> int:
    """Bytes on the wire of one signed PaymentRequest as SignedClient.pay builds it."""
    body = pb.PaymentRequest.Body(
        payment_id=str(uuid.uuid4()), recipient="@u01", amount_minor=AMOUNT_MINOR, currency=CURRENCY
    ).SerializeToString()
    method = method_name("ProcessPayment")
    timestamp, nonce = time.time_ns() // 1_000_000, os.urandom(16)
    signed = pb.SignedRequest(
        body=body,
        key_id=key.key_id,
        timestamp_ms=timestamp,
        nonce=nonce,
        signature=key.sign(signing_input(method, key.key_id, timestamp, nonce, body)),
    )
    return len(pb.PaymentRequest(signed=signed).SerializeToString())


# --- client threads -----------------------------------------------------------------------


class Meter(Protocol):
    """Something read at the edges of a timed window (e.g. CPU of other processes)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Caller(Protocol):
    """One client thread's connection: `call` makes one RPC and checks its answer."""

    def call(self) -> None: ...

    def close(self) -> None: ...


class EchoCaller:
    def __init__(self, target: str, payload: bytes) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = self.channel.unary_unary(ECHO_METHOD)
        self.payload = payload

    def call(self) -> None:
        answer = self.stub(self.payload, timeout=CALL_TIMEOUT_S)
        if answer != self.payload:
            raise RuntimeError("the echo RPC answered different bytes")

    def close(self) -> None:
        self.channel.close()


class PaymentCaller:
    """A SignedClient over its own GrpcTransport, paying 1 minor unit to a random payee."""

    def __init__(self, target: str, key: SigningKey, payees: tuple[str, ...], seed: int) -> None:
        self.client = SignedClient(GrpcTransport(target, timeout_s=CALL_TIMEOUT_S), key)
        self.payees = payees
        self.rng = random.Random(seed)

    def call(self) -> None:
        result = self.client.pay(
            payment_id=str(uuid.uuid4()),
            recipient=self.rng.choice(self.payees),
            amount_minor=AMOUNT_MINOR,
            currency=CURRENCY,
        )
        if result.transaction.status is not TxStatus.COMPLETED:
            raise RuntimeError(f"a payment did not complete: {result.transaction}")

    def close(self) -> None:
        self.client.close()


def payment_callers(target: str, population: Population) -> Callable[[int], Caller]:
    """Client i pays as its own user, handles[i], to the others at random."""

    def make(i: int) -> Caller:
        payer = population.handles[i]
        return PaymentCaller(target, population.keys[payer], population.payees(payer), seed=i)

    return make


def echo_callers(target: str, payload: bytes) -> Callable[[int], Caller]:
    def make(_i: int) -> Caller:
        return EchoCaller(target, payload)

    return make


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed window: calls answered, wall seconds, CPU seconds of this whole process."""

    calls: int
    wall_s: float
    cpu_s: float
    stages: StageSnapshot = field(default_factory=StageSnapshot)

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s / self.calls * 1e6 if self.calls else 0.0

    @property
    def cores(self) -> float:
        """CPUs this process kept busy on average (client and server threads together)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def combine(samples: Sequence[Sample]) -> Sample:
    """Several windows of one configuration as one: calls, seconds and stages summed."""
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for sample in samples:
        for stage, value in sample.stages.seconds.items():
            seconds[stage] += value
        for stage, count in sample.stages.calls.items():
            calls[stage] += count
    return Sample(
        calls=sum(s.calls for s in samples),
        wall_s=sum(s.wall_s for s in samples),
        cpu_s=sum(s.cpu_s for s in samples),
        stages=StageSnapshot(dict(seconds), dict(calls)),
    )


def measure(
    make_caller: Callable[[int], Caller],
    clients: int,
    warmup_s: float,
    window_s: float,
    times: StageTimes | None = None,
    meters: Sequence[Meter] = (),
) -> Sample:
    """`clients` closed-loop threads: connect and make one call each, run `warmup_s`, then
    count the calls answered during `window_s` (`meters` are started and stopped at its
    edges). Raises the first error a client hit."""
    counts = [0] * clients
    stop = threading.Event()
    ready = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def client(i: int) -> None:
        caller: Caller | None = None
        try:
            caller = make_caller(i)
            caller.call()  # connects the channel before the clock starts
            ready.wait(timeout=JOIN_TIMEOUT_S)
            call = caller.call
            while not stop.is_set():
                call()
                counts[i] += 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()
            ready.abort()
        finally:
            if caller is not None:
                caller.close()

    threads = [
        threading.Thread(target=client, args=(i,), name=f"bench-client-{i}", daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=JOIN_TIMEOUT_S)
        stop.wait(warmup_s)
        if times is not None:
            times.start()
        for meter in meters:
            meter.start()
        before, cpu, wall = sum(counts), time.process_time(), time.perf_counter()
        stop.wait(window_s)
        after, cpu_s, wall_s = sum(counts), time.process_time() - cpu, time.perf_counter() - wall
        for meter in meters:
            meter.stop()
        stages = times.stop() if times is not None else StageSnapshot()
    except threading.BrokenBarrierError as exc:
        if not errors:
            errors.append(exc)
    finally:
        stop.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
    if errors:
        first = errors[0]
        raise RuntimeError(f"a client failed: {type(first).__name__}: {first}") from first
    return Sample(after - before, wall_s, cpu_s, stages)


# --- the alternative architecture: grpc.aio ---------------------------------------------


class AioServer:
    """The CPay service on a `grpc.aio` server instead of start_server's sync thread pool.

    Engine calls block (sqlite3, psycopg), so each goes to a thread pool with
    `run_in_executor`, as an asyncio server must do; errors become the same status as in
    cpay_engine.rpc.server. The event loop runs in its own thread. Not product code: here
    only to measure the architecture start_server did not choose.
    """

    def __init__(self, engine: Engine, workers: int = 16) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-aio")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-aio-loop")
        self.thread.daemon = True
        self.thread.start()
        try:
            self.server, self.port = asyncio.run_coroutine_threadsafe(
                self._start(engine), self.loop
            ).result(JOIN_TIMEOUT_S)
        except BaseException:
            self._close_loop()
            raise

    async def _start(self, engine: Engine) -> tuple[Any, int]:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        handlers = {
            spec.rpc: grpc.unary_unary_rpc_method_handler(
                self._behaviour(engine, name),
                request_deserializer=spec.request_type.FromString,
                response_serializer=_serialize,
            )
            for name, spec in METHODS.items()
        }

        async def echo(request: bytes, _context: Any) -> bytes:
            return request

        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(SERVICE, handlers),
                grpc.method_handlers_generic_handler(
                    ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
                ),
            )
        )
        port: int = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    def _behaviour(
        self, engine: Engine, method: str
    ) -> Callable[[Message, Any], Coroutine[Any, Any, Message]]:
        async def handle(request: Message, context: Any) -> Message:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self.pool, engine.dispatch, method, request)
            except CPayError as error:
                status = to_status(error)
                await context.abort(status.code, status.details, status.trailing_metadata)
                raise

        return handle

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(5.0), self.loop).result(
                JOIN_TIMEOUT_S
            )
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(JOIN_TIMEOUT_S)
        self.loop.close()
        self.pool.shutdown(wait=True)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
