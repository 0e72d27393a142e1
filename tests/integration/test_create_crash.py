"""A create killed at any instant (docs/architecture.md §7, "Crashes"): SIGKILL is injected
by strace at each state-changing system call of `pytasks create` (every mkdir, open, write,
rename, symlink, the monitor's spawn, the wait for its report ...), for both monitors. After
each kill the next commands on the id answer with documented codes, `delete -f` leaves
nothing (no task dir, runtime container, monitor, mount or cgroup), and the id is usable
again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers.roots import Roots
from tasktools import Tasks, monitors_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
]

# The calls that change state or wait on the monitor; the others (stat, lseek, ...) only
# look, so a kill there is the same instant as one at the next call listed here.
STEPS = ("flock", "mkdir", "openat", "write", "rename", "symlink", "chmod", "pipe2",
         "clone3", "clone", "vfork", "pselect6", "select", "read", "wait4", "rmdir", "unlink")
CALL = re.compile(r"^(\w+)\(")


def _steps(roots: Roots, tasks: Tasks, container: str, trace: Path) -> list[tuple[str, int]]:
    """(syscall, nth invocation) of each step of one create, from the task lock on."""
    result = subprocess.run(["strace", "-qq", "-o", str(trace), *roots.argv("create",
                            container)], env=roots.full_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    tasks.ok("delete", "-f", container)
    seen: Counter[str] = Counter()
    steps = []
    started = False
    for line in trace.read_text().splitlines():
        match = CALL.match(line)
        if not match:
            continue
        name = match.group(1)
        seen[name] += 1
        started = started or (name == "flock")
        if started and name in STEPS:
            steps.append((name, seen[name]))
    assert len(steps) > 20, steps  # the trace saw the create, not just start-up
    return steps


def _settled(roots: Roots, tasks: Tasks, container: str, seconds: float = 15.0) -> None:
    """No monitor of this test still running and no runtime container left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not monitors_of(roots) and not tasks.runc_list():
            return
        time.sleep(0.05)
    raise AssertionError(f"left running after delete -f: monitors {monitors_of(roots)}, "
                         f"runtime containers {tasks.runc_list()}")


@pytest.mark.parametrize("monitor", ["compiled", "python"])
def test_create_killed_at_every_step(roots: Roots, busybox_rootfs: Path, tmp_path: Path,
                                     monitor: str) -> None:
    env = {"PYTASKS_MONITOR": "python"} if monitor == "python" else {}
    roots_env = roots.full_env(env)
    tasks = Tasks(roots)
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "k",
             "sleep", "1000", env=env)
    steps = _steps(roots, tasks, "k", tmp_path / "trace")
    outcomes: Counter[str] = Counter()
    for name, nth in steps:
        killed = subprocess.run(
            ["strace", "-qq", "-o", "/dev/null", "-e", f"inject={name}:signal=KILL:when={nth}",
             *roots.argv("create", "k")], env=roots_env, capture_output=True, text=True,
            timeout=60)
        where = f"SIGKILL at {name} #{nth}"
        after = tasks("get", "k", env=env)
        assert "internal error" not in after.stderr + killed.stderr, (where, after.stderr)
        assert after.returncode in (0, 3), (where, after)
        outcomes["task left" if after.returncode == 0 else "nothing left"] += 1
        for verb in (["list"], ["ps", "k"], ["kill", "k"]):
            result = tasks(*verb, env=env)
            assert "internal error" not in result.stderr, (where, verb, result.stderr)
            assert result.returncode in (0, 3, 5), (where, verb, result)
        result = tasks("delete", "-f", "k", env=env)
        assert result.returncode in (0, 3), (where, result)
        _settled(roots, tasks, "k")
        layout = roots.layout
        assert not os.path.lexists(layout.task_dir("k")), where
        assert not os.path.lexists(layout.creating_dir("k")), where
        report = roots.cleanup()
        assert not report.leaked, (where, str(report))
    # The id still works after all that.
    tasks.ok("create", "k", env=env)
    tasks.ok("delete", "-f", "k", env=env)
    assert outcomes["task left"] and outcomes["nothing left"], outcomes
