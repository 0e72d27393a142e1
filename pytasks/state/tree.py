"""Removing a directory tree that pytasks owns (a task dir, a FIFO set dir).

shutil.rmtree would do, but importing shutil on every delete loads the
archive and compression modules; os.fwalk gives the same fd-relative walk that rmtree
uses against symlink races, and symlinks are unlinked, never followed.
"""

from __future__ import annotations

import os


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove path and everything under it; missing parts and errors are ignored (the
    callers clean up best-effort, and a leftover is found again by the next delete)."""
    try:
        walk = os.fwalk(path, topdown=False)
        for _dir, subdirs, files, dir_fd in walk:
            for name in files:
                _quietly(os.unlink, name, dir_fd)
            for name in subdirs:  # a symlink to a directory is listed here too
                try:
                    os.rmdir(name, dir_fd=dir_fd)
                except NotADirectoryError:
                    _quietly(os.unlink, name, dir_fd)
                except OSError:
                    pass
    except OSError:
        pass
    _quietly(os.rmdir, path, None)


def _quietly(op: object, name: str | os.PathLike[str], dir_fd: int | None) -> None:
    try:
        op(name, dir_fd=dir_fd)  # type: ignore[operator]
    except OSError:
        pass
