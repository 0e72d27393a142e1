"""state/lock.TaskLock: an flock that survives gc unlinking its file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pytasks import errors
from pytasks.state.lock import TaskLock


def test_a_waiter_on_an_unlinked_lock_file_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    order: list[str] = []
    holder = TaskLock(path, "x").__enter__()

    def wait_for_it() -> None:
        with TaskLock(path, "x", timeout=10):
            order.append("waiter")
            # What it holds is the file now at the path, not the unlinked one.
            assert os.fstat(os.open(path, os.O_RDONLY)).st_ino == path.stat().st_ino

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    time.sleep(0.1)
    os.unlink(path)  # as gc and containers delete do, while holding it
    order.append("unlinked")
    holder.__exit__()
    thread.join(timeout=10)
    assert order == ["unlinked", "waiter"]
    assert path.exists()


def test_try_acquire(tmp_path: Path) -> None:
    path = tmp_path / "y.lock"
    with pytest.raises(FileNotFoundError):
        TaskLock(path, "y").try_acquire()  # never creates a file
    with TaskLock(path, "y"):
        assert not TaskLock(path, "y").try_acquire()
    lock = TaskLock(path, "y")
    assert lock.try_acquire()
    with pytest.raises(errors.UnavailableError, match="y is locked by another pytasks call"):
        TaskLock(path, "y", timeout=0.0).__enter__()
    lock.__exit__()


def test_shared_holders_keep_the_exclusive_side_out(tmp_path: Path) -> None:
    """The cgroup parents' lock: creates hold it shared side by side; the remover takes it
    exclusive only when nobody holds it, and never waits."""
    from pytasks.state.lock import SharedLock, try_exclusive

    path = tmp_path / "parents.lock"
    with SharedLock(path), SharedLock(path):
        assert try_exclusive(path) is None
    fd = try_exclusive(path)
    assert fd is not None
    try:
        assert try_exclusive(path) is None  # one exclusive holder at a time
    finally:
        os.close(fd)
    fd = try_exclusive(path)
    assert fd is not None
    os.close(fd)
