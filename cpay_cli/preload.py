"""Imports a command needs, done while the key file's scrypt runs on another thread.

Unlocking a key file is ~70 ms of scrypt, which runs outside the GIL; the engine (or the
dashboard) it unlocks for takes longer than that to import. The keystore runs the scrypt
on a thread and calls `importer(...)` on this one meanwhile (KeyStore.load's
`meanwhile`), so the two overlap. The imports stay on this thread: two threads importing
at once can deadlock when a Ctrl-C lands inside importlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def importer(*modules: str) -> Callable[[], None]:
    def run() -> None:
        for module in modules:
            importlib.import_module(module)

    return run
