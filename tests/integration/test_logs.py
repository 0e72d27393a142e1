"""`pytasks logs` on real runc with a busybox rootfs (docs/architecture.md §5): the task's
own log keeps stdout and stderr apart, in their order, with --stream, --timestamps,
--since, --tail and -f; a file the user named prints raw; and a full disk under the state
root drops output, says where, and never stops the task."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.disk import fill, small_tmpfs
from helpers.roots import Roots
from running import TASK, remove, run_detached

from pytasks import instants

pytestmark = pytest.mark.integration

STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)")
NOTICE = re.compile(r"pytasks: (\d+) bytes of stdout were dropped here")


def status(roots: Roots) -> str:
    got = roots.pytasks("get", "--format", "json", TASK, check=True)
    return str(json.loads(got.stdout)["task"]["status"])


def merged(roots: Roots, *args: object) -> str:
    """`pytasks ARGS` with its stderr on the same pipe as its stdout: the order it wrote in."""
    result = subprocess.run(roots.argv(*args), env=roots.full_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout
    return result.stdout


@pytest.mark.python_monitor_smoke
def test_logs_keep_stdout_and_stderr_apart_in_their_order(roots: Roots,
                                                          busybox_rootfs: Path) -> None:
    # Pauses between the streams: two pipes have no order of their own.
    script = ("echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; printf par; sleep 0.3; "
              "printf 'tial\\n'; sleep 0.1; echo err2 >&2; sleep 0.1; echo out2; exit 3")
    before = time.time_ns()
    run_detached(roots, TASK, busybox_rootfs, "sh", "-c", script)
    try:
        assert roots.pytasks("wait", TASK, timeout=30).returncode == 3
        after = time.time_ns()
        both = roots.pytasks("logs", TASK, check=True)
        assert (both.stdout, both.stderr) == ("out1\npartial\nout2\n", "err1\nerr2\n")
        assert merged(roots, "logs", TASK) == "out1\nerr1\npartial\nerr2\nout2\n"
        only_err = roots.pytasks("logs", "--stream", "stderr", TASK, check=True)
        assert (only_err.stdout, only_err.stderr) == ("", "err1\nerr2\n")
        # --tail counts the lines of the chosen stream
        tail = roots.pytasks("logs", "--stream", "stdout", "--tail", 2, TASK, check=True)
        assert (tail.stdout, tail.stderr) == ("partial\nout2\n", "")
        assert merged(roots, "logs", "--tail", 3, TASK) == "partial\nerr2\nout2\n"
        assert merged(roots, "logs", "--tail", 0, TASK) == ""

        stamped = [STAMPED.fullmatch(line) for line in
                   merged(roots, "logs", "--timestamps", TASK).splitlines()]
        assert all(stamped)
        times = [m.group(1) for m in stamped if m]
        assert [m.group(2) for m in stamped if m] == ["out1", "err1", "partial", "err2",
                                                      "out2"]
        assert times == sorted(times)
        assert before <= instants.parse_rfc3339(times[0]) <= \
            instants.parse_rfc3339(times[-1]) <= after
        # --since a line's own time selects it and what follows
        assert merged(roots, "logs", "--since", times[3], TASK) == "err2\nout2\n"
        assert merged(roots, "logs", "--since", "1h", TASK).count("\n") == 5
        assert merged(roots, "logs", "--since", "2100-01-01T00:00:00Z", TASK) == ""
        bad = roots.pytasks("logs", "--since", "yesterday", TASK)
        assert bad.returncode == 2 and "invalid --since 'yesterday'" in bad.stderr
        assert bad.stderr.count("\n") == 1
    finally:
        remove(roots, TASK)


def test_logs_follow_prints_everything_until_the_task_exits(roots: Roots,
                                                            busybox_rootfs: Path) -> None:
    script = ("for i in 1 2 3 4 5 6; do echo line$i; sleep 0.25; done; "
              "echo to-stderr >&2; exit 3")
    run_detached(roots, TASK, busybox_rootfs, "sh", "-c", script)
    try:
        started = time.monotonic()
        follow = roots.pytasks("logs", "-f", TASK, timeout=20)
        elapsed = time.monotonic() - started
        assert follow.returncode == 0, follow.stderr
        expected = "".join(f"line{i}\n" for i in range(1, 7))
        assert (follow.stdout, follow.stderr) == (expected, "to-stderr\n")
        assert elapsed > 1.0, "logs -f returned before the task ended"
        assert status(roots) == "STOPPED"
        # following a stopped task returns at once
        again = roots.pytasks("logs", "-f", "--tail", 2, TASK, timeout=10, check=True)
        assert (again.stdout, again.stderr) == ("line6\n", "to-stderr\n")
    finally:
        remove(roots, TASK)
    assert roots.pytasks("logs", TASK).returncode == 3


@pytest.mark.python_monitor_smoke
def test_the_log_rotates_past_8_mib_and_is_read_and_followed_across_it(
        roots: Roots, busybox_rootfs: Path) -> None:
    # About 14 MB of records: one rotation, so output.log.1 and output.log hold it all.
    count = 300_000
    run_detached(roots, TASK, busybox_rootfs, "sh", "-c", f"sleep 0.5; seq 1 {count}")
    try:
        follower = roots.spawn("logs", "-f", TASK)
        followed, _ = follower.communicate(timeout=60)
        assert follower.returncode == 0
        expected = "".join(f"{i}\n" for i in range(1, count + 1))
        assert followed == expected  # across the rotation: nothing missed, nothing twice
        task_dir = Path(roots.layout.task_dir(TASK))
        older = (task_dir / "output.log.1").stat().st_size
        assert 8 << 20 <= older < (8 << 20) + (1 << 20)
        assert (task_dir / "output.log").stat().st_size < 8 << 20
        assert roots.pytasks("logs", TASK, check=True).stdout == expected
        assert roots.pytasks("logs", "--tail", 2, TASK, check=True).stdout == \
            f"{count - 1}\n{count}\n"
    finally:
        remove(roots, TASK)


def test_logs_follow_ends_cleanly_on_a_closed_pipe_and_on_ctrl_c(
        roots: Roots, busybox_rootfs: Path) -> None:
    run_detached(roots, TASK, busybox_rootfs, "sh", "-c",
                 "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done")
    try:
        for how in ("closed pipe", "ctrl-c"):
            follower = roots.spawn("logs", "-f", TASK)
            assert follower.stdout is not None
            assert follower.stdout.readline().startswith("tick ")
            if how == "closed pipe":
                follower.stdout.close()
            else:
                follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=10) == 0, how
            assert follower.stderr is not None and follower.stderr.read() == "", how
    finally:
        remove(roots, TASK)


def test_a_file_the_user_named_prints_raw(roots: Roots, busybox_rootfs: Path) -> None:
    out = roots.tmp / "out.txt"
    run_detached(roots, TASK, busybox_rootfs, "sh", "-c", "echo one; echo two >&2; exit 0",
                 options=("--stdout", str(out), "--stderr", str(out)))
    try:
        assert roots.pytasks("wait", TASK, timeout=30).returncode == 0
        assert out.read_text() in ("one\ntwo\n", "two\none\n")  # raw bytes, as written
        assert roots.pytasks("logs", TASK, check=True).stdout == out.read_text()
        assert roots.pytasks("logs", "--tail", 1, TASK, check=True).stdout == \
            out.read_text().splitlines(keepends=True)[-1]
        for option in (("--stream", "stdout"), ("--timestamps",), ("--since", "1h")):
            refused = roots.pytasks("logs", *option, TASK)
            assert refused.returncode == 5, refused.stderr
            assert refused.stderr.count("\n") == 1
            assert f"writes raw output to {out}" in refused.stderr
    finally:
        remove(roots, TASK)

    # A task whose stdout is a FIFO has no log to read.
    fifo = roots.tmp / "out.fifo"
    os.mkfifo(fifo)
    run_detached(roots, "f", busybox_rootfs, "sleep", "1000", options=("--stdout", str(fifo)))
    try:
        result = roots.pytasks("logs", "f")
        assert result.returncode == 5, result.stderr
        assert "does not log to a file" in result.stderr
    finally:
        remove(roots, "f")


# a full disk ---------------------------------------------------------------------------------
def children(pid: int) -> list[bytes]:
    """The command lines of pid's children."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for kid in kids:
        try:
            found.append(Path(f"/proc/{kid}/cmdline").read_bytes())
        except OSError:
            pass
    return found


@pytest.mark.python_monitor_smoke
def test_a_full_disk_drops_output_says_where_and_never_stops_the_task(
        roots: Roots, busybox_rootfs: Path) -> None:
    # On SIGUSR1 the task writes far more than a pipe holds, then sleeps 0.5 s: that sleep
    # is seen only once the burst went through, which a stalled monitor would prevent.
    script = ("trap 'head -c 300000 /dev/zero | tr \"\\0\" y; echo; sleep 0.5' USR1; "
              "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done")
    with small_tmpfs(roots.state, "4m"):
        try:
            pid = run_detached(roots, TASK, busybox_rootfs, "sh", "-c", script)
            deadline = time.monotonic() + 10
            while "tick 3\n" not in roots.pytasks("logs", TASK).stdout:
                assert time.monotonic() < deadline, "the task's first ticks never came"
                time.sleep(0.05)
            fill(roots.state / "filler")
            os.kill(pid, signal.SIGUSR1)
            deadline = time.monotonic() + 15
            while b"sleep\x000.5\x00" not in children(pid):
                assert time.monotonic() < deadline, "the burst never went through"
                time.sleep(0.01)
            # Still running and readable (a page's slack may take a small write or two).
            assert status(roots) == "RUNNING"
            assert "tick 1\n" in roots.pytasks("logs", TASK, check=True).stdout
            (roots.state / "filler").unlink()
            # Once there is space the ticks come back, after the notice of what was lost.
            deadline = time.monotonic() + 15
            while True:
                text = merged(roots, "logs", TASK).splitlines()
                notices = [i for i, line in enumerate(text) if NOTICE.match(line)]
                later = [line for line in text[notices[-1]:] if line.startswith("tick ")] \
                    if notices else []
                if len(later) >= 3:
                    break
                assert time.monotonic() < deadline, f"no notice and ticks after it: {text}"
                time.sleep(0.1)
            dropped = sum(int(NOTICE.match(text[i]).group(1))  # type: ignore[union-attr]
                          for i in notices)
            # Every byte of the burst is in the log or counted in a notice.
            assert dropped + sum(line.count("y") for line in text) >= 300_000
            ticks = [int(line.split()[1]) for line in text if line.startswith("tick ")]
            assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)
            assert status(roots) == "RUNNING"
            notice = roots.pytasks("logs", "--stream", "stdout", TASK, check=True).stderr
            assert notice.count("\n") == len(notices) and NOTICE.match(notice)
            assert not NOTICE.search(roots.pytasks("logs", "--stream", "stderr", TASK).stderr)
        finally:
            remove(roots, TASK)
