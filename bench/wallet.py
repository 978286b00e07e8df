"""A real wallet on a SQLite file, built in-process the way `cpay init` builds one.

The same composition the CLI uses in local mode: `initialize_local`, then an `Engine`
on a `SqliteStore` (WAL, synchronous=FULL, BEGIN IMMEDIATE per unit of work), and a
`SignedClient` over an `InProcessTransport` per user, signing every request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import initialize_local, open_local_engine
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.domain.model import Role
from cpay_engine.service.engine import Engine

ADMIN = "alice"
CURRENCY = "DBL"


@dataclass
class BenchWallet:
    path: Path
    engine: Engine
    keys: dict[str, SigningKey] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path, admin: str = ADMIN) -> BenchWallet:
        engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
        initialize_local(path, admin, admin_key, engine_key)
        engine = open_local_engine(path, receipt_key=lambda: engine_key)
        return cls(path, engine, {admin: admin_key})

    def client(self, handle: str) -> SignedClient:
        return SignedClient(InProcessTransport(self.engine), self.keys[handle])

    def add_user(self, handle: str, role: Role = Role.USER) -> None:
        key = SigningKey.generate()
        self.client(ADMIN).create_user(handle=handle, role=role, public_key=key.public_key)
        self.keys[handle] = key

    def mint(self, handle: str, amount_minor: int) -> None:
        self.client(ADMIN).mint(
            payment_id=str(uuid.uuid4()),
            recipient=f"@{handle}",
            amount_minor=amount_minor,
            currency=CURRENCY,
        )

    def balance(self, handle: str) -> int:
        return sum(
            b.available_minor
            for b in self.client(handle).balances(CURRENCY)
            if b.currency == CURRENCY
        )

    def close(self) -> None:
        self.engine.close()
