"""A minimal inotify watch of one directory or file (Linux), for followers that must not
poll.

The stdlib has no inotify binding; ctypes reaches libc's three calls. Only wake-ups are
used: after one, the follower looks at the files itself, so events are never parsed."""

from __future__ import annotations

import ctypes
import os

IN_MODIFY = 0x002
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC


def open_watch(path: str) -> int:
    """A non-blocking inotify descriptor that becomes readable when path (a directory, or a
    file such as a cgroup's memory.events) is written to or gains an entry."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    mask = IN_MODIFY | IN_MOVED_TO | IN_CREATE
    if libc.inotify_add_watch(fd, os.fsencode(path), mask) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, f"inotify_add_watch {path}")
    return int(fd)


class Watch:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.fd = -1

    def __enter__(self) -> Watch:
        self.fd = open_watch(self.directory)
        return self

    def drain(self) -> None:
        """Consume pending notifications (their content is not needed)."""
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
