"""pytasks.signals: signal names/numbers and wait statuses."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from pytasks import signals
from pytasks.errors import ExitCode, InvalidArgumentError


@pytest.mark.parametrize(("text", "number"), [
    ("TERM", 15), ("SIGTERM", 15), ("sigterm", 15), ("term", 15), ("15", 15), (" 15 ", 15),
    ("KILL", 9), ("SIGKILL", 9), ("9", 9), ("HUP", 1), ("1", 1), ("USR1", 10),
    ("SIGRTMIN", signal.SIGRTMIN), ("64", 64),
])
def test_parse(text: str, number: int) -> None:
    assert signals.parse(text) == number


@pytest.mark.parametrize("text", ["0", "65", "100", "-9", "FOO", "SIGFOO", "", " ", "SIG",
                                  "TERM!", "1.5", "SIG_DFL", "NSIG", "Signals"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        signals.parse(text)
    assert info.value.exit_code == ExitCode.INVALID_ARGUMENT


def test_unknown_name_message() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^unknown signal 'FOO' \(names: HUP, INT, "
                       r"QUIT, ILL, TRAP, ABRT, .* SYS, or a number 1\.\.64\)$"):
        signals.parse("FOO")


def test_name() -> None:
    assert signals.name(15) == "SIGTERM"
    assert signals.name(9) == "SIGKILL"
    assert signals.name(200) == "200"


def _wait_status(argv: list[str]) -> int:
    proc = subprocess.Popen(argv)
    _, status = os.waitpid(proc.pid, 0)
    proc.returncode = 0  # reaped by hand; keep Popen from waiting again
    return status


@pytest.mark.parametrize(("argv", "expected"), [
    (["sh", "-c", "exit 0"], 0),
    (["sh", "-c", "exit 7"], 7),
    (["sh", "-c", "exit 255"], 255),
    (["sh", "-c", "kill -KILL $$"], 137),
    (["sh", "-c", "kill -TERM $$"], 143),
    (["sh", "-c", "kill -SEGV $$"], 128 + signal.SIGSEGV),
])
def test_exit_status_of_real_wait_statuses(argv: list[str], expected: int) -> None:
    assert signals.exit_status(_wait_status(argv)) == expected


def test_exit_status_of_synthetic_statuses() -> None:
    assert signals.exit_status(7 << 8) == 7
    assert signals.exit_status(9) == 137
    assert signals.exit_status(15 | 0x80) == 143  # core dumped flag does not change it
    assert signals.exit_status(0x137f) == 255  # stopped (WIFSTOPPED): not an exit
