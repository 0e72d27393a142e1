"""Task stdio (files, /dev/null, the per-task log) and rootfs mounts (CreateTaskRequest.rootfs)
on real runc."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.cleanup import mounts_under
from helpers.roots import Roots
from tasktools import Tasks, host_mounts_mentioning, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Tasks:
    return Tasks(roots)


def test_stdout_to_a_file_appends_and_empty_stderr_discards(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path, tmp_path: Path) -> None:
    out = tmp_path / "x" / "out"
    out.parent.mkdir()
    out.write_text("old line\n")
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sh", "-c", "echo new line; echo to stderr >&2; exit 5")
    tasks.ok("create", "--stdout", out, "--stderr", "", "c")
    got = tasks.get("c")
    assert (got["stdin"], got["stdout"], got["stderr"]) == ("", str(out), "")
    tasks.ok("start", "c")
    assert tasks("wait", "c").returncode == 5
    assert out.read_text() == "old line\nnew line\n"
    assert not Path(roots.layout.task_file("c", "output.log")).exists()
    tasks.ok("delete", "c")
    assert out.read_text() == "old line\nnew line\n"  # the file is the user's: kept


def test_stdout_and_stderr_to_the_same_file(tasks: Tasks, busybox_rootfs: Path,
                                            tmp_path: Path) -> None:
    both = tmp_path / "both"
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "sh", "-c", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three")
    tasks.ok("create", "--stdout", both, "--stderr", both, "c")
    tasks.ok("start", "c")
    assert tasks("wait", "c").returncode == 0
    assert both.read_text() == "one\ntwo\nthree\n"
    tasks.ok("delete", "c")


def test_relative_stdio_path_is_the_callers(tasks: Tasks, roots: Roots,
                                            busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c",
             "echo", "hi")
    work = roots.tmp / "work"
    work.mkdir()
    subprocess.run(roots.argv("create", "--stdout", "rel.out", "c"), cwd=work,
                   env=roots.full_env(), check=True, capture_output=True)
    assert tasks.get("c")["stdout"] == str(work / "rel.out")
    tasks.ok("start", "c")
    assert tasks("wait", "c").returncode == 0
    assert (work / "rel.out").read_text() == "hi\n"
    tasks.ok("delete", "c")


def test_detached_task_output_goes_to_the_task_log(tasks: Tasks, roots: Roots,
                                                   busybox_rootfs: Path) -> None:
    pid = int(tasks.ok("run", "-d", "--rootfs", busybox_rootfs, "--readonly", "c",
                       "sh", "-c", "echo hello; echo oops >&2; exec sleep 100"))
    log = Path(roots.layout.task_file("c", "output.log"))
    tasks.wait_for_file(log, "hello\n")
    tasks.wait_for_file(log, "oops\n")
    assert tasks.statuses() == {"c": (pid, "RUNNING")}
    tasks.stop("c")


def test_stdio_errors(tasks: Tasks, busybox_rootfs: Path, tmp_path: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c", "true")
    tasks.fails(2, r"stdin .* does not exist", "create", "--stdin", tmp_path / "nope", "c")
    tasks.fails(2, r"stdout directory .* does not exist", "create", "--stdout",
                tmp_path / "no-dir" / "out", "c")
    assert tasks.list() == []


def test_overlay_rootfs_mount_writes_only_the_upper_dir(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path, tmp_path: Path) -> None:
    upper, work, elsewhere = tmp_path / "upper", tmp_path / "work", tmp_path / "elsewhere"
    for d in (upper, work, elsewhere):
        d.mkdir()
    # the record's rootfs points anywhere: the task's rootfs mount replaces it
    tasks.ok("containers", "create", "--rootfs", elsewhere, "c", "sh", "-c",
             "echo data > /written; rm /bin/ls; echo ready; exec sleep 100")
    spec = f"type=overlay,src=overlay,options=lowerdir={busybox_rootfs}:upperdir={upper}" \
           f":workdir={work}"
    pid = int(tasks.ok("create", "--mount", spec, "c"))
    tasks.ok("start", "c")
    tasks.wait_for_file(Path(roots.layout.task_file("c", "output.log")), "ready\n")
    assert (upper / "written").read_text() == "data\n"
    assert (upper / "bin" / "ls").is_char_device()  # the whiteout of the removed file
    assert not (busybox_rootfs / "written").exists()
    assert (busybox_rootfs / "bin" / "ls").is_symlink()
    assert list(elsewhere.iterdir()) == []
    # the mount lives in the monitor's mount namespace, never on the host
    assert host_mounts_mentioning(str(upper)) == []
    assert mounts_under(roots.state) == []
    assert Path(f"/proc/{pid}/root/written").read_text() == "data\n"

    tasks.stop("c")
    assert (upper / "written").read_text() == "data\n"
    assert host_mounts_mentioning(str(upper)) == []
    wait_until(lambda: mounts_under(tmp_path) == [], what="no mounts left")


def test_bad_rootfs_mount_is_refused_and_leaves_nothing(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path, tmp_path: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", tmp_path, "c", "true")
    result = tasks("create", "--mount", f"type=overlay,src=overlay,options=lowerdir="
                   f"{tmp_path / 'missing'}:upperdir={tmp_path / 'u'}:workdir={tmp_path / 'w'}",
                   "c")
    assert result.returncode != 0
    assert result.stderr.startswith("pytasks: ") and "mount" in result.stderr
    assert tasks.list() == []
    assert not Path(roots.layout.task_dir("c")).exists()
    assert tasks.runc_list() == []
