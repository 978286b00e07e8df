"""The composition root: wires stores, engines, transports and signers into a PaymentsAPI.

Nothing here runs at import time; callers pass every path and key explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.adapters.sqlite_store import SqliteStore
from cpay_engine.errors import InvalidInput
from cpay_engine.service.engine import Engine, wall_clock_ms
from cpay_engine.service.ports import Store, UserRecord


def open_local_engine(
    db_path: Path,
    *,
    receipt_key: Callable[[], SigningKey],
    clock: Callable[[], int] = wall_clock_ms,
) -> Engine:
    """The engine on an existing embedded SQLite wallet (migrated if its schema is older)."""
    return open_engine_at(DbUrl("sqlite", db_path), receipt_key=receipt_key, clock=clock)


def initialize_local(
    db_path: Path, handle: str, device_key: SigningKey, engine_key: SigningKey
) -> UserRecord:
    """Create a local wallet: schema, the engine's receipt key, the first (admin) user."""
    return initialize_at(DbUrl("sqlite", db_path), handle, device_key, engine_key)


@dataclass(frozen=True)
class DbUrl:
    """A parsed --db URL: `sqlite:///ABSOLUTE/PATH` or `sqlite:RELATIVE/PATH`."""

    scheme: str
    path: Path | None = None
    dsn: str = ""

    def __str__(self) -> str:
        return f"sqlite://{self.path}" if self.scheme == "sqlite" else self.dsn


def parse_db_url(text: str) -> DbUrl:
    """Parse --db. PostgreSQL URLs must not carry a password: secrets never go on a command
    line; libpq reads PGPASSWORD or ~/.pgpass (PGPASSFILE) instead."""
    if text.startswith("sqlite:"):
        rest = text.removeprefix("sqlite:")
        if rest.startswith("//"):
            rest = "/" + rest.lstrip("/")
        if not rest or rest == "/":
            raise InvalidInput(f"'{text}' has no file path: use sqlite:///ABSOLUTE/PATH.db")
        return DbUrl("sqlite", Path(rest).absolute())
    if text.startswith(("postgresql://", "postgres://")):
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(text)
        if parts.password or "password" in parse_qs(parts.query):
            raise InvalidInput(
                "the database URL contains a password: remove it and put it in ~/.pgpass "
                "(or PGPASSFILE / PGPASSWORD) so it never appears on a command line"
            )
        return DbUrl("postgresql", dsn=text)
    raise InvalidInput(
        f"'{text}' is not a database URL: use sqlite:///PATH/TO/FILE.db or postgresql://…"
    )


def open_store(url: DbUrl, *, migrate: bool, create: bool = False) -> Store:
    """The store behind a --db URL. SQLite migrates itself (embedded) but creates a new
    file only with `create` (init); PostgreSQL migrates only when asked (`cpay server
    migrate`, init), and otherwise checks the schema version."""
    if url.scheme == "sqlite":
        assert url.path is not None
        if create:
            url.path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(url.path, create=create)
    from cpay_engine.adapters.postgres_store import PostgresStore  # psycopg: ~400 ms import

    return PostgresStore(url.dsn, migrate=migrate)


def open_engine_at(
    url: DbUrl,
    *,
    receipt_key: Callable[[], SigningKey],
    clock: Callable[[], int] = wall_clock_ms,
    migrate: bool = False,
    create: bool = False,
) -> Engine:
    store = open_store(url, migrate=migrate, create=create)
    return Engine(store, receipt_key=receipt_key, clock=clock)


def initialize_at(
    url: DbUrl, handle: str, device_key: SigningKey, engine_key: SigningKey
) -> UserRecord:
    """Create (and migrate) the database at `url` with its first admin and receipt key."""
    engine = open_engine_at(url, receipt_key=lambda: engine_key, migrate=True, create=True)
    try:
        return engine.initialize(handle, device_key.public_key)
    finally:
        engine.close()
