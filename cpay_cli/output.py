"""Rendering data for stdout: table (rich), json, ndjson, csv.

Data goes to stdout only; messages, previews and prompts go to stderr (see `say`).
Text from other people (memos, handles) is shown literally: markup is not
interpreted and control characters are escaped, so a memo cannot recolour or
rewrite the terminal.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cpay_engine.domain.money import format_amount

if TYPE_CHECKING:
    from cpay_engine.api import TransactionView


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"


Column = tuple[str, str]  # (field, header)


def printable(text: str) -> str:
    """Escape control characters (ANSI escapes included) so they show literally."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def iso_time(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def say(message: str) -> None:
    """A line for the human, on stderr."""
    print(message, file=sys.stderr)


def emit(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[Column]) -> None:
    if fmt is Format.JSON:
        json.dump(list(rows), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif fmt is Format.NDJSON:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([header for _, header in columns])
        for row in rows:
            writer.writerow([_cell(row.get(key)) for key, _ in columns])
    else:
        _table(rows, columns)


def emit_one(row: dict[str, Any], fmt: Format, columns: Sequence[Column]) -> None:
    if fmt is Format.JSON:
        json.dump(row, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif fmt is Format.TABLE:
        _pairs(row, columns)
    else:
        emit([row], fmt, columns)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for key, header in columns:
        table.add_column(
            header, justify="right" if key in ("amount", "available", "pending") else "left"
        )
    for row in rows:
        table.add_row(*[Text(printable(_cell(row.get(key)))) for key, _ in columns])
    Console(highlight=False).print(table)


def _pairs(row: dict[str, Any], columns: Sequence[Column]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, header in columns:
        table.add_row(header, Text(printable(_cell(row.get(key)))))
    Console(highlight=False).print(table)


# --- stable JSON shapes (documented in README) ---------------------------------------------

HISTORY_COLUMNS: list[Column] = [
    ("created_at", "When"),
    ("direction", "Dir"),
    ("counterparty", "Counterparty"),
    ("amount", "Amount"),
    ("currency", "Cur"),
    ("status", "Status"),
    ("memo", "Memo"),
    ("id", "Id"),
]


def history_row(tx: TransactionView) -> dict[str, Any]:
    return {
        "id": tx.id,
        "created_at": iso_time(tx.created_at_ms),
        "direction": tx.direction.value,
        "counterparty": "@" + tx.counterparty if tx.counterparty != "treasury" else "treasury",
        "amount": format_amount(tx.amount_minor, tx.currency),
        "currency": tx.currency,
        "status": tx.status.value,
        "memo": tx.memo,
    }


PAYMENT_COLUMNS: list[Column] = [
    ("id", "Payment"),
    ("status", "Status"),
    ("amount", "Amount"),
    ("currency", "Currency"),
    ("from", "From"),
    ("to", "To"),
    ("memo", "Memo"),
    ("created_at", "When"),
    ("replayed", "Replayed"),
]


def _party(handle: str) -> str:
    return handle if handle == "treasury" else "@" + handle


def payment_row(tx: TransactionView, replayed: bool) -> dict[str, Any]:
    return {
        "id": tx.id,
        "status": tx.status.value,
        "amount": format_amount(tx.amount_minor, tx.currency),
        "currency": tx.currency,
        "from": _party(tx.from_handle),
        "to": _party(tx.to_handle),
        "memo": tx.memo,
        "created_at": iso_time(tx.created_at_ms),
        "replayed": replayed,
    }
