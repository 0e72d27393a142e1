"""Client-side stdio of attached verbs: a FIFO set, and the copy loop to our terminal.

Open order follows containerd's cio: we open the FIFOs' read ends (non-blocking) before the
task is created; the monitor opens them read-write, so neither side ever blocks or EPIPEs.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytasks.state.layout import Layout, ensure_dir

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@dataclass
class FifoSet:
    directory: Path
    stdout: Path
    stderr: Path
    readers: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, layout: Layout, task_id: str) -> FifoSet:
        directory = ensure_dir(layout.fifo_dir) / f"{task_id}-{secrets.token_hex(6)}"
        directory.mkdir(mode=0o700)
        fifos = cls(directory, directory / "stdout", directory / "stderr")
        for path in (fifos.stdout, fifos.stderr):
            os.mkfifo(path, 0o600)
        for name in ("stdout", "stderr"):
            fifos.readers[name] = os.open(getattr(fifos, name),
                                          os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        return fifos

    def close(self) -> None:
        for fd in self.readers.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.readers.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def copy_out(self, on_signal: Callable[[int], None]) -> None:
        """Copy stdout/stderr FIFOs to our fds 1/2 until both reach EOF (the monitor closes
        its ends after the process exited and its output drained). Signals that arrive
        meanwhile are handed to on_signal (forwarded to the task by the caller)."""
        targets = {self.readers["stdout"]: 1, self.readers["stderr"]: 2}
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        old_handlers = {s: signal.signal(s, lambda *_: None) for s in FORWARDED}
        try:
            with selectors.DefaultSelector() as sel:
                for fd in targets:
                    sel.register(fd, selectors.EVENT_READ)
                sel.register(wake_r, selectors.EVENT_READ)
                while len(sel.get_map()) > 1:
                    for key, _ in sel.select():
                        if key.fd == wake_r:
                            for signum in os.read(wake_r, 64):
                                on_signal(signum)
                            continue
                        try:
                            data = os.read(key.fd, 65536)
                        except BlockingIOError:
                            continue
                        if not data:
                            sel.unregister(key.fd)
                            continue
                        _write_all(targets[key.fd], data)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            os.close(wake_r)
            os.close(wake_w)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            selectors.DefaultSelector().select(0.05)
        except BrokenPipeError:
            return  # our reader went away; keep draining so the task is not blocked
