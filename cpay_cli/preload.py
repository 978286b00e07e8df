"""Import modules on a thread while this one waits on something that releases the GIL.

Unlocking a key file is ~70 ms of scrypt, which runs outside the GIL; the engine (or the
dashboard) it unlocks for takes longer than that to import. Importing on a daemon thread
meanwhile overlaps the two. Prompts and errors stay on the calling thread: the thread only
imports, and `wait` re-raises anything it met.
"""

from __future__ import annotations

import importlib
import threading


class Preload:
    def __init__(self, *modules: str) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=modules, name="cpay-preload", daemon=True
        )
        self._thread.start()

    def _run(self, *modules: str) -> None:
        try:
            for module in modules:
                importlib.import_module(module)
        except BaseException as exc:  # re-raised in the caller's thread by wait()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error
