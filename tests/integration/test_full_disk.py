"""A full disk for real: the state dir on a small tmpfs made by the test and filled up.
The monitor (either) keeps the exit status it cannot write, answers wait with it, writes
the record once space is back, and a request that needs space is ResourceExhausted (exit
6), never a bad request; delete -f still removes the task (docs/architecture.md §4, §6)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.disk import fill, small_tmpfs
from helpers.roots import Roots
from running import run_detached
from tasktools import Tasks, alive, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def small_state(roots: Roots) -> Iterator[Path]:
    with small_tmpfs(roots.state, "4m") as state:
        yield state


@pytest.mark.python_monitor_smoke
def test_a_full_disk_loses_no_exit_status(roots: Roots, small_state: Path,
                                          busybox_rootfs: Path) -> None:
    tasks = Tasks(roots)
    run_detached(roots, "full", busybox_rootfs, "sh", "-c", "sleep 1; exit 3")
    monitor = tasks.record("full")["monitor"]["pid"]
    filler = fill(small_state / "filler")
    try:
        got = tasks("exec", "-d", "full", "true")
        assert got.returncode == 6, got.stderr
        assert got.stderr.startswith("pytasks: no space left on device")
        waited = tasks("wait", "full")
        assert waited.returncode == 3, waited.stderr
        assert alive(monitor), "the monitor gave up on the record it could not write"
        record = Path(roots.layout.task_dir("full")) / "init.exit"
        assert not record.exists()
    finally:
        filler.unlink()
    wait_until(record.exists, what="the exit record once space is back")
    wait_until(lambda: not alive(monitor), what="the monitor to exit after its record")
    assert tasks("wait", "full").returncode == 3
    tasks.ok("delete", "full")
    tasks.ok("containers", "delete", "full")


def test_delete_f_on_a_full_disk_removes_the_task_and_its_monitor(
        roots: Roots, small_state: Path, busybox_rootfs: Path) -> None:
    tasks = Tasks(roots)
    run_detached(roots, "full", busybox_rootfs, "sh", "-c", "sleep 1; exit 3")
    monitor = tasks.record("full")["monitor"]["pid"]
    filler = fill(small_state / "filler")
    try:
        assert tasks("wait", "full").returncode == 3
        started = time.monotonic()
        deleted = tasks("delete", "-f", "full")
        assert deleted.returncode == 0, deleted.stderr
        assert time.monotonic() - started < 5
        assert "full" in deleted.stdout and " 3 " in deleted.stdout.replace("\n", " ") + " "
        wait_until(lambda: not alive(monitor), what="the monitor to drop its record")
        assert not Path(roots.layout.task_dir("full")).exists()
    finally:
        filler.unlink()
    tasks.ok("containers", "delete", "full")
