"""Terminals for real (issue 3): exec/run -t through runc's console socket, ResizePty,
raw mode and its restoration, ctrl-c, forwarded signals, attach/detach.

pytasks runs on a pty pair made by the test (helpers.pty), as in a terminal emulator: the
sizes, keystrokes and termios attributes are those of that pty.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.pty import CTRL_C, CTRL_P_CTRL_Q, PtyProcess, canonical, run_in_pty
from helpers.roots import Roots
from running import TASK, log_output, remove, run_detached

pytestmark = pytest.mark.integration



# --- helpers --------------------------------------------------------------------------------

def status(roots: Roots, task_id: str = TASK) -> str:
    got = roots.pytasks("get", "--format", "json", task_id, check=True)
    return json.loads(got.stdout)["task"]["status"]


def run_it(roots: Roots, rootfs: Path, *command: str, flags: str = "-it") -> list[str]:
    """argv of an attached `run` (deleted when it ends, container record too)."""
    return roots.argv("run", flags, "--rm", "--rootfs", rootfs, "--readonly", TASK, *command)


# --- exec -t ---------------------------------------------------------------------------------

@pytest.mark.python_monitor_smoke
def test_exec_tty_gets_our_terminal_size(roots: Roots, task: str) -> None:
    result = run_in_pty(roots.argv("exec", "-t", task, "stty", "size"),
                        env=roots.full_env(), rows=30, cols=120)
    assert result.returncode == 0, result.output
    # Nothing else. (The container's pty writes \r\n, which our terminal, cooked without
    # -i, turns into \r\r\n, as with docker.)
    assert result.output.replace(b"\r", b"") == b"30 120\n"
    assert result.after == result.before  # no -i: our terminal is never made raw

    # A pty is a terminal inside; without -t there is none.
    result = run_in_pty(roots.argv("exec", "-t", task, "sh", "-c",
                                   "test -t 0 && test -t 1 && echo tty; exit 4"),
                        env=roots.full_env())
    assert (result.returncode, result.output.replace(b"\r", b"")) == (4, b"tty\n")
    result = run_in_pty(roots.argv("exec", task, "sh", "-c", "test -t 1 || echo no-tty"),
                        env=roots.full_env())
    assert (result.returncode, result.output) == (0, b"no-tty\r\n")


def test_a_terminal_of_size_0x0_starts_without_an_error(roots: Roots, task: str,
                                                         busybox_rootfs: Path) -> None:
    """A pty that reports 0x0 (as `script` and some CI runners give) is no size to pass
    on: run -t, exec -t and attach start quietly and the process gets a terminal."""
    for argv in (roots.argv("run", "-t", "--rm", "--rootfs", busybox_rootfs, "--readonly",
                            "zero", "sh", "-c", "test -t 1 && echo tty"),
                 roots.argv("exec", "-t", task, "sh", "-c", "test -t 1 && echo tty")):
        result = run_in_pty(argv, env=roots.full_env(), rows=0, cols=0)
        assert (result.returncode, result.output.replace(b"\r", b"")) == (0, b"tty\n"), \
            result.output


def test_exec_it_shell_follows_our_window_and_restores_the_terminal(roots: Roots,
                                                                    task: str) -> None:
    with PtyProcess(roots.argv("exec", "-it", task, "sh"), env=roots.full_env(),
                    rows=30, cols=120) as p:
        p.wait_raw()  # an interactive tty session puts our terminal in raw mode
        p.send(b"stty size\r")
        mark = p.expect(b"30 120\r\n")
        p.resize(40, 100)  # SIGWINCH -> ResizePty
        time.sleep(0.3)
        p.send(b"stty size\r")
        p.expect(b"40 100\r\n", start=mark)
        p.send(b"exit 3\r")
        assert p.wait() == 3
        assert canonical(p.attrs())
        assert p.attrs() == p.before
    assert status(roots) == "RUNNING"


def test_detached_tty_exec_follows_resize_pty(roots: Roots, task: str) -> None:
    result = roots.pytasks("exec", "-d", "-t", task, "sh", "-c",
                           "stty size; sleep 1; stty size", check=True)
    pid = int(result.stdout)
    roots.pytasks("resize-pty", task, pid, 100, 40, check=True)
    waited = roots.pytasks("wait", "--pid", pid, task)
    assert waited.returncode == 0, waited.stderr
    first, second = log_output(roots.layout.task_dir(task)).splitlines()
    assert first != b"40 100"
    assert second == b"40 100"
    # Resizing an exited process is a no-op; an unknown one is not found; sizes are checked.
    assert roots.pytasks("resize-pty", task, pid, 80, 24).returncode == 0
    assert roots.pytasks("resize-pty", task, 999999, 80, 24).returncode == 3
    invalid = roots.pytasks("resize-pty", task, pid, 0, 24)
    assert invalid.returncode == 2, invalid.stderr


def test_keys_typed_ahead_of_an_interactive_session_are_not_lost(roots: Roots,
                                                                 task: str) -> None:
    with PtyProcess(roots.argv("exec", "-it", task, "sh"), env=roots.full_env(),
                    rows=30, cols=120) as p:
        p.send(b"stty size\r")  # at once, as a script or a fast typist would
        p.expect(b"30 120\r\n", timeout=3)
        p.send(b"exit\r")
        assert p.wait() == 0


# --- run -it -----------------------------------------------------------------------------------

def test_run_it_shell_with_ctrl_c_and_exit_status(roots: Roots, busybox_rootfs: Path) -> None:
    with PtyProcess(run_it(roots, busybox_rootfs, "sh"), env=roots.full_env(),
                    rows=30, cols=120) as p:
        p.wait_raw()
        p.send(b"stty size\r")
        mark = p.expect(b"30 120\r\n")
        # ctrl-c is a byte in raw mode: the container's terminal turns it into SIGINT for
        # its foreground job; the shell survives.
        p.send(b"echo s$((6*7)); sleep 100\r")
        mark = p.expect(b"s42\r\n", start=mark)
        time.sleep(0.3)
        started = time.monotonic()
        p.send(CTRL_C)
        mark = p.expect(b"^C", start=mark)
        p.send(b"echo a$((1+1))\r")
        mark = p.expect(b"a2\r\n", start=mark)
        assert time.monotonic() - started < 10, "sleep 100 was not interrupted"
        assert p.proc.poll() is None
        p.send(b"exit 5\r")
        assert p.wait() == 5
        assert canonical(p.attrs())
        assert p.attrs() == p.before
    assert roots.pytasks("get", TASK).returncode == 3  # run deleted its task


def test_ctrl_c_ending_a_raw_run_restores_the_terminal(roots: Roots,
                                                       busybox_rootfs: Path) -> None:
    script = 'trap "exit 130" INT; echo ready; while :; do sleep 0.1; done'
    with PtyProcess(run_it(roots, busybox_rootfs, "sh", "-c", script),
                    env=roots.full_env()) as p:
        p.expect(b"ready")
        p.wait_raw()
        p.send(CTRL_C)
        assert p.wait() == 130
        assert p.attrs() == p.before


def test_sigterm_to_the_attached_client_is_forwarded_and_restores_the_terminal(
        roots: Roots, busybox_rootfs: Path) -> None:
    script = 'trap "echo got-TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done'
    with PtyProcess(run_it(roots, busybox_rootfs, "sh", "-c", script),
                    env=roots.full_env()) as p:
        p.expect(b"ready")
        p.wait_raw()
        p.signal(signal.SIGTERM)
        assert p.wait() == 42
        assert b"got-TERM" in p.output
        assert canonical(p.attrs())
        assert p.attrs() == p.before


def test_ctrl_c_in_a_cooked_terminal_is_forwarded_as_sigint(roots: Roots,
                                                            busybox_rootfs: Path) -> None:
    # run -t without -i: our terminal stays cooked, so ctrl-c makes our line discipline
    # send SIGINT to pytasks, which forwards it to the task.
    script = 'trap "echo got-INT; exit 33" INT; echo ready; while :; do sleep 0.1; done'
    with PtyProcess(run_it(roots, busybox_rootfs, "sh", "-c", script, flags="-t"),
                    env=roots.full_env()) as p:
        p.expect(b"ready")
        assert canonical(p.attrs())
        p.send(CTRL_C)
        assert p.wait() == 33
        assert b"got-INT" in p.output
        assert p.attrs() == p.before


# --- attach ------------------------------------------------------------------------------------

def test_attach_detach_and_reattach_to_a_tty_task(roots: Roots, busybox_rootfs: Path) -> None:
    init_pid = run_detached(roots, TASK, busybox_rootfs, "sh", options=("-t",))
    try:
        # ResizePty of the init (by pid) is what its terminal reports.
        roots.pytasks("resize-pty", TASK, init_pid, 90, 33, check=True)
        size = roots.pytasks("exec", TASK, "stty", "-F", "/dev/console", "size")
        assert (size.returncode, size.stdout) == (0, "33 90\n"), size.stderr

        with PtyProcess(roots.argv("attach", TASK), env=roots.full_env(),
                        rows=30, cols=120) as p:
            p.wait_raw()
            p.send(b"echo hi-$((2+3))\r")
            mark = p.expect(b"hi-5\r\n")
            # attaching resized the task's terminal to ours
            p.send(b"stty size\r")
            p.expect(b"30 120\r\n", start=mark)

            second = roots.pytasks("attach", TASK, timeout=10)
            assert second.returncode == 5, second.stderr
            assert "already has an attached client" in second.stderr

            p.send(CTRL_P_CTRL_Q)
            assert p.wait() == 0
            p.expect(b"detached")  # the reader thread may still be draining the terminal
            assert p.attrs() == p.before
        assert status(roots) == "RUNNING"

        with PtyProcess(roots.argv("attach", TASK), env=roots.full_env(),
                        rows=25, cols=81) as p:
            p.wait_raw()
            p.send(b"stty size\r")
            mark = p.expect(b"25 81\r\n")
            p.resize(33, 91)
            time.sleep(0.3)
            p.send(b"stty size\r")
            p.expect(b"33 91\r\n", start=mark)
            p.send(b"exit 9\r")
            assert p.wait() == 9
            assert canonical(p.attrs())
            assert p.attrs() == p.before
        assert status(roots) == "STOPPED"
        assert roots.pytasks("attach", TASK).returncode == 5
    finally:
        remove(roots, TASK)


def test_attach_to_a_task_without_terminal(roots: Roots, busybox_rootfs: Path) -> None:
    script = "sleep 1; for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; exit 4"
    run_detached(roots, TASK, busybox_rootfs, "sh", "-c", script)
    try:
        attached = subprocess.run(roots.argv("attach", TASK), env=roots.full_env(),
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        assert attached.returncode == 4, attached.stderr
        assert attached.stdout == b"out1\nout2\nout3\n"
        assert attached.stderr == b"err1\nerr2\nerr3\n"
        # the log got everything too
        log = log_output(roots.layout.task_dir(TASK))
        assert log.count(b"out") == 3 and log.count(b"err") == 3
    finally:
        remove(roots, TASK)
