"""The per-task lock: an flock(2) on <state>/<ns>/.locks/<id>.lock.

Why not the filelock package: importing it loads logging, threading and its own
async support on every state-changing call, more than everything else the verb does
besides the runtime; the lock we need is one flock on one file we own. Lock files are never
unlinked (unlinking a lock file races with a waiter that already opened it).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from pytasks import errors

POLL = 0.01
TIMEOUT = 30.0


class TaskLock:
    def __init__(self, path: str | os.PathLike[str], what: str,
                 timeout: float = TIMEOUT) -> None:
        self.path, self.timeout, self.what = os.fspath(path), timeout, what
        self.fd = -1

    def __enter__(self) -> TaskLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise errors.UnavailableError(
                    f"{self.what} is locked by another pytasks call (waited "
                    f"{self.timeout:.0f}s)")
            time.sleep(POLL)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1
