"""pytasks.monitor.client.request against a stand-in monitor socket (no real monitor)."""

from __future__ import annotations

import select
import socket
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


def test_an_unusable_compiled_monitor_is_refused_not_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTASKS_MONITOR", str(tmp_path / "no-such-monitor"))
    with pytest.raises(errors.InvalidArgumentError, match=r"PYTASKS_MONITOR=.* is not an "
                                                          r"executable file"):
        client.spawn(tmp_path)
