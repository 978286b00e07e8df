"""Test helpers: a real wallet on a temporary SQLite file, with clients per user.

No mocks: every client signs real requests and goes through the real engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import (
    DbUrl,
    initialize_at,
    initialize_local,
    open_engine_at,
    open_local_engine,
)
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.domain.model import Role
from cpay_engine.service.engine import Engine, wall_clock_ms


class Clock:
    """A settable clock in epoch milliseconds (starts at the real time)."""

    def __init__(self, now_ms: int | None = None) -> None:
        self.now_ms = now_ms if now_ms is not None else wall_clock_ms()

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass
class Wallet:
    """An initialized wallet: `admin` is the first user (@alice, an admin)."""

    path: Path
    engine: Engine
    engine_key: SigningKey
    admin_key: SigningKey
    keys: dict[str, SigningKey] = field(default_factory=dict)

    @classmethod
    def create(
        cls, path: Path, *, clock: Callable[[], int] = wall_clock_ms, admin: str = "alice"
    ) -> Wallet:
        engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
        initialize_local(path, admin, admin_key, engine_key)
        engine = open_local_engine(path, receipt_key=lambda: engine_key, clock=clock)
        return cls(path, engine, engine_key, admin_key, {admin: admin_key})

    @classmethod
    def create_at(
        cls, url: DbUrl, *, clock: Callable[[], int] = wall_clock_ms, admin: str = "alice"
    ) -> Wallet:
        """The same wallet on any store: sqlite:///… or postgresql://…"""
        engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
        initialize_at(url, admin, admin_key, engine_key)
        engine = open_engine_at(url, receipt_key=lambda: engine_key, clock=clock)
        path = url.path if url.path is not None else Path(url.dsn)
        return cls(path, engine, engine_key, admin_key, {admin: admin_key})

    def client(self, handle: str = "alice") -> SignedClient:
        return SignedClient(InProcessTransport(self.engine), self.keys[handle])

    def client_for_key(
        self, key: SigningKey, clock: Callable[[], int] | None = None
    ) -> SignedClient:
        if clock is None:
            return SignedClient(InProcessTransport(self.engine), key)
        return SignedClient(InProcessTransport(self.engine), key, clock=clock)

    def add_user(self, handle: str, role: Role = Role.USER) -> SignedClient:
        key = SigningKey.generate()
        self.client("alice").create_user(handle=handle, role=role, public_key=key.public_key)
        self.keys[handle] = key
        return self.client(handle)

    def mint(self, handle: str, amount_minor: int, payment_id: str | None = None) -> None:
        import uuid

        self.client("alice").mint(
            payment_id=payment_id or str(uuid.uuid4()),
            recipient=handle,
            amount_minor=amount_minor,
            currency="DBL",
        )

    def close(self) -> None:
        self.engine.close()
