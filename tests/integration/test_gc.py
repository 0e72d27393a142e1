"""pytasks gc (docs/architecture.md §7): each kind of leftover made for real, removed and
named; tasks (live or dead) untouched; and gc looping beside a storm of other calls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from helpers.roots import Roots
from running import run_detached
from tasktools import Tasks, wait_until

from pytasks import cgroups

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Tasks:
    return Tasks(roots)


def _gc(tasks: Tasks, *args: str) -> list[dict[str, str]]:
    return json.loads(tasks.ok("gc", "--format", "json", *args))["leftovers"]


def test_gc_removes_each_kind_of_leftover(tasks: Tasks, roots: Roots,
                                          busybox_rootfs: Path) -> None:
    layout = roots.layout
    run_detached(roots, "live", busybox_rootfs, "sleep", "1000")
    run_detached(roots, "dead", busybox_rootfs, "true")
    tasks.ok("wait", "dead")
    # A runtime container whose task dir was wiped (its monitor killed first).
    run_detached(roots, "orphan", busybox_rootfs, "sleep", "1000")
    monitor = tasks.record("orphan")["monitor"]["pid"]
    os.kill(monitor, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{monitor}").exists())
    subprocess.run(["rm", "-rf", layout.task_dir("orphan")], check=True)
    # A task dir without a record, with a mount still attached inside it.
    ghost = Path(layout.task_dir("ghost"))
    (ghost / "rootfs").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(ghost / "rootfs")], check=True)
    # A dead create's dir, lock files of no id, FIFO sets of clients that are gone.
    Path(layout.creating_dir("never")).mkdir()
    Path(layout.lock_file("nobody")).write_text("")
    claim = Path(layout.claim_lock_file("nobody"))
    claim.parent.mkdir(parents=True, exist_ok=True)
    claim.write_text("")
    stale_set = Path(layout.fifo_task_dir("live")) / "exec-1-1-abcdef"
    stale_set.mkdir(parents=True)
    gone_task_fifos = Path(layout.fifo_task_dir("vanished")) / "run-1-1-abcdef"
    gone_task_fifos.mkdir(parents=True)
    # A cgroup of no task, in every hierarchy.
    host = cgroups.current_host()
    points = sorted(set(host.v1.values()) | ({host.unified} if host.unified else set()))
    leftover_cgroups = [Path(p) / layout.cgroup_path("cgleft").lstrip("/") for p in points]
    for path in leftover_cgroups:
        path.mkdir(parents=True, exist_ok=True)

    planned = _gc(tasks, "--dry-run")
    kinds = {(e["kind"], e["name"]) for e in planned}
    expected = {
        ("runtime container", "orphan"),
        ("task dir", str(ghost)),
        ("create dir", layout.creating_dir("never")),
        ("lock file", layout.lock_file("nobody")),
        ("claim lock", str(claim)),
        ("fifo set", str(stale_set)),
        ("fifo set", layout.fifo_task_dir("vanished")),
        ("mount", str(ghost / "rootfs")),
        *(("cgroup", str(p)) for p in leftover_cgroups),
    }
    assert expected <= kinds, sorted(kinds - expected)
    assert {e["outcome"] for e in planned if e["kind"] != "dead task"} == {"would remove"}
    assert tasks.runc_list()  # dry run: nothing touched
    assert ghost.exists() and claim.exists()

    done = _gc(tasks)
    outcomes = {(e["kind"], e["name"]): e["outcome"] for e in done}
    for key in expected - {("mount", str(ghost / "rootfs"))}:
        assert outcomes[key] == "removed", (key, outcomes)
    assert outcomes[("dead task", layout.task_dir("dead"))].startswith("kept")
    assert [c["id"] for c in tasks.runc_list()] == ["dead", "live"]
    for path in (ghost, Path(layout.creating_dir("never")), claim, stale_set,
                 Path(layout.lock_file("nobody")), *leftover_cgroups):
        assert not path.exists(), path
    assert tasks.statuses() == {"dead": (tasks.get("dead")["pid"], "STOPPED"),
                                "live": (tasks.get("live")["pid"], "RUNNING")}

    again = _gc(tasks)  # nothing left but the dead task, kept
    assert [(e["kind"], e["outcome"].split(":")[0]) for e in again] == [("dead task", "kept")]
    tasks.ok("delete", "dead")
    tasks.ok("delete", "-f", "live")
    for name in ("dead", "live", "orphan"):
        tasks.ok("containers", "delete", name)
    assert tasks.ok("gc", "-q") == ""


def test_gc_beside_a_storm(tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    """Workers run, exec into and delete tasks while gc and list loop: every call answers
    with its documented outcome and gc never removes anything of a task."""
    stop = threading.Event()
    problems: list[str] = []

    def worker(n: int) -> None:
        for cycle in range(2):
            name = f"w{n}-{cycle}"
            steps = [("run", "-d", "--rootfs", busybox_rootfs, "--readonly", name, "sleep",
                      "1000"), ("exec", name, "true"), ("delete", "-f", name),
                     ("containers", "delete", name)]
            for step in steps:
                result = tasks(*step)
                if result.returncode != 0:
                    problems.append(f"{step}: {result.returncode} {result.stderr}")

    def loop(*args: str) -> None:
        while not stop.is_set():
            result = tasks(*args)
            if result.returncode != 0 or "internal error" in result.stderr:
                problems.append(f"{args}: {result.returncode} {result.stderr}")
            elif args[0] == "gc":
                # Lock files of ids deleted meanwhile are fair game; nothing else is.
                removed = [e for e in json.loads(result.stdout)["leftovers"]
                           if e["outcome"] == "removed"
                           and e["kind"] not in ("lock file", "claim lock")]
                if removed:
                    problems.append(f"gc removed a live thing: {removed}")

    loops = [threading.Thread(target=loop, args=a)
             for a in (("gc", "--format", "json"), ("list", "-q"))]
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in loops + workers:
        t.start()
    for t in workers:
        t.join(timeout=300)
    stop.set()
    for t in loops:
        t.join(timeout=60)
    assert problems == []
    assert tasks.ids() == [] and tasks.runc_list() == []


def test_gc_and_delete_in_one_namespace_leave_anothers_fifo_sets(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    """fifo/ is shared by the namespaces of a state dir: an attached exec in one keeps its
    FIFO set through a gc, and a delete of a same-named task, in another (a soak saw an
    exec lose its FIFOs to the other namespace's gc)."""
    other = Roots(root=roots.root, state=roots.state, tmp=roots.tmp, namespace="other")
    run_detached(roots, "web", busybox_rootfs, "sleep", "1000")
    run_detached(other, "web", busybox_rootfs, "true")
    attached = roots.spawn("exec", "web", "sh", "-c", "sleep 2; echo still here")
    fifos = Path(roots.layout.fifo_task_dir("web"))
    try:
        wait_until(lambda: fifos.is_dir() and any(fifos.iterdir()),
                   what="the exec's FIFO set")
        assert Tasks(other).ok("gc", "--format", "json")
        Tasks(other).ok("delete", "-f", "web")
        assert any(fifos.iterdir()), "another namespace took the exec's FIFO set"
        out, _ = attached.communicate(timeout=30)
        assert (attached.returncode, out) == (0, "still here\n")
    finally:
        Tasks(other)("delete", "-f", "web")
        Tasks(other)("containers", "delete", "web")
        tasks("delete", "-f", "web")
        tasks("containers", "delete", "web")
