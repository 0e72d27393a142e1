"""Pause/Resume, ListProcesses, Stats and Update on real runc with a busybox rootfs.

Facts are read from the kernel, never from pytasks' own record: CPU time from
/proc/<pid>/stat, the freezer from the cgroup files, limits from the cgroup files.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.roots import Roots

from pytasks import cgroups

pytestmark = pytest.mark.integration

BUSY = "while :; do :; done"


# --- helpers --------------------------------------------------------------------------------

def run_detached(roots: Roots, task_id: str, rootfs: Path, script: str,
                 *options: str) -> int:
    result = roots.pytasks("run", "-d", "--rootfs", rootfs, *options, task_id,
                           "sh", "-c", script, check=True)
    return int(result.stdout)


@contextmanager
def task(roots: Roots, task_id: str, rootfs: Path, script: str, *options: str,
         readonly: bool = True) -> Iterator[int]:
    """A running task; force-deleted (container record too) however the test ends."""
    extra = ("--readonly", *options) if readonly else options
    pid = run_detached(roots, task_id, rootfs, script, *extra)
    try:
        yield pid
    finally:
        roots.pytasks("delete", "-f", task_id)
        roots.pytasks("containers", "delete", task_id)


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (fields 14 and 15 of stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def cgroup_dir(roots: Roots, task_id: str, controller: str) -> Path:
    host = cgroups.current_host()
    mount = host.v1.get(controller) or host.unified
    assert mount, f"no {controller} hierarchy"
    return Path(mount) / roots.layout.cgroup_path(task_id).lstrip("/")


def kernel_freezer(roots: Roots, task_id: str) -> str:
    """FROZEN/THAWED straight from the cgroup files (v1 freezer.state, v2 cgroup.events)."""
    d = cgroup_dir(roots, task_id, "freezer")
    if (d / "freezer.state").exists():
        return (d / "freezer.state").read_text().strip()
    events = dict(line.split() for line in (d / "cgroup.events").read_text().splitlines())
    return "FROZEN" if events.get("frozen") == "1" else "THAWED"


def status(roots: Roots, task_id: str) -> str:
    got = roots.pytasks("get", "--format", "json", task_id, check=True)
    return json.loads(got.stdout)["task"]["status"]


def wait_until(condition, seconds: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def grows(pid: int, seconds: float = 0.5) -> bool:
    before = cpu_ticks(pid)
    time.sleep(seconds)
    return cpu_ticks(pid) > before


def stats_json(roots: Roots, task_id: str) -> dict:
    got = roots.pytasks("stats", "--format", "json", task_id, check=True)
    (entry,) = json.loads(got.stdout)["stats"]
    return entry


def ps_json(roots: Roots, task_id: str, *options: str) -> list[dict]:
    got = roots.pytasks("ps", "--format", "json", *options, task_id, check=True)
    return json.loads(got.stdout)["processes"]


def kind(proc: dict) -> str:
    return proc["runtime_data"]["value"]["kind"]


# --- pause / resume -------------------------------------------------------------------------

def test_pause_freezes_a_busy_loop_and_resume_restarts_it(roots: Roots,
                                                          busybox_rootfs: Path) -> None:
    with task(roots, "busy", busybox_rootfs, BUSY) as pid:
        wait_until(lambda: grows(pid, 0.2), what="the loop to burn CPU")
        assert kernel_freezer(roots, "busy") == "THAWED"

        roots.pytasks("pause", "busy", check=True)
        assert status(roots, "busy") == "PAUSED"
        assert kernel_freezer(roots, "busy") == "FROZEN"
        assert proc_state(pid) != "R"  # v1 shows frozen tasks as D, v2 as S
        before = cpu_ticks(pid)
        time.sleep(1.0)
        assert cpu_ticks(pid) == before, "a paused task kept using CPU"
        listed = roots.pytasks("list", check=True).stdout
        assert f"busy    {pid}    PAUSED" in listed

        roots.pytasks("resume", "busy", check=True)
        assert status(roots, "busy") == "RUNNING"
        assert kernel_freezer(roots, "busy") == "THAWED"
        assert grows(pid), "a resumed task did not run again"


def test_pause_and_resume_take_several_tasks(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "a", busybox_rootfs, "sleep 1000"), \
            task(roots, "b", busybox_rootfs, "sleep 1000"):
        got = roots.pytasks("pause", "a", "nope", "b")
        assert got.returncode == 3, got.stderr  # the first failure's code (NotFound)
        assert "nope" in got.stderr
        assert (status(roots, "a"), status(roots, "b")) == ("PAUSED", "PAUSED")
        roots.pytasks("resume", "a", "b", check=True)
        assert (status(roots, "a"), status(roots, "b")) == ("RUNNING", "RUNNING")


def test_illegal_transitions_fail_with_containerd_wording(roots: Roots,
                                                          busybox_rootfs: Path) -> None:
    roots.pytasks("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "t",
                  "sh", "-c", "sleep 1000", check=True)
    try:
        roots.pytasks("create", "t", check=True)

        def refused(verb: str, words: str) -> None:
            got = roots.pytasks(verb, "t")
            assert got.returncode == 5, (verb, got.stdout, got.stderr)
            from pytasks.cli.hints import with_hint

            assert got.stderr == f"pytasks: t: {with_hint(words)}\n"

        refused("pause", "cannot pause task in created state")
        refused("resume", "cannot resume task in created state")
        roots.pytasks("start", "t", check=True)
        refused("resume", "cannot resume task in running state")
        roots.pytasks("pause", "t", check=True)
        refused("pause", "cannot pause task in paused state")
        roots.pytasks("kill", "-s", "KILL", "t", check=True)
        assert roots.pytasks("wait", "t").stdout == "137\n"
        refused("pause", "cannot pause task in stopped state")
        refused("resume", "cannot resume task in stopped state")
        got = roots.pytasks("update", "--memory", "64m", "t")
        assert got.returncode == 5
        assert got.stderr == "pytasks: cannot update task in stopped state\n"
    finally:
        roots.pytasks("delete", "-f", "t")
        roots.pytasks("containers", "delete", "t")


def test_sigkill_ends_a_paused_task(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "pk", busybox_rootfs, BUSY) as pid:
        roots.pytasks("pause", "pk", check=True)
        roots.pytasks("kill", "-s", "KILL", "pk", check=True)
        waited = roots.pytasks("wait", "pk", timeout=30)
        assert (waited.returncode, waited.stdout) == (137, "137\n")
        assert status(roots, "pk") == "STOPPED"
        assert not Path(f"/proc/{pid}").exists() or proc_state(pid) == "Z"


def test_other_signals_leave_a_paused_task_frozen(roots: Roots, busybox_rootfs: Path) -> None:
    # runc kill --all thaws the cgroup as a side effect; pytasks freezes it again.
    with task(roots, "ps", busybox_rootfs, f"sleep 1000 & {BUSY}") as pid:
        roots.pytasks("pause", "ps", check=True)
        roots.pytasks("kill", "--all", "-s", "CONT", "ps", check=True)
        assert status(roots, "ps") == "PAUSED"
        assert kernel_freezer(roots, "ps") == "FROZEN"
        before = cpu_ticks(pid)
        time.sleep(0.5)
        assert cpu_ticks(pid) == before


def test_delete_force_removes_a_paused_task(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "pd", busybox_rootfs, f"sleep 1000 & {BUSY}"):
        roots.pytasks("pause", "pd", check=True)
        got = roots.pytasks("delete", "-f", "pd", timeout=30)
        assert got.returncode == 0, got.stderr
        assert got.stdout.splitlines()[1].split()[:2] == ["pd", "137"]
        assert roots.pytasks("get", "pd").returncode == 3
        assert not cgroup_dir(roots, "pd", "freezer").exists()


def test_exec_into_a_paused_task_is_refused(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "pe", busybox_rootfs, "sleep 1000"):
        roots.pytasks("pause", "pe", check=True)
        got = roots.pytasks("exec", "-d", "pe", "true")
        assert got.returncode == 5, got.stderr
        assert "cannot exec task in paused state" in got.stderr


# --- ps ---------------------------------------------------------------------------------------

def test_ps_lists_init_exec_and_children(roots: Roots, busybox_rootfs: Path) -> None:
    # `; true` keeps sh as the init (busybox would exec the last command otherwise).
    with task(roots, "ps1", busybox_rootfs, "sleep 1000 & sleep 2000; true",
              "--env", "SECRET=s3cret") as init_pid:
        exec_pid = int(roots.pytasks("exec", "-d", "--user", "65534:65534", "--cwd", "/tmp",
                                     "ps1", "sleep", "3000", check=True).stdout)
        done_pid = int(roots.pytasks("exec", "-d", "ps1", "sh", "-c", "exit 4",
                                     check=True).stdout)
        wait_until(lambda: any(p["pid"] == done_pid and p["status"] == "STOPPED"
                               for p in ps_json(roots, "ps1")), what="the exec to exit")
        procs = {p["pid"]: p for p in ps_json(roots, "ps1")}

        init = procs[init_pid]
        assert kind(init) == "init"
        assert init["args"] == ["sh", "-c", "sleep 1000 & sleep 2000; true"]
        assert init["user"] == {"uid": 0, "gid": 0, "additional_gids": []}
        assert init["runtime_data"]["value"]["user_name"] == "root"
        assert init["cwd"] == "/"
        assert init["status"] == "RUNNING"
        assert init["env"] == []  # only with --env

        ex = procs[exec_pid]
        assert kind(ex) == "exec"
        assert ex["args"] == ["sleep", "3000"]
        assert ex["user"]["uid"] == 65534 and ex["user"]["gid"] == 65534
        assert ex["runtime_data"]["value"]["user_name"] == "nobody"
        assert ex["cwd"] == "/tmp"
        assert ex["terminal"] is False

        children = sorted(p["args"][1] for p in procs.values() if kind(p) == "child")
        assert children == ["1000", "2000"]

        done = procs[done_pid]
        assert (kind(done), done["status"], done["exit_status"]) == ("exec", "STOPPED", 4)
        assert done["args"] == ["sh", "-c", "exit 4"]
        # every live process of the cgroup, plus the exited exec; init first
        members = {int(p) for p in
                   (cgroup_dir(roots, "ps1", "pids") / "cgroup.procs").read_text().split()}
        assert set(procs) == members | {done_pid}
        assert next(iter(procs)) == init_pid

        with_env = {p["pid"]: p for p in ps_json(roots, "ps1", "--env")}
        assert "SECRET=s3cret" in with_env[init_pid]["env"]

        table = roots.pytasks("ps", "ps1", check=True).stdout.splitlines()
        assert table[0].split() == ["PID", "TYPE", "USER", "STATUS", "CMD"]
        rows = {int(line.split()[0]): line.split() for line in table[1:]}
        assert rows[exec_pid][:5] == [str(exec_pid), "exec", "nobody", "RUNNING", "sleep"]
        assert rows[init_pid][1:4] == ["init", "root", "RUNNING"]
        assert rows[done_pid][1:5] == ["exec", "root", "STOPPED", "(4)"]
        assert "s3cret" not in "\n".join(table)
        assert "SECRET=s3cret" in roots.pytasks("ps", "--env", "ps1", check=True).stdout

        roots.pytasks("pause", "ps1", check=True)
        paused = ps_json(roots, "ps1")
        assert {p["status"] for p in paused if p["pid"] != done_pid} == {"PAUSED"}


def test_ps_of_unknown_task_is_not_found(roots: Roots) -> None:
    got = roots.pytasks("ps", "nope")
    assert got.returncode == 3
    assert got.stderr == "pytasks: task nope not found\n"


# --- stats ------------------------------------------------------------------------------------

def test_stats_move_with_load(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "st", busybox_rootfs, f"sleep 1000 & {BUSY}") as pid:
        wait_until(lambda: grows(pid, 0.2), what="the loop to burn CPU")
        first = stats_json(roots, "st")
        time.sleep(0.5)
        second = stats_json(roots, "st")
        used = int(second["cpu"]["usage_ns"]) - int(first["cpu"]["usage_ns"])
        # A busy loop alone would use ~0.5 s of one CPU; leave room for a loaded host.
        assert used > 50_000_000, used
        assert int(second["memory"]["usage"]) > 0
        assert int(second["memory"]["limit"]) == 0  # unlimited
        members = (cgroup_dir(roots, "st", "pids") / "cgroup.procs").read_text().split()
        assert int(second["pids"]["current"]) == len(members) == 2

        table = roots.pytasks("stats", "st", check=True).stdout.splitlines()
        assert table[0].split()[:3] == ["CONTAINER", "CPU", "%"]
        row = table[1].split()
        assert row[0] == "st"
        assert float(row[1].rstrip("%")) > 10.0  # sampled twice: the loop's share of a CPU

        # paused: the counters stop
        roots.pytasks("pause", "st", check=True)
        a = stats_json(roots, "st")
        time.sleep(0.5)
        b = stats_json(roots, "st")
        assert a["cpu"]["usage_ns"] == b["cpu"]["usage_ns"]

        everything = json.loads(roots.pytasks("stats", "--format", "json",
                                              check=True).stdout)
        assert [s["container_id"] for s in everything["stats"]] == ["st"]


def test_stats_watch_refreshes_until_interrupted(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "sw", busybox_rootfs, BUSY):
        proc = roots.spawn("stats", "--watch", "--interval", "0.2", "--format", "json", "sw")
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        usages = [int(json.loads(line)["stats"][0]["cpu"]["usage_ns"]) for line in lines]
        assert usages == sorted(usages) and usages[-1] > usages[0]

        proc = roots.spawn("stats", "--watch", "--interval", "0.2", "sw")
        header = proc.stdout.readline()
        first = proc.stdout.readline()
        proc.stdout.readline()  # blank line between samples
        proc.stdout.readline()  # header again
        second = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert header.split()[0] == "CONTAINER"
        assert first.split()[1] == "--"  # one sample: no CPU % yet
        assert float(second.split()[1].rstrip("%")) > 5.0


def test_stats_of_unknown_task_is_not_found(roots: Roots) -> None:
    got = roots.pytasks("stats", "nope")
    assert got.returncode == 3
    assert "task nope not found" in got.stderr


# --- update -----------------------------------------------------------------------------------

def test_update_memory_limit_shows_in_stats_and_is_enforced(roots: Roots,
                                                            writable_rootfs: Path) -> None:
    # Waits for /tmp/go, then holds ~100 MB in a shell variable.
    script = ('while [ ! -e /tmp/go ]; do sleep 0.05; done; '
              'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived ${#x}')
    with task(roots, "up", writable_rootfs, script, readonly=False):
        roots.pytasks("update", "--memory", "32m", "--cpus", "1.5", "--pids-limit", "50",
                      "up", check=True)
        stats = stats_json(roots, "up")
        assert int(stats["memory"]["limit"]) == 32 * 1024**2
        assert stats["cpu"]["limit_cpus"] == 1.5
        assert int(stats["pids"]["limit"]) == 50
        memory = cgroup_dir(roots, "up", "memory")
        limit_file = memory / "memory.limit_in_bytes"
        if not limit_file.exists():
            limit_file = memory / "memory.max"
        assert int(limit_file.read_text()) == 32 * 1024**2
        table = roots.pytasks("stats", "up", check=True).stdout
        assert "/ 32MiB" in table and "/ 50" in table

        (writable_rootfs / "tmp" / "go").touch()
        waited = roots.pytasks("wait", "up", timeout=60)
        assert waited.stdout == "137\n", "the task outlived its memory limit"
        assert "survived" not in Path(roots.layout.task_dir("up"), "output.log").read_text()
        assert int(stats_json(roots, "up")["memory"]["oom_kills"]) >= 1


def test_update_of_a_paused_task_and_bad_requests(roots: Roots, busybox_rootfs: Path) -> None:
    with task(roots, "uq", busybox_rootfs, "sleep 1000"):
        roots.pytasks("pause", "uq", check=True)
        roots.pytasks("update", "--pids-limit", "7", "uq", check=True)
        assert int(stats_json(roots, "uq")["pids"]["limit"]) == 7
        assert status(roots, "uq") == "PAUSED"
        roots.pytasks("update", "--pids-limit", "0", "--cpus", "0", "uq", check=True)
        after = stats_json(roots, "uq")
        assert (int(after["pids"]["limit"]), after["cpu"]["limit_cpus"]) == (0, 0.0)

        assert roots.pytasks("update", "uq").returncode == 2
        assert roots.pytasks("update", "--memory", "12q", "uq").returncode == 2
        got = roots.pytasks("update", "--memory", "1k", "uq")
        assert got.returncode == 2 and "too small" in got.stderr
    assert roots.pytasks("update", "--memory", "64m", "gone").returncode == 3


def test_cli_help_lists_the_new_verbs(roots: Roots) -> None:
    out = roots.pytasks("--help", check=True).stdout
    for verb in ("pause", "resume", "ps", "stats", "update"):
        assert f"  {verb} " in out
