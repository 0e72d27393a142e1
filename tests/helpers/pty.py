"""Run a command on a real pseudo-terminal of a given size, as a user's shell would.

The command gets the pty slave as stdin/stdout/stderr and as its controlling terminal (new
session), so raw mode, ctrl-c as a byte, SIGWINCH and `stty size` behave as in a terminal
emulator. We keep our own slave fd open: the terminal outlives the command, so its termios
attributes can be read after it exited (is raw mode restored?) and reading the master never
fails with EIO while the command runs.

    with PtyProcess(argv, env=env, rows=30, cols=120) as p:
        p.wait_raw()
        p.send(b"stty size\\r")
        p.expect(b"30 120")
        code = p.wait()
        assert canonical(p.attrs())

`run_in_pty(argv, keys=[(delay, b"..."), ...])` is the one-shot form: returns
(output bytes, exit code, termios attributes before, after).
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

LFLAG = 3  # index of the local modes in termios.tcgetattr()'s list
CTRL_C = b"\x03"
CTRL_P_CTRL_Q = b"\x10\x11"


def canonical(attrs: list) -> bool:
    """Cooked mode: line editing (ICANON) and echo (ECHO) are on, as a shell expects."""
    return bool(attrs[LFLAG] & termios.ICANON) and bool(attrs[LFLAG] & termios.ECHO)


def raw(attrs: list) -> bool:
    return not attrs[LFLAG] & (termios.ICANON | termios.ECHO | termios.ISIG)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyProcess:
    """A command on its own pty, with a reader thread collecting everything it prints."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None,
                 rows: int = 24, cols: int = 80) -> None:
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        # A sane cooked terminal whatever openpty's defaults are.
        attrs = termios.tcgetattr(self.slave)
        attrs[LFLAG] |= termios.ICANON | termios.ECHO | termios.ISIG
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        self.before = termios.tcgetattr(self.slave)
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        slave = self.slave

        def controlling_tty() -> None:
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True,
                                     preexec_fn=controlling_tty, close_fds=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # output ----------------------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._closed = True
                    self._cond.notify_all()
                    return
                self._buf += data
                self._cond.notify_all()

    @property
    def output(self) -> bytes:
        with self._cond:
            return bytes(self._buf)

    def expect(self, pattern: bytes, timeout: float = 10.0, start: int = 0) -> int:
        """Wait until `pattern` appears in the output (from offset `start`); returns the
        offset just after it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                index = self._buf.find(pattern, start)
                if index >= 0:
                    return index + len(pattern)
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(f"{pattern!r} not seen within {timeout}s; "
                                         f"output so far: {bytes(self._buf)!r}")
                self._cond.wait(left)

    # input and control -------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, rows: int, cols: int) -> None:
        """What a terminal emulator does: new size, then SIGWINCH to the foreground group."""
        set_size(self.slave, rows, cols)
        try:
            os.killpg(os.tcgetpgrp(self.slave), signal.SIGWINCH)
        except OSError:
            pass

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.proc.args} still running after {timeout}s; "
                                 f"output: {self.output!r}") from None

    def attrs(self) -> list:
        """The terminal's current termios attributes."""
        return termios.tcgetattr(self.slave)

    def wait_raw(self, timeout: float = 10.0) -> None:
        """Wait until the command put the terminal in raw mode (its session started):
        keys typed before that are the cooked terminal's to handle."""
        deadline = time.monotonic() + timeout
        while not raw(self.attrs()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the terminal was not made raw within {timeout}s; "
                                     f"output: {self.output!r}")
            time.sleep(0.01)

    def settle(self, seconds: float = 0.3) -> bytes:
        """Let output arrive for a moment; returns it all."""
        time.sleep(seconds)
        return self.output

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # With every slave fd closed, reading the master fails (EIO): the reader ends.
        for fd in (self.slave, self.master):
            try:
                os.close(fd)
            except OSError:
                pass
            if fd == self.slave:
                self._reader.join(2)

    def __enter__(self) -> PtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class PtyResult:
    output: bytes
    returncode: int
    before: list
    after: list


def run_in_pty(argv: Sequence[str], *, env: dict[str, str] | None = None, rows: int = 24,
               cols: int = 80, keys: Sequence[tuple[float, bytes]] = (),
               timeout: float = 20.0) -> PtyResult:
    """Run argv on a fresh rows x cols pty, typing each `keys` entry after its delay;
    returns everything printed, the exit code and the termios attributes before/after."""
    with PtyProcess(argv, env=env, rows=rows, cols=cols) as p:
        for delay, data in keys:
            time.sleep(delay)
            p.send(data)
        code = p.wait(timeout)
        output = p.settle(0.05)
        return PtyResult(output, code, p.before, p.attrs())
