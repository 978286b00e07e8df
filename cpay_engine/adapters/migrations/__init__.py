"""Versioned schema migrations, one folder per backend, files NNNN_name.sql.

Read from the package's own directory (the wheel installs them as plain files), not
through importlib.resources: its file reader imports zipfile and friends, ~10 ms at
every `cpay` start, and the schema version needs only the file names.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent


def _names(backend: str) -> list[str]:
    return sorted(name for name in os.listdir(HERE / backend) if name.endswith(".sql"))


def latest_version(backend: str) -> int:
    """The newest migration's version of `backend`, from the file names alone."""
    return max(int(name.split("_", 1)[0]) for name in _names(backend))


def load(backend: str) -> list[tuple[int, str, str]]:
    """(version, file name, sql) of every migration of `backend`, oldest first."""
    return sorted(
        (int(name.split("_", 1)[0]), name, (HERE / backend / name).read_text(encoding="utf-8"))
        for name in _names(backend)
    )
