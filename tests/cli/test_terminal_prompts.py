"""The confirmation prompt in a real terminal (a pseudo-terminal the test drives).

DESIGN.md: a "no" is cancelled (exit 3, nothing sent), Ctrl-C is exit 130; end of input
(Ctrl-D) is a "no". CliRunner has no terminal, so these run `cpay` as a process whose
controlling terminal is a pty, as a person at a keyboard would.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

CPAY = Path(sys.executable).parent / "cpay"
PROMPT = b"Proceed? [y/N]: "
TIMEOUT_S = 60


def in_terminal(args: list[str], keys: bytes, prompt: bytes = PROMPT) -> tuple[int, str]:
    """Run `cpay ARGS` on a pty, type `keys` at `prompt`; (exit code, what it showed)."""
    return answering(args, [(prompt, keys)])


def answering(
    args: list[str], answers: list[tuple[bytes, bytes]], stdin: bytes | None = None
) -> tuple[int, str]:
    """Run `cpay ARGS` on a pty, typing each answer once its prompt has shown (in order);
    with `stdin`, standard input is a pipe holding it while the pty stays the terminal.
    Returns (exit code, what it showed)."""
    piped = os.pipe() if stdin is not None else None
    pid, master = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal and stdio
        # A shell's background job (CI) inherits SIGINT ignored, and exec keeps it so;
        # a person's terminal delivers it.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if piped is not None:
            os.dup2(piped[0], 0)
            os.close(piped[1])
        os.execv(CPAY, [str(CPAY), *args])
    if piped is not None:
        assert stdin is not None
        os.close(piped[0])
        os.write(piped[1], stdin)
        os.close(piped[1])
    shown = b""
    deadline = time.monotonic() + TIMEOUT_S
    pending = list(answers)
    seen = 0  # answered prompts are looked for after what was shown when answered
    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0] in shown[seen:]:
                prompt, keys = pending.pop(0)
                seen = shown.index(prompt, seen) + len(prompt)
                os.write(master, keys)
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal: it has exited
                    break
                if not chunk:
                    break
                shown += chunk
        done, status = os.waitpid(pid, 0 if time.monotonic() < deadline else os.WNOHANG)
        if done == 0:  # still running after the deadline: never hang the suite
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"cpay did not finish in {TIMEOUT_S} s; it showed:\n{shown!r}")
    finally:
        os.close(master)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


@pytest.mark.parametrize(
    ("keys", "exit_code", "says", "bob_holds"),
    [
        pytest.param(b"y\r", 0, "completed", "1.00", id="yes"),
        pytest.param(b"n\r", 3, "cpay: cancelled: nothing was sent", "0.00", id="no"),
        pytest.param(b"\r", 3, "cpay: cancelled: nothing was sent", "0.00", id="enter-is-no"),
        pytest.param(b"\x04", 3, "cpay: cancelled: nothing was sent", "0.00", id="ctrl-d"),
        pytest.param(b"\x03", 130, "cpay: interrupted", "0.00", id="ctrl-c"),
    ],
)
def test_the_payment_prompt_answers_as_designed(
    funded: Cli, keys: bytes, exit_code: int, says: str, bob_holds: str
) -> None:
    code, shown = in_terminal(["pay", "@bob", "1", "DBL"], keys)

    assert code == exit_code, shown
    assert says in shown
    assert "Traceback" not in shown
    assert "Aborted!" not in shown
    assert funded.available("bob") == bob_holds


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        pytest.param("1", "  You have 100.00 DBL; 99.00 DBL after this payment.", id="enough"),
        pytest.param(
            "100.01",
            "  Not enough: you have 100.00 DBL; this payment would fail.",
            id="not-enough",
        ),
    ],
)
def test_the_payment_prompt_says_what_the_payer_has_first(
    funded: Cli, amount: str, says: str
) -> None:
    code, shown = in_terminal(["pay", "@bob", amount, "DBL"], b"n\r")

    assert code == 3, shown
    lines = shown.replace("\r\n", "\n").split("\n")
    assert says in lines, shown
    assert lines.index(says) < next(i for i, line in enumerate(lines) if "Proceed?" in line)
    assert funded.available("alice") == "100.00"


@pytest.mark.parametrize(
    ("keys", "exit_code", "says"),
    [
        pytest.param(b"\x04", 3, "cpay: no passphrase given (end of input)", id="ctrl-d"),
        pytest.param(b"\x03", 130, "\r\ncpay: interrupted", id="ctrl-c"),
    ],
)
def test_the_passphrase_prompt_can_be_left_with_ctrl_d_or_ctrl_c(
    funded: Cli, monkeypatch: pytest.MonkeyPatch, keys: bytes, exit_code: int, says: str
) -> None:
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")

    code, shown = in_terminal(["balance"], keys, prompt=b"Passphrase for the CPay key file: ")

    assert code == exit_code, shown
    assert says in shown
    assert "internal error" not in shown


def test_an_invite_piped_in_still_gets_the_passphrase_asked_at_the_terminal(
    cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cat invite | cpay init --remote … --invite -`: the prompt talks to the terminal,
    so a pipe on stdin is no reason to refuse it (it was exit 4, "no passphrase")."""
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")
    words = b"several words of passphrase\r"
    code, shown = answering(
        ["init", "--remote", "127.0.0.1:1", "--handle", "piped", "--invite", "-"],
        [(b"Choose a passphrase for the CPay key file: ", words), (b"Repeat it: ", words)],
        stdin=b"inv-piped-in\n",
    )
    # Asked twice, then the key was made and the enrollment sent: the server is not there.
    assert "cannot reach the CPay server at 127.0.0.1:1" in shown, shown
    assert code == 1, shown
    assert "no passphrase is available" not in shown


SPOOF = "\x1b[1A\x1b[2K\rTOTALLY LEGIT \u202eevil"


def test_csv_to_a_terminal_escapes_what_a_payer_put_in_a_memo(funded: Cli) -> None:
    """The payer writes the memo the recipient lists: a terminal must not act on it."""
    funded("pay", "--yes", "--id", "spoof-0001", "@bob", "0.01", "DBL", "-m", SPOOF)

    code, shown = in_terminal(["--as", "bob", "history", "-o", "csv"], b"", prompt=b"\x00")

    assert code == 0, shown
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "\\x1b[1A\\x1b[2K\\x0dTOTALLY LEGIT \\u202eevil" in shown
    piped = funded("--as", "bob", "history", "-o", "csv")  # a file or a pipe: exact text
    assert SPOOF in piped.stdout


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_carries_a_hostile_memo_exactly_and_inert(funded: Cli, fmt: str) -> None:
    """JSON escaped ESC but printed U+202E and the C1 controls raw: to a terminal they
    reordered the text. Escaped as JSON, they read back exactly and show inert."""
    memo = SPOOF + "\u2028\x85\x7f"
    funded("pay", "--yes", "--id", "spoof-json-1", "@bob", "0.01", "DBL", "-m", memo)
    out = funded("--as", "bob", "history", "-o", fmt).stdout
    assert not any(ch in out for ch in "\x1b\u202e\u2028\x85\x7f")
    rows = json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()]
    assert [row["memo"] for row in rows if row["id"] == "spoof-json-1"] == [memo]
