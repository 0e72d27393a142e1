"""Atomic file replacement: temp file in the same directory, then rename.

A reader sees the old content or the new, never a torn file. fsync only for persistent
data (container records, the content store); the
volatile state root is lost at reboot anyway. Stdlib only.
"""

from __future__ import annotations

import itertools
import json
import os

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SEQUENCE = itertools.count()


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600,
                 fsync: bool = False) -> None:
    """Through a descriptor of the parent directory opened with O_NOFOLLOW: neither a
    symlink planted as the directory nor one planted as the file is followed."""
    target = os.fspath(path)
    head, name = os.path.split(target)
    dir_fd = os.open(head or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        # pid + per-process counter is unique among live writers; O_EXCL catches the rest.
        tmp = f".{name}.tmp-{os.getpid()}-{next(_SEQUENCE)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.close(fd)
        try:
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a directory's entries (a rename or link just done in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike[str], value: Any, *, fsync: bool = False) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode(), fsync=fsync)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file without following a symlink planted in its place."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    try:
        return json.loads(data)
    except RecursionError:  # hostile nesting is bad data, like any other
        raise ValueError("JSON nested too deeply") from None


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """read_json for readers that must go on: None when the file is absent, a planted
    symlink, unreadable, or not a JSON object."""
    try:
        value = read_json(path)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
