"""Versioned schema migrations, one folder per backend, files NNNN_name.sql."""

from __future__ import annotations

from importlib import resources


def load(backend: str) -> list[tuple[int, str, str]]:
    """(version, file name, sql) of every migration of `backend`, oldest first."""
    package = resources.files(f"cpay_engine.adapters.migrations.{backend}")
    found = [
        (int(entry.name.split("_", 1)[0]), entry.name, entry.read_text())
        for entry in package.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)
