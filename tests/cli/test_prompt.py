"""cpay_cli.prompt: a Ctrl-C while a prompt waits is never lost (the pty tests in
test_terminal_prompts.py drive the same through a real terminal)."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from cpay_cli.prompt import ask, wait_for_input


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """Python's own SIGINT handler, whatever the test runner set (CI may ignore SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_waiting_ends_when_a_line_is_there(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, b"y\n")
    wait_for_input(read_end)
    assert os.read(read_end, 10) == b"y\n"


@pytest.mark.usefixtures("sigint_raises")
def test_a_ctrl_c_the_waiting_thread_does_not_receive_still_interrupts(
    pipe: tuple[int, int],
) -> None:
    """The lost Ctrl-C: the signal is handled (CPython notes it), but the waiting call is
    not interrupted. Here that is forced by blocking SIGINT in this thread, so the kernel
    hands it to the timer's thread; a plain select() or read() would sleep on."""
    read_end, write_end = pipe
    interrupt = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    unblock = threading.Timer(10.0, os.write, (write_end, b"\n"))  # never hang the suite
    interrupt.start()  # threads keep the signal mask they start with: start them first
    unblock.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with pytest.raises(KeyboardInterrupt):
            wait_for_input(read_end)
        assert unblock.is_alive(), "the wait ended only when input came, not at the Ctrl-C"
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        interrupt.cancel()
        unblock.cancel()
    assert signal.set_wakeup_fd(-1) == -1, "the wakeup pipe was taken down"


def test_a_stand_in_stdin_is_read_without_waiting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert ask("Proceed? [y/N]: ") == "yes\n"
    assert capsys.readouterr().err == "Proceed? [y/N]: "
