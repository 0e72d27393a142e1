"""stop, wait --timeout, and kill of a pid 1 that ignores the signal (docs/architecture.md
§2): a `sleep` as pid 1 has no TERM handler, so the kernel drops TERM; stop still ends it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.roots import Roots
from running import run_detached
from tasktools import TRAP_TERM, Tasks, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Tasks:
    return Tasks(roots)


def test_stop_an_init_that_ignores_term(tasks: Tasks, roots: Roots,
                                        busybox_rootfs: Path) -> None:
    run_detached(roots, "sleeper", busybox_rootfs, "sleep", "1000")
    result = tasks("kill", "sleeper")
    assert result.returncode == 0, result
    assert "has no handler for SIGTERM, so the kernel ignores it" in result.stderr
    assert "pytasks stop sleeper" in result.stderr
    assert tasks.statuses()["sleeper"][1] == "RUNNING"

    started = time.monotonic()
    tasks.fails(6, r"^pytasks: task sleeper did not exit within 0.5s$", "wait", "--timeout",
                "0.5", "sleeper")
    assert 0.4 < time.monotonic() - started < 10
    assert tasks.statuses()["sleeper"][1] == "RUNNING"  # wait gave up; the task lives

    started = time.monotonic()
    out = tasks.ok("stop", "-t", "1", "sleeper")
    assert 1 <= time.monotonic() - started < 15
    assert out.splitlines()[1].split()[:2] == ["sleeper", "137"]
    assert tasks.statuses()["sleeper"][1] == "STOPPED"
    assert tasks.ok("stop", "sleeper").splitlines()[1].split()[:2] == ["sleeper", "137"]
    tasks.ok("delete", "sleeper")


def test_stop_a_task_that_handles_term(tasks: Tasks, roots: Roots,
                                       busybox_rootfs: Path) -> None:
    run_detached(roots, "trapper", busybox_rootfs, "sh", "-c", *TRAP_TERM)
    log = Path(roots.layout.task_file("trapper", "output.log"))
    wait_until(lambda: "ready" in log.read_text())
    kill = tasks("kill", "-s", "HUP", "trapper")  # no handler for HUP either: said so
    assert "has no handler for SIGHUP" in kill.stderr
    started = time.monotonic()
    out = tasks.ok("stop", "-t", "30", "--format", "json", "trapper")
    assert time.monotonic() - started < 10  # TERM ended it; no wait for the timeout
    assert '"exit_status": 42' in out and '"container_id": "trapper"' in out
    assert tasks("wait", "--timeout", "0", "trapper").returncode == 42
    tasks.ok("delete", "trapper")


def test_stop_unknown_and_many(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    run_detached(roots, "a", busybox_rootfs, "sleep", "1000")
    result = tasks("stop", "-t", "0", "nosuch", "a")
    assert result.returncode == 3 and "nosuch" in result.stderr, result
    assert result.stdout.splitlines()[1].split()[:2] == ["a", "137"]
    tasks.ok("delete", "a")
