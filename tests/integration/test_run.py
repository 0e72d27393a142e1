"""`pytasks run` on real runc: attached (exit status, separate stdout/stderr, signal
forwarding, --rm) and detached (-d), plus `delete -f` of the task it leaves running."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from helpers.roots import Roots
from tasktools import (
    HOST_SH,
    TRAP_TERM,
    Tasks,
    alive,
    task_cgroups,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Tasks:
    return Tasks(roots)


def assert_no_task_left(tasks: Tasks, roots: Roots) -> None:
    assert tasks.list() == []
    assert tasks.runc_list() == []
    assert not Path(roots.layout.task_dir("c")).exists()
    assert task_cgroups(roots) == []


@pytest.mark.parametrize("root", ["busybox", "host-tools"])
def test_run_rm_exits_with_the_task_status(tasks: Tasks, roots: Roots, busybox_rootfs: Path,
                                           root: str) -> None:
    options = ["--rootfs", busybox_rootfs, "--readonly", "sh"] if root == "busybox" else [
        HOST_SH]
    result = tasks("run", "--rm", *options[:-1], "c", options[-1], "-c", "exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, "", "")
    assert tasks.ok("containers", "list", "-q") == ""
    assert_no_task_left(tasks, roots)


def test_run_streams_stdout_and_stderr_separately(tasks: Tasks, roots: Roots,
                                                  busybox_rootfs: Path) -> None:
    result = tasks("run", "--rootfs", busybox_rootfs, "--readonly", "c",
                   "sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "out1\nout2\n", "err1\nerr2\n")
    # without --rm the container record stays, the task is gone
    assert tasks.ok("containers", "list", "-q") == "c\n"
    assert_no_task_left(tasks, roots)


def test_run_host_tools_root(tasks: Tasks, roots: Roots) -> None:
    result = tasks("run", "--rm", "c", HOST_SH, "-c",
                   "echo hello; hostname; test -x /usr/bin/env && ls -d /tmp /proc/1")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "hello\nc\n/proc/1\n/tmp\n"
    assert_no_task_left(tasks, roots)


@pytest.mark.parametrize(("command", "code"), [("nosuchcmd", 127), ("/etc/passwd", 126)])
def test_run_of_a_missing_command(tasks: Tasks, roots: Roots, busybox_rootfs: Path,
                                  command: str, code: int) -> None:
    result = tasks("run", "--rm", "--rootfs", busybox_rootfs, "--readonly", "c", command)
    assert result.returncode == code, result.stderr
    assert command in result.stderr
    assert tasks.ok("containers", "list", "-q") == ""
    assert_no_task_left(tasks, roots)


def test_run_forwards_sigterm(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    proc = roots.spawn("run", "--rm", "--rootfs", busybox_rootfs, "--readonly", "c",
                       "sh", "-c", *TRAP_TERM)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 42
    assert proc.stdout.read() == ""
    assert_no_task_left(tasks, roots)


def test_run_detached_then_delete_force(tasks: Tasks, roots: Roots,
                                        busybox_rootfs: Path) -> None:
    out = tasks.ok("run", "-d", "--rootfs", busybox_rootfs, "--readonly", "c",
                   "sh", "-c", "echo started; exec sleep 100")
    pid = int(out)
    assert alive(pid)
    assert tasks.statuses() == {"c": (pid, "RUNNING")}
    tasks.wait_for_file(Path(roots.layout.task_file("c", "output.log")), "started\n")

    result = tasks("delete", "-f", "c")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:2] == ["c", "137"]
    assert not alive(pid)
    assert_no_task_left(tasks, roots)
    assert tasks.ok("containers", "list", "-q") == "c\n"


@pytest.mark.python_monitor_smoke
def test_run_detached_is_running_at_once_and_containers_delete_force_frees_the_id(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    """run -d creates and starts in one runtime call (runc run --detach): RUNNING when it
    returns, with a started_at. `containers delete -f` then removes task and record."""
    pid = int(tasks.ok("run", "-d", "--rootfs", busybox_rootfs, "c", "sleep", "100"))
    assert alive(pid)
    assert tasks.statuses() == {"c": (pid, "RUNNING")}
    assert [(c["id"], c["status"]) for c in tasks.runc_list()] == [("c", "running")]
    record = Path(roots.layout.task_file("c", "task.json")).read_text()
    assert '"started_at"' in record
    assert tasks.ok("containers", "delete", "-f", "c") == ""
    assert not alive(pid)
    assert_no_task_left(tasks, roots)
    assert tasks.ok("containers", "list", "-q") == ""
    # the id is free again; -f on a container without a task removes the record only
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "c", "true")
    assert tasks.ok("containers", "rm", "-f", "c") == ""
    tasks.fails(3, r"container c not found", "containers", "delete", "-f", "c")


def test_delete_of_a_created_task(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    """A created task was never started: delete (no -f) kills its waiting init."""
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sleep", "100")
    pid = tasks.create("c")
    result = tasks("delete", "c")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[1].split()[:2] == ["c", "137"]
    assert not alive(pid)
    assert_no_task_left(tasks, roots)


def test_rm_with_detach_is_refused(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    tasks.fails(2, r"--rm cannot be used with -d", "run", "--rm", "-d", "--rootfs",
                busybox_rootfs, "c", "sleep", "1")
    assert not roots.root.exists()
    assert not roots.state.exists()


def test_run_of_an_existing_container_changes_nothing(tasks: Tasks, roots: Roots,
                                                      busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c", "true")
    before = Path(roots.layout.container_file("c")).read_text()
    tasks.fails(4, "container c: already exists", "run", "--rm", "c", "sleep", "1")
    assert Path(roots.layout.container_file("c")).read_text() == before
    assert_no_task_left(tasks, roots)


def test_a_killed_attached_client_leaves_no_fifo_after_delete(tasks: Tasks, roots: Roots,
                                                              busybox_rootfs: Path) -> None:
    # SIGKILL gives the client no chance to remove its FIFO set; deleting the task must.
    proc = roots.spawn("run", "--rootfs", busybox_rootfs, "--readonly", "c",
                       "sh", "-c", *TRAP_TERM)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    fifo_dir = Path(roots.layout.fifo_task_dir("c"))
    assert [p.name[:5] for p in fifo_dir.iterdir()] == ["init-"]
    proc.kill()
    proc.wait(timeout=20)
    assert tasks.get("c")["status"] == "RUNNING"  # the task outlives its client
    roots.pytasks("delete", "-f", "c", check=True)
    roots.pytasks("containers", "delete", "c", check=True)
    assert not fifo_dir.exists()
    assert_no_task_left(tasks, roots)


# Modules that run -d and exec must not load: pathlib ~8 ms (urllib.parse, ipaddress),
# dataclasses ~10, typing ~3, click ~45, protobuf (only --format json needs it).
NOT_ON_RUN_OR_EXEC = ("pathlib", "typing", "dataclasses", "click", "google.protobuf")
CLI_PROBE = """\
import json, sys
from pytasks.cli import execute
code = execute(sys.argv[2:])
sys.stdout.flush()
print(json.dumps({"code": code, "loaded": [m for m in json.loads(sys.argv[1])
                                           if m in sys.modules]}))
"""


def test_run_detached_and_exec_import_no_heavy_modules(tasks: Tasks, roots: Roots,
                                                       busybox_rootfs: Path) -> None:
    """The fast path as `pytasks run -d` / `pytasks exec` run it (a fresh interpreter each),
    on a real task: none of the costly modules is imported (tests/unit/test_fast.py checks
    the other fast-path verbs against empty roots)."""
    import json
    import subprocess
    import sys

    def probe(*args: object) -> tuple[int, list[str], str]:
        result = subprocess.run(
            [sys.executable, "-c", CLI_PROBE, json.dumps(NOT_ON_RUN_OR_EXEC),
             *map(str, args)], capture_output=True, text=True, env=roots.full_env(),
            stdin=subprocess.DEVNULL, timeout=60)
        assert result.returncode == 0, result.stderr
        *output, last = result.stdout.splitlines() or [""]
        report = json.loads(last)
        return report["code"], report["loaded"], "\n".join(output) + result.stderr

    try:
        code, loaded, output = probe("run", "-d", "--rootfs", busybox_rootfs, "c",
                                     "sleep", "100")
        assert (code, loaded) == (0, []), output
        assert int(output) > 0 and tasks.statuses()["c"][1] == "RUNNING"
        for line in (["exec", "c", "true"], ["exec", "-d", "c", "true"]):
            code, loaded, output = probe(*line)
            assert (code, loaded) == (0, []), (line, output)
    finally:
        roots.pytasks("containers", "delete", "-f", "c", check=True)
    assert_no_task_left(tasks, roots)
    assert tasks.ok("containers", "list", "-q") == ""


def test_user_names_come_from_the_containers_own_files(tasks: Tasks, roots: Roots,
                                                       writable_rootfs: Path) -> None:
    """--user NAME[:GROUP] on run and exec through the rootfs's /etc/passwd and /etc/group
    (supplementary groups too); numeric still works; an unknown name is exit 3 with the
    file it was looked up in (exit 2, misuse, on both verbs), and leaves no container."""
    etc = writable_rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nweb:x:1001:\naudio:x:29:web\n")
    result = tasks("run", "--rm", "--rootfs", writable_rootfs, "--user", "web", "c",
                   "sh", "-c", "id -u; id -g; id -G")
    assert (result.returncode, result.stdout.split()) == (0, ["1000", "1001", "1001", "29"])
    result = tasks("run", "--rm", "--rootfs", writable_rootfs, "--user", "1234:audio", "c",
                   "sh", "-c", "id -u; id -g")
    assert (result.returncode, result.stdout.split()) == (0, ["1234", "29"])
    bad = tasks("run", "--rm", "--rootfs", writable_rootfs, "--user", "nobody", "c", "true")
    assert bad.returncode == 2
    assert bad.stderr == ("pytasks: --user nobody: no user 'nobody' in the container's "
                          "/etc/passwd\n")
    assert tasks("containers", "list", "-q").stdout == ""

    tasks.ok("run", "-d", "--rootfs", writable_rootfs, "c", "sleep", "1000")
    try:
        (etc / "passwd").write_text("db:x:2000:2000::/:/bin/sh\n")  # read at exec, not cached
        result = tasks("exec", "--user", "db:audio", "c", "sh", "-c", "id -u; id -g")
        assert (result.returncode, result.stdout.split()) == (0, ["2000", "29"])
        assert tasks("exec", "--user", "web", "c", "true").returncode == 2
        assert tasks("exec", "-d", "--user", "web", "c", "true").returncode == 2
    finally:
        tasks("delete", "-f", "c")
        tasks("containers", "delete", "c")
