"""Rendering data for stdout: table, json, ndjson, csv.

Data goes to stdout only; messages, previews and prompts go to stderr (see `say`).
Text from other people (memos, handles) is shown literally: markup is not
interpreted and control characters are escaped, so a memo cannot recolour or
rewrite the terminal.
"""

from __future__ import annotations

import csv
import json
import os
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


# Characters that would act on the terminal or on the text around them instead of
# showing: C0 and C1 controls (ANSI escapes start with ESC), the bidirectional overrides,
# embeddings, isolates and marks that reorder what follows them ("Trojan Source"), line
# and paragraph separators, and the invisible BOM. Joiners (U+200C/D) stay: scripts and
# emoji need them.
_INVISIBLE = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    **{code: f"\\u{code:04x}" for code in (*_INVISIBLE, 0x2028, 0x2029, 0xFEFF)},
}


def printable(text: str) -> str:
    """Escape what would act instead of showing (_ESCAPES), so it shows literally."""
    return text.translate(_ESCAPES)


# In JSON the same characters as JSON escapes (json.dumps already escapes C0 controls):
# the text a program reads back is exact, and a terminal shows it inert.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _ESCAPES if code >= 0x7F}


def _json_text(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False).translate(_JSON_ESCAPES)


def funds_note(have_minor: int, amount_minor: int, currency: str) -> tuple[str, bool]:
    """What a payer has against a payment, for its preview, and whether it is enough, so
    a preview says so before anything is sent (`cpay pay`, and the TUI's pay form). Not
    what the engine will do about it: a Dabloon payment is recorded as failed, another
    currency may be refused outright."""
    have = f"{format_amount(have_minor, currency)} {currency}"
    if have_minor < amount_minor:
        return f"Not enough: you have {have}; this payment would fail.", False
    left = format_amount(have_minor - amount_minor, currency)
    return f"You have {have}; {left} {currency} after this payment.", True


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
        sys.stdout.write(_json_text(list(rows), indent=2) + "\n")
    elif fmt is Format.NDJSON:
        for row in rows:
            sys.stdout.write(_json_text(row) + "\n")
    elif fmt is Format.CSV:
        # For programs: the header row is the JSON field names, the values JSON's in text.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        # Python's writer quotes a field with "\n" but not one with a lone "\r" when
        # lines end in "\n"; readers would split such a row. Those rows are quoted whole.
        quoted_row = csv.writer(sys.stdout, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow([key for key, _ in columns])
        # To a file or a pipe the exact text; to a terminal, which would act on escape
        # sequences a payer put in a memo, escaped as a table escapes it.
        shown = printable if sys.stdout.isatty() else str
        for row in rows:
            cells = [shown(_csv_cell(row.get(key), key)) for key, _ in columns]
            (quoted_row if any("\r" in cell for cell in cells) else writer).writerow(cells)
    else:
        _table(rows, columns)


def emit_one(row: dict[str, Any], fmt: Format, columns: Sequence[Column]) -> None:
    if fmt is Format.JSON:
        sys.stdout.write(_json_text(row, indent=2) + "\n")
    elif fmt is Format.TABLE:
        _pairs(row, columns)
    else:
        emit([row], fmt, columns)


def _cell(value: Any, booleans: tuple[str, str] = ("no", "yes")) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return booleans[value]
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item, booleans) for item in value)
    return str(value)


# Free text someone else wrote (a payer writes the memo its recipient exports). A cell a
# spreadsheet would take for a formula (=HYPERLINK(…), +cmd…, @SUM…) gets a leading '
# (OWASP: CSV injection); JSON and NDJSON carry the exact text.
FREE_TEXT_KEYS = frozenset({"memo"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any, key: str = "") -> str:
    if isinstance(value, list | tuple | dict):  # JSON's own text, as the README says
        return json.dumps(value, ensure_ascii=False)
    text = _cell(value, ("false", "true"))  # JSON's words: CSV is for programs
    if key in FREE_TEXT_KEYS and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


# Columns whose cells are numbers (right-aligned), and the columns a table gives up width
# from, in this order, on a terminal too narrow for it (times and amounts are never cut).
NUMERIC_KEYS = frozenset({"amount", "available", "pending"})
SHRINK_ORDER = ("memo", "counterparty", "id")
MIN_SHRUNK = 8
GAP = "  "


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
    header = [title for _, title in columns]
    body = [[printable(_cell(row.get(key))) for key, _ in columns] for row in rows]
    keys = [key for key, _ in columns]
    sys.stdout.write(
        render_table(
            header,
            body,
            right=[key in NUMERIC_KEYS for key in keys],
            shrink=[keys.index(key) for key in SHRINK_ORDER if key in keys],
            width=_terminal_width(),
            bold_header=_styled(),
        )
    )


def _pairs(row: dict[str, Any], columns: Sequence[Column]) -> None:
    body = [[title, printable(_cell(row.get(key)))] for key, title in columns]
    sys.stdout.write(render_table([], body, right=[False, False], bold_keys=_styled()))


BOLD, RESET = "\x1b[1m", "\x1b[0m"


def render_table(
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    *,
    right: Sequence[bool],
    shrink: Sequence[int] = (),
    width: int | None = None,
    bold_header: bool = False,
    bold_keys: bool = False,
) -> str:
    """Aligned columns two spaces apart, widths in terminal cells (wide characters count
    two), no trailing spaces. Given a terminal `width`, the columns in `shrink` are cut
    in that order (with "…", each down to MIN_SHRUNK cells) until the table fits; a line
    still too wide is left to wrap, and without a width (a pipe, a file) nothing is cut.
    `bold_header` sets the header in bold, `bold_keys` the first column (key: value)."""
    from rich.cells import cell_len, set_cell_size  # display widths: emoji, CJK

    table = [*([header] if header else []), *body]
    if not table:
        return ""
    widths = [max(cell_len(cell) for cell in column) for column in zip(*table, strict=True)]
    if width is not None:
        excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
        for i in shrink:
            cut = min(excess, widths[i] - MIN_SHRUNK)
            if cut > 0:
                widths[i] -= cut
                excess -= cut
    out = []
    for n, cells in enumerate(table):
        parts = []
        for i, cell in enumerate(cells):
            size = cell_len(cell)
            if size > widths[i]:
                cell, size = set_cell_size(cell, widths[i] - 1) + "…", widths[i]
            pad = " " * (widths[i] - size)
            if i == 0 and bold_keys:
                cell = f"{BOLD}{cell}{RESET}"
            parts.append(pad + cell if right[i] else cell + pad)
        line = GAP.join(parts).rstrip()
        out.append(f"{BOLD}{line}{RESET}" if bold_header and header and n == 0 else line)
    return "\n".join(out) + "\n"


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one; None for pipes and files."""
    if not sys.stdout.isatty():
        return None
    import shutil

    return shutil.get_terminal_size().columns


def _styled() -> bool:
    """Bold headers only on a terminal, and not under NO_COLOR or TERM=dumb."""
    return (
        sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM", "") != "dumb"
    )


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
        "direction": tx.direction.value if tx.direction else None,
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
