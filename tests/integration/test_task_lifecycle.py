"""The task lifecycle on real runc (issue 2): containers create -> create -> list (CREATED) ->
start -> list (RUNNING) -> kill -> wait -> delete, on a busybox rootfs and on the host-tools
root; filters; and the exact exit codes and messages of the error cases."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers.roots import Roots
from tasktools import (
    HOST_SH,
    TRAP_TERM,
    Tasks,
    alive,
    cmdline,
    in_cgroup,
    task_cgroups,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Tasks:
    return Tasks(roots)


@pytest.fixture(params=["busybox", "host-tools"])
def rootfs_args(request: pytest.FixtureRequest, busybox_rootfs: Path) -> list[str]:
    """containers-create options and the shell to use, for both kinds of root."""
    if request.param == "busybox":
        return ["--rootfs", str(busybox_rootfs), "--readonly", "sh"]
    return [HOST_SH]


@pytest.mark.python_monitor_smoke
def test_scenario(tasks: Tasks, roots: Roots, rootfs_args: list[str]) -> None:
    *options, shell = rootfs_args
    tasks.ok("containers", "create", *options, "demo", shell, "-c", *TRAP_TERM)
    assert tasks.ok("containers", "list", "-q") == "demo\n"
    assert tasks.list() == []

    # create: prints the pid of the (not yet started) init
    pid = tasks.create("demo")
    assert pid > 1 and alive(pid)
    assert tasks.statuses() == {"demo": (pid, "CREATED")}
    assert tasks.ids() == ["demo"]
    table = tasks.ok("list").splitlines()
    assert table[0].split() == ["TASK", "PID", "STATUS", "EXIT", "STATUS"]
    assert table[1].split() == ["demo", str(pid), "CREATED", "-"]
    cgroup = roots.layout.cgroup_path("demo")
    assert in_cgroup(pid, cgroup)
    assert [(c["id"], c["pid"], c["status"]) for c in tasks.runc_list()] == [
        ("demo", pid, "created")]
    got = tasks.get("demo")
    assert (got["id"], got["container_id"], got["pid"], got["status"]) == (
        "demo", "demo", pid, "CREATED")
    # Every Any prints as the canonical mapping prints a well-known type (ps's Struct).
    assert got["spec"]["@type"] == "types.containerd.io/opencontainers/runtime-spec/1/Spec"
    assert got["spec"]["value"]["process"]["args"] == [shell, "-c", *TRAP_TERM]
    assert got["spec"]["value"]["linux"]["cgroupsPath"] == cgroup
    log = Path(roots.layout.task_file("demo", "output.log"))
    assert got["stdout"] == got["stderr"] == str(log)

    # start: the same pid now runs the command
    assert tasks.ok("start", "demo") == ""
    assert tasks.statuses() == {"demo": (pid, "RUNNING")}
    assert tasks.get("demo")["status"] == "RUNNING"
    tasks.wait_for_file(log, "ready\n")
    assert cmdline(pid)[:2] == [shell, "-c"]

    # kill (default SIGTERM) -> the trap exits 42 -> wait and delete report it
    assert tasks.ok("kill", "demo") == ""
    result = tasks("wait", "demo", timeout=20)
    assert (result.returncode, result.stdout, result.stderr) == (42, "42\n", "")
    assert tasks.statuses() == {"demo": (pid, "STOPPED")}
    assert not alive(pid)
    deleted = tasks.ok("delete", "demo").splitlines()
    assert deleted[0].split() == ["TASK", "EXIT", "STATUS", "EXITED", "AT"]
    assert deleted[1].split()[:2] == ["demo", "42"]

    # nothing of the task is left; the container record stays
    assert tasks.list() == []
    assert tasks.runc_list() == []
    assert not Path(roots.layout.task_dir("demo")).exists()
    assert task_cgroups(roots) == []
    tasks.fails(3, r"^pytasks: task demo not found$", "get", "demo")
    assert tasks.ok("containers", "list", "-q") == "demo\n"
    tasks.ok("containers", "delete", "demo")
    assert tasks.ok("containers", "list", "-q") == ""


def test_delete_json_has_exit_status(tasks: Tasks, busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sh", "-c", "exit 3")
    tasks.create("c")
    tasks.ok("start", "c")
    result = tasks("wait", "c")
    assert (result.returncode, result.stdout) == (3, "3\n")
    # wait on a stopped task returns at once, again
    result = tasks("wait", "c", timeout=5)
    assert (result.returncode, result.stdout, result.stderr) == (3, "3\n", "")
    result = tasks("wait", "--format", "json", "c", timeout=5)
    waited = json.loads(result.stdout)
    assert result.returncode == 3
    assert (waited["exit_status"], waited["exit_status_known"]) == (3, True)
    [deleted] = json.loads(tasks.ok("delete", "--format", "json", "c"))["deleted"]
    assert deleted["container_id"] == "c"
    assert deleted["exit_status"] == 3
    assert deleted["exited_at"].endswith("Z")
    assert deleted["exited_at"] == waited["exited_at"]


def test_filters(tasks: Tasks, busybox_rootfs: Path) -> None:
    for name in ("web-1", "web-2", "db"):
        tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", name,
                 "sleep", "100")
    pids = {name: tasks.create(name) for name in ("web-1", "web-2", "db")}
    tasks.ok("start", "web-1")
    assert tasks.statuses() == {"db": (pids["db"], "CREATED"),
                                "web-1": (pids["web-1"], "RUNNING"),
                                "web-2": (pids["web-2"], "CREATED")}
    assert tasks.ids("--filter", "status==running") == ["web-1"]
    assert tasks.ids("--filter", "status==CREATED") == ["db", "web-2"]
    assert tasks.ids("--filter", "status!=created") == ["web-1"]
    assert tasks.ids("--filter", "id~=^web") == ["web-1", "web-2"]
    assert tasks.ids("--filter", "id!=db") == ["web-1", "web-2"]
    assert tasks.ids("--filter", "id==db") == ["db"]
    assert tasks.ids("--filter", f"pid=={pids['web-2']}") == ["web-2"]
    assert tasks.ids("--filter", "id~=^web,status==created") == ["web-2"]
    assert tasks.ids("--filter", "id==nothing") == []
    assert [t["id"] for t in tasks.list("--filter", "status==running")] == ["web-1"]
    tasks.fails(2, "filter", "list", "--filter", "colour==red")
    tasks.fails(2, "", "list", "--filter", "id~=(")
    for name in ("web-1", "web-2", "db"):
        tasks.stop(name)


def test_unknown_container_is_not_found(tasks: Tasks) -> None:
    for verb in ("get", "start", "kill", "delete", "wait"):
        tasks.fails(3, r"ghost.*not found", verb, "ghost")
    tasks.fails(3, r"^pytasks: container ghost not found$", "create", "ghost")
    tasks.fails(3, r"^pytasks: container ghost not found$", "containers", "info", "ghost")
    tasks.fails(3, r"^pytasks: container ghost not found$", "containers", "delete", "ghost")


@pytest.mark.parametrize("bad_id", ["../x", "a" * 77])
def test_invalid_identifier_touches_nothing(tasks: Tasks, roots: Roots, bad_id: str) -> None:
    what = "is 77 characters long; at most 76" if len(bad_id) == 77 else "is invalid"
    for args in (["containers", "create", bad_id, "sh"], ["create", bad_id],
                 ["start", bad_id], ["get", bad_id], ["kill", bad_id], ["delete", bad_id],
                 ["wait", bad_id], ["containers", "info", bad_id],
                 ["containers", "delete", bad_id], ["run", "-d", bad_id, "sh"],
                 ["run", "--rm", bad_id, "sh"]):
        tasks.fails(2, f"container id .*{what}", *args)
    tasks.fails(2, f"namespace .*{what}", "-n", bad_id, "list")
    assert not roots.root.exists()
    assert not roots.state.exists()


def test_task_already_exists(tasks: Tasks, busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sleep", "100")
    tasks.fails(4, r"^pytasks: container c: already exists$",
                "containers", "create", "--rootfs", busybox_rootfs, "c", "sleep", "1")
    pid = tasks.create("c")
    tasks.fails(4, r"^pytasks: task c: already exists$", "create", "c")
    assert tasks.statuses() == {"c": (pid, "CREATED")}  # the first task is untouched
    tasks.fails(4, "already exists", "run", "-d", "c", "sleep", "1")
    tasks.stop("c")


def test_wrong_state_and_bad_signal(tasks: Tasks, busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sleep", "100")
    pid = tasks.create("c")
    tasks.ok("start", "c")
    tasks.fails(5, r"^pytasks: c: cannot start task in running state "
                r"\(it is running already\)$", "start", "c")
    tasks.fails(5, r"^pytasks: c: cannot delete task in running state "
                r"\(use 'pytasks delete -f' to kill it first\)$", "delete", "c")
    tasks.fails(5, r"^pytasks: cannot delete container c: task is running$",
                "containers", "delete", "c")
    tasks.fails(2, r"^pytasks: unknown signal 'FOO' \(names: HUP, INT, .*, or a number 1\.\.64\)$",
                "kill", "-s", "FOO", "c")
    tasks.fails(2, r"invalid signal number 0", "kill", "-s", "0", "c")
    assert tasks.statuses() == {"c": (pid, "RUNNING")}
    assert alive(pid)

    tasks.ok("kill", "-s", "KILL", "c")
    result = tasks("wait", "c")
    assert (result.returncode, result.stdout) == (137, "137\n")
    assert tasks.ok("list").splitlines()[1].split() == ["c", str(pid), "STOPPED", "137"]
    tasks.fails(3, r"^pytasks: c: process already finished$", "kill", "c")
    tasks.fails(3, r"process already finished", "kill", "-s", "9", "c")
    tasks.fails(5, r"^pytasks: c: cannot start task in stopped state "
                r"\(delete it, then create or run it again\)$", "start", "c")
    tasks.fails(5, r"task exists; delete it first", "containers", "delete", "c")
    assert tasks.ok("delete", "c").splitlines()[1].split()[:2] == ["c", "137"]
    tasks.ok("containers", "delete", "c")


def test_kill_all_and_by_pid(tasks: Tasks, busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sh", "-c", *TRAP_TERM)
    pid = tasks.create("c")
    tasks.ok("start", "c")
    tasks.wait_for_file(Path(tasks.roots.layout.task_file("c", "output.log")), "ready")
    tasks.fails(3, r"process 1 not found", "kill", "--pid", "1", "c")
    tasks.fails(2, r"mutually exclusive", "kill", "--all", "--pid", str(pid), "c")
    tasks.ok("kill", "--pid", str(pid), "-s", "TERM", "c")
    assert tasks("wait", "c").returncode == 42
    tasks.ok("delete", "c")


@pytest.mark.parametrize("signal_name", ["KILL", "TERM"])
def test_kill_all_reaches_children_and_execs(tasks: Tasks, busybox_rootfs: Path,
                                             signal_name: str) -> None:
    """kill --all: SIGKILL is one kill(2) of the init (its pid namespace takes the rest);
    other signals go through `runc kill --all`, which signals every process."""
    init = int(tasks.ok("run", "-d", "--rootfs", busybox_rootfs, "c", "sh", "-c",
                        "sleep 1000 & sleep 1000 & echo ready; wait"))
    tasks.wait_for_file(Path(tasks.roots.layout.task_file("c", "output.log")), "ready")
    exec_pid = int(tasks.ok("exec", "-d", "c", "sleep", "1000"))
    listed = [int(line.split()[0]) for line in tasks.ok("ps", "c").splitlines()[1:]]
    assert init in listed and exec_pid in listed and len(listed) == 4
    tasks.ok("kill", "--all", "-s", signal_name, "c")
    deadline = time.monotonic() + 10
    while any(alive(p) for p in listed if p != init) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in listed if p != init and alive(p)] == []
    # KILL takes the init too; the init (pid 1 of its namespace, no TERM handler) is
    # spared TERM and exits on its own once `wait` sees its children gone.
    status = tasks("wait", "c").returncode
    assert status == 137 if signal_name == "KILL" else status != 137
    assert not any(alive(p) for p in listed)
    tasks.ok("delete", "c")


def test_namespaces_are_isolated(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    for ns in (roots.namespace, "other"):
        tasks.ok("-n", ns, "containers", "create", "--rootfs", busybox_rootfs, "--readonly",
                 "same", "sleep", "100")
    pid = tasks.create("same")
    assert tasks.ids() == ["same"]
    assert tasks.ok("-n", "other", "list", "-q") == ""
    tasks.fails(3, "task same not found", "-n", "other", "get", "same")
    other_pid = int(tasks.ok("-n", "other", "create", "same"))
    tasks.ok("-n", "other", "start", "same")
    assert other_pid != pid
    assert tasks.statuses() == {"same": (pid, "CREATED")}
    assert tasks.ok("-n", "other", "list", "-q") == "same\n"
    assert [c["id"] for c in tasks.runc_list("other")] == ["same"]
    # PYTASKS_NAMESPACE works like -n
    assert tasks.ok("list", "-q", env={"PYTASKS_NAMESPACE": "other"}) == "same\n"
    tasks.stop("same")
    assert tasks.ok("-n", "other", "list", "-q") == "same\n"
    tasks.ok("-n", "other", "kill", "-s", "KILL", "same")
    assert tasks("-n", "other", "wait", "same").returncode == 137
    tasks.ok("-n", "other", "delete", "same")
    assert tasks.runc_list("other") == []


def test_racing_creates_one_wins(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    racers = [roots.spawn("containers", "create", "--rootfs", busybox_rootfs, "--readonly",
                          "c", "sleep", "100") for _ in range(4)]
    assert sorted(p.wait(timeout=30) for p in racers) == [0, 4, 4, 4]
    racers = [roots.spawn("create", "c") for _ in range(4)]
    codes = sorted(p.wait(timeout=60) for p in racers)
    assert codes == [0, 4, 4, 4]
    [winner] = [int(p.communicate()[0]) for p in racers if p.returncode == 0]
    assert tasks.statuses() == {"c": (winner, "CREATED")}
    assert len(tasks.runc_list()) == 1
    tasks.stop("c")
