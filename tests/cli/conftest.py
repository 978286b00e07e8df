"""Fixtures for driving the `cpay` Typer app in-process, as a user at a terminal would.

typer 0.28's CliRunner has no `mix_stderr` flag: it keeps the streams apart by default
(`result.stdout`, `result.stderr`; `result.output` is both interleaved), so every test
checks data on stdout and messages on stderr separately. Its stdin is not a TTY, which
is exactly the "scripted, nobody to ask" situation the confirmation rules are about.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cpay_cli.main import app

# Rich wraps and truncates table cells to the terminal width (80 columns without a
# terminal); a wide, colourless console keeps table assertions about content, not layout.
CONSOLE_ENV: Mapping[str, str | None] = {"COLUMNS": "240", "FORCE_COLOR": None}


@dataclass(frozen=True)
class Cli:
    """Runs `cpay ARGS…` in-process against the environment of the current test."""

    runner: CliRunner

    def __call__(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        # Exceptions that escape the app are bugs: let them fail the test loudly.
        result = self.runner.invoke(app, list(args), env=env, catch_exceptions=False)
        if "--debug" not in args:
            assert "Traceback" not in result.stderr, (
                f"`cpay {' '.join(args)}` printed a traceback without --debug:\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        """Run a command with `-o json` that must succeed, and parse its stdout."""
        result = self(*args, "-o", "json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def available(self, handle: str, currency: str = "DBL") -> str:
        """`handle`'s available balance in `currency`, as the CLI prints it."""
        rows = self.json("--as", handle, "balance", currency)
        assert [row["currency"] for row in rows] == [currency]
        return str(rows[0]["available"])


@pytest.fixture
def cli(cpay_home: Path) -> Cli:
    return Cli(CliRunner(env=CONSOLE_ENV))


@pytest.fixture
def initialized(cli: Cli) -> dict[str, Any]:
    """A local wallet in `cpay_home` whose first user (and admin) is @alice.

    Returns what `init -o json` reported (profile, handle, role, key_id, keystore, db).
    """
    result = cli("init", "--handle", "alice", "-o", "json")
    assert result.exit_code == 0, result.stderr
    info: dict[str, Any] = json.loads(result.stdout)
    return info


@pytest.fixture
def funded(cli: Cli, initialized: dict[str, Any]) -> Cli:
    """@alice (admin) holds 100.00 DBL; @bob (user, key on this device) holds nothing."""
    for args in (("user", "add", "bob"), ("admin", "mint", "@alice", "100", "DBL", "--yes")):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
    return cli
