"""What the dashboard is told about where it runs (profile, mode, trusted receipt keys)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cpay_engine.api import EngineKeyView


@dataclass(frozen=True)
class UiContext:
    profile: str
    mode: str  # "local" or "remote"
    target: str  # the wallet file / database, or the server address
    trusted_engine_keys: Callable[[], tuple[EngineKeyView, ...]]
    # Said when the dashboard opens (remote and unreachable: it shows the cache).
    notice: str = ""
