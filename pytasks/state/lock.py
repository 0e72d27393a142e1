"""The per-task lock: an flock(2) on <state>/<ns>/.locks/<id>.lock.

Why not the filelock package: importing it loads logging, threading and its own
async support on every state-changing call, more than everything else the verb does
besides the runtime; the lock we need is one flock on one file we own. Only gc unlinks a
lock file, while holding it; a waiter that opened the unlinked file sees, once it holds the
lock, that its file is no longer the one at the path, and starts over.
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
        deadline = time.monotonic() + self.timeout
        while True:
            fd = self._acquire(deadline)
            if _same_file(fd, self.path):
                self.fd = fd
                return self
            os.close(fd)  # gc unlinked it while we waited: lock the file now at the path

    def _acquire(self, deadline: float) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
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

    def try_acquire(self) -> bool:
        """Take the lock only if it is free now (gc): True when held."""
        fd = _lock_now(os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC))
        if fd is None:
            return False
        if not _same_file(fd, self.path):
            os.close(fd)
            return False
        self.fd = fd
        return True

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


def _same_file(fd: int, path: str) -> bool:
    try:
        at_path = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)


class SharedLock:
    """A shared flock on path, for the many who may run side by side but not beside the
    one exclusive holder (try_exclusive). The exclusive side never waits and holds it for
    a few system calls, so taking it shared blocks at most briefly."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = -1

    def __enter__(self) -> SharedLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def try_exclusive(path: str | os.PathLike[str]) -> int | None:
    """An exclusive flock on path if nobody holds it now: its fd (close to release), or
    None when it is held (the caller skips its work)."""
    return _lock_now(os.open(os.fspath(path),
                             os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))


def _lock_now(fd: int) -> int | None:
    """fd with an exclusive flock taken without waiting, or None (fd closed) when another
    holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            return None
        raise
    return fd
