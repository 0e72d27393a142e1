"""Wire formats shared by the monitor and its clients, in one module (stdlib only).

Both monitors (monitor/daemon.py and monitor-c/) speak exactly this; docs/architecture.md
("The monitor contract") describes it in prose.

- Sync pipe (monitor -> create): one JSON line. Ready:
  {"pid": INIT_PID, "monitor_pid": N, "monitor_start_time": TICKS|null}. Failed:
  {"error": "...", "code": "<gRPC code name>", "kind": "<error class>"}; the compiled
  monitor may instead send the runtime's raw message with "runtime_step" (the runtime call
  that failed) and code "UNKNOWN", which client.py classifies through runtime.py.
- Control socket: one JSON request line per connection, {"op": OP_*, ...}, and one JSON
  reply line: {"ok": true, ...} or {"error": "...", "code": "<gRPC code name>",
  "kind": "..."}. OP_ATTACH then carries frames (below).
- Exit records (init.exit, exec/<pid>.exit): exit_record() below, written atomically by
  the monitor only, after the process's output is drained.
- Runtime calls (docs/architecture.md §3, §4): the monitor runs the OCI runtime with argv
  that runtime.py built and never composes one. monitor.json (client.monitor_config)
  carries CONFIG_RUNTIME_ARGV, {ARGV_*: [argv...]}, plus CONFIG_PID_FILE and
  CONFIG_CONSOLE_SOCKET, the paths its create argv names. The one placeholder is
  ARGV_SIGNAL in the kill argv: an element equal to it becomes the signal number. An OP_EXEC
  request (client.exec_request) carries its complete argv (EXEC_RUNTIME_ARGV) and the paths
  that argv names, chosen by the client: EXEC_PROCESS_FILE (the monitor writes the process
  spec there), EXEC_PID_FILE (the runtime writes the pid) and, with a terminal,
  EXEC_CONSOLE_SOCKET. The runtime runs with the task dir as fd CONSOLE_FD, so a console
  socket NAME (relative to the task dir) is console_socket_path(NAME) in the argv.
"""

from __future__ import annotations

import json
import os
import time

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_LINE = 1 << 20

# Control operations.
OP_START = "start"
OP_KILL = "kill"
OP_WAIT = "wait"
OP_STATE = "state"
OP_EXEC = "exec"
OP_RESIZE = "resize"
OP_CLOSE_STDIN = "close-stdin"
OP_ATTACH = "attach"  # the connection then carries frames (below)

# monitor.json: the runtime calls the monitor makes (see the docstring).
CONFIG_RUNTIME_ARGV = "runtime_argv"
CONFIG_PID_FILE = "pid_file"              # the init's pid file, named in the create argv
CONFIG_CONSOLE_SOCKET = "console_socket"  # with a terminal: the init's console socket name
ARGV_CREATE = "create"      # `create`, or `run --detach` for a task started at once
ARGV_START = "start"        # OP_START
ARGV_KILL = "kill"          # a termination signal the monitor received, for the init
ARGV_KILL_ALL = "kill_all"  # OP_KILL with all; every process at the init's exit (no pid ns)
ARGV_DELETE = "delete"      # `delete --force` after a failed create
ARGV_SIGNAL = "{signal}"    # in ARGV_KILL and ARGV_KILL_ALL: replaced by the signal number

# OP_EXEC request fields beside "process", "stdio" and "terminal" (see the docstring).
EXEC_RUNTIME_ARGV = "runtime_argv"
EXEC_PROCESS_FILE = "process_file"
EXEC_PID_FILE = "pid_file"
EXEC_CONSOLE_SOCKET = "console_socket"

# The runtime's fd for the task dir: console socket paths stay short whatever the task
# dir's length (sun_path holds 108 bytes).
CONSOLE_FD = 3


def console_socket_path(name: str) -> str:
    """A console socket, named relative to the task dir, as the runtime sees it."""
    return f"/proc/self/fd/{CONSOLE_FD}/{name}"


def with_signal(template: list[str], signal: int) -> list[str]:
    """A kill argv from its template: ARGV_SIGNAL replaced by the signal number."""
    return [str(signal) if arg == ARGV_SIGNAL else arg for arg in template]


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("message is not a JSON object")
    return value


def error_reply(code: str, message: str, kind: str = "") -> dict[str, Any]:
    return {"error": message, "code": code, "kind": kind}


def rfc3339(ns: int) -> str:
    """Nanosecond epoch -> RFC 3339 UTC with nanoseconds (as containerd prints times)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def exit_record(pid: int, exit_status: int, exited_at_ns: int, **extra: Any) -> dict[str, Any]:
    return {"pid": pid, "exit_status": exit_status, "exited_at_ns": exited_at_ns,
            "exited_at": rfc3339(exited_at_ns), **extra}


def process_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) from /proc/PID/stat: with the pid, an identity
    that survives pid reuse. None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2:].split()
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def is_alive(pid: int, start_time: int | None) -> bool:
    return pid > 0 and start_time is not None and process_start_time(pid) == start_time


def now_ns() -> int:
    return time.time_ns()


def pid_from_file(path: str | os.PathLike[str]) -> int:
    with open(path, "rb") as fh:
        return int(fh.read().strip() or b"0")

# Attach streams: after the JSON reply line, both directions carry frames of
# 1 byte stream id + 4 bytes big-endian length + payload.
STREAM_STDIN = 0
STREAM_STDOUT = 1
STREAM_STDERR = 2
STREAM_EXIT = 3  # monitor -> client: JSON exit record; the connection closes after it
FRAME_HEADER = 5


def frame(stream: int, payload: bytes) -> bytes:
    return bytes((stream,)) + len(payload).to_bytes(4, "big") + payload


def split_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete frame off the front of buffer (in place)."""
    frames = []
    while len(buffer) >= FRAME_HEADER:
        size = int.from_bytes(buffer[1:FRAME_HEADER], "big")
        if size > MAX_LINE:
            raise ValueError("frame too large")
        if len(buffer) < FRAME_HEADER + size:
            break
        frames.append((buffer[0], bytes(buffer[FRAME_HEADER:FRAME_HEADER + size])))
        del buffer[:FRAME_HEADER + size]
    return frames
