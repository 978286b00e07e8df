"""`cpay --help` stays light: heavy modules are imported inside the commands that need them.

STYLE.md: import grpc, textual and psycopg inside commands; pyproject pins typer below
0.29 because later versions import pydantic on every dispatch; cpay_cli/main.py promises
the engine's crypto, protobuf and rich tables are not loaded for help either. Each check
runs in a fresh interpreter, since this test process has imported all of them already.
No timing thresholds: what is imported is the stable, machine-independent signal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

VENV_CPAY = Path(sys.executable).parent / "cpay"

HELP_AND_LIST_MODULES = textwrap.dedent(
    """
    import json, sys
    from cpay_cli.main import app
    try:
        app(["--help"], prog_name="cpay")
    except SystemExit as exit:
        code = exit.code
    print("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}))
    """
)


@pytest.fixture(scope="module")
def help_run() -> tuple[int, set[str]]:
    """Exit code of `--help` in a fresh interpreter and the top-level modules it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPAY_")}
    done = subprocess.run(
        [sys.executable, "-c", HELP_AND_LIST_MODULES],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    return int(report["exit"]), {name.split(".")[0] for name in report["modules"]}


def test_help_imports_neither_the_tui_nor_grpc_nor_postgres_nor_pydantic(
    help_run: tuple[int, set[str]],
) -> None:
    exit_code, modules = help_run

    assert exit_code == 0
    assert modules & {"textual", "grpc", "psycopg", "psycopg_pool", "pydantic"} == set()


def test_help_imports_no_crypto_protobuf_keyring_storage_or_rich(
    help_run: tuple[int, set[str]],
) -> None:
    _, modules = help_run

    assert "cpay_cli" in modules  # the probe really imported the app
    assert modules & {"cryptography", "google", "keyring", "sqlite3", "rich"} == set()


def test_the_installed_cpay_script_prints_help_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPAY_")}
    env["CPAY_HOME"] = str(tmp_path / "home")

    done = subprocess.run(
        [str(VENV_CPAY), "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "Usage: cpay" in done.stdout
    assert "pay" in done.stdout
    assert done.stderr == ""
    assert not (tmp_path / "home").exists()  # help touches no file


def _script(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPAY_")}
    env["CPAY_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [str(VENV_CPAY), *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


def test_the_script_finds_a_group_after_global_options(tmp_path: Path) -> None:
    # The console script registers only the group its arguments name (cpay_cli.main.run).
    done = _script(["--profile", "nope", "--debug", "admin", "--help"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Usage: cpay admin" in done.stdout
    assert "mint" in done.stdout


def test_the_script_still_suggests_a_group_for_a_typo(tmp_path: Path) -> None:
    done = _script(["amdin", "mint"], tmp_path)

    assert done.returncode == 2
    assert "No such command 'amdin'. Did you mean 'admin'?" in done.stderr


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["balance"], "balance"),
        (["--profile", "admin", "balance"], "balance"),  # an option's value is not a command
        (["--as", "bob", "--debug", "key", "list"], "key"),
        (["--profile=x", "server", "run"], "server"),
        (["--help", "admin"], None),
        (["-h"], None),
        ([], None),
    ],
)
def test_the_command_is_the_first_word_that_is_not_an_option(
    argv: list[str], command: str | None
) -> None:
    from cpay_cli.main import _command_named

    assert _command_named(argv) == command
