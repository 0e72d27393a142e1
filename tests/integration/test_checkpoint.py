"""Checkpoint and restore with the real runc and CRIU on the busybox counter (issue 11;
docs/architecture.md §9).

One checkpoint, taken once per module with --exit (so the original's log ends exactly
where the image stands), is copied into each test's own content store: a restore must
continue the counter at the line after the original's last one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.roots import Roots
from tasktools import Tasks, wait_until

pytestmark = pytest.mark.integration

COUNTER = ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done"]
NAME = "counter-at-rest"


class Shared:
    def __init__(self, content: Path, last: int, index: str) -> None:
        self.content, self.last, self.index = content, last, index


def lines(roots: Roots, task_id: str) -> list[int]:
    """The counter's numbers, from the records of the task's own log (stdout, full lines;
    anything else a task prints is skipped)."""
    from pytasks.state import task_log

    path = Path(roots.layout.task_file(task_id, "output.log"))
    try:
        records, _ = task_log.parse(path.read_bytes())
    except FileNotFoundError:
        return []
    return [int(content) for _, stream, tag, content in records
            if stream == task_log.STDOUT and tag == task_log.FULL and content.strip().isdigit()]


def run_counter(tasks: Tasks, rootfs: Path, task_id: str, *extra: str,
                command: list[str] = COUNTER) -> None:
    tasks.ok("run", "-d", "--rootfs", rootfs, "--readonly", *extra, task_id, *command)
    wait_until(lambda: len(lines(tasks.roots, task_id)) >= 3, what="the counter to count")


def container(tasks: Tasks, rootfs: Path, task_id: str) -> None:
    tasks.ok("containers", "create", "--rootfs", rootfs, "--readonly", task_id, "--", "sh")


def remove(tasks: Tasks, *task_ids: str) -> None:
    for task_id in task_ids:
        tasks("delete", "-f", task_id)
        tasks("containers", "delete", task_id)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Iterator[Shared]:
    roots = Roots.under(tmp_path_factory.mktemp("checkpoint"))
    tasks = Tasks(roots)
    try:
        run_counter(tasks, busybox_rootfs, "orig")
        out = tasks.ok("checkpoint", "--exit", "--name", NAME, "--format", "json", "orig")
        descriptors = json.loads(out)["descriptors"]
        wait_until(lambda: tasks.get("orig")["status"] == "STOPPED", what="the task to stop")
        last = lines(roots, "orig")[-1]
        yield Shared(roots.root / "content", last, descriptors[0]["digest"])
    finally:
        remove(tasks, "orig")
        report = roots.cleanup()
        assert not report.leaked, str(report)


@pytest.fixture
def tasks(roots: Roots, shared: Shared) -> Tasks:
    roots.root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(shared.content, roots.root / "content")
    return Tasks(roots)


def test_checkpoint_leaves_the_task_running_and_says_what_it_stored(
        tasks: Tasks, busybox_rootfs: Path) -> None:
    run_counter(tasks, busybox_rootfs, "live")
    try:
        response = json.loads(tasks.ok("checkpoint", "--format", "json", "live"))
        kinds = [d["media_type"] for d in response["descriptors"]]
        assert kinds == ["application/vnd.oci.image.index.v1+json",
                         "application/vnd.containerd.container.criu.checkpoint.criu.tar",
                         "application/vnd.containerd.container.checkpoint.config.v1+json"]
        seen = len(lines(tasks.roots, "live"))
        wait_until(lambda: len(lines(tasks.roots, "live")) > seen + 2,
                   what="the counter to go on")
        assert tasks.get("live")["status"] == "RUNNING"
        index = json.loads(tasks.ok("content", "get", response["descriptors"][0]["digest"]))
        annotations = index["annotations"]
        assert annotations["io.pytasks.checkpoint.container"] == "live"
        assert annotations["io.pytasks.checkpoint.criu.version"].startswith("4.")
        assert annotations["io.pytasks.checkpoint.runtime.version"].startswith("runc version")
        events = [json.loads(line) for line in
                  Path(tasks.roots.layout.events_dir, "journal").read_text().splitlines()]
        checkpointed = [e["event"] for e in events if e["topic"] == "/tasks/checkpointed"]
        assert checkpointed == [{"container_id": "live",
                                 "checkpoint": response["descriptors"][0]["digest"]}]
    finally:
        remove(tasks, "live")


def test_exit_leaves_the_task_stopped_with_a_status(tasks: Tasks, shared: Shared) -> None:
    # The shared checkpoint was taken with --exit; its task was stopped and its status kept
    # (the module fixture waited for it). Here: its content is whole and named.
    assert shared.last > 0
    info = json.loads(tasks.ok("content", "info", shared.index))
    assert info["used_by"] == [f"checkpoint.{NAME}"]


@pytest.mark.python_monitor_smoke
def test_restore_continues_the_counter_in_two_new_containers(
        tasks: Tasks, busybox_rootfs: Path, shared: Shared) -> None:
    try:
        for task_id, ref in (("again", NAME), ("twice", shared.index[len("sha256:"):][:12])):
            container(tasks, busybox_rootfs, task_id)
            assert tasks.ok("create", "--checkpoint", ref, task_id) == "0\n"
            assert tasks.get(task_id)["status"] == "CREATED"
            tasks.ok("start", task_id)
            view = tasks.get(task_id)
            assert view["status"] == "RUNNING" and view["pid"] > 0
            wait_until(lambda t=task_id: len(lines(tasks.roots, t)) >= 2,
                       what="the restored counter to count")
            assert lines(tasks.roots, task_id)[0] == shared.last + 1  # not from zero
    finally:
        remove(tasks, "again", "twice")


def test_a_corrupt_image_is_refused_with_data_loss(tasks: Tasks, busybox_rootfs: Path,
                                                   shared: Shared) -> None:
    index = json.loads(tasks.ok("content", "get", shared.index))
    image = tasks.roots.layout.blob_file(index["manifests"][0]["digest"].split(":")[1])
    path = Path(image)
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    try:
        container(tasks, busybox_rootfs, "broken")
        tasks.fails(1, f"{image}: its bytes no longer match its digest",
                    "create", "--checkpoint", NAME, "broken")
        assert tasks.ids() == []
    finally:
        remove(tasks, "broken")


def test_without_criu_checkpoint_and_restore_are_unavailable(
        tasks: Tasks, busybox_rootfs: Path) -> None:
    env = {"PYTASKS_CRIU": "/nonexistent/criu"}
    run_counter(tasks, busybox_rootfs, "nocriu")
    try:
        tasks.fails(6, "/nonexistent/criu", "checkpoint", "nocriu", env=env)
        assert tasks.get("nocriu")["status"] == "RUNNING"
        container(tasks, busybox_rootfs, "nocriu2")
        tasks.fails(6, "/nonexistent/criu", "create", "--checkpoint", NAME, "nocriu2",
                    env=env)
    finally:
        remove(tasks, "nocriu", "nocriu2")


def test_refusals_leave_the_task_as_it_was(tasks: Tasks, busybox_rootfs: Path) -> None:
    container(tasks, busybox_rootfs, "fresh")
    try:
        tasks.create("fresh")
        tasks.fails(5, "cannot checkpoint task in created state", "checkpoint", "fresh")
        tasks.fails(2, "unknown checkpoint option 'leave-running'",
                    "checkpoint", "--option", "leave-running", "fresh")
        tasks.fails(3, "checkpoint 'nothing' not found", "create", "--checkpoint",
                    "nothing", "fresh")
        assert tasks.get("fresh")["status"] == "CREATED"
    finally:
        remove(tasks, "fresh")


def test_a_paused_task_is_checkpointed_and_stays_paused(
        tasks: Tasks, busybox_rootfs: Path) -> None:
    run_counter(tasks, busybox_rootfs, "frozen")
    try:
        tasks.ok("pause", "frozen")
        tasks.ok("checkpoint", "--name", "frozen-one", "frozen")
        assert tasks.get("frozen")["status"] == "PAUSED"
        seen = len(lines(tasks.roots, "frozen"))
        time.sleep(0.3)
        assert len(lines(tasks.roots, "frozen")) == seen
        tasks.ok("resume", "frozen")
    finally:
        remove(tasks, "frozen")


@pytest.mark.python_monitor_smoke
def test_a_failed_restore_names_criu_and_its_log_and_delete_removes_it(
        tasks: Tasks, writable_rootfs: Path) -> None:
    # Another busybox than the image's: CRIU refuses the restore.
    with (writable_rootfs / "bin" / "busybox").open("ab") as fh:
        fh.write(b"\0")
    container(tasks, writable_rootfs, "mismatch")
    try:
        tasks.ok("create", "--checkpoint", NAME, "mismatch")
        log = tasks.roots.layout.task_file("mismatch", "criu-restore/restore.log")
        tasks.fails(1, rf"restore failed: Error .*bin/busybox has bad size .*"
                    rf"\(CRIU log: {log}\)", "start", "mismatch")
        assert tasks.get("mismatch")["status"] == "CREATED"
        tasks.ok("delete", "mismatch")
        assert tasks.ids() == []
    finally:
        remove(tasks, "mismatch")


def test_a_task_with_a_terminal_restores_with_one(tasks: Tasks, busybox_rootfs: Path) -> None:
    run_counter(tasks, busybox_rootfs, "tty", "-t")
    try:
        tasks.ok("checkpoint", "--exit", "--name", "tty-one", "tty")
        container(tasks, busybox_rootfs, "tty2")
        tasks.fails(2, "with a terminal: create it with --tty", "create", "--checkpoint",
                    "tty-one", "tty2")
        tasks.ok("create", "--tty", "--checkpoint", "tty-one", "tty2")
        tasks.ok("start", "tty2")
        before = lines(tasks.roots, "tty")[-1]
        wait_until(lambda: len(lines(tasks.roots, "tty2")) >= 2,
                   what="the restored tty counter")
        assert lines(tasks.roots, "tty2")[0] == before + 1
    finally:
        remove(tasks, "tty", "tty2")


def test_run_checkpoint_restores_in_one_verb(tasks: Tasks, busybox_rootfs: Path,
                                             shared: Shared) -> None:
    try:
        tasks.ok("run", "-d", "--rootfs", busybox_rootfs, "--readonly", "--checkpoint", NAME,
                 "onego")
        assert tasks.get("onego")["status"] == "RUNNING"
        wait_until(lambda: len(lines(tasks.roots, "onego")) >= 1,
                   what="the restored counter to count")
        assert lines(tasks.roots, "onego")[0] == shared.last + 1
    finally:
        remove(tasks, "onego")


def test_export_then_import_on_new_roots_restores_where_it_stopped(
        tasks: Tasks, busybox_rootfs: Path, shared: Shared, tmp_path: Path) -> None:
    exported = tmp_path / "moved.tar"
    assert tasks.ok("checkpoints", "export", NAME, "-o", exported) == f"{NAME}\n"
    import tarfile

    with tarfile.open(exported) as tar:
        names = tar.getnames()
    assert names[:2] == ["oci-layout", "index.json"]
    assert f"blobs/sha256/{shared.index.split(':')[1]}" in names
    elsewhere = Tasks(Roots.under(tmp_path / "elsewhere"))
    try:
        assert elsewhere.ok("checkpoints", "import", exported) == f"{NAME}\n"
        assert elsewhere.ok("checkpoints", "import", exported) == f"{NAME}\n"  # harmless
        assert elsewhere.ok("checkpoints", "ls", "-q") == f"{NAME}\n"
        container(elsewhere, busybox_rootfs, "moved")
        elsewhere.ok("create", "--checkpoint", NAME, "moved")
        elsewhere.ok("start", "moved")
        wait_until(lambda: len(lines(elsewhere.roots, "moved")) >= 1,
                   what="the moved counter to count")
        assert lines(elsewhere.roots, "moved")[0] == shared.last + 1
    finally:
        remove(elsewhere, "moved")
        report = elsewhere.roots.cleanup()
        assert not report.leaked, str(report)
    # A tar whose blob bytes were changed is refused and registers nothing.
    data = bytearray(exported.read_bytes())
    data[-20000] ^= 0xFF
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    other = Tasks(Roots.under(tmp_path / "other"))
    result = other("checkpoints", "import", bad)
    assert result.returncode == 1 and "expected sha256:" in result.stderr, result
    assert other.ok("checkpoints", "ls", "-q") == ""


def test_checkpoints_rm_removes_the_blobs_it_alone_used(tasks: Tasks) -> None:
    assert tasks.ok("checkpoints", "rm", NAME) == f"{NAME}\n"
    assert tasks.ok("checkpoints", "ls", "-q") == ""
    assert tasks.ok("content", "ls", "-q") == ""
    tasks.fails(3, "not found", "checkpoints", "info", NAME)



# A server and a client in one task: the counter goes through a TCP connection on
# 127.0.0.1 and the server prints what arrives, so each line in the log crossed it (the
# server's stdin never ends: at its end nc would close the connection).
TCP_COUNTER = ["sh", "-c", "sleep 100000 | nc -l -p 7070 & sleep 0.3; i=0; while true; do "
               "echo $i; i=$((i+1)); sleep 0.1; done | nc 127.0.0.1 7070"]


def test_a_tcp_connection_on_loopback_survives_with_tcp_established(
        tasks: Tasks, busybox_rootfs: Path) -> None:
    run_counter(tasks, busybox_rootfs, "tcp", command=TCP_COUNTER)
    try:
        # Without the option CRIU refuses the established connection; the task goes on.
        tasks.fails(1, "checkpoint failed: Error .*", "checkpoint", "--name", "no-tcp", "tcp")
        seen = len(lines(tasks.roots, "tcp"))
        wait_until(lambda: len(lines(tasks.roots, "tcp")) > seen + 2,
                   what="the counter to go on after the refused dump")
        tasks.ok("checkpoint", "--exit", "--option", "tcp-established", "--name", "tcp-one",
                 "tcp")
        wait_until(lambda: tasks.get("tcp")["status"] == "STOPPED", what="the task to stop")
        last = lines(tasks.roots, "tcp")[-1]
        container(tasks, busybox_rootfs, "tcp2")
        tasks.ok("create", "--checkpoint", "tcp-one", "tcp2")
        tasks.ok("start", "tcp2")
        # lo is up again in the restored namespace (the restore's createRuntime hook), so
        # the restored connection carries the counter on from where it stood.
        wait_until(lambda: len(lines(tasks.roots, "tcp2")) >= 3,
                   what="the counter to cross the restored connection")
        got = lines(tasks.roots, "tcp2")
        assert got[:3] == [last + 1, last + 2, last + 3], (last, got)
    finally:
        remove(tasks, "tcp", "tcp2")


def _descendant_running(parent: int, word: str) -> bool:
    """A process below parent whose command line has word (CRIU's `swrk`)."""
    children: dict[int, list[int]] = {}
    lines_of: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        lines_of[int(entry.name)] = [a.decode(errors="replace") for a in argv]
    todo = list(children.get(parent, []))
    while todo:
        pid = todo.pop()
        if word in lines_of.get(pid, []):
            return True
        todo += children.get(pid, [])
    return False


def test_a_kill_9_of_the_cli_mid_checkpoint_breaks_nothing(
        tasks: Tasks, busybox_rootfs: Path) -> None:
    import os
    import signal
    import subprocess

    from pytasks.state.content import FAULT_ENV, FAULT_KILL_WRITER

    run_counter(tasks, busybox_rootfs, "victim")
    ingest = tasks.roots.root / "content" / "ingest"
    blobs = tasks.roots.root / "content" / "blobs" / "sha256"
    before = sorted(blobs.iterdir())  # the shared checkpoint's
    try:
        # 1. SIGKILL while CRIU dumps (timed on its process appearing below the CLI).
        cli = subprocess.Popen(tasks.roots.argv("checkpoint", "--name", "cut", "victim"),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=tasks.roots.full_env())
        try:
            wait_until(lambda: _descendant_running(cli.pid, "swrk"), 20,
                       what="CRIU to start dumping")
        finally:
            os.kill(cli.pid, signal.SIGKILL)
            cli.wait()
        seen = len(lines(tasks.roots, "victim"))
        wait_until(lambda: len(lines(tasks.roots, "victim")) > seen + 2,
                   what="the task to go on (CRIU resumes it)")
        assert tasks.get("victim")["status"] == "RUNNING"
        assert tasks.ok("checkpoints", "ls", "-q") == f"{NAME}\n"
        assert sorted(blobs.iterdir()) == before
        # 2. SIGKILL with the image half written into the store (the fault point).
        result = tasks("checkpoint", "--name", "cut", "victim",
                       env={FAULT_ENV: FAULT_KILL_WRITER})
        assert result.returncode == -signal.SIGKILL, result
        left = list(ingest.iterdir())
        assert len(left) == 1 and left[0].stat().st_size > 0  # a partial ingest, no blob
        assert sorted(blobs.iterdir()) == before
        seen = len(lines(tasks.roots, "victim"))
        wait_until(lambda: len(lines(tasks.roots, "victim")) > seen + 2,
                   what="the task to go on after the killed write")
        listed = tasks("content", "ls", "-q")  # removes the dead writer's ingest file
        assert listed.returncode == 0, listed
        assert listed.stderr == (f"pytasks: removed {left[0]}, the ingest file of a dead "
                                 "writer\n")
        assert listed.stdout.split() == [f"sha256:{p.name}" for p in before]
        assert list(ingest.iterdir()) == []
        # The name was never taken; the next checkpoint is whole.
        tasks.ok("checkpoint", "--name", "cut", "victim")
        assert tasks.ok("checkpoints", "ls", "-q") == f"{NAME}\ncut\n"
        assert tasks.get("victim")["status"] == "RUNNING"
    finally:
        remove(tasks, "victim")
