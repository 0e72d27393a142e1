"""Wire formats shared by the monitor and its clients, in one module (stdlib only).

- Sync pipe (monitor -> create): one JSON line, {"pid": N, "monitor": {...}} or
  {"error": "...", "code": "NOT_FOUND"}.
- Control socket: one JSON request line per connection, one JSON reply line. Replies are
  {"ok": true, ...} or {"error": "...", "code": "<gRPC code name>"}.
- Exit records: JSON files written atomically by the monitor only.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

MAX_LINE = 1 << 20

# Control operations.
OP_START = "start"
OP_KILL = "kill"
OP_WAIT = "wait"
OP_STATE = "state"
OPS = frozenset({OP_START, OP_KILL, OP_WAIT, OP_STATE})


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("message is not a JSON object")
    return value


def error_reply(code: str, message: str) -> dict[str, Any]:
    return {"error": message, "code": code}


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
