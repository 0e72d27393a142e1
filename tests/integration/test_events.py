"""events: the namespace's journal as real commands write it (docs/architecture.md §7),
read back, filtered, bounded in time and followed."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.roots import Roots
from running import remove, run_detached
from tasktools import Tasks, alive, wait_until

pytestmark = pytest.mark.integration

SHAPE = {"timestamp", "namespace", "topic", "id", "event"}


@pytest.fixture
def tasks(roots: Roots) -> Iterator[Tasks]:
    yield Tasks(roots)
    for task_id in ("web", "made"):
        remove(roots, task_id)


def _events(tasks: Tasks, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in
            tasks.ok("events", "--format", "json", *args).splitlines()]


def _topics(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["topic"], e["id"]) for e in events]


def test_a_task_lifecycle_is_journaled_in_order(tasks: Tasks, roots: Roots,
                                               busybox_rootfs: Path) -> None:
    pid = run_detached(roots, "web", busybox_rootfs, "sleep", "1000")
    exec_pid = int(tasks.ok("exec", "-d", "web", "sleep", "5"))
    tasks.ok("pause", "web")
    tasks.ok("resume", "web")
    tasks.ok("kill", "-s", "KILL", "web")
    assert tasks("wait", "web").returncode == 137
    tasks.ok("delete", "web")
    tasks.ok("containers", "delete", "web")

    found = _events(tasks)
    assert all(set(e) == SHAPE and e["namespace"] == roots.namespace for e in found)
    assert _topics(found) == [
        ("/containers/create", "web"), ("/tasks/create", "web"), ("/tasks/start", "web"),
        ("/tasks/exec-added", "web"), ("/tasks/exec-started", "web"),
        ("/tasks/paused", "web"), ("/tasks/resumed", "web"), ("/tasks/exit", "web"),
        ("/tasks/exit", "web"), ("/tasks/delete", "web"), ("/containers/delete", "web")]
    exits = [e["event"] for e in found if e["topic"] == "/tasks/exit"]
    assert [(x["id"], x["pid"]) for x in exits] == [(str(exec_pid), exec_pid), ("web", pid)]
    assert exits[1]["exit_status"] == 137 and exits[1]["container_id"] == "web"
    by_topic = {e["topic"]: e["event"] for e in found}
    assert by_topic["/tasks/start"] == {"container_id": "web", "pid": pid}
    assert by_topic["/tasks/exec-started"]["pid"] == exec_pid
    deleted = by_topic["/tasks/delete"]
    assert deleted["pid"] == pid and deleted["exit_status"] == 137
    assert isinstance(deleted["exit_status"], int) and deleted["exited_at"].endswith("Z")
    stamps = [e["timestamp"] for e in found]
    assert stamps == sorted(stamps)

    # --filter in list --filter's syntax; a topic is a bare value.
    assert _topics(_events(tasks, "--filter", "topic==/tasks/delete")) == [
        ("/tasks/delete", "web")]
    assert len(_events(tasks, "--filter", r"topic~=^/tasks/exec,id==web")) == 2
    assert _events(tasks, "--filter", "id==other") == []
    # --since/--until: durations, RFC 3339, and a range that holds nothing.
    assert len(_events(tasks, "--since", "1h")) == len(found)
    assert _events(tasks, "--until", "2020-01-01T00:00:00Z") == []
    middle = found[4]["timestamp"]
    assert _topics(_events(tasks, "--since", middle)) == _topics(found[4:])
    assert _topics(_events(tasks, "--until", middle)) == _topics(found[:5])
    assert _events(tasks, "--filter", "topic==/tasks/exit,id==web")[1]["event"] == exits[1]
    table = tasks.ok("events", "--filter", "topic==/tasks/delete").splitlines()
    assert table[0].split() == ["TIMESTAMP", "NAMESPACE", "TOPIC", "ID", "EVENT"]
    assert "exit_status=137" in table[1] and f"pid={pid}" in table[1]


def test_an_exit_is_journaled_once_even_when_its_monitor_is_lost(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    import os

    run_detached(roots, "made", busybox_rootfs, "sh", "-c", "exit 3")
    assert tasks("wait", "made").returncode == 3
    tasks.ok("delete", "made")  # the CLI adds no exit of its own: the monitor wrote it
    pid = run_detached(roots, "web", busybox_rootfs, "sleep", "1000")
    monitor = tasks.record("web")["monitor"]["pid"]
    os.kill(monitor, signal.SIGKILL)
    wait_until(lambda: not alive(monitor), what="the monitor to die")
    tasks.ok("delete", "-f", "web")
    exits = [(e["id"], e["event"]["exit_status"])
             for e in _events(tasks, "--filter", "topic==/tasks/exit")]
    assert exits == [("made", 3), ("web", 255)]
    lost = _events(tasks, "--filter", "topic==/tasks/exit,id==web")[0]["event"]
    assert lost["pid"] == pid and lost["id"] == "web"


@pytest.mark.python_monitor_smoke
def test_a_task_killed_by_its_memory_limit_reports_oom(tasks: Tasks, roots: Roots,
                                                      busybox_rootfs: Path) -> None:
    """A real OOM kill: the monitor (either, through the host's cgroup v1 eventfd or v2
    inotify) journals /tasks/oom before the exit it caused; get, inspect and stats say so."""
    script = "sleep 1; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"
    run_detached(roots, "web", busybox_rootfs, "sh", "-c", script)
    tasks.ok("update", "--memory", "32m", "web")
    assert tasks("wait", "web", timeout=60).returncode == 137
    found = _events(tasks, "--filter", "id==web")
    topics = [e["topic"] for e in found]
    assert topics.count("/tasks/oom") >= 1
    assert topics.index("/tasks/oom") < topics.index("/tasks/exit")
    assert found[topics.index("/tasks/oom")]["event"] == {"container_id": "web"}
    assert json.loads(tasks.ok("get", "--format", "json", "web"))["task"]["oom_killed"] is True
    inspected = json.loads(tasks.ok("inspect", "web"))["containers"][0]["task"]
    assert inspected["oom_killed"] is True and inspected["oom_kills"] >= 1
    stats = json.loads(tasks.ok("stats", "--format", "json", "web"))["stats"]
    assert stats[0]["memory"]["oom_kills"] >= 1
    run_detached(roots, "made", busybox_rootfs, "true")
    assert tasks("wait", "made").returncode == 0
    assert json.loads(tasks.ok("get", "--format", "json", "made"))["task"]["oom_killed"] is False


def test_bad_times_and_filters_are_invalid_arguments(tasks: Tasks) -> None:
    tasks.fails(2, r"^pytasks: invalid --since 'soon': expected RFC 3339", "events",
                "--since", "soon")
    tasks.fails(2, r"^pytasks: --until is before --since$", "events", "--since", "1m",
                "--until", "1h")
    tasks.fails(2, r'^pytasks: invalid filter .*unknown field "pid"', "events", "--filter",
                "pid==1")


def test_follow_streams_new_events_and_ends_cleanly(tasks: Tasks, roots: Roots,
                                                   busybox_rootfs: Path) -> None:
    follower = roots.spawn("events", "--follow", "--format", "json")
    time.sleep(0.5)  # let it open the journal: it prints what comes after
    run_detached(roots, "web", busybox_rootfs, "sleep", "1000")
    tasks.ok("delete", "-f", "web")
    assert follower.stdout is not None
    seen = []
    while ("/tasks/delete", "web") not in seen:
        seen.append(_topic(json.loads(follower.stdout.readline())))
    assert seen[0] == ("/containers/create", "web")
    follower.send_signal(signal.SIGINT)
    _, err = follower.communicate(timeout=10)
    assert (follower.returncode, err) == (0, "")

    # A reader that goes away: the next event ends the follow, with exit 0.
    piped = roots.spawn("events", "-f", "--filter", "id==made")
    time.sleep(0.5)
    assert piped.stdout is not None
    piped.stdout.close()
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "made", "true")
    tasks.ok("containers", "delete", "made")
    assert piped.wait(timeout=10) == 0


def test_follow_with_until_ends_when_the_clock_passes_it(tasks: Tasks, roots: Roots,
                                                         busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "made", "true")
    # --since with --follow: what is there already, then on, from one reading of the file.
    result = tasks("events", "-f", "--since", "1h", "--until", time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1)), "--format", "json", timeout=20)
    assert result.returncode == 0, result.stderr
    assert [_topic(json.loads(line)) for line in result.stdout.splitlines()] == [
        ("/containers/create", "made")]
    started = time.monotonic()
    result = tasks("events", "-f", "--until", time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2)), timeout=20)
    assert result.returncode == 0 and result.stderr == ""
    assert time.monotonic() - started < 8


def test_a_follow_across_a_rotation_misses_nothing(tasks: Tasks, roots: Roots) -> None:
    from pytasks.state import event_journal

    layout = roots.layout
    follower = roots.spawn("events", "-f", "--format", "json", "--filter", "id==bulk")
    time.sleep(0.5)
    one = len(event_journal.line(layout, "/tasks/exec-added", "bulk", {"exec_id": "0"}))
    count = event_journal.MAX_BYTES // one + 200  # more than one generation's worth
    for n in range(count):
        event_journal.append(layout, "/tasks/exec-added", "bulk", {"exec_id": str(n)})
    assert follower.stdout is not None
    got = [json.loads(follower.stdout.readline())["event"]["exec_id"] for _ in range(count)]
    assert got == [str(n) for n in range(count)]
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=10) == 0
    assert Path(layout.events_dir, "journal.1").exists()


def test_a_create_that_fails_after_its_monitor_started_leaves_nothing(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure injection (a real part cannot fail there on demand): the task record's
    last write fails after the monitor and the runtime's container exist."""
    from pytasks import engine as engine_mod
    from pytasks.engine import Engine

    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "made", "sleep", "100")
    real_write = engine_mod.task_record.write

    def failing(layout: Any, task_id: str, record: dict[str, Any]) -> None:
        if record.get("pid"):
            raise OSError(28, "No space left on device (injected)")
        real_write(layout, task_id, record)

    monkeypatch.setattr(engine_mod.task_record, "write", failing)
    with pytest.raises(OSError, match="injected"):
        Engine(roots.layout).create("made", start=True)
    monkeypatch.undo()
    assert tasks.runc_list() == []
    assert tasks.ids() == []
    wait_until(lambda: not _monitors(roots), what="the monitor to exit")
    assert tasks.ok("create", "made").strip().isdigit()  # the id is usable again
    tasks.ok("delete", "-f", "made")


def _topic(event: dict[str, Any]) -> tuple[str, str]:
    return event["topic"], event["id"]


def _monitors(roots: Roots) -> list[int]:
    from tasktools import monitors_of

    return monitors_of(roots)

