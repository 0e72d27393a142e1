"""pytasks.monitor.client: request against a stand-in monitor socket (no real monitor), and
which monitor spawn starts (monitor_argv)."""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
from pathlib import Path

import pytest

from pytasks import errors
from pytasks.monitor import client, protocol
from pytasks.state import layout


def listener(task_dir: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(task_dir / layout.MONITOR_SOCKET))
    sock.listen(8)
    return sock


def request_in_thread(task_dir: Path, message: dict) -> tuple[threading.Thread, list]:
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(client.request(task_dir, message, timeout=5.0))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_reply_is_returned(tmp_path: Path) -> None:
    with listener(tmp_path) as sock:
        thread, outcome = request_in_thread(tmp_path, {"op": "state"})
        conn, _ = sock.accept()
        with conn:
            assert conn.recv(4096) == b'{"op":"state"}\n'
            conn.sendall(protocol.encode({"ok": True, "init_pid": 7}))
        thread.join(5)
    assert outcome == [{"ok": True, "init_pid": 7}]


def test_error_reply_is_typed(tmp_path: Path) -> None:
    with listener(tmp_path) as sock:
        thread, outcome = request_in_thread(tmp_path, {"op": "kill"})
        conn, _ = sock.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(protocol.encode(protocol.error_reply("NOT_FOUND",
                                                              "process already finished")))
        thread.join(5)
    assert isinstance(outcome[0], errors.NotFoundError)
    assert str(outcome[0]) == "process already finished"


def test_no_socket_means_monitor_gone(tmp_path: Path) -> None:
    with pytest.raises(client.MonitorGoneError):
        client.request(tmp_path, {"op": "state"})
    with pytest.raises(client.MonitorGoneError):
        client.request(tmp_path / "deleted-task", {"op": "state"})


def test_closed_without_reply_means_monitor_gone(tmp_path: Path) -> None:
    with listener(tmp_path) as sock:
        thread, outcome = request_in_thread(tmp_path, {"op": "wait"})
        conn, _ = sock.accept()
        conn.recv(4096)
        conn.close()
        thread.join(5)
    assert isinstance(outcome[0], client.MonitorGoneError)


def test_listener_closed_with_connection_in_backlog_means_monitor_gone(tmp_path: Path) -> None:
    """What a finishing monitor does today: a client connected (the kernel queued it), then
    the monitor wrote the exit record and closed its listening socket without accepting."""
    sock = listener(tmp_path)
    thread, outcome = request_in_thread(tmp_path, {"op": "wait"})
    ready, _, _ = select.select([sock], [], [], 5)  # readable = a connection is queued
    assert ready, "client never connected"
    sock.close()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], client.MonitorGoneError), repr(outcome[0])


# --- which monitor: client.monitor_argv (selection only; nothing is run) -----------------

def python_monitor(sync_fd: int, task_dir: Path) -> list[str]:
    return [sys.executable, "-S", "-m", "pytasks.monitor", "--sync-fd", str(sync_fd),
            str(task_dir)]


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the installed compiled monitor: an executable file that is only
    looked at (selection), never run."""
    binary = tmp_path / "pytasks-monitor"
    binary.write_text("#!/bin/false\n")
    binary.chmod(0o755)
    monkeypatch.setattr(client, "COMPILED_MONITOR", binary)
    return binary


def test_the_installed_compiled_monitor_is_the_default(
        tmp_path: Path, installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for unset in (None, ""):
        if unset is None:
            monkeypatch.delenv("PYTASKS_MONITOR", raising=False)
        else:
            monkeypatch.setenv("PYTASKS_MONITOR", unset)
        assert client.monitor_argv(7, tmp_path) == [
            str(installed), "--sync-fd", "7", str(tmp_path)]


def test_without_an_installed_compiled_monitor_the_python_one_is_used(
        tmp_path: Path, installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTASKS_MONITOR", raising=False)
    installed.chmod(0o644)  # not executable: as good as missing
    assert client.monitor_argv(7, tmp_path) == python_monitor(7, tmp_path)
    installed.unlink()
    assert client.monitor_argv(7, tmp_path) == python_monitor(7, tmp_path)


def test_pytasks_monitor_python_selects_the_python_monitor(
        tmp_path: Path, installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTASKS_MONITOR", "python")
    assert client.monitor_argv(7, tmp_path) == python_monitor(7, tmp_path)


def test_pytasks_monitor_path_selects_that_binary(
        tmp_path: Path, installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other-monitor"
    other.write_text("#!/bin/false\n")
    other.chmod(0o755)
    monkeypatch.setenv("PYTASKS_MONITOR", str(other))
    assert client.monitor_argv(7, tmp_path) == [str(other), "--sync-fd", "7", str(tmp_path)]


def test_make_and_setup_py_build_the_monitor_where_spawn_looks_and_alike() -> None:
    import ast
    import re

    repo = Path(__file__).resolve().parents[2]
    makefile = (repo / "monitor-c" / "Makefile").read_text()
    match = re.search(r"^INSTALLED = (\S+)$", makefile, re.M)
    assert match, "monitor-c/Makefile has no INSTALLED path"
    assert (repo / "monitor-c" / match[1]).resolve() == Path(client.COMPILED_MONITOR).resolve()
    assert Path(client.COMPILED_MONITOR).parent == Path(client.__file__).parent
    # setup.py (pip install) builds the same file from the same source with the same flags.
    setup_py = {node.targets[0].id: ast.literal_eval(node.value)
                for node in ast.parse((repo / "setup.py").read_text()).body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("PACKAGE_DIR", "BINARY", "CFLAGS", "LDLIBS")}
    assert Path(repo, *setup_py["PACKAGE_DIR"].split("/"), setup_py["BINARY"]).resolve() == \
        Path(client.COMPILED_MONITOR).resolve()
    cflags = re.search(r"^CFLAGS \?= (.+)$", makefile, re.M)
    ldlibs = re.search(r"^LDLIBS = (.+)$", makefile, re.M)
    assert cflags and ldlibs
    assert (cflags[1], ldlibs[1].split()) == (setup_py["CFLAGS"], setup_py["LDLIBS"])


@pytest.mark.parametrize("name", ["no-such-monitor", "not-executable", "a-directory"])
def test_an_unusable_pytasks_monitor_path_is_refused_not_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    (tmp_path / "not-executable").write_text("")
    (tmp_path / "a-directory").mkdir()
    monkeypatch.setenv("PYTASKS_MONITOR", str(tmp_path / name))
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(errors.InvalidArgumentError) as info:
        client.spawn(tmp_path)
    assert str(info.value) == (
        f"PYTASKS_MONITOR={tmp_path / name} is not an executable file (unset it for the "
        "default monitor, or set it to 'python' for the Python one)")
    assert set(os.listdir("/proc/self/fd")) == fds, "spawn leaked its sync pipe"


def test_monitor_config_carries_the_runtime_argv_runtime_py_built(tmp_path: Path) -> None:
    from pytasks.runtime import Runtime

    rt = Runtime("/usr/sbin/runc", tmp_path / "root", tmp_path / "t" / "runtime.log")
    task_dir = str(tmp_path / "t")
    config = client.monitor_config("t", task_dir, rt, {"stdin": "", "stdout": "",
                                                       "stderr": ""}, True, [], True, True)
    pid_file = os.path.join(task_dir, layout.INIT_PID_FILE)
    assert config[protocol.CONFIG_PID_FILE] == pid_file
    assert config[protocol.CONFIG_CONSOLE_SOCKET] == layout.INIT_CONSOLE_SOCKET
    argv = config[protocol.CONFIG_RUNTIME_ARGV]
    assert argv[protocol.ARGV_CREATE] == rt.create_argv(
        "t", task_dir, pid_file, "/proc/self/fd/3/console.sock", start=True)
    assert argv[protocol.ARGV_START] == rt.start_argv("t")
    assert argv[protocol.ARGV_DELETE] == rt.delete_argv("t", force=True)
    for key, all_processes in ((protocol.ARGV_KILL, False), (protocol.ARGV_KILL_ALL, True)):
        assert protocol.with_signal(argv[key], 15) == rt.kill_argv("t", 15, all_processes)
    # Nothing left for a monitor to compose an argv from.
    assert not {"runtime", "runtime_root", "start"} & set(config)
    plain = client.monitor_config("t", task_dir, rt, {}, False, [], True, False)
    assert plain[protocol.CONFIG_CONSOLE_SOCKET] == ""
    assert "--console-socket" not in plain[protocol.CONFIG_RUNTIME_ARGV][protocol.ARGV_CREATE]
    assert "create" in plain[protocol.CONFIG_RUNTIME_ARGV][protocol.ARGV_CREATE]


@pytest.mark.parametrize("terminal", [False, True])
def test_exec_request_names_the_paths_its_argv_uses(tmp_path: Path, terminal: bool) -> None:
    from pytasks.runtime import Runtime

    rt = Runtime("/usr/sbin/runc", tmp_path / "root", tmp_path / "t" / "runtime.log")
    task_dir = str(tmp_path / "t")
    first = client.exec_request("t", task_dir, rt, {"args": ["sh"]}, {}, terminal)
    second = client.exec_request("t", task_dir, rt, {"args": ["sh"]}, {}, terminal)
    process_file, pid_file = first[protocol.EXEC_PROCESS_FILE], first[protocol.EXEC_PID_FILE]
    assert os.path.dirname(process_file) == os.path.join(task_dir, layout.EXEC_DIR)
    assert os.path.dirname(pid_file) == os.path.join(task_dir, layout.EXEC_DIR)
    console = first[protocol.EXEC_CONSOLE_SOCKET]
    assert bool(console) is terminal
    assert first[protocol.EXEC_RUNTIME_ARGV] == rt.exec_argv(
        "t", process_file, pid_file, protocol.console_socket_path(console) if terminal else None)
    # Two requests never share files (concurrent execs of one task).
    assert second[protocol.EXEC_PROCESS_FILE] != process_file
    assert second[protocol.EXEC_PID_FILE] != pid_file
