"""What must never be left behind or invented: a failed create leaves nothing (no task dir,
no runc state, no monitor, no mount, no cgroup), and a task whose monitor was killed never
reports a made-up exit (docs/architecture.md §2: 255 + unknown, never 0) yet can still be
cleaned up."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from helpers.cleanup import mounts_under
from helpers.roots import Roots
from tasktools import HOST_SH, Tasks, alive, monitors_of, task_cgroups, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Tasks:
    return Tasks(roots)


@pytest.mark.python_monitor_smoke
@pytest.mark.parametrize("kind", ["busybox", "overlay", "host-tools"])
def test_failed_create_leaves_nothing(tasks: Tasks, roots: Roots, busybox_rootfs: Path,
                                      tmp_path: Path, kind: str) -> None:
    create = ["create"]
    if kind == "host-tools":
        tasks.ok("containers", "create", "bad", "nosuchcmd")
    else:
        tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "bad",
                 "nosuchcmd", "arg")
    if kind == "overlay":
        for d in ("upper", "work"):
            (tmp_path / d).mkdir()
        create += ["--mount", f"type=overlay,src=overlay,options=lowerdir={busybox_rootfs}"
                   f":upperdir={tmp_path / 'upper'}:workdir={tmp_path / 'work'}"]
    result = tasks(*create, "bad")
    assert result.returncode not in (0, 1), result.stderr  # classified, not a crash
    assert result.stdout == ""
    assert result.stderr.startswith("pytasks: ")
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in result.stderr
    assert "Traceback" not in result.stderr

    assert tasks.list() == []
    assert not Path(roots.layout.task_dir("bad")).exists()
    assert tasks.runc_list() == []
    assert monitors_of(roots) == []
    assert task_cgroups(roots) == []
    assert mounts_under(tmp_path) == []
    # ... and the container can be fixed and used: nothing stale blocks the id
    tasks.ok("containers", "delete", "bad")
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "bad", "true")
    tasks.ok("create", "bad")
    tasks.ok("delete", "bad")


def test_monitor_is_gone_after_the_task_exits(tasks: Tasks, roots: Roots,
                                              busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c", "true")
    tasks.create("c")
    [monitor] = monitors_of(roots)
    assert tasks.record("c")["monitor"]["pid"] == monitor
    tasks.ok("start", "c")
    assert tasks("wait", "c").returncode == 0
    wait_until(lambda: not alive(monitor), what="the monitor to exit")
    # a stopped task needs no monitor: get, list, wait and delete still work
    assert tasks.statuses()["c"][1] == "STOPPED"
    assert tasks("wait", "c").stdout == "0\n"
    tasks.ok("delete", "c")


def kill_monitor(tasks: Tasks, task_id: str) -> int:
    monitor = tasks.record(task_id)["monitor"]["pid"]
    assert alive(monitor)
    os.kill(monitor, signal.SIGKILL)
    wait_until(lambda: not alive(monitor), what="the monitor to die")
    return monitor


@pytest.mark.python_monitor_smoke
@pytest.mark.parametrize("root", ["busybox", "host-tools"])
def test_lost_monitor_is_never_a_clean_exit(tasks: Tasks, roots: Roots,
                                            busybox_rootfs: Path, root: str) -> None:
    options = ["--rootfs", busybox_rootfs, "--readonly"] if root == "busybox" else []
    shell = "sh" if root == "busybox" else HOST_SH
    tasks.ok("containers", "create", *options, "c", shell, "-c", "exec sleep 100")
    pid = int(tasks.ok("create", "c"))
    tasks.ok("start", "c")
    kill_monitor(tasks, "c")

    # The container outlives its monitor: the runtime's view says it still runs.
    assert alive(pid)
    assert tasks.statuses() == {"c": (pid, "RUNNING")}
    # No exit was recorded, so none is invented: 255 and "unknown", at once.
    result = tasks("wait", "c", timeout=10)
    assert (result.returncode, result.stdout) == (255, "255\n")
    assert "unknown" in result.stderr
    assert not Path(roots.layout.task_dir("c"), "init.exit").exists()
    # Plain delete is still refused while it runs.
    tasks.fails(5, "cannot delete task in running state", "delete", "c")

    # delete -f still cleans everything (runtime kill, no monitor needed) and says the exit
    # status is unknown rather than 0 or 137.
    result = tasks("delete", "-f", "--format", "json", "c")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    [deleted] = json.loads(result.stdout)["deleted"]
    assert deleted["exit_status"] == 255
    assert "exited_at" not in deleted
    wait_until(lambda: not alive(pid), what="the init to die")
    assert tasks.list() == []
    assert tasks.runc_list() == []
    assert not Path(roots.layout.task_dir("c")).exists()
    assert task_cgroups(roots) == []


def test_lost_monitor_kill_then_delete(tasks: Tasks, roots: Roots,
                                       busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sleep", "100")
    pid = int(tasks.ok("create", "c"))
    tasks.ok("start", "c")
    kill_monitor(tasks, "c")
    tasks.ok("kill", "-s", "KILL", "c")  # through the runtime, no monitor needed
    wait_until(lambda: not alive(pid), what="the init to die")
    # Dead, but nobody recorded how: UNKNOWN, not STOPPED (and never exit 0).
    assert tasks.statuses() == {"c": (pid, "UNKNOWN")}
    result = tasks("wait", "c")
    assert (result.returncode, result.stdout) == (255, "255\n")
    assert "unknown" in result.stderr
    deleted = tasks.ok("delete", "c").splitlines()
    assert deleted[1].split() == ["c", "unknown", "-"]
    assert tasks.list() == []
    assert tasks.runc_list() == []
    assert task_cgroups(roots) == []


def test_lost_monitor_of_a_created_task(tasks: Tasks, roots: Roots,
                                        busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sleep", "100")
    pid = int(tasks.ok("create", "c"))
    kill_monitor(tasks, "c")
    assert tasks.statuses() == {"c": (pid, "CREATED")}
    # Starting it would run a task nobody reaps or records: refused, never a silent start.
    result = tasks("start", "c")
    assert result.returncode != 0
    assert result.stderr.startswith("pytasks: ")
    assert tasks.ok("delete", "-f", "c").splitlines()[1].split()[:2] == ["c", "unknown"]
    wait_until(lambda: not alive(pid), what="the init to die")
    assert tasks.runc_list() == []
    assert task_cgroups(roots) == []
