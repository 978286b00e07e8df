"""Bad input through the CLI: exit 2, a `cpay: ` message saying what is wrong, nothing moved.

DESIGN.md: invalid input is exit 2, messages say what happened and what to do next,
no traceback without --debug (the `cli` helper checks that on every call), and input
with more decimals than the currency allows is rejected, never rounded.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli

NOT_AN_AMOUNT = "is not an amount"


def assert_nothing_moved(cli: Cli) -> None:
    """@alice, the only one with money, still has it all and no payment was even recorded."""
    assert cli.available("alice") == "100.00"
    assert [row["counterparty"] for row in cli.json("history")] == ["treasury"]


@pytest.mark.parametrize(
    ("amount", "currency", "explanation"),
    [
        pytest.param("-5", "DBL", NOT_AN_AMOUNT, id="negative"),
        pytest.param("0", "DBL", "greater than zero", id="zero"),
        pytest.param("1.001", "DBL", "at most 2 decimal", id="too-many-decimals"),
        pytest.param("1e3", "DBL", NOT_AN_AMOUNT, id="exponent"),
        pytest.param("NaN", "DBL", NOT_AN_AMOUNT, id="nan"),
        pytest.param("1,000", "DBL", NOT_AN_AMOUNT, id="thousands-separator"),
        pytest.param("１２", "DBL", NOT_AN_AMOUNT, id="fullwidth-digits"),
        pytest.param("abc", "DBL", NOT_AN_AMOUNT, id="letters"),
        pytest.param("12", "XYZ", "unknown currency 'XYZ'", id="unknown-currency"),
    ],
)
def test_a_bad_amount_or_currency_is_rejected_with_exit_2_and_moves_no_money(
    funded: Cli, amount: str, currency: str, explanation: str
) -> None:
    result = funded("pay", "@bob", amount, currency, "--yes")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: "), result.stderr
    assert explanation in result.stderr
    assert_nothing_moved(funded)


def test_a_negative_amount_after_a_double_dash_is_rejected_as_not_an_amount(funded: Cli) -> None:
    result = funded("pay", "--yes", "@bob", "--", "-5", "DBL")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: '-5' is not an amount")
    assert "no signs" in result.stderr
    assert_nothing_moved(funded)


def test_a_bad_recipient_handle_is_rejected_with_exit_2(funded: Cli) -> None:
    result = funded("pay", "@@x", "1", "DBL", "--yes")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: '@@x' is not a handle")
    assert_nothing_moved(funded)


def test_a_bad_payment_id_is_rejected_with_exit_2(funded: Cli) -> None:
    result = funded("pay", "@bob", "1", "DBL", "--yes", "--id", "x")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: 'x' is not a payment id")
    assert_nothing_moved(funded)


@pytest.mark.parametrize("command", [("pay", "@bob"), ("admin", "mint", "@bob")])
@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_payment_id_is_refused_not_replaced_by_a_new_one(
    funded: Cli, command: tuple[str, ...], empty: str
) -> None:
    """`--id "$ID"` with $ID unset must not pay under a fresh id: a retry would pay twice."""
    result = funded(*command, "1", "DBL", "--yes", "--id", empty)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "cpay: --id is empty: give the payment's id (the same one to retry it), or leave "
        "--id out for a new one\n"
    )
    assert_nothing_moved(funded)
    assert funded.available("bob") == "0.00"


def test_a_bad_history_query_is_rejected_with_exit_2_listing_the_statuses(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("history", "--query", "status:nope")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: 'nope' is not a status")
    assert "completed" in result.stderr


def test_a_bad_since_is_rejected_with_exit_2_showing_accepted_forms(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("history", "--since", "yesterdayish")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: 'yesterdayish' is not a time")
    assert "7d" in result.stderr


def test_an_unknown_output_format_is_rejected_with_exit_2(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("history", "-o", "xml")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'xml' is not one of" in result.stderr


def test_an_unknown_profile_fails_with_exit_1_naming_the_known_ones(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("--profile", "nope", "balance")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: no profile 'nope'")
    assert "known profiles: default" in result.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param(
            "--as",
            "cpay: --as is empty: name a user whose key is on this device, or leave --as "
            "out to act as @alice\n",
            id="as",
        ),
        pytest.param(
            "--profile",
            "cpay: --profile is empty: name a profile, or leave --profile out\n",
            id="profile",
        ),
    ],
)
def test_an_empty_as_or_profile_is_refused_not_taken_for_the_default(
    funded: Cli, option: str, message: str
) -> None:
    """`--as "$PAYER"` with $PAYER unset must not pay as the profile's own user."""
    result = funded(option, "", "pay", "@bob", "1", "DBL", "--yes")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message
    assert_nothing_moved(funded)


def test_error_messages_show_control_characters_escaped(funded: Cli) -> None:
    """What an error message repeats (here a handle typed with an escape sequence in it;
    remotely, a server's words) cannot drive the terminal."""
    result = funded("--as", "\x1b[2Jmallory", "balance")

    assert result.exit_code == 2
    assert "\x1b" not in result.stderr
    assert "'\\x1b[2Jmallory' is not a handle" in result.stderr


@pytest.mark.parametrize(
    ("handle", "exit_code", "says"),
    [
        pytest.param("x y", 2, "'x y' is not a handle", id="not-a-handle"),
        pytest.param("@Carol", 4, "no device key for @carol in profile 'default'", id="no-key"),
    ],
)
def test_acting_as_someone_checks_the_handle_before_looking_for_its_key(
    funded: Cli, handle: str, exit_code: int, says: str
) -> None:
    result = funded("--as", handle, "balance")

    assert result.exit_code == exit_code
    assert says in result.stderr


def test_any_profile_before_init_fails_with_exit_1_suggesting_init(cli: Cli) -> None:
    result = cli("balance")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "run `cpay init`" in result.stderr


@pytest.mark.parametrize(
    ("document", "where"),
    [
        pytest.param('{"profiles": ', "cannot be read", id="not-json"),
        pytest.param("[]", "the whole file should be an object, not list", id="a-list"),
        pytest.param('{"profiles": []}', "profiles should be an object", id="profiles-a-list"),
        pytest.param(
            '{"profiles": {"default": {"mode": "warp"}}}',
            "profiles.default.mode is 'warp', not one of local, remote",
            id="unknown-mode",
        ),
        pytest.param(
            '{"profiles": {"default": {"users": {"alice": "k1"}}}}',
            "profiles.default.users.alice should be an object, not str",
            id="user-not-an-object",
        ),
        pytest.param(
            '{"profiles": {"default": {"users": {"alice": {"key_id": "k1", "keystore": "x"}}}}}',
            "profiles.default.users.alice.keystore is 'x'",
            id="unknown-keystore",
        ),
        pytest.param(
            '{"profiles": {"default": {"db": 7}}}',
            "profiles.default.db should be a string, not int",
            id="db-not-a-string",
        ),
    ],
)
def test_a_broken_config_file_says_where_with_exit_2_and_is_left_as_it_is(
    cli: Cli, cpay_home: Path, document: str, where: str
) -> None:
    config = cpay_home / "config" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(document)

    result = cli("balance")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"cpay: the config file {config} "), result.stderr
    assert where in result.stderr
    assert "fix or move it" in result.stderr
    assert config.read_text() == document


def test_a_profile_with_no_user_yet_says_to_run_init(cli: Cli, cpay_home: Path) -> None:
    config = cpay_home / "config" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('{"current": "default", "profiles": {"default": {"mode": "local"}}}')

    result = cli("balance")

    assert result.exit_code == 4
    assert "profile 'default' has no user on this device yet" in result.stderr
    assert "`cpay --profile default init`" in result.stderr


def _foreign_sqlite(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
        other.commit()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(lambda _p: None, "no wallet database at", id="deleted"),
        pytest.param(lambda p: p.write_bytes(b""), "is not a CPay wallet database", id="emptied"),
        pytest.param(
            lambda p: p.write_bytes(b"not a db"), "restore it from a backup", id="garbage"
        ),
        pytest.param(_foreign_sqlite, "is not a CPay wallet database", id="another-programs"),
    ],
)
def test_a_missing_or_damaged_wallet_file_is_refused_and_left_as_it_is(
    cli: Cli,
    initialized: dict[str, Any],
    damage: Callable[[Path], None],
    says: str,
) -> None:
    """Never an empty wallet silently created in its place (then "unknown key")."""
    db = Path(initialized["db"])
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.unlink()
    damage(db)
    before = db.read_bytes() if db.exists() else None

    result = cli("balance")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert str(db) in result.stderr
    assert says in result.stderr
    assert "restore it from a backup" in result.stderr
    assert (db.read_bytes() if db.exists() else None) == before


def test_a_cpay_home_the_system_refuses_is_named_not_an_internal_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/proc takes no new directories: init cannot create its key file there."""
    monkeypatch.setenv("CPAY_HOME", "/proc/cpay-home-refused")

    result = cli("init", "--handle", "alice")

    assert result.exit_code == 1
    assert result.stderr.startswith("cpay: cannot use /proc/cpay-home-refused"), result.stderr
    assert "CPAY_HOME" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(None, "cannot read the CA file", id="missing"),
        pytest.param("not a certificate\n", "is not a PEM certificate", id="not-pem"),
    ],
)
def test_a_remote_profile_with_an_unusable_ca_is_refused_and_not_added(
    cli: Cli, tmp_path: Path, content: str | None, says: str
) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)

    result = cli("profile", "add", "work", "--remote", "localhost:50051", "--ca", str(ca))

    assert result.exit_code == 2
    assert says in result.stderr
    listed = cli("profile", "list", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    assert "work" not in listed.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["history", "--since", ""], "--since is empty", id="since"),
        pytest.param(["balance", ""], "the currency is empty", id="balance-currency"),
    ],
)
def test_an_empty_filter_is_refused_not_taken_for_no_filter(
    funded: Cli, args: list[str], says: str
) -> None:
    """`--since "$SINCE"` with $SINCE unset must not list everything as if it were set."""
    result = funded(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert says in result.stderr


@pytest.mark.parametrize("args", [["balance"], ["user", "add", "carol"]], ids=["reads", "creates"])
def test_a_key_store_name_that_is_not_one_is_refused_by_every_command_using_keys(
    funded: Cli, args: list[str]
) -> None:
    result = funded(*args, env={"CPAY_KEYSTORE": "keyrnig"})

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "CPAY_KEYSTORE='keyrnig' is not a key store: use keyring or file" in result.stderr
