"""Reading an answer at a terminal prompt so that Ctrl-C always interrupts it.

A plain blocking read() races with SIGINT: CPython's C-level handler only notes the
signal, and KeyboardInterrupt is raised when the interpreter next checks. A Ctrl-C that
lands after that check but before read() enters the kernel is noted and then ignored
while read() waits for a line: the prompt hangs until a second Ctrl-C. (Typing ^C the
moment the prompt shows hit it about once in twenty tries.) Waiting in select() on the
input and on a signal wakeup pipe (`signal.set_wakeup_fd`) closes the gap: the handler
also writes to the pipe, so select() returns even when the signal came first.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import select
import signal
import sys
from collections.abc import Iterator


def _check_signals() -> None:
    """Entering a Python function checks for pending signals: a Ctrl-C that came before
    the wakeup pipe was set raises KeyboardInterrupt here."""


@contextlib.contextmanager
def _wakeup_pipe() -> Iterator[int | None]:
    """The read end of a pipe that every signal writes to while inside; None where a
    wakeup fd cannot be set (not the main thread)."""
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        try:
            previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except ValueError:
            yield None
            return
        try:
            _check_signals()
            yield read_end
        finally:
            signal.set_wakeup_fd(previous)
    finally:
        os.close(read_end)
        os.close(write_end)


def wait_for_input(fd: int) -> None:
    """Block until `fd` has a line (or end of input) to read; Ctrl-C raises
    KeyboardInterrupt however early it comes."""
    with _wakeup_pipe() as wakeup:
        if wakeup is None:
            return  # the read that follows blocks as before
        while True:
            ready, _, _ = select.select([fd, wakeup], [], [])
            if fd in ready:
                return
            os.read(wakeup, 64)  # some signal; a SIGINT has raised by the time we loop
            _check_signals()


def ask(question: str) -> str:
    """Ask on stderr, read one line from stdin (a terminal); '' at end of input."""
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # a stand-in stdin: nothing to wait on
        fd = -1
    if fd >= 0:
        wait_for_input(fd)
    return sys.stdin.readline()


def ask_secret(question: str) -> str:
    """getpass.getpass, as it does it (the question and the answer through /dev/tty, echo
    off, EOFError at end of input), with the same guarantee for Ctrl-C. Without a terminal
    to open, getpass itself (its fallback reads stdin and warns)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return getpass.getpass(question)
    import termios  # Unix only, and only needed once a terminal is open

    with io.FileIO(fd, "w+") as raw, io.TextIOWrapper(raw, encoding="utf-8") as tty:
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHO  # lflag
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        try:
            tty.write(question)
            tty.flush()
            wait_for_input(fd)
            line = tty.readline()
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
        if not line:
            raise EOFError
        tty.write("\n")  # the Enter typed was not echoed
        tty.flush()
    return line.removesuffix("\n")
