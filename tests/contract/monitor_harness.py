"""The monitor contract suite's harness: one task dir per test, driven through the protocol
against tests/contract/fake-runtime, with either monitor (docs/architecture.md §4).

Needs no root: the fake runtime starts the bundle's process as a plain child, and the task
config asks for nothing privileged (no rootfs mounts, no pid namespace). Every process a
test started (monitor, container processes) is killed at teardown, however it ended.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from pytasks.monitor import client, protocol
from pytasks.runtime import Runtime
from pytasks.state import layout
from pytasks.state.atomic import write_json

FAKE_RUNTIME = Path(__file__).resolve().parent / "fake-runtime"
MONITORS = {"compiled": client.COMPILED_MONITOR, "python": "python"}
TASK_ID = "t1"
SPAWN_TIMEOUT = 20.0
PATH_ENV = "PATH=/usr/local/bin:/usr/bin:/bin"


def wait_for(condition: Any, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def select_monitor(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    choice = MONITORS[kind]
    if kind == "compiled" and not os.access(choice, os.X_OK):
        pytest.fail(f"no compiled monitor at {choice}: run `make -C monitor-c` "
                    "(./scripts/setup builds it)")
    monkeypatch.setenv("PYTASKS_MONITOR", choice)


class PendingWait:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def answered(self, timeout: float) -> bool:
        """Whether the reply (or the monitor's end) arrived within timeout."""
        readable, _, _ = select.select([self.sock], [], [], timeout)
        return bool(readable)

    def reply(self) -> dict[str, Any]:
        """The exit info the monitor answered with (without "ok")."""
        with self.sock:
            self.sock.settimeout(20.0)
            data = b""
            while not data.endswith(b"\n"):
                chunk = self.sock.recv(65536)
                assert chunk, "the monitor closed the wait without a reply"
                data += chunk
        message = protocol.decode(data)
        assert message.pop("ok") is True, message
        return message


class Task:
    """One task dir with its own fake-runtime root, and the ways to talk to its monitor."""

    def __init__(self, base: Path, kind: str, task_id: str = TASK_ID) -> None:
        self.kind = kind
        self.id = task_id
        self.base = base
        self.runtime_root = base / "runtime"
        self.dir = base / "tasks" / task_id
        self.events_dir = base / "tasks" / ".events"
        self.dir.mkdir(parents=True, mode=0o700)
        self.runtime = Runtime(str(FAKE_RUNTIME), str(self.runtime_root),
                               str(self.dir / layout.RUNTIME_LOG))
        self.ready: dict[str, Any] = {}
        self.config: dict[str, Any] = {}

    # set-up --------------------------------------------------------------------------------
    def write_config(self, args: list[str], *, start: bool = False, terminal: bool = False,
                     stdio: dict[str, str] | None = None, restore: bool = False
                     ) -> dict[str, Any]:
        """config.json (the bundle) and monitor.json, as Engine.create writes them."""
        write_json(self.dir / layout.CONFIG_FILE, {
            "ociVersion": "1.0.2",
            "process": {"args": args, "env": [PATH_ENV], "cwd": "/", "terminal": terminal},
            "root": {"path": layout.ROOTFS_DIR},
        })
        full = {"stdin": "", "stdout": "", "stderr": "", **(stdio or {})}
        restore_argv = None
        if restore:  # as Engine.create for a checkpoint: the image unpacked in the task dir
            image = self.dir / layout.RESTORE_IMAGE_DIR
            image.mkdir(mode=0o700)
            restore_argv = self.runtime.restore_argv(
                self.id, "/nonexistent/criu", str(self.dir),
                str(self.dir / layout.INIT_PID_FILE), str(image),
                str(self.dir / layout.RESTORE_WORK_DIR),
                protocol.console_socket_path(layout.INIT_CONSOLE_SOCKET) if terminal
                else None)
        self.config = client.monitor_config(self.id, str(self.dir), self.runtime, full,
                                            terminal, [], False, start, str(self.events_dir),
                                            "contract", restore_argv=restore_argv)
        write_json(self.dir / layout.MONITOR_FILE, self.config)
        return self.config

    def spawn(self) -> dict[str, Any]:
        self.ready = client.spawn(str(self.dir), timeout=SPAWN_TIMEOUT)
        return self.ready

    def create(self, args: list[str], **kwargs: Any) -> dict[str, Any]:
        self.write_config(args, **kwargs)
        return self.spawn()

    def inject_failure(self, command: str, message: str) -> None:
        """The fake runtime's next `command` calls fail with message (its fail.json)."""
        self.runtime_root.mkdir(mode=0o700, exist_ok=True)
        (self.runtime_root / "fail.json").write_text(json.dumps({command: message}))

    # requests ------------------------------------------------------------------------------
    def request(self, message: dict[str, Any], timeout: float | None = 10.0) -> dict[str, Any]:
        return client.request(str(self.dir), message, timeout=timeout)

    def exec_message(self, args: list[str], *, terminal: bool = False,
                     stdio: dict[str, str] | None = None) -> dict[str, Any]:
        process = {"args": args, "env": [PATH_ENV], "cwd": "/"}
        full = {"stdin": "", "stdout": "", "stderr": "", **(stdio or {})}
        return client.exec_request(self.id, str(self.dir), self.runtime, process, full,
                                   terminal)

    def exec(self, args: list[str], **kwargs: Any) -> int:
        return int(self.request(self.exec_message(args, **kwargs))["pid"])

    def wait(self, pid: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        return self.request({"op": protocol.OP_WAIT, "pid": pid}, timeout=timeout)

    def connect(self) -> socket.socket:
        """A raw connection to the control socket."""
        dir_fd = os.open(self.dir, os.O_PATH | os.O_DIRECTORY)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(10.0)
            sock.connect(layout.socket_address(dir_fd))
        except BaseException:
            sock.close()
            raise
        finally:
            os.close(dir_fd)
        return sock

    def send_wait(self, pid: int = 0) -> PendingWait:
        """A wait sent now, its reply read later: the monitor takes connections in order, so
        it has this request before any sent after it (the init's exit ends the monitor, so a
        wait sent after an action that ends the init could find it gone)."""
        sock = self.connect()
        sock.sendall(protocol.encode({"op": protocol.OP_WAIT, "pid": pid}))
        return PendingWait(sock)

    def raw(self, line: bytes) -> dict[str, Any]:
        """Send bytes as they are (no encoding) and decode the one reply line."""
        with self.connect() as sock:
            sock.sendall(line)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return protocol.decode(data)

    # what the fake runtime saw ---------------------------------------------------------------
    def calls(self) -> list[list[str]]:
        """Every argv the fake runtime was run with, in order."""
        try:
            text = (self.runtime_root / "calls.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines()]

    def calls_of(self, command: str) -> list[list[str]]:
        global_flags = len(self.runtime.start_argv(self.id)) - 2  # binary and its flags
        return [c for c in self.calls() if len(c) > global_flags and c[global_flags] == command]

    def read_json(self, name: str) -> dict[str, Any]:
        return json.loads((self.dir / name).read_text())

    # monitor life ------------------------------------------------------------------------------
    @property
    def monitor_pid(self) -> int:
        return int(self.ready["monitor_pid"])

    def monitor_gone(self) -> bool:
        return not protocol.is_alive(self.monitor_pid, self.ready["monitor_start_time"]) \
            and not (self.dir / layout.MONITOR_SOCKET).exists()

    # teardown ----------------------------------------------------------------------------------
    def started_processes(self) -> list[tuple[int, int | None]]:
        """(pid, start time) of every process the fake runtime started for this test."""
        try:
            text = (self.runtime_root / "pids.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [(int(e["pid"]), e["start_time"]) for e in map(json.loads, text.splitlines())]

    def monitors(self) -> list[int]:
        """Processes whose cwd is the task dir: the monitor, whether or not it reported."""
        found = []
        target = os.path.realpath(self.dir)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/cwd") == target:
                        found.append(int(entry))
                except OSError:
                    pass
        return found

    def kill_everything(self) -> None:
        victims = [(pid, st) for pid, st in self.started_processes() if st is not None]
        victims += [(pid, protocol.process_start_time(pid)) for pid in self.monitors()]
        for pid, start in victims:
            if protocol.is_alive(pid, start):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_for(lambda: not any(protocol.is_alive(p, s) for p, s in victims),
                 "the test's processes to die")
