"""The CLI's table renderer: aligned columns, terminal cells, and what it may cut."""

from __future__ import annotations

from rich.cells import cell_len

from cpay_cli.output import BOLD, MIN_SHRUNK, RESET, printable, render_table

HEADER = ["When", "Amount", "Memo", "Id"]
ROWS = [
    [
        "2026-11-26T14:48:54Z",
        "5.00",
        "lunch 🍜 with the team",
        "8290134f-a0cb-4c60-b357",
    ],
    ["2026-11-26T14:47:19Z", "1234.50", "", "da4a3d92-8370-4283-8e26"],
]
RIGHT = [False, True, False, False]


def test_columns_align_in_terminal_cells_with_numbers_on_the_right() -> None:
    lines = render_table(HEADER, ROWS, right=RIGHT).splitlines()

    assert lines == [
        "When                   Amount  Memo                    Id",
        "2026-11-26T14:48:54Z     5.00  lunch 🍜 with the team  8290134f-a0cb-4c60-b357",
        "2026-11-26T14:47:19Z  1234.50                          da4a3d92-8370-4283-8e26",
    ]


def test_without_a_terminal_width_nothing_is_cut_however_wide() -> None:
    out = render_table(HEADER, ROWS * 3, right=RIGHT, shrink=[2, 3])

    assert "…" not in out
    assert out.count("8290134f-a0cb-4c60-b357") == 3
    assert all(line == line.rstrip() for line in out.splitlines())


def test_a_narrow_terminal_cuts_the_shrinkable_columns_in_order() -> None:
    full = cell_len(render_table(HEADER, ROWS, right=RIGHT).splitlines()[1])

    # Memo alone can give up 22 - 8 = 14 cells.
    memo_only = render_table(HEADER, ROWS, right=RIGHT, shrink=[2, 3], width=full - 10)
    assert max(cell_len(line) for line in memo_only.splitlines()) == full - 10
    assert "lunch 🍜 wi…  8290134f" in memo_only  # 12 cells: the emoji takes two
    assert "8290134f-a0cb-4c60-b357" in memo_only

    # Past that, the id is cut too, down to MIN_SHRUNK cells as well.
    both = render_table(HEADER, ROWS, right=RIGHT, shrink=[2, 3], width=full - 29)
    lines = both.splitlines()
    assert max(cell_len(line) for line in lines) == full - 29
    assert lines[1] == "2026-11-26T14:48:54Z     5.00  lunch  …  8290134…"  # no half emoji

    # A terminal too narrow for even that: the minimums hold and the line may wrap.
    tiny = render_table(HEADER, ROWS, right=RIGHT, shrink=[2, 3], width=20).splitlines()
    assert cell_len(tiny[1].split()[-1]) == MIN_SHRUNK
    assert tiny[1].endswith("8290134…")


def test_bold_is_only_added_when_asked() -> None:
    plain = render_table(HEADER, ROWS, right=RIGHT)
    header_bold = render_table(HEADER, ROWS, right=RIGHT, bold_header=True)
    keys_bold = render_table(
        [], [["Id", "x"], ["Status", "completed"]], right=[False, False], bold_keys=True
    )

    assert "\x1b" not in plain
    assert header_bold.splitlines()[0] == BOLD + plain.splitlines()[0] + RESET
    assert header_bold.splitlines()[1:] == plain.splitlines()[1:]
    assert keys_bold.splitlines() == [f"{BOLD}Id{RESET}      x", f"{BOLD}Status{RESET}  completed"]


def test_an_empty_table_prints_nothing() -> None:
    assert render_table([], [], right=[]) == ""


def test_printable_escapes_what_would_act_on_the_terminal_or_reorder_the_line() -> None:
    assert printable("a\x1b[31mb\tc\x85") == "a\\x1b[31mb\\x09c\\x85"
    assert printable("pay \u202eevil\u2066x\u2069\u200f") == "pay \\u202eevil\\u2066x\\u2069\\u200f"
    assert printable("line\u2028two\ufeff") == "line\\u2028two\\ufeff"
    assert printable("café ☕ 👩\u200d💻 नमस्ते") == "café ☕ 👩\u200d💻 नमस्ते"  # joiners stay
