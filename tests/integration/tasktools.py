"""Small helpers for the task integration tests (test_task_lifecycle, test_run, test_task_io,
test_monitor_loss): run a verb and check its exit code and message, read the JSON views,
and look at the host (processes, runc state, cgroups, mounts)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.roots import Roots

# Host commands for the host-tools root (no --rootfs): the host's own /usr.
HOST_SH = "/usr/bin/sh"

# A task that says "ready" once its TERM trap is set (pid 1 ignores signals it has no
# handler for), then exits 42 on SIGTERM.
TRAP_TERM = ['trap "exit 42" TERM; echo ready; sleep 100 & wait']

class Tasks:
    """`pytasks` against one test's roots, with checked outcomes."""

    def __init__(self, roots: Roots) -> None:
        self.roots = roots

    def __call__(self, *args: object, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.roots.pytasks(*args, **kwargs)

    def ok(self, *args: object, **kwargs: Any) -> str:
        """Run; require exit 0 and an empty stderr; return stdout."""
        result = self.roots.pytasks(*args, **kwargs)
        assert (result.returncode, result.stderr) == (0, ""), _show(args, result)
        return result.stdout

    def fails(self, code: int, pattern: str, *args: object,
              **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run; require exit `code`, nothing on stdout and `pytasks: ...` matching pattern
        (re.search) as the one line on stderr."""
        result = self.roots.pytasks(*args, **kwargs)
        assert result.returncode == code, _show(args, result)
        assert result.stdout == "", _show(args, result)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("pytasks: "), _show(args, result)
        assert re.search(pattern, lines[0]), _show(args, result)
        return result

    # views ---------------------------------------------------------------------------
    def list(self, *args: object) -> list[dict[str, Any]]:
        return json.loads(self.ok("list", "--format", "json", *args))["tasks"]

    def statuses(self, *args: object) -> dict[str, tuple[int, str]]:
        return {t["id"]: (t["pid"], t["status"]) for t in self.list(*args)}

    def ids(self, *args: object) -> list[str]:
        return self.ok("list", "-q", *args).splitlines()

    def get(self, task_id: str) -> dict[str, Any]:
        return json.loads(self.ok("get", "--format", "json", task_id))["task"]

    def record(self, task_id: str) -> dict[str, Any]:
        return json.loads(Path(self.roots.layout.task_file(task_id, "task.json")).read_text())

    def create(self, container: str) -> int:
        return int(self.ok("create", container))

    def runc_list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        root = self.roots.state / "runtime" / (namespace or self.roots.namespace)
        result = subprocess.run(["runc", "--root", str(root), "list", "--format", "json"],
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout or "null") or []

    def stop(self, task_id: str) -> None:
        """SIGKILL, wait and delete, each checked."""
        self.ok("kill", "-s", "KILL", task_id)
        result = self("wait", task_id)
        assert (result.returncode, result.stdout) == (137, "137\n"), _show(("wait",), result)
        self.ok("delete", task_id)

    def wait_for_file(self, path: Path, text: str, seconds: float = 10.0) -> str:
        deadline = time.monotonic() + seconds
        while True:
            content = path.read_text() if path.exists() else ""
            if text in content:
                return content
            assert time.monotonic() < deadline, f"{text!r} never appeared in {path}: {content!r}"
            time.sleep(0.02)


def _show(args: tuple, result: subprocess.CompletedProcess[str]) -> str:
    return (f"pytasks {' '.join(map(str, args))} -> {result.returncode}\n"
            f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}")


# the host --------------------------------------------------------------------------------

def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(condition: Callable[[], bool], seconds: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.02)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def in_cgroup(pid: int, cgroup_path: str) -> bool:
    """The process's cgroup (any hierarchy) is the task's cgroupsPath."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return any(line.split(":", 2)[2] == cgroup_path for line in lines)


def task_cgroups(roots: Roots) -> list[Path]:
    """Task cgroups (depth >= 2 below pytasks-<tag>) that exist in any hierarchy."""
    top = f"pytasks-{roots.layout.state_tag}"
    base = Path("/sys/fs/cgroup")
    return [p for pattern in (f"{top}/*/*", f"*/{top}/*/*") for p in base.glob(pattern)
            if p.is_dir()]


def host_mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line for line in fh if text in line]


def monitors_of(roots: Roots) -> list[int]:
    """Live monitor processes (the Python module or the compiled pytasks-monitor) for a
    task dir of this test."""
    found = []
    needle = str(roots.state).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not alive(int(entry)):
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        program = argv.split(b"\0")
        is_monitor = b"pytasks.monitor" in program or program[0].endswith(b"/pytasks-monitor")
        if is_monitor and needle in argv:
            found.append(int(entry))
    return found
