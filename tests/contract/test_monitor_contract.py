"""The monitor contract (docs/architecture.md §4), checked by content against both monitors,
the compiled one and the Python one, with the fake OCI runtime (tests/contract/fake-runtime).

What keeps the two monitors in step: each test runs against each monitor, through the
protocol (pytasks.monitor.client, or raw JSON lines on the control socket).
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from monitor_harness import Task, select_monitor, wait_for

from pytasks import errors
from pytasks.monitor import client, protocol
from pytasks.state import layout
from pytasks.state.atomic import write_json

SLEEP = ["sleep", "1000"]
EXIT_KEYS = {"pid", "exit_status", "exited_at_ns", "exited_at"}


def fifo(path: Path) -> str:
    os.mkfifo(path, 0o600)
    return str(path)


def write_fifo(path: str, data: bytes) -> None:
    """Write to a FIFO the monitor reads (it holds a reader, so this never blocks)."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def assert_exit_record(record: dict[str, Any], pid: int, status: int) -> None:
    assert set(record) == EXIT_KEYS
    assert (record["pid"], record["exit_status"]) == (pid, status)
    assert record["exited_at"] == protocol.rfc3339(record["exited_at_ns"])


# ready, state, start --------------------------------------------------------------------------
def test_ready_reply_and_state_before_and_after_start(task: Task) -> None:
    ready = task.create(SLEEP)
    assert set(ready) == {"pid", "monitor_pid", "monitor_start_time"}
    pid = ready["pid"]
    assert pid == protocol.pid_from_file(task.dir / layout.INIT_PID_FILE)
    assert ready["monitor_start_time"] == protocol.process_start_time(ready["monitor_pid"])
    # The runtime ran with exactly the argv runtime.py built, and nothing else so far.
    assert task.calls() == [task.config[protocol.CONFIG_RUNTIME_ARGV][protocol.ARGV_CREATE]]
    assert task.runtime.state(task.id)["status"] == "created"
    assert task.request({"op": protocol.OP_STATE}) == {
        "ok": True, "init_pid": pid, "exited": False, "execs": {}}

    assert task.request({"op": protocol.OP_START}) == {"ok": True, "pid": pid}
    assert task.calls()[-1] == task.runtime.start_argv(task.id)
    assert task.runtime.state(task.id)["status"] == "running"
    wait_for(lambda: Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x001000\x00",
             "the init to run its process")
    assert task.request({"op": protocol.OP_STATE})["exited"] is False


# restore from a checkpoint (protocol.ARGV_RESTORE) -------------------------------------------
def test_a_restore_runs_at_start_with_the_monitors_stdio(task: Task, tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    ready = task.create(["sh", "-c", 'echo "restored from $CHECKPOINT_IMAGE"; exit 5'],
                        restore=True, stdio={"stdout": str(out), "stderr": str(out)})
    assert ready["pid"] == 0  # created: nothing runs until start
    assert task.calls() == []
    assert task.request({"op": protocol.OP_STATE})["init_pid"] == 0
    pending = task.send_wait()
    reply = task.request({"op": protocol.OP_START})
    pid = reply["pid"]
    assert pid > 0 and pid == protocol.pid_from_file(task.dir / layout.INIT_PID_FILE)
    assert task.calls() == [task.config[protocol.CONFIG_RUNTIME_ARGV][protocol.ARGV_RESTORE]]
    assert pending.reply()["exit_status"] == 5  # the restored init is the monitor's child
    wait_for(task.monitor_gone, "the monitor to exit")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), pid, 5)
    assert out.read_text() == f"restored from {task.dir / layout.RESTORE_IMAGE_DIR}\n"


def test_a_restored_terminal_gets_its_console(task: Task, tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    task.create(["sh", "-c", "test -t 1 && echo tty; exit 0"], restore=True, terminal=True,
                stdio={"stdout": str(out)})
    pending = task.send_wait()
    task.request({"op": protocol.OP_START})
    assert pending.reply()["exit_status"] == 0
    wait_for(task.monitor_gone, "the monitor to exit")
    assert out.read_bytes().strip() == b"tty"


def test_a_kill_before_the_restore_is_the_exit_with_no_runtime_call(task: Task) -> None:
    task.create(SLEEP, restore=True)
    pending = task.send_wait()
    assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGKILL, "all": True})
    assert pending.reply()["exit_status"] == 128 + signal.SIGKILL
    wait_for(task.monitor_gone, "the monitor to exit")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), 0, 128 + signal.SIGKILL)
    assert task.calls() == []


def test_a_failed_restore_is_classified_final_and_the_task_still_killable(task: Task) -> None:
    task.create(SLEEP, restore=True)
    task.inject_failure("restore", "criu failed: type NOTIFY errno 0")
    with pytest.raises(errors.RuntimeFailedError,
                       match="OCI runtime restore failed: criu failed"):
        task.request({"op": protocol.OP_START})
    with pytest.raises(errors.FailedPreconditionError, match="its restore failed"):
        task.request({"op": protocol.OP_START})
    restore = task.config[protocol.CONFIG_RUNTIME_ARGV][protocol.ARGV_RESTORE]
    assert task.calls() == [restore]  # once: never retried behind the caller's back
    assert task.request({"op": protocol.OP_STATE})["init_pid"] == 0
    pending = task.send_wait()
    task.request({"op": protocol.OP_KILL, "signal": signal.SIGTERM})
    assert pending.reply()["exit_status"] == 128 + signal.SIGTERM
    wait_for(task.monitor_gone, "the monitor to exit")


def test_run_detached_output_exit_record_and_monitor_exit(task: Task, tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    ready = task.create(["sh", "-c", "echo hello; echo oops >&2; exit 3"], start=True,
                        stdio={"stdout": str(out), "stderr": str(out)})
    create_argv = task.calls()[0]
    assert "run" in create_argv and "--detach" in create_argv and "create" not in create_argv
    # The init may be gone before any wait could be sent: the monitor exits after writing
    # its record, which is written after the output is drained.
    wait_for(task.monitor_gone, "the monitor to exit after the init's exit record")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), ready["pid"], 3)
    assert sorted(out.read_bytes().splitlines()) == [b"hello", b"oops"]
    with pytest.raises(client.MonitorGoneError):
        task.request({"op": protocol.OP_STATE})


# kill and wait --------------------------------------------------------------------------------
def test_each_exit_is_journaled_once_before_its_exit_record(task: Task) -> None:
    """/tasks/exit (docs/architecture.md §7): one line per process, init and exec, in
    the journal's shape, byte for byte what event_journal.encode writes; an exec's
    /tasks/exec-added and exec-started before it."""
    from pytasks.state import event_journal

    ready = task.create(SLEEP, start=True)
    reply = task.request(task.exec_message(["sh", "-c", "exit 7"]))
    task.wait(reply["pid"])
    assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGKILL}) == {"ok": True}
    wait_for(task.monitor_gone, "the monitor to exit")
    raw = (task.events_dir / layout.JOURNAL_FILE).read_bytes()
    every, used = event_journal.parse_lines(raw)
    assert used == len(raw)
    # The exec's added and started events come first, written before any exit of it.
    exec_id = str(reply["pid"])
    assert [(e["topic"], e["event"]) for e in every[:2]] == [
        ("/tasks/exec-added", {"container_id": task.id, "exec_id": exec_id}),
        ("/tasks/exec-started", {"container_id": task.id, "exec_id": exec_id,
                                 "pid": reply["pid"]})]
    events = every[2:]
    assert len(events) == 2
    init_exit = task.read_json(layout.INIT_EXIT_FILE)
    exec_exit = task.read_json(f"{layout.EXEC_DIR}/{reply['pid']}{layout.EXIT_SUFFIX}")
    expected = [(str(reply["pid"]), exec_exit), (task.id, init_exit)]
    for event, (process_id, record) in zip(events, expected, strict=True):
        assert event["event"] == {"container_id": task.id, "id": process_id,
                                  "pid": record["pid"], "exit_status": record["exit_status"],
                                  "exited_at": record["exited_at"]}
        assert (event["namespace"], event["topic"], event["id"]) == (
            "contract", "/tasks/exit", task.id)
        assert event_journal.encode("contract", "/tasks/exit", task.id, event["event"],
                                    event_journal.parse_time(event["timestamp"])) \
            == raw.splitlines(keepends=True)[every.index(event)]
    assert events[1]["event"]["pid"] == ready["pid"] and init_exit["exit_status"] == 137


def test_a_journal_past_its_bound_is_rotated_by_the_monitor(task: Task) -> None:
    task.events_dir.mkdir(parents=True, exist_ok=True)
    (task.events_dir / layout.JOURNAL_FILE).write_bytes(b"x" * 10 + b"\n")
    task.write_config(["true"], start=True)
    config = {**task.config, protocol.CONFIG_EVENTS_MAX_BYTES: 64}
    from pytasks.state.atomic import write_json

    write_json(task.dir / layout.MONITOR_FILE, config)
    task.spawn()
    wait_for(task.monitor_gone, "the monitor to exit")
    assert (task.events_dir / (layout.JOURNAL_FILE + layout.ROTATED_SUFFIX)).read_bytes(
        ).startswith(b"x" * 10 + b"\n{")
    assert not (task.events_dir / layout.JOURNAL_FILE).exists()


def test_each_oom_kill_counted_is_journaled_and_marks_the_init_exit(task: Task,
                                                                    tmp_path: Path) -> None:
    """/tasks/oom each time the cgroup's oom_kill count grows, before the exit it caused,
    and oom_killed in init.exit. A plain file stands in for cgroup v2's memory.events (a
    fake: the kernel's count cannot be raised on demand without an OOM); the monitor
    watches it by inotify as it does the real one. The v1 eventfd path is exercised by the
    real OOM in tests/integration/test_events.py."""
    from pytasks.state import event_journal

    counter = tmp_path / "memory.events"
    counter.write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 2\n")  # before: not ours
    task.write_config(SLEEP, start=True)
    write_json(task.dir / layout.MONITOR_FILE, {
        **task.config, protocol.CONFIG_OOM_FILE: str(counter),
        protocol.CONFIG_OOM_EVENT_CONTROL: ""})
    ready = task.spawn()
    journal = task.events_dir / layout.JOURNAL_FILE

    def topics() -> list[str]:
        raw = journal.read_bytes() if journal.exists() else b""
        return [e["topic"] for e in event_journal.parse_lines(raw)[0]]

    counter.write_text("low 0\nhigh 0\nmax 3\noom 3\noom_kill 3\n")
    wait_for(lambda: topics() == ["/tasks/oom"], "the first /tasks/oom")
    counter.write_text("low 0\nhigh 0\nmax 3\noom 3\noom_kill 3\nextra 1\n")  # no growth
    counter.write_text("low 0\nhigh 0\nmax 4\noom 4\noom_kill 4\n")
    wait_for(lambda: topics() == ["/tasks/oom"] * 2, "the second /tasks/oom")
    assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGKILL}) == {"ok": True}
    wait_for(task.monitor_gone, "the monitor to exit")
    assert topics() == ["/tasks/oom", "/tasks/oom", "/tasks/exit"]
    oom = event_journal.parse_lines(journal.read_bytes())[0][0]
    assert (oom["id"], oom["event"]) == (task.id, {"container_id": task.id})
    record = task.read_json(layout.INIT_EXIT_FILE)
    assert record.pop(protocol.EXIT_OOM_KILLED) is True
    assert_exit_record(record, ready["pid"], 137)


def test_no_oom_kill_leaves_the_exit_record_alone(task: Task, tmp_path: Path) -> None:
    counter = tmp_path / "memory.oom_control"
    counter.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")
    task.write_config(["true"], start=True)
    write_json(task.dir / layout.MONITOR_FILE, {
        **task.config, protocol.CONFIG_OOM_FILE: str(counter),
        protocol.CONFIG_OOM_EVENT_CONTROL: ""})
    ready = task.spawn()
    wait_for(task.monitor_gone, "the monitor to exit")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), ready["pid"], 0)


def test_wait_blocks_until_kill_and_reports_128_plus_signal(task: Task) -> None:
    ready = task.create(SLEEP, start=True)
    pending = task.send_wait()
    assert not pending.answered(0.2), "wait answered before the init exited"
    assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGTERM}) == {"ok": True}
    assert_exit_record(pending.reply(), ready["pid"], 128 + signal.SIGTERM)
    # A kill of the init alone is kill(2), not a runtime call. Without a pid namespace the
    # monitor kills the rest of the task at the init's exit: the one runtime kill.
    assert task.calls_of("kill") == [task.runtime.kill_argv(task.id, signal.SIGKILL, True)]


def test_kill_all_runs_the_kill_all_argv_with_the_signal(task: Task) -> None:
    ready = task.create(SLEEP, start=True)
    exec_pid = task.exec(SLEEP)
    # Waiting first: once the init's record is written the monitor exits.
    exec_wait, init_wait = task.send_wait(exec_pid), task.send_wait(0)
    assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGKILL, "all": True}) == {
        "ok": True}
    assert_exit_record(exec_wait.reply(), exec_pid, 128 + signal.SIGKILL)
    assert_exit_record(init_wait.reply(), ready["pid"], 128 + signal.SIGKILL)
    template = task.config[protocol.CONFIG_RUNTIME_ARGV][protocol.ARGV_KILL_ALL]
    expected = task.runtime.kill_argv(task.id, signal.SIGKILL, True)
    assert protocol.with_signal(template, signal.SIGKILL) == expected
    assert task.calls_of("kill")[0] == expected


def test_sigterm_to_the_monitor_is_forwarded_with_the_kill_argv(task: Task) -> None:
    ready = task.create(SLEEP, start=True)
    os.kill(task.monitor_pid, signal.SIGTERM)
    wait_for(lambda: (task.dir / layout.INIT_EXIT_FILE).exists(), "the init's exit record")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), ready["pid"],
                       128 + signal.SIGTERM)
    assert task.runtime.kill_argv(task.id, signal.SIGTERM) in task.calls_of("kill")


# exec -----------------------------------------------------------------------------------------
def test_exec_its_records_and_its_exit(task: Task, tmp_path: Path) -> None:
    task.create(SLEEP, start=True)
    out, err = tmp_path / "out", tmp_path / "err"
    message = task.exec_message(["sh", "-c", "echo out; echo err >&2; exit 7"],
                                stdio={"stdout": str(out), "stderr": str(err)})
    reply = task.request(message)
    pid = reply["pid"]
    assert set(reply) == {"ok", "pid"} and isinstance(pid, int) and pid > 0
    waited = task.wait(pid)
    assert waited.pop("ok") is True
    assert_exit_record(waited, pid, 7)
    assert task.read_json(f"{layout.EXEC_DIR}/{pid}{layout.EXIT_SUFFIX}") == waited
    record = task.read_json(f"{layout.EXEC_DIR}/{pid}{layout.RECORD_SUFFIX}")
    assert set(record) == {"pid", "args", "cwd", "user", "terminal", "stdin", "stdout",
                           "stderr", "start_time", "created_at"}
    assert (record["pid"], record["args"], record["terminal"]) == (
        pid, ["sh", "-c", "echo out; echo err >&2; exit 7"], False)
    assert (record["stdout"], record["stderr"]) == (str(out), str(err))
    assert (out.read_bytes(), err.read_bytes()) == (b"out\n", b"err\n")
    # The runtime ran the request's own argv; its scratch files are gone.
    assert task.calls_of("exec") == [message[protocol.EXEC_RUNTIME_ARGV]]
    assert sorted(os.listdir(task.dir / layout.EXEC_DIR)) == sorted(
        [f"{pid}{layout.EXIT_SUFFIX}", f"{pid}{layout.RECORD_SUFFIX}"])
    assert task.request({"op": protocol.OP_STATE})["execs"] == {str(pid): 7}
    # A finished exec is not killed again; the init is still there.
    with pytest.raises(errors.NotFoundError, match="process already finished"):
        task.request({"op": protocol.OP_KILL, "signal": signal.SIGTERM, "pid": pid})
    assert task.request({"op": protocol.OP_STATE})["exited"] is False


def test_exec_of_a_missing_command_is_classified_and_the_monitor_goes_on(task: Task) -> None:
    task.create(SLEEP, start=True)
    with pytest.raises(errors.CommandNotFoundError, match="executable file not found"):
        task.exec(["no-such-command"])
    assert task.request({"op": protocol.OP_STATE})["execs"] == {}
    assert not [n for n in os.listdir(task.dir / layout.EXEC_DIR) if n.startswith(".pending")]
    assert task.exec(["true"]) > 0


def test_exec_request_without_its_argv_is_refused(task: Task) -> None:
    task.create(SLEEP, start=True)
    message = task.exec_message(["true"])
    del message[protocol.EXEC_RUNTIME_ARGV]
    with pytest.raises(errors.InvalidArgumentError, match="exec request needs runtime_argv"):
        task.request(message)
    assert task.calls_of("exec") == []


# stdin, attach, resize ---------------------------------------------------------------------------
def test_close_stdin_is_what_ends_the_input(task: Task, tmp_path: Path) -> None:
    stdin, out = fifo(tmp_path / "stdin"), tmp_path / "out"
    ready = task.create(["cat"], start=True, stdio={"stdin": stdin, "stdout": str(out)})
    write_fifo(stdin, b"line\n")  # and our writer is gone again
    wait_for(lambda: out.exists() and out.read_bytes() == b"line\n", "cat's output")
    # No writer is left but the monitor's own: cat has not seen EOF.
    assert task.request({"op": protocol.OP_STATE})["exited"] is False
    pending = task.send_wait()
    assert task.request({"op": protocol.OP_CLOSE_STDIN, "pid": 0}) == {"ok": True}
    waited = pending.reply()
    assert (waited["pid"], waited["exit_status"]) == (ready["pid"], 0)


def read_frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame until the monitor closes the connection."""
    buffer, frames = bytearray(), []
    sock.settimeout(10.0)
    while True:
        data = sock.recv(65536)
        if not data:
            return frames
        buffer += data
        frames += protocol.split_frames(buffer)


def test_attach_carries_stdin_stdout_and_the_exit_frame(task: Task, tmp_path: Path) -> None:
    stdin = fifo(tmp_path / "stdin")
    ready = task.create(["sh", "-c", "read line; echo got:$line; exit 5"], start=True,
                        stdio={"stdin": stdin})
    sock, reply = client.attach(str(task.dir), 0, True)
    with sock:
        assert reply == {"ok": True, "terminal": False, "stdin": True}
        with pytest.raises(errors.FailedPreconditionError, match="already has an attached"):
            client.attach(str(task.dir), 0, True)[0].close()
        sock.sendall(protocol.frame(protocol.STREAM_STDIN, b"hi\n"))
        frames = read_frames(sock)
    assert b"".join(p for s, p in frames if s == protocol.STREAM_STDOUT) == b"got:hi\n"
    assert frames[-1][0] == protocol.STREAM_EXIT
    assert [s for s, _ in frames].count(protocol.STREAM_EXIT) == 1
    exit_info = json.loads(frames[-1][1])
    assert_exit_record(exit_info, ready["pid"], 5)
    assert task.read_json(layout.INIT_EXIT_FILE) == exit_info


def test_resize_without_a_terminal_is_left_alone_and_sizes_are_checked(task: Task) -> None:
    ready = task.create(SLEEP, start=True)
    # A process without a terminal is left alone (`pytasks resize-pty --help`).
    for pid in (0, ready["pid"]):
        assert task.request({"op": protocol.OP_RESIZE, "pid": pid, "width": 80,
                             "height": 24}) == {"ok": True}
    with pytest.raises(errors.InvalidArgumentError, match=r"width must be 1\.\.65535, got 0"):
        task.request({"op": protocol.OP_RESIZE, "width": 0, "height": 24})
    with pytest.raises(errors.NotFoundError, match="process 999999 not found in task t1"):
        task.request({"op": protocol.OP_RESIZE, "pid": 999999, "width": 80, "height": 24})


def test_terminal_through_the_console_socket_follows_resize(task: Task, tmp_path: Path
                                                            ) -> None:
    stdin, out = fifo(tmp_path / "stdin"), tmp_path / "out"
    task.create(["sh", "-c", "read go; stty size"], start=True, terminal=True,
                stdio={"stdin": stdin, "stdout": str(out)})
    assert "--console-socket" in task.calls()[0]
    assert task.request({"op": protocol.OP_RESIZE, "width": 100, "height": 40}) == {"ok": True}
    pending = task.send_wait()
    write_fifo(stdin, b"go\n")
    assert pending.reply()["exit_status"] == 0
    assert b"40 100" in out.read_bytes().splitlines()[-1]


def test_terminal_exec_gets_its_console(task: Task, tmp_path: Path) -> None:
    task.create(SLEEP, start=True)
    out = tmp_path / "out"
    message = task.exec_message(["sh", "-c", "test -t 0 && test -t 1 && echo tty"],
                                terminal=True, stdio={"stdout": str(out)})
    assert message[protocol.EXEC_CONSOLE_SOCKET]
    pid = task.request(message)["pid"]
    assert task.wait(pid)["exit_status"] == 0
    assert out.read_bytes().strip() == b"tty"
    assert task.read_json(f"{layout.EXEC_DIR}/{pid}{layout.RECORD_SUFFIX}")["terminal"] is True


# malformed requests ------------------------------------------------------------------------
@pytest.mark.parametrize(("line", "kind", "message"), [
    (b"not json\n", "", "bad control request: "),
    (b"[1, 2]\n", "", "bad control request: message is not a JSON object"),
    (b'{"op": "nope"}\n', "InvalidArgumentError", "unknown control operation 'nope'"),
    (b'{"op": "kill", "pid": "x"}\n', "", "bad control request: "),
    # Numbers are never converted: 2**32 + pid once signalled that pid, a fraction the init.
    (b'{"op": "kill", "pid": 4294967296, "signal": 9}\n', "",
     "bad control request: pid must be an integer 0..2147483647"),
    (b'{"op": "kill", "pid": 0.5, "signal": 9}\n', "",
     "bad control request: pid must be an integer 0..2147483647"),
    (b'{"op": "kill", "pid": true, "signal": 9}\n', "",
     "bad control request: pid must be an integer 0..2147483647"),
    (b'{"op": "kill", "signal": 65}\n', "", "bad control request: signal must be an integer 1..64"),
    (b'{"op": "kill", "signal": "9"}\n', "",
     "bad control request: signal must be an integer 1..64"),
    (b'{"op": "resize", "width": 1.5, "height": 2}\n', "",
     "bad control request: width must be an integer"),
    (b'{"op": "state", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}\n", "",
     "bad control request: "),
    (b'{"op": "exec"}\n', "", "bad control request: 'process'"),
    (b'{"op": "exec", "process": {"args": []}}\n', "InvalidArgumentError",
     "exec process spec needs non-empty args"),
])
def test_malformed_request_gets_an_error_reply_and_the_monitor_survives(
        task: Task, line: bytes, kind: str, message: str) -> None:
    ready = task.create(SLEEP, start=True)
    reply = task.raw(line)
    assert set(reply) == {"error", "code", "kind"}
    assert (reply["code"], reply["kind"]) == ("INVALID_ARGUMENT", kind)
    assert reply["error"].startswith(message)
    assert task.request({"op": protocol.OP_STATE})["init_pid"] == ready["pid"]


def test_a_pid_beyond_pid_t_kills_nothing(task: Task) -> None:
    """The compiled monitor once cast the pid to int: 2**32 + E killed exec E, and 2**32
    the init."""
    ready = task.create(SLEEP, start=True)
    exec_pid = task.exec(SLEEP)
    for pid in (2**32 + exec_pid, 2**32):
        reply = task.raw(protocol.encode({"op": protocol.OP_KILL, "pid": pid,
                                          "signal": signal.SIGKILL}))
        assert reply["code"] == "INVALID_ARGUMENT", reply
    assert task.request({"op": protocol.OP_STATE})["execs"] == {str(exec_pid): None}
    assert protocol.process_start_time(exec_pid) is not None
    assert protocol.process_start_time(ready["pid"]) is not None


# hostile paths ---------------------------------------------------------------------------
def test_a_symlink_planted_as_output_log_is_not_followed(task: Task, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (task.dir / "output.log").symlink_to(victim)
    output = str(task.dir / "output.log")
    with pytest.raises(errors.InternalError, match="Too many levels of symbolic links"):
        task.create(["sh", "-c", "echo pwned"], start=True,
                    stdio={"stdout": output, "stderr": output})
    wait_for(lambda: not task.monitors(), "the failed monitor to exit")
    assert victim.read_bytes() == b"precious\n"
    assert task.calls_of("create") == [] and task.calls_of("run") == []


def test_a_symlink_planted_as_monitor_log_is_not_followed(task: Task, tmp_path: Path
                                                          ) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (task.dir / layout.MONITOR_LOG).symlink_to(victim)
    ready = task.create(SLEEP, start=True)
    os.kill(ready["pid"], signal.SIGKILL)  # the monitor logs the exit
    wait_for(task.monitor_gone, "the monitor to exit")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), ready["pid"],
                       128 + signal.SIGKILL)
    assert victim.read_bytes() == b"precious\n"


def test_a_symlink_planted_as_the_exec_dir_is_not_followed(task: Task, tmp_path: Path) -> None:
    """Records go through a descriptor of their directory opened with O_NOFOLLOW: an exec/
    planted as a symlink gets no process file, exec record or exit record written through
    it (the exec is refused, the monitor goes on)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ready = task.create(SLEEP, start=True)
    (task.dir / layout.EXEC_DIR).symlink_to(elsewhere)
    with pytest.raises(errors.PytasksError):
        task.exec(["true"])
    assert list(elsewhere.iterdir()) == []
    assert task.request({"op": protocol.OP_STATE})["init_pid"] == ready["pid"]


# runtime failures ---------------------------------------------------------------------------
@pytest.mark.parametrize(("injected", "error", "text"), [
    ("boom", errors.RuntimeFailedError, "OCI runtime create failed: boom"),
    ("container with given ID already exists", errors.AlreadyExistsError,
     "container with given ID already exists"),
    ('exec: "nope": executable file not found in $PATH', errors.CommandNotFoundError,
     'exec: "nope": executable file not found in $PATH'),
])
def test_runtime_failure_on_create_is_classified_and_cleaned_up(
        task: Task, injected: str, error: type[errors.PytasksError], text: str) -> None:
    task.write_config(SLEEP)
    task.inject_failure("create", injected)
    with pytest.raises(error) as caught:
        task.spawn()
    assert type(caught.value) is error and caught.value.message == text
    argv = task.config[protocol.CONFIG_RUNTIME_ARGV]
    assert task.calls() == [argv[protocol.ARGV_CREATE], argv[protocol.ARGV_DELETE]]
    wait_for(lambda: not task.monitors(), "the failed monitor to exit")
    assert not (task.dir / layout.MONITOR_SOCKET).exists()


def test_runtime_failure_on_start_is_classified(task: Task) -> None:
    task.create(SLEEP)
    task.inject_failure("start", "cannot start a container that has stopped")
    with pytest.raises(errors.FailedPreconditionError,
                       match="cannot start a container that has stopped"):
        task.request({"op": protocol.OP_START})
    assert task.request({"op": protocol.OP_STATE})["exited"] is False


def test_a_monitor_never_composes_runtime_argv(task: Task) -> None:
    config = task.write_config(SLEEP)
    del config[protocol.CONFIG_RUNTIME_ARGV]
    write_json(task.dir / layout.MONITOR_FILE, config)
    with pytest.raises(errors.InternalError,
                       match=r"monitor\.json has no runtime argv 'create'"):
        task.spawn()
    assert task.calls() == []


# both monitors alike ---------------------------------------------------------------------------
def scenario(base: Path, kind: str, monkeypatch: pytest.MonkeyPatch
             ) -> dict[str, Any]:
    """One task's files and replies under one monitor: run, exec, exits."""
    select_monitor(kind, monkeypatch)
    task = Task(base / kind, kind)
    try:
        stdin = fifo(base / f"{kind}.stdin")
        task.create(["sh", "-c", "read x; exit 4"], start=True, stdio={"stdin": stdin})
        # Both processes wait for input, so each is alive when its record is written.
        exec_stdin = fifo(base / f"{kind}.exec-stdin")
        pid = task.exec(["sh", "-c", "read x; exit 6"], stdio={"stdin": exec_stdin})
        write_fifo(exec_stdin, b"\n")
        exec_wait = task.wait(pid)
        pending = task.send_wait()
        write_fifo(stdin, b"\n")
        init_wait = pending.reply()
        wait_for(task.monitor_gone, "the monitor to exit")
        exit_path = f"{layout.EXEC_DIR}/{pid}{layout.EXIT_SUFFIX}"
        return {
            "exec_wait": exec_wait, "init_wait": init_wait,
            "texts": {name: (task.dir / name).read_text() for name in (
                layout.INIT_EXIT_FILE, exit_path,
                f"{layout.EXEC_DIR}/{pid}{layout.RECORD_SUFFIX}")},
            "names": [layout.INIT_EXIT_FILE, exit_path,
                      f"{layout.EXEC_DIR}/{pid}{layout.RECORD_SUFFIX}"],
        }
    finally:
        task.kill_everything()


def test_exit_records_are_alike_between_monitors(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    runs = {kind: scenario(tmp_path, kind, monkeypatch) for kind in ("compiled", "python")}
    shapes = {}
    for kind, run in runs.items():
        texts = [run["texts"][name] for name in run["names"]]
        values = [json.loads(text) for text in texts]
        # The one layout of state.atomic.write_json, byte for byte.
        assert texts == [json.dumps(v, indent=2, sort_keys=True) + "\n" for v in values], kind
        init_exit, exec_exit, exec_record = values
        assert init_exit == {k: v for k, v in run["init_wait"].items() if k != "ok"}
        assert exec_exit == {k: v for k, v in run["exec_wait"].items() if k != "ok"}
        assert (init_exit["exit_status"], exec_exit["exit_status"]) == (4, 6)
        shapes[kind] = (
            [sorted(v) for v in values],
            [{k: type(v).__name__ for k, v in value.items()} for value in values],
            sorted(run["init_wait"]), sorted(run["exec_wait"]),
            {k: exec_record[k] for k in ("args", "cwd", "user", "terminal", "stdout",
                                         "stderr")},
        )
        assert exec_record["stdin"] == str(tmp_path / f"{kind}.exec-stdin")
    assert shapes["compiled"] == shapes["python"]


def test_a_missing_kill_argv_is_reported_and_the_exit_still_recorded(task: Task) -> None:
    config = task.write_config(SLEEP)
    for key in (protocol.ARGV_START, protocol.ARGV_KILL_ALL):
        del config[protocol.CONFIG_RUNTIME_ARGV][key]
    write_json(task.dir / layout.MONITOR_FILE, config)
    ready = task.spawn()
    for message, key in (({"op": protocol.OP_START}, "start"),
                         ({"op": protocol.OP_KILL, "signal": signal.SIGTERM, "all": True},
                          "kill_all")):
        with pytest.raises(errors.InternalError, match=f"no runtime argv '{key}'"):
            task.request(message)
    # The init's exit (no pid namespace: the monitor would kill the rest with kill_all)
    # is still recorded; the skipped call is in the monitor's log.
    os.kill(ready["pid"], signal.SIGKILL)
    wait_for(task.monitor_gone, "the monitor to exit")
    assert_exit_record(task.read_json(layout.INIT_EXIT_FILE), ready["pid"],
                       128 + signal.SIGKILL)
    assert "no runtime argv 'kill_all'" in (task.dir / layout.MONITOR_LOG).read_text()
    assert task.calls_of("kill") == [] and task.calls_of("start") == []


# concurrent requests, peers ----------------------------------------------------------------
def _reply_of(sock: socket.socket, timeout: float = 10.0) -> dict[str, Any]:
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, "closed without a reply"
        data += chunk
    return protocol.decode(data)


def test_idle_and_slow_clients_do_not_hold_up_a_request(task: Task) -> None:
    """Requests are read side by side: five idle clients and one sending a byte every
    0.3 s do not delay a state request; each is answered with an error at its deadline."""
    import time

    ready = task.create(SLEEP, start=True)
    idle = [task.connect() for _ in range(5)]
    slow = task.connect()
    started = time.monotonic()
    slow.sendall(b"{")
    reply = task.request({"op": protocol.OP_STATE}, timeout=5.0)
    assert reply["init_pid"] == ready["pid"]
    assert time.monotonic() - started < 1.0, "a request waited for idle clients"
    for _ in range(3):
        time.sleep(0.3)
        slow.sendall(b" ")
    deadline = protocol.REQUEST_DEADLINE_MS / 1000
    for sock in [*idle, slow]:
        with sock:
            answer = _reply_of(sock)
            assert (answer["code"], answer["error"]) == (
                protocol.CODE_INVALID_ARGUMENT,
                f"bad control request: no complete line within {protocol.REQUEST_DEADLINE_MS} ms")
    assert deadline <= time.monotonic() - started < deadline + 2.0
    assert task.request({"op": protocol.OP_STATE})["init_pid"] == ready["pid"]


def test_past_max_pending_a_client_is_told_the_monitor_is_busy(task: Task) -> None:
    task.create(SLEEP, start=True)
    held = [task.connect() for _ in range(protocol.MAX_PENDING)]
    try:
        # Each connect is taken once the monitor runs its loop again; the last one proves
        # the others are held.
        wait_for(lambda: _busy(task), "the monitor to refuse past MAX_PENDING")
    finally:
        for sock in held:
            sock.close()

    def served() -> bool:
        try:
            return "init_pid" in task.request({"op": protocol.OP_STATE})
        except errors.UnavailableError:
            return False  # the closed ones are not all read to their end yet

    wait_for(served, "the monitor to serve again once the held connections closed")


def _busy(task: Task) -> bool:
    with task.connect() as sock:
        try:
            sock.sendall(protocol.encode({"op": protocol.OP_STATE}))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused at once: the reply is already waiting
        reply = _reply_of(sock)
    if "init_pid" in reply:
        return False
    assert (reply["code"], reply["kind"]) == (protocol.CODE_UNAVAILABLE,
                                              protocol.KIND_UNAVAILABLE)
    assert f"{protocol.MAX_PENDING} requests are being read" in reply["error"]
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_a_peer_of_another_uid_is_refused_whatever_the_socket_mode(task: Task) -> None:
    """SO_PEERCRED, not only file modes: with the socket made world-writable (a loosened
    mode), uid 65534 is still refused, and root is still served."""
    ready = task.create(SLEEP, start=True)
    path = task.dir / layout.MONITOR_SOCKET
    os.chmod(path, 0o666)
    fd = os.open(path, os.O_PATH)  # reached without the 0700 dirs above it
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's lines run in another process
        try:
            import ctypes

            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            # A uid change makes us undumpable, which hides our own /proc/self/fd.
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"/proc/self/fd/{fd}")
            try:
                sock.sendall(protocol.encode({"op": protocol.OP_KILL, "signal": 9}))
            except (BrokenPipeError, ConnectionResetError):
                pass
            os.write(write_end, json.dumps(_reply_of(sock)).encode())
        except BaseException as exc:
            os.write(write_end, json.dumps({"child": repr(exc)}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.close(fd)
    with os.fdopen(read_end, "rb") as out:
        reply = json.loads(out.read() or b"{}")
    os.waitpid(child, 0)
    assert (reply.get("code"), reply.get("kind")) == (
        protocol.CODE_PERMISSION_DENIED, protocol.KIND_PERMISSION_DENIED), reply
    assert reply["error"] == f"uid 65534 may not use the monitor of task {task.id}"
    assert task.request({"op": protocol.OP_STATE})["exited"] is False
    assert task.request({"op": protocol.OP_STATE})["init_pid"] == ready["pid"]


# a full disk --------------------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs as the task dir")
def test_an_exit_record_without_space_is_kept_and_written_once_space_is_back(
        task: Task) -> None:
    """ENOSPC: an exec that needs space is RESOURCE_EXHAUSTED; the init's exit record that
    cannot be written is answered to wait from memory, retried every RECORD_RETRY_MS and
    written once space is back; only then does the monitor exit."""
    from helpers.disk import fill, small_tmpfs

    with small_tmpfs(task.dir, "1m"):
        try:
            ready = task.create(SLEEP, start=True)
            filler = fill(task.dir / "filler")
            reply = task.raw(protocol.encode(task.exec_message(["true"])))
            assert (reply["code"], reply["kind"]) == (protocol.CODE_RESOURCE_EXHAUSTED,
                                                      protocol.KIND_RESOURCE_EXHAUSTED)
            assert reply["error"].startswith("no space left on device")
            pending = task.send_wait()
            assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGKILL}) == {"ok": True}
            told = pending.reply()
            assert (told["pid"], told["exit_status"]) == (ready["pid"], 137)
            assert not (task.dir / layout.INIT_EXIT_FILE).exists()
            assert task.wait()["exit_status"] == 137  # a later wait, from memory too
            assert not task.monitor_gone()
            filler.unlink()
            wait_for(task.monitor_gone, "the monitor to exit once its record landed")
            record = task.read_json(layout.INIT_EXIT_FILE)
            assert record == {k: v for k, v in told.items() if k != "ok"}
        finally:
            task.kill_everything()  # before the unmount: nothing holds the tmpfs
