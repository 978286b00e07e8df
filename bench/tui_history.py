"""tui_history: the dashboard's history screen on a wallet with a million transactions.

Data: a real wallet built as `cpay init` builds one (`initialize_local`, then the engine:
@alice the admin, @bob, @carol, a mint and a few real signed payments, so the receipt key,
receipts and audit chain are real), then about a million payments for @alice written
straight into the ledger tables with `executemany` in one transaction: transaction rows
(ascending created_at_ms, unique ids), the tx_parties rows of both sides and two postings
each; alice pays a counterparty, the counterparty pays the same amount back, so every
account's balance is still the sum of its postings (set once at the end). No receipts for
those rows: history does not read them. The built wallet (database and encrypted key files)
is cached under the temp directory, keyed by the migrations' text and the row count, and
copied for each run.

Baseline: `cpay history --limit 50` on that wallet, a fresh process of the venv's console
script each time (CPAY_HOME, CPAY_KEYSTORE=file and the passphrase in its environment).

Measured in-process, with Textual's headless driver (`App.run_test`): from opening the
session as `cpay ui` does (key unlock, engine, `account()`) through the app's start to the
first page of the history screen in the table, two ways: the app opened on history
(`cpay ui --screen history`), and opened on the dashboard with `h` pressed at once (`cpay
ui`, then `h`); then, once the engine is idle, from pressing End to the oldest transaction
in the table with the cursor on it, for good (it must stay so). A process start cost
(`python -c` importing the app and the history screen) is measured beside it. One more
launch, with every engine call timed, and the history queries run alone on SQLite, say
where the time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from bench.cli_startup import PASSPHRASE, child_env, cpay_script, run_once
from bench.core import CONTEXT, Benchmark, Figure, RunConfig, Skip, Target, median, safe_ratio
from cpay_cli.session import Passphrase

T = TypeVar("T")

if TYPE_CHECKING:
    from textual.pilot import Pilot
    from textual.widgets import DataTable

    from cpay_cli.paths import Home
    from cpay_cli.session import Session
    from cpay_cli.tui.screens.history import HistoryScreen
    from cpay_engine.api import PaymentsAPI

NAME = "tui_history"
ROWS = 1_000_000
QUICK_ROWS = 20_000
REPETITIONS = 5
QUICK_REPETITIONS = 1
BASELINE_RUNS = 5
QUICK_BASELINE_RUNS = 1
PROFILE = "bench"
ADMIN, OTHERS = "alice", ("bob", "carol")
CURRENCY = "DBL"
SIZE = (120, 40)
PAGE = 100  # HistoryScreen's page (cpay_cli.tui.screens.history.PAGE), checked in run
POLL_S = 0.01
WAIT_S = 300.0  # a screen that has not shown its rows by then is a failure, not a figure
OBSERVE_S = 5.0  # End is watched this long at most
HOLD_S = 0.5  # the oldest row must stay selected this long, no worker running, to count
SPAN_MS = 3 * 365 * 86_400_000  # the bulk rows' created_at spread: three years up to the build
MINT_MINOR = 10_000_000_00
MEMOS = ("rent", "groceries", "Lunch with Bob", "coffee", "", "tickets", "Café", "refund")
BUILD_VERSION = "1"  # bump when the data built below changes

FIRST_PAGE_TARGET = Target("measured", "<", 1.0, "s")
# What a launch onto history imports (screens are imported when first shown): timed in a
# fresh process, since this one has imported them already.
TUI_IMPORTS = "import cpay_cli.tui.app, cpay_cli.tui.screens.history"
OLDEST_TARGET = Target("measured", "<", 0.5, "s")

# --- the wallet ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What a built wallet holds, saved next to it in the cache."""

    rows: int  # bulk rows
    alice_key_id: str
    engine_key_id: str
    oldest_id: str  # alice's oldest transaction (her first mint)
    newest_id: str  # alice's newest transaction (the last bulk row)
    alice_transactions: int


def cache_root() -> Path:
    return Path(tempfile.gettempdir()) / "cpay-bench-cache"


def cache_key(rows: int) -> str:
    """Changes when the schema (any migration) or this builder changes."""
    from cpay_engine.adapters.sqlite_store import migrations

    digest = hashlib.sha256(f"{BUILD_VERSION}:{rows}".encode())
    for version, name, sql in migrations():
        digest.update(f"\0{version}\0{name}\0{sql}".encode())
    return f"{NAME}-{rows}-{digest.hexdigest()[:16]}"


class Clock:
    """Engine and clients share it; it starts SPAN_MS in the past so the bulk rows follow."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


def build_wallet(directory: Path, rows: int, log: Callable[[str], None]) -> Manifest:
    """wallet.db, keys/ (encrypted key files) and manifest.json in `directory`."""
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import Backend, KeyStore
    from cpay_engine.bootstrap import initialize_local, open_local_engine
    from cpay_engine.client import InProcessTransport, SignedClient
    from cpay_engine.domain.model import Role, TxStatus

    db = directory / "wallet.db"
    engine_key, alice_key = SigningKey.generate(), SigningKey.generate()
    keys = {ADMIN: alice_key} | {h: SigningKey.generate() for h in OTHERS}
    start = time.perf_counter()
    initialize_local(db, ADMIN, alice_key, engine_key)
    build_ms = time.time_ns() // 1_000_000
    clock = Clock(build_ms - SPAN_MS - 3_600_000)
    engine = open_local_engine(db, receipt_key=lambda: engine_key, clock=clock)
    try:

        def client(handle: str) -> SignedClient:
            return SignedClient(InProcessTransport(engine), keys[handle], clock=clock)

        for handle in OTHERS:
            client(ADMIN).create_user(
                handle=handle, role=Role.USER, public_key=keys[handle].public_key
            )
        oldest_id = str(uuid.uuid4())
        clock.advance(60_000)
        client(ADMIN).mint(
            payment_id=oldest_id, recipient=ADMIN, amount_minor=MINT_MINOR, currency=CURRENCY
        )
        for payer, payee, amount in (
            (ADMIN, "bob", 5_000_00),
            (ADMIN, "carol", 5_000_00),
            ("bob", ADMIN, 1_000_00),
            ("carol", ADMIN, 1_000_00),
        ):
            clock.advance(60_000)
            result = client(payer).pay(
                payment_id=str(uuid.uuid4()),
                recipient=payee,
                amount_minor=amount,
                currency=CURRENCY,
                memo="set-up payment",
            )
            if result.transaction.status is not TxStatus.COMPLETED:
                raise RuntimeError(f"set-up payment {payer} -> {payee} failed: {result}")
        first_ms = clock.now_ms + 60_000
    finally:
        engine.close()
    log(f"  wallet initialized with real signed payments in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    newest_id, alice_count = bulk_insert(db, rows, first_ms, build_ms)
    log(f"  {rows:,} transactions bulk-inserted in {time.perf_counter() - start:.1f} s")
    store = KeyStore(directory / "keys", BenchPassphrase())
    from cpay_cli.session import Session

    store.save(Session.key_name(PROFILE, ADMIN, alice_key.key_id), alice_key, Backend.FILE)
    store.save(Session.key_name(PROFILE, "engine", engine_key.key_id), engine_key, Backend.FILE)
    manifest = Manifest(
        rows=rows,
        alice_key_id=alice_key.key_id,
        engine_key_id=engine_key.key_id,
        oldest_id=oldest_id,
        newest_id=newest_id,
        alice_transactions=alice_count,
    )
    (directory / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def bulk_insert(db: Path, rows: int, first_ms: int, last_ms: int) -> tuple[str, int]:
    """`rows` payments of @alice, alternately out to and back in from bob or carol.

    Returns alice's newest transaction id and how many transactions she has in all.
    """
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -500000")  # KiB: the indexes stay in memory
        users = dict(conn.execute("SELECT handle, id FROM users"))
        accounts = {
            user_id: account_id
            for account_id, user_id in conn.execute(
                "SELECT id, user_id FROM accounts WHERE currency = ? AND user_id IS NOT NULL",
                (CURRENCY,),
            )
        }
        if set(users) != {ADMIN, *OTHERS} or len(accounts) != 1 + len(OTHERS):
            raise RuntimeError(
                f"unexpected set-up: users {sorted(users)}, {len(accounts)} accounts"
            )
        (base,) = conn.execute("SELECT max(seq) FROM transactions").fetchone()
        step = max(1, (last_ms - first_ms) // max(rows, 1))
        alice = users[ADMIN]

        def order(i: int) -> tuple[str, str, int]:
            """(payer handle, payee handle, amount) of bulk row i."""
            pair = i // 2
            other = OTHERS[pair % len(OTHERS)]
            amount = 100 + (pair * 7919) % 99_900
            return (ADMIN, other, amount) if i % 2 == 0 else (other, ADMIN, amount)

        ids: list[str] = []

        def transactions() -> Iterator[tuple[Any, ...]]:
            for i in range(rows):
                payer, payee, amount = order(i)
                memo = MEMOS[i % len(MEMOS)]
                tx_id = str(uuid.uuid4())
                if i == rows - 1:
                    ids.append(tx_id)
                yield (
                    base + 1 + i,
                    tx_id,
                    "payment",
                    "completed",
                    first_ms + i * step,
                    users[payer],
                    users[payer],
                    users[payee],
                    payer,
                    payee,
                    amount,
                    CURRENCY,
                    memo,
                    memo.casefold(),
                )

        def parties() -> Iterator[tuple[str, int, str]]:
            for i in range(rows):
                payer, payee, _ = order(i)
                yield (users[payer], base + 1 + i, "out")
                yield (users[payee], base + 1 + i, "in")

        def postings() -> Iterator[tuple[int, int, int, int, str]]:
            for i in range(rows):
                payer, payee, amount = order(i)
                yield (base + 1 + i, 0, accounts[users[payer]], -amount, CURRENCY)
                yield (base + 1 + i, 1, accounts[users[payee]], amount, CURRENCY)

        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO transactions (seq, id, kind, status, created_at_ms, initiator_id, "
            "from_user_id, to_user_id, from_handle, to_handle, amount_minor, currency, memo, "
            "memo_folded) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            transactions(),
        )
        conn.executemany(
            "INSERT INTO tx_parties (user_id, seq, direction) VALUES (?, ?, ?)", parties()
        )
        conn.executemany(
            "INSERT INTO postings (seq, idx, account_id, amount_minor, currency) "
            "VALUES (?, ?, ?, ?, ?)",
            postings(),
        )
        conn.execute(
            "UPDATE accounts SET balance_minor = (SELECT coalesce(sum(p.amount_minor), 0) "
            "FROM postings p WHERE p.account_id = accounts.id)"
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (count,) = conn.execute(
            "SELECT count(*) FROM tx_parties WHERE user_id = ?", (alice,)
        ).fetchone()
        newest = conn.execute(
            "SELECT t.id FROM tx_parties p JOIN transactions t ON t.seq = p.seq "
            "WHERE p.user_id = ? ORDER BY p.seq DESC LIMIT 1",
            (alice,),
        ).fetchone()[0]
    finally:
        conn.close()
    if ids and ids[0] != newest:
        raise RuntimeError(
            f"alice's newest transaction is {newest}, not the last bulk row {ids[0]}"
        )
    return str(newest), int(count)


def cached_wallet(rows: int, log: Callable[[str], None]) -> tuple[Path, Manifest]:
    """The built wallet's cache directory (built now if absent) and its manifest."""
    root = cache_root()
    directory = root / cache_key(rows)
    manifest_file = directory / "manifest.json"
    if manifest_file.exists():
        log(f"  cached wallet: {directory}")
        return directory, Manifest(**json.loads(manifest_file.read_text()))
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{NAME}-{rows}-*"):  # an older schema's wallet
        shutil.rmtree(stale, ignore_errors=True)
    building = root / f".{directory.name}.{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    log(f"  building a wallet with {rows:,} bulk transactions (cached in {directory})")
    try:
        manifest = build_wallet(building, rows, log)
        building.rename(directory)
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
        if not manifest_file.exists():  # not another run that built it first
            raise
        return directory, Manifest(**json.loads(manifest_file.read_text()))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return directory, manifest


# --- a run's home --------------------------------------------------------------------------


def home_at(base: Path) -> Home:
    """The layout `Home.from_env` gives for CPAY_HOME=base (the child processes get that)."""
    from cpay_cli.paths import Home

    return Home(base / "config", base / "data", base / "cache", base / "keys")


def make_home(base: Path, cached: Path, manifest: Manifest) -> Home:
    """A CPAY_HOME with a copy of the cached wallet and its key files, and a profile for it."""
    from cpay_cli.profiles import Config, KeyRef, Profile

    home = home_at(base)
    db = home.wallet_db(PROFILE)
    db.parent.mkdir(parents=True)
    shutil.copyfile(cached / "wallet.db", db)
    shutil.copytree(cached / "keys", home.keys)
    profile = Profile(
        name=PROFILE,
        mode="local",
        db=str(db),
        default_user=ADMIN,
        users={ADMIN: KeyRef(manifest.alice_key_id, "file")},
        engine_key=KeyRef(manifest.engine_key_id, "file"),
    )

    def write(config: Config) -> None:
        config.current, config.profiles = PROFILE, {PROFILE: profile}

    Config(home.config_file).change(write)
    return home


# --- subprocess timings ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessTimes:
    history: list[float]  # `cpay history --limit 50`
    import_tui: list[float]  # `python -c TUI_IMPORTS`
    bare: list[float]  # `python -c pass`


def time_processes(
    base: Path, manifest: Manifest, runs: int, warm_up: bool, log: Callable[[str], None]
) -> ProcessTimes:
    cpay = str(cpay_script())
    env = child_env(base, base.parent / "pycache")
    history = [cpay, "--profile", PROFILE, "history", "--limit", "50", "-o", "json"]
    # Checked once, untimed (it is also the warm-up of bytecode and page cache).
    done = subprocess.run(
        history, env=env, cwd=base, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0 or manifest.newest_id not in done.stdout:
        raise RuntimeError(
            f"`cpay history` on the bench wallet failed or missed the newest row: {done.stderr}"
        )
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "import_tui": [sys.executable, "-c", TUI_IMPORTS],
        "history": history[:-2],  # the table output, as a person would run it
    }
    if warm_up:
        for argv in commands.values():
            run_once(argv, env, base)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs):
        for name, argv in commands.items():
            samples[name].append(run_once(argv, env, base).wall_s)
        log(
            f"  round {round_ + 1}: "
            + ", ".join(f"{name} {values[-1]:.3f} s" for name, values in samples.items())
        )
    return ProcessTimes(samples["history"], samples["import_tui"], samples["bare"])


# --- the real thing: `cpay ui` in a pseudo-terminal ----------------------------------------

TERMINAL_COLUMNS, TERMINAL_LINES = 120, 40
TERMINAL_TIMEOUT_S = 30.0


def newest_when(db: Path, manifest: Manifest) -> str:
    """The When cell of alice's newest transaction, as the history table shows it."""
    from cpay_cli.tui.format import when

    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT created_at_ms FROM transactions WHERE id = ?", (manifest.newest_id,)
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise RuntimeError(f"the bench wallet has no transaction {manifest.newest_id}")
    return when(int(row[0]))


def history_painted(lines: list[str], first_when: str) -> bool:
    """The history table's header is on the screen and its first row is the newest one."""
    for i, line in enumerate(lines[:-1]):
        if all(name in line for name in ("When", "Counterparty", "Memo")):
            return first_when in lines[i + 1]
    return False


def terminal_launch(base: Path, first_when: str) -> float:
    """Seconds from spawning `cpay ui --screen history` on a pseudo-terminal to the
    newest row of the history table on that terminal's screen (read by a VT100
    emulator, pyte, from the bytes the app wrote). Then `q`."""
    import pyte

    screen = pyte.Screen(TERMINAL_COLUMNS, TERMINAL_LINES)
    stream = pyte.ByteStream(screen)
    argv = [str(cpay_script()), "--profile", PROFILE, "ui", "--screen", "history"]
    env = child_env(base, base.parent / "pycache")
    env.update(TERM="xterm-256color", COLUMNS=str(TERMINAL_COLUMNS), LINES=str(TERMINAL_LINES))
    master, slave = pty.openpty()
    size = struct.pack("HHHH", TERMINAL_LINES, TERMINAL_COLUMNS, 0, 0)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=base, start_new_session=True
    )
    os.close(slave)
    seen: float | None = None
    try:
        while (elapsed := time.perf_counter() - start) < TERMINAL_TIMEOUT_S:
            ready, _, _ = select.select([master], [], [], 0.01)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                break
            stream.feed(chunk)
            if history_painted(screen.display, first_when):
                seen = time.perf_counter() - start
                break
        if seen is None:
            raise RuntimeError(
                f"`cpay ui --screen history` showed no history page in {elapsed:.1f} s; "
                "screen:\n" + "\n".join(line.rstrip() for line in screen.display)
            )
        os.write(master, b"q")
        deadline = time.perf_counter() + 10
        while proc.poll() is None and time.perf_counter() < deadline:
            # keep reading, so the app's last writes never block on a full terminal
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 1 << 16)
                except OSError:
                    break
        try:
            proc.wait(timeout=max(deadline - time.perf_counter(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        if proc.returncode != 0:
            raise RuntimeError(f"`cpay ui` exited with {proc.returncode} after q")
        return seen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


# --- the dashboard, headless -----------------------------------------------------------------


class BenchPassphrase(Passphrase):
    """Instead of the environment, a file or a prompt: the bench key files' passphrase."""

    def __call__(self, confirm: bool) -> str:  # noqa: ARG002 - Passphrase's signature
        return PASSPHRASE


@dataclass(frozen=True)
class Launch:
    """One launch, in seconds from opening the session."""

    start: str  # the screen the app opened on: "history", or "dashboard" and then 'h'
    session_s: float  # key unlock, engine, account(): what `cpay ui` does before the app
    ready_s: float  # + the app built and started (run_test's pilot is handed over)
    first_page_s: float  # + ('h' pressed and) the newest history page in the table, painted
    idle_s: float  # + the engine idle: no worker, no thread in CPay's code (dashboard done)
    dashboard_busy: bool  # the dashboard was still loading when the first page showed
    end: EndOutcome

    @property
    def ready_to_page_s(self) -> float:
        """From the app handed over ('h' pressed then, on the dashboard) to the first page."""
        return self.first_page_s - self.ready_s

    @property
    def app_to_page_s(self) -> float:
        return self.first_page_s - self.session_s


@dataclass(frozen=True)
class EndOutcome:
    """What End did, in seconds from pressing it (the engine idle before)."""

    stable_s: float | None  # the oldest row shown and selected, and it stayed (None: never)
    first_seen_s: float | None  # the oldest row shown and selected for the first time
    after: str  # the table at the end of the observation

    @property
    def sample(self) -> float:
        """The figure's sample: OBSERVE_S, a lower bound, when the view did not stay."""
        return self.stable_s if self.stable_s is not None else OBSERVE_S


def press(pilot: Pilot[None], key: str) -> None:
    """A key as the terminal driver delivers one (Pilot.press would also wait for an idle CPU,
    which a dashboard loading in its worker threads does not give it)."""
    from textual import events

    pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))


async def wait_until(pilot: Pilot[None], ready: Callable[[], bool], what: str) -> None:
    deadline = time.perf_counter() + WAIT_S
    while not ready():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: not shown after {WAIT_S:.0f} s")
        await pilot.pause(POLL_S)


def history_screen(pilot: Pilot[None]) -> HistoryScreen | None:
    from cpay_cli.tui.screens.history import HistoryScreen

    screen = pilot.app.screen
    return screen if isinstance(screen, HistoryScreen) else None


def history_table(screen: HistoryScreen) -> DataTable[object]:
    from textual.widgets import DataTable

    table: DataTable[object] = screen.query_one("#history-table", DataTable)
    return table


def shows(
    pilot: Pilot[None], first_id: str = "", last_id: str = "", cursor_last: bool = False
) -> bool:
    """The history table is loaded, holds the window's rows, and they start/end as asked."""
    screen = history_screen(pilot)
    if screen is None:
        return False
    table = history_table(screen)
    rows = screen.window.rows
    if table.loading or not rows or table.row_count != len(rows):
        return False
    if first_id and rows[0].id != first_id:
        return False
    if last_id and rows[-1].id != last_id:
        return False
    return not cursor_last or table.cursor_row == len(rows) - 1


def workers_idle(pilot: Pilot[None]) -> bool:
    return all(worker.is_finished for worker in pilot.app.workers)


def cpay_running() -> bool:
    """Some thread other than this one is inside CPay's code (an engine call, a worker's job).

    Textual marks a superseded thread worker cancelled (finished) at once, but the thread
    runs its engine calls to the end: the app's worker list cannot tell.
    """
    roots = tuple(
        str(Path(module.__file__).parent)
        for module in (sys.modules["cpay_engine"], sys.modules["cpay_cli"])
        if module.__file__
    )
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        current: FrameType | None = frame
        while ident != me and current is not None:
            if current.f_code.co_filename.startswith(roots):
                return True
            current = current.f_back
    return False


async def idle(pilot: Pilot[None]) -> None:
    """No worker running, no thread in CPay's code, and the screen's messages handled."""
    deadline = time.perf_counter() + WAIT_S
    while True:
        await pilot.pause(0)  # the messages queued so far are handled
        if workers_idle(pilot) and not cpay_running():
            await pilot.pause(0)  # and those the finished workers' answers queued
            if workers_idle(pilot) and not cpay_running():
                return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"workers still running after {WAIT_S:.0f} s: {pilot.app.workers}")
        await asyncio.sleep(POLL_S)


def describe_table(pilot: Pilot[None]) -> str:
    screen = history_screen(pilot)
    if screen is None:
        return "the history screen is gone"
    table, rows = history_table(screen), screen.window.rows
    if not rows:
        return "no rows"
    cursor = min(max(table.cursor_row, 0), len(rows) - 1)
    return (
        f"{table.row_count} rows loaded (seq {rows[0].seq} down to {rows[-1].seq}), cursor on "
        f"row {table.cursor_row} (seq {rows[cursor].seq})"
    )


async def press_end(pilot: Pilot[None], manifest: Manifest) -> EndOutcome:
    """End, then watch: stable once the oldest row has stayed selected for HOLD_S, no worker
    running; given up OBSERVE_S after the key."""

    def oldest_selected() -> bool:
        return shows(pilot, last_id=manifest.oldest_id, cursor_last=True)

    clock = time.perf_counter
    pressed = clock()
    press(pilot, "end")
    first_seen: float | None = None
    since: float | None = None
    while clock() - pressed < OBSERVE_S:
        # Not pilot.pause: it waits for the screen to handle everything queued, and a
        # view that lasts a few hundred milliseconds can pass unseen in one such wait.
        await asyncio.sleep(POLL_S)
        now = clock()
        if oldest_selected():
            first_seen = now if first_seen is None else first_seen
            since = now if since is None else since
            if now - since >= HOLD_S and workers_idle(pilot) and not cpay_running():
                return EndOutcome(since - pressed, first_seen - pressed, describe_table(pilot))
        else:
            since = None
    return EndOutcome(
        None, None if first_seen is None else first_seen - pressed, describe_table(pilot)
    )


async def launch(
    home: Home, manifest: Manifest, start_on: str, api_wrapper: ApiWrapper | None = None
) -> Launch:
    """Open the session as `cpay ui --screen START_ON` does, start the app headless (on the
    dashboard: then 'h'), wait for the first history page, then End."""
    from cpay_cli.commands.ui import ui_context
    from cpay_cli.session import Session
    from cpay_cli.tui.app import CPayApp
    from cpay_cli.tui.modes import ScreenName

    clock = time.perf_counter
    start = clock()
    session = Session(profile_name=PROFILE, home=home, passphrase=BenchPassphrase())
    api: PaymentsAPI | None = None
    try:
        api = session.api() if api_wrapper is None else api_wrapper(session)
        account = api.account()
        opened = clock()
        app = CPayApp(api, ui_context(session), account, start=ScreenName(start_on))
        async with app.run_test(size=SIZE) as pilot:
            ready = clock()
            if start_on != ScreenName.HISTORY:
                press(pilot, "h")
            await wait_until(pilot, lambda: shows(pilot, first_id=manifest.newest_id), "first page")
            await pilot.pause(0)  # the screen refreshed with the rows
            first_page = clock()
            busy = not workers_idle(pilot) or cpay_running()
            await idle(pilot)
            settled = clock()
            end = await press_end(pilot, manifest)
        return Launch(
            start=start_on,
            session_s=opened - start,
            ready_s=ready - start,
            first_page_s=first_page - start,
            idle_s=settled - start,
            dashboard_busy=busy,
            end=end,
        )
    finally:
        if api is not None and api_wrapper is not None:
            api.close()
        session.close()


# --- where the time goes ---------------------------------------------------------------------

ApiWrapper = Callable[["Session"], "PaymentsAPI"]


@dataclass(frozen=True)
class Call:
    """One engine call of a traced launch, in seconds from the trace's start."""

    what: str
    start_s: float
    seconds: float
    wait_s: float  # BEGIN IMMEDIATE, including the wait for the engine's write lock
    work_s: float
    thread: str


class Trace:
    def __init__(self) -> None:
        self.origin = time.perf_counter()
        self.calls: list[Call] = []
        self.local = threading.local()
        self.lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


def describe_request(method: str, request: Any) -> str:
    """'GetTransactionHistory limit=100 after=c1.0 status=unknown', from the signed body."""
    from cpay_engine.wire import cpay_pb2 as pb

    name = method.rsplit("/", 1)[-1]
    if name != "GetTransactionHistory":
        return name
    body = pb.TransactionHistoryRequest.Body.FromString(request.signed.body)
    parts = [f"history limit={body.limit}"]
    if body.before_cursor:
        parts.append(f"before={body.before_cursor}")
    if body.after_cursor:
        parts.append(f"after={body.after_cursor}")
    f = body.filter
    if f.status:
        parts.append(
            f"status={pb.TransactionStatus.Name(f.status).removeprefix('TRANSACTION_STATUS_').lower()}"
        )
    if f.since_ms:
        parts.append("since")
    return " ".join(parts)


def traced_api(trace: Trace) -> ApiWrapper:
    """The session's engine, with every call and every unit of work timed (diagnostics only)."""
    from cpay_cli.session import profile_db_url
    from cpay_engine.bootstrap import open_engine_at
    from cpay_engine.client import InProcessTransport, SignedClient
    from cpay_engine.service.engine import Engine
    from cpay_engine.service.ports import Store, UnitOfWork

    class TracedStore:
        def __init__(self, inner: Store) -> None:
            self.inner = inner

        def reader(self) -> contextlib.AbstractContextManager[UnitOfWork]:
            return self.inner.reader()

        def snapshot(self) -> contextlib.AbstractContextManager[UnitOfWork]:
            return self.inner.snapshot()

        def write(self, work: Callable[[UnitOfWork], T]) -> T:
            # wait: until this caller's own statements start (the write lock, BEGIN and
            # any writes group-committed ahead of it); work: its own statements
            begin = time.perf_counter()

            def traced(uow: UnitOfWork) -> T:
                started = time.perf_counter()
                trace.local.wait = started - begin
                try:
                    return work(uow)
                finally:
                    trace.local.work = time.perf_counter() - started

            return self.inner.write(traced)

        def close(self) -> None:
            self.inner.close()

    class TracingTransport:
        def __init__(self, inner: InProcessTransport) -> None:
            self.inner = inner

        def call(self, method: str, request: Any, response_type: Any) -> Any:
            trace.local.wait = trace.local.work = 0.0
            start = time.perf_counter()
            try:
                return self.inner.call(method, request, response_type)
            finally:
                trace.add(
                    Call(
                        describe_request(method, request),
                        start - trace.origin,
                        time.perf_counter() - start,
                        trace.local.wait,
                        trace.local.work,
                        threading.current_thread().name,
                    )
                )

        def close(self) -> None:
            self.inner.close()

    def wrap(session: Session) -> PaymentsAPI:
        trace.origin = time.perf_counter()
        plain = open_engine_at(profile_db_url(session.profile), receipt_key=session.engine_key)
        engine = Engine(TracedStore(plain.store), receipt_key=plain.receipt_key, clock=plain.clock)
        transport = TracingTransport(InProcessTransport(engine))
        return SignedClient(transport, session.device_key())

    return wrap


@dataclass(frozen=True)
class Query:
    label: str
    seconds: float
    rows: int
    plan: str


def sql_timings(db: Path, now_ms: int) -> list[Query]:
    """The screens' history queries, as SqlUnitOfWork.history builds them, on a raw connection.

    Best of 3 each, with their EXPLAIN QUERY PLAN: what SQLite alone needs for each call.
    """
    from cpay_cli.tui.screens.dashboard import attention_filters, trend_filter
    from cpay_engine.adapters.sql_uow import SqlUnitOfWork
    from cpay_engine.adapters.sqlite_store import SqliteDialect
    from cpay_engine.domain.query import HistoryFilter

    unknown, pending, failed = attention_filters(now_ms)  # what the dashboard asks for
    cases = (
        ("history: newest page", HistoryFilter(), 100, False),
        ("history: oldest page (End)", HistoryFilter(), 100, True),
        ("dashboard: latest 8", HistoryFilter(), 8, False),
        ("dashboard: 30-day trend, one 500-row page", trend_filter(now_ms), 500, False),
        ("dashboard: attention, status unknown (30 days)", unknown, 20, False),
        ("dashboard: attention, status pending (30 days)", pending, 20, False),
        ("dashboard: attention, failed in 7 days", failed, 20, False),
    )
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)  # the SQL with its values bound
        uow = SqlUnitOfWork(SqliteDialect(conn))
        (alice,) = conn.execute("SELECT id FROM users WHERE handle = ?", (ADMIN,)).fetchone()
        found: list[Query] = []
        for label, f, limit, ascending in cases:
            best, count = float("inf"), 0
            for _ in range(3):
                statements.clear()
                start = time.perf_counter()
                count = len(uow.history(alice, f, 0, 0, limit, ascending))
                best = min(best, time.perf_counter() - start)
            sql = statements[-1]
            conn.set_trace_callback(None)
            plan = "; ".join(str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            conn.set_trace_callback(statements.append)
            found.append(Query(label, best, count, plan))
        return found
    finally:
        conn.close()


# --- the benchmark ---------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def trace_summary(
    trace: Trace, since_s: float, until_s: float | None = None, limit: int = 0
) -> str:
    """The traced launch's engine calls running between two moments, times from `since_s`."""
    calls = [
        c
        for c in sorted(trace.calls, key=lambda c: c.start_s)
        if c.start_s + c.seconds >= since_s and (until_s is None or c.start_s < until_s)
    ]
    shown = calls[:limit] if limit else calls
    parts = [
        f"{c.what} at {ms(c.start_s - since_s)}: {ms(c.seconds)} "
        f"(write-lock wait {ms(c.wait_s)}, work {ms(c.work_s)})"
        for c in shown
    ]
    if len(calls) > len(shown):
        rest = calls[len(shown) :]
        parts.append(
            f"and {len(rest)} more calls ({', '.join(sorted({c.what for c in rest}))}) "
            f"taking {ms(sum(c.seconds for c in rest))} in all"
        )
    return "; ".join(parts) if parts else "none"


def trace_digest(trace: Trace, since_s: float, until_s: float) -> str:
    """How often the dashboard loaded, the first history page's call, then every other kind
    of call running between the two moments: count, time, write-lock wait."""
    first_page = f"history limit={PAGE}"
    loads = sum(c.what == "GetBalances" for c in trace.calls)  # one per dashboard load
    parts = [f"the dashboard loaded {loads} time{'s' if loads != 1 else ''} since the start"]
    calls = [c for c in trace.calls if c.start_s + c.seconds >= since_s and c.start_s < until_s]
    parts += [
        f"the first page's call ({c.what}) started {ms(c.start_s - since_s)} after 'h' and took "
        f"{ms(c.seconds)}, {ms(c.wait_s)} of it waiting for the engine's write lock"
        for c in calls
        if c.what == first_page
    ][:1]
    kinds: dict[str, list[Call]] = {}
    for c in calls:
        kind = re.sub(r" after=c1\.[1-9]\d*", " after=(newer)", re.sub(r" before=\S+", "", c.what))
        if kind != first_page:
            kinds.setdefault(kind, []).append(c)
    others = [
        f"{len(group)}× {kind} ({ms(sum(c.seconds for c in group))} in all, "
        f"{ms(sum(c.wait_s for c in group))} of it waiting for the write lock)"
        for kind, group in kinds.items()
    ]
    if others:
        parts.append("the other calls from 'h' until the engine was idle: " + ", ".join(others))
    return "; ".join(parts)


def describe_end(end: EndOutcome) -> str:
    if end.stable_s is not None:
        first = end.first_seen_s
        earlier = (
            f" (first seen after {ms(first)})" if first is not None and first < end.stable_s else ""
        )
        return f"oldest row shown and selected after {ms(end.stable_s)}{earlier}, and it stayed"
    seen = (
        f"shown and selected after {ms(end.first_seen_s)}, then left"
        if end.first_seen_s is not None
        else "never seen shown and selected"
    )
    return f"oldest row {seen}; {OBSERVE_S:g} s after End: {end.after}"


def log_launch(config: RunConfig, name: str, one: Launch) -> None:
    loading = ", dashboard still loading" if one.dashboard_busy else ""
    then = "'h' -> page" if one.start != "history" else "-> page"
    config.log(
        f"  {name} (on {one.start}): first page {one.first_page_s:.3f} s (session "
        f"{one.session_s:.3f} s, app {one.ready_s - one.session_s:.3f} s, {then} "
        f"{one.ready_to_page_s:.3f} s{loading}), engine idle at {one.idle_s:.3f} s; "
        f"End: {describe_end(one.end)}"
    )


def run(config: RunConfig) -> list[Figure]:
    try:
        import textual  # noqa: F401 - only to know that the tui extra is installed
    except ImportError:
        raise Skip("textual is not installed: install cpay[tui]") from None
    rows = QUICK_ROWS if config.quick else ROWS
    repetitions = QUICK_REPETITIONS if config.quick else REPETITIONS
    runs = QUICK_BASELINE_RUNS if config.quick else BASELINE_RUNS
    cached, manifest = cached_wallet(rows, config.log)
    # Imported now, timed in a fresh process instead (TUI_IMPORTS; the dashboard's module is
    # imported too, for the launches that open on it).
    import cpay_cli.tui.app
    import cpay_cli.tui.screens.dashboard  # noqa: F401
    from cpay_cli.tui.screens import history as screen

    if screen.PAGE != PAGE:
        raise RuntimeError(f"the history screen pages by {screen.PAGE} rows, this expects {PAGE}")

    with tempfile.TemporaryDirectory(prefix="cpay-bench-tui-") as tmp:
        base = Path(tmp) / "home"
        home = make_home(base, cached, manifest)
        procs = time_processes(base, manifest, runs, not config.quick, config.log)
        direct: list[Launch] = []  # `cpay ui --screen history`
        launches: list[Launch] = []  # `cpay ui`, then 'h'
        for rep in range(repetitions):  # alternated, so both see the same machine
            direct.append(asyncio.run(launch(home, manifest, "history")))
            log_launch(config, f"launch {rep + 1}", direct[-1])
            launches.append(asyncio.run(launch(home, manifest, "dashboard")))
            log_launch(config, f"launch {rep + 1}", launches[-1])
        first_when = newest_when(home.wallet_db(PROFILE), manifest)
        terminal_launch(base, first_when)  # warm-up: bytecode, page cache
        terminal: list[float] = []
        for rep in range(repetitions):
            terminal.append(terminal_launch(base, first_when))
            config.log(f"  terminal launch {rep + 1}: first page on screen {terminal[-1]:.3f} s")
        trace = Trace()
        traced = asyncio.run(launch(home, manifest, "dashboard", traced_api(trace)))
        log_launch(config, "traced launch", traced)
        config.log(f"  traced launch, calls from 'h': {trace_summary(trace, traced.ready_s)}")
        queries = sql_timings(home.wallet_db(PROFILE), time.time_ns() // 1_000_000)
        for q in queries:
            config.log(f"  SQL {q.label}: {ms(q.seconds)}, {q.rows} rows, plan {q.plan}")

    history = median(procs.history)
    history_label = "`cpay history --limit 50`, same wallet, fresh process"
    imports = median(procs.import_tui)

    def figure(
        label: str, samples: list[float], ratio_label: str, target: Target, notes: str
    ) -> Figure:
        measured = median(samples)
        return Figure(
            benchmark=NAME,
            label=label,
            unit="s",
            measured=measured,
            baseline=history,
            baseline_label=history_label,
            ratio=safe_ratio(measured, history),
            ratio_label=ratio_label,
            target=target,
            samples=tuple(samples),
            baseline_samples=tuple(procs.history),
            notes=notes,
        )

    def med(values: Callable[[Launch], float], of: list[Launch] = launches) -> str:
        return ms(median([values(one) for one in of]))

    first_page = median([one.first_page_s for one in launches])
    direct_page = median([one.first_page_s for one in direct])
    busy = sum(one.dashboard_busy for one in launches)
    everyone = direct + launches
    unstable = sum(one.end.stable_s is None for one in everyone)
    sql = "; ".join(f"{q.label} {ms(q.seconds)} ({q.rows} rows)" for q in queries)
    plans = " | ".join(sorted({q.plan for q in queries}))
    where = f"{rows:,} transactions (in-process, headless)"
    return [
        figure(
            f"`cpay ui --screen history` in a {TERMINAL_COLUMNS}x{TERMINAL_LINES} terminal: "
            f"spawn to the first history page on the screen, {rows:,} transactions",
            terminal,
            "first page / cpay history",
            FIRST_PAGE_TARGET,
            "The whole launch as a person sees it: the console script spawned on a pseudo-"
            "terminal (Python start, imports, key file unlock, engine, the app) until a VT100 "
            "emulator fed with what the app wrote shows the history header with alice's newest "
            f"transaction ({first_when}) on the first row. The two in-process figures below "
            "split this time (and the same for opening on the dashboard).",
        ),
        figure(
            f"launch onto history, `cpay ui --screen history`, to the first page painted, {where}",
            [one.first_page_s for one in direct],
            "first page / cpay history",
            CONTEXT,
            "The app opened on the history screen, the dashboard never built. Medians: opening "
            f"the session as `cpay ui` does (key file unlock, engine, account) "
            f"{med(lambda o: o.session_s, direct)}; building and starting the app "
            f"{med(lambda o: o.ready_s - o.session_s, direct)}; from then to the first page "
            f"painted {med(lambda o: o.ready_to_page_s, direct)}. Without opening the session "
            f"(from constructing the app): {med(lambda o: o.app_to_page_s, direct)}. A fresh "
            f"process's start and imports add {imports:.3f} s (the process-start figure): about "
            f"{imports + direct_page:.3f} s from the shell.",
        ),
        figure(
            f"launch on the dashboard, then `h`, to the first history page painted, {where}",
            [one.first_page_s for one in launches],
            "first page / cpay history",
            CONTEXT,
            f"`cpay ui` as it opens by default, 'h' pressed as soon as the app is up. Medians: "
            f"opening the session {med(lambda o: o.session_s)}; building and starting the app "
            f"on its dashboard {med(lambda o: o.ready_s - o.session_s)}; 'h' to the first page "
            f"painted {med(lambda o: o.ready_to_page_s)}, with the dashboard still loading in "
            f"{busy} of {len(launches)} launches (engine idle "
            f"{med(lambda o: o.idle_s - o.ready_s)} after 'h'). Without opening the session: "
            f"{med(lambda o: o.app_to_page_s)}. A fresh process adds the process-start figure "
            f"and the dashboard module's import: about {imports + first_page:.3f} s from the "
            "shell. Traced launch (one more, every engine call timed; not a sample): "
            f"{trace_digest(trace, traced.ready_s, traced.idle_s)}. SQLite alone on the same "
            "file (raw connection, the SQL SqlUnitOfWork.history builds, best of 3): "
            f"{sql}. Query plans: {plans}.",
        ),
        figure(
            f"End: jump to the oldest row, {where}",
            [one.end.sample for one in everyone],
            "End / cpay history",
            OLDEST_TARGET,
            (
                f"**In {unstable} of {len(everyone)} launches the view did not stay on the "
                f"oldest row**: those samples are the {OBSERVE_S:g} s observation window, a lower "
                "bound. "
                if unstable
                else ""
            )
            + "From pressing End (the engine idle) to the oldest page in the table, @alice's "
            "first transaction on its last row and the cursor on it, counted once it has stayed "
            f"so for {HOLD_S:g} s with the engine idle; the launches of both figures above. "
            "Per launch: "
            + "; ".join(describe_end(one.end) for one in everyone)
            + f". Traced launch: {describe_end(traced.end)}; its engine calls from End, times "
            f"from End: {trace_summary(trace, traced.idle_s, limit=4)}.",
        ),
        figure(
            f"process start: `python -c '{TUI_IMPORTS}'`",
            list(procs.import_tui),
            "import / cpay history",
            CONTEXT,
            "A fresh process of the same interpreter importing the dashboard app and the "
            "history screen (screens are imported when first shown): what `cpay ui --screen "
            "history` pays before the in-process clock starts (add it to the first figure). "
            f"Bare `python -c pass`: {median(procs.bare):.3f} s.",
        ),
    ]


BENCHMARK = Benchmark(
    name=NAME,
    title="History screen of the dashboard on a million transactions",
    method=(
        f"A wallet built as `cpay init` builds one (`initialize_local`; @alice the admin, @bob "
        f"and @carol, a mint and four real signed payments through the engine), then {ROWS:,} "
        "payments of @alice written straight into the ledger tables in one transaction "
        "(`executemany`): transaction rows with ascending `created_at_ms` over three years "
        "and unique UUIDs, both parties' `tx_parties` rows and two postings each, alice "
        "paying @bob or @carol and being paid the same amount back, balances set once to the "
        "sum of their postings; no receipts for those rows (history does not read them). The "
        "built wallet (database and encrypted key files) is cached under the temp directory, "
        "keyed by the migrations' text and the row count, and copied for each run, so the "
        "database is in the page cache (a warm start). A `CPAY_HOME` with a local profile "
        "for it, keys in the key file store. **Baseline**: `cpay --profile bench history "
        "--limit 50`, a fresh process of the venv's console script (passphrase in its "
        f"environment), after one warm-up; median of {BASELINE_RUNS}. **First page from the "
        "shell** (the target): `cpay --profile bench ui --screen history` spawned on a "
        f"pseudo-terminal of {TERMINAL_COLUMNS}x{TERMINAL_LINES} (TERM=xterm-256color), "
        "everything it writes fed to a VT100 emulator (pyte); the time is from the spawn to "
        "the first screen with the history table's header and alice's newest transaction on "
        f"the row below it, then `q`; after one warm-up, median of {REPETITIONS}. **First page**, "
        "split into its parts: in this "
        "process, Textual's headless `App.run_test(size=(120, 40))`; the clock starts before "
        "the session is opened as `cpay ui` opens it (key file unlock, engine, `account()`), "
        "then `CPayApp` is built and started, two ways, each its own figure: on the history "
        "screen (`start=history`, what `cpay ui --screen history` does; the dashboard is never "
        "built), or on its dashboard (`cpay ui`) with `h` posted to the app as soon as it is "
        "up, as the terminal driver posts a key (`Pilot.press` would also wait for an idle "
        f"CPU); then the table is polled (`pilot.pause({POLL_S:g})`) until it holds the newest "
        "page (not loading, first row alice's newest transaction); after one more screen refresh, "
        "stop. **End**: once the engine is idle (no worker running and no thread in CPay's "
        "code: a superseded thread worker runs on after Textual marks it cancelled), End is "
        f"posted and the table checked every {POLL_S * 1000:.0f} ms until it holds the oldest "
        "page with alice's first transaction on the last row and the cursor on it; the time "
        f"counts once that has held for {HOLD_S:g} s with the engine idle again (a view the "
        f"screen leaves again does not count; after {OBSERVE_S:g} s the sample is "
        f"{OBSERVE_S:g} s, a lower bound). Medians of {REPETITIONS} launches of each kind, "
        "alternated, each a new app and session (the End figure: all of them), then one more "
        "launch on the dashboard with every engine call timed (its time in the "
        "store's write lock too) and the screens' history queries alone on a raw SQLite "
        "connection with their query plans: the notes. A fresh process's start and imports "
        f"(`python -c '{TUI_IMPORTS}'`, after a warm-up, median of {BASELINE_RUNS}; screens "
        "are imported when first shown, and this process imports them before its clocks "
        "start) are reported beside it: add them for the time from the shell. Ratios are to the "
        "`cpay history` time (lower is better); the targets are on the absolute seconds. "
        f"`--quick` uses {QUICK_ROWS:,} rows, one launch of each kind and one run of each "
        "process."
    ),
    run=run,
)
