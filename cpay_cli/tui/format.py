"""Cell and text helpers: other people's text is always shown literally."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.cells import cell_len
from rich.text import Text

from cpay_cli.output import printable
from cpay_engine.api import TransactionView
from cpay_engine.domain.money import format_amount


def literal(text: str, style: str = "") -> Text:
    """Never markup, never escape sequences: a memo '[b]x[/b]' shows exactly so."""
    return Text(printable(text), style=style)


def literal_lines(lines: list[str], style: str = "") -> Text:
    """Several literal lines (each escaped on its own; the line breaks are ours)."""
    return Text("\n", style=style).join(literal(line, style) for line in lines)


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def party(handle: str) -> str:
    return handle if handle == "treasury" else "@" + handle


def amount(text: str, style: str = "") -> Text:
    """A money cell: right-aligned, so that a column's decimal points line up."""
    return Text(text, style=style, justify="right")


def signed_amount(tx: TransactionView) -> Text:
    sign = {"in": "+", "out": "-"}.get(tx.direction.value if tx.direction else "", "")
    style = "green" if sign == "+" else ""
    if tx.status.value == "failed":
        style = "dim strike"
    return amount(f"{sign}{format_amount(tx.amount_minor, tx.currency)}", style)


STATUS_STYLE = {"completed": "", "failed": "red", "pending": "yellow", "unknown": "bold yellow"}


def status(tx: TransactionView) -> Text:
    return Text(tx.status.value, style=STATUS_STYLE.get(tx.status.value, ""))


def history_cells(tx: TransactionView) -> tuple[Text | str, ...]:
    return (
        when(tx.created_at_ms),
        tx.direction.value if tx.direction else "",
        literal(party(tx.counterparty)),
        signed_amount(tx),
        tx.currency,
        status(tx),
        literal(tx.memo),
    )


HISTORY_COLUMNS = ("When", "Dir", "Counterparty", "Amount", "Cur", "Status", "Memo")
# Columns of money: their headers are right-aligned over the amounts (see `amount`).
AMOUNT_COLUMNS = frozenset({"Amount", "Available", "Pending"})


def header(label: str) -> str | Text:
    return Text(label, justify="right") if label in AMOUNT_COLUMNS else label


def column_widths(
    labels: tuple[str, ...], rows: list[tuple[Text | str, ...]], at_least: tuple[int, ...] = ()
) -> tuple[int, ...]:
    """The width each column needs for `rows` (and its label): what a DataTable's automatic
    widths measure, measured here so that a table can be given them with its rows."""
    widths = [max((cell_len(label), *at_least[i : i + 1])) for i, label in enumerate(labels)]
    for cells in rows:
        for i, cell in enumerate(cells):
            width = cell.cell_len if isinstance(cell, Text) else cell_len(cell)
            if width > widths[i]:
                widths[i] = width
    return tuple(widths)
