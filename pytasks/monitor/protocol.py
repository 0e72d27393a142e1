"""The monitor protocol, declared once (stdlib only): the wire formats shared by the
monitors and their clients (docs/architecture.md §4).

Both monitors (monitor/daemon.py and monitor-c/) speak exactly this. The compiled one takes
its constants from monitor-c/protocol.h, which scripts/gen-protocol-header writes from this
module's int and str constants (tests/unit/test_protocol_header.py fails when it is stale).

- Command line: MONITOR --sync-fd N TASK_DIR (SYNC_FD_FLAG); the task dir holds
  monitor.json, written by Create before the spawn.
- Sync pipe (monitor -> create): one JSON line (encode()), then EOF. Ready:
  {"pid": INIT_PID, "monitor_pid": N, "monitor_start_time": TICKS|null}. Failed:
  {"error": "...", "code": "<gRPC code name>", "kind": "<error class name>" or ""}, sent
  before the monitor removes the runtime's state; EOF follows once that cleanup is over.
- Control socket (monitor.sock): one JSON request line per connection, {"op": OP_*, ...}
  (at most MAX_LINE bytes), and one JSON reply line. Requests and their "ok" replies:
    state        {}                                      {"ok": true, "init_pid": N,
                                                           "exited": BOOL,
                                                           "execs": {"PID": STATUS|null}}
    wait         {"pid"}                                 {"ok": true, **exit record},
                                                         sent when the process's record is
                                                         written (the connection waits)
    start        {}                                      {"ok": true, "pid": INIT_PID}
    kill         {"pid", "signal", "all"}                {"ok": true}
    exec         {"process": OCI process, "terminal",    {"ok": true, "pid": N}
                  "stdio": {"stdin", "stdout", "stderr"},
                  "runtime_argv", "process_file",
                  "pid_file", "console_socket"}
    resize       {"pid", "width", "height"}              {"ok": true}
    close-stdin  {"pid"}                                 {"ok": true}
    attach       {"pid", "stdin"}                        {"ok": true, "terminal": BOOL,
                                                           "stdin": BOOL}, then frames
  "pid" 0 (or absent) is the init. A failed request is answered
  {"error": "...", "code": "<gRPC code name>", "kind": "<error class name>" or ""}.
- Runtime failures: daemon.py classifies the runtime's message itself (runtime.py) and
  sends the typed error above. The compiled monitor sends the runtime's raw message with
  code "UNKNOWN", kind "" and "runtime_step" (STEP_CREATE on the sync pipe; STEP_START,
  STEP_RESTORE, STEP_KILL, STEP_EXEC in replies), and client.py classifies it through runtime.py, so
  both give the same error classes.
- Attach frames: after the reply line, both directions carry frames of FRAME_HEADER bytes
  (1 byte stream id, 4 bytes big-endian payload length, at most MAX_LINE) and the payload.
  Client -> monitor: STREAM_STDIN. Monitor -> client: STREAM_STDOUT, STREAM_STDERR (a
  terminal's output is all STREAM_STDOUT) and, once the process's output is drained,
  STREAM_EXIT, whose payload is the exit record as json.dumps() writes it (default
  separators); the connection closes after it.
- Exit records (init.exit, exec/<pid>.exit): exit_record() below, {"pid", "exit_status",
  "exited_at_ns", "exited_at"} and, in init.exit when it is true, "oom_killed", written
  atomically by the monitor only, after the process's output is drained
  (state.atomic.write_json: indent 2, sorted keys).
- Exec records (exec/<pid>.json): {"pid", "args", "cwd", "user", "terminal", "stdin",
  "stdout", "stderr", "start_time", "created_at"} (REC_* and STDIO_*), written by the
  monitor when the exec has started.
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

from pytasks.instants import rfc3339  # records' and replies' times: one writer of them

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Every int and str constant below is part of the contract: scripts/gen-protocol-header
# copies them into monitor-c/protocol.h under the same names.

MAX_LINE = 1 << 20  # longest control request line; largest attach frame payload
# Requests are read concurrently: each connection has REQUEST_DEADLINE_MS from its accept
# to send its whole line (a slow or idle client is answered with an error and dropped,
# never holding up another), and at most MAX_PENDING are being read at once (more are
# answered CODE_UNAVAILABLE at once). Only root and the monitor's own uid (SO_PEERCRED)
# are served; others get CODE_PERMISSION_DENIED.
REQUEST_DEADLINE_MS = 2000
MAX_PENDING = 64
# The ranges of a request's numbers: a pid is a pid_t (0 names the init), a signal 1..64,
# a terminal size an unsigned short. Anything else (a fraction, a bool, a string, a value
# that would wrap) is refused, never converted.
PID_MAX = 2**31 - 1
SIGNAL_MAX = 64
TERM_SIZE_MAX = 65535
NUMBER_EXACT = 2**53  # beyond it a JSON number is not exact in a double (the C monitor's)

# The monitor's command line: MONITOR --sync-fd N TASK_DIR.
SYNC_FD_FLAG = "--sync-fd"

# Control operations.
OP_START = "start"
OP_KILL = "kill"
OP_WAIT = "wait"
OP_STATE = "state"
OP_EXEC = "exec"
OP_RESIZE = "resize"
OP_CLOSE_STDIN = "close-stdin"
OP_ATTACH = "attach"  # the connection then carries frames (below)

# Attach streams: after the JSON reply line, both directions carry frames of
# FRAME_HEADER bytes (1 byte stream id + 4 bytes big-endian length) + payload.
STREAM_STDIN = 0
STREAM_STDOUT = 1
STREAM_STDERR = 2
STREAM_EXIT = 3  # monitor -> client: JSON exit record; the connection closes after it
FRAME_HEADER = 5

# Request fields.
REQ_OP = "op"
REQ_PID = "pid"
REQ_SIGNAL = "signal"
REQ_ALL = "all"
REQ_STDIN = "stdin"  # attach: forward the client's stdin frames
REQ_TERMINAL = "terminal"
REQ_WIDTH = "width"
REQ_HEIGHT = "height"
REQ_PROCESS = "process"
REQ_STDIO = "stdio"

# The keys of a stdio object (exec requests, monitor.json) and of exec records.
STDIO_STDIN = "stdin"
STDIO_STDOUT = "stdout"
STDIO_STDERR = "stderr"

# Reply fields.
REPLY_OK = "ok"
REPLY_ERROR = "error"
REPLY_CODE = "code"
REPLY_KIND = "kind"
REPLY_RUNTIME_STEP = "runtime_step"  # the compiled monitor's unclassified runtime failure
STATE_INIT_PID = "init_pid"
START_PID = "pid"  # OP_START's reply: the init's pid (a restored one's is new)
STATE_EXITED = "exited"
STATE_EXECS = "execs"
EXEC_PID = "pid"
ATTACH_TERMINAL = "terminal"
ATTACH_STDIN = "stdin"

# The ready message on the sync pipe.
READY_PID = "pid"
READY_MONITOR_PID = "monitor_pid"
READY_MONITOR_START_TIME = "monitor_start_time"

# Exit records (and wait replies, and the attach exit frame).
EXIT_PID = "pid"
EXIT_STATUS = "exit_status"
EXIT_AT_NS = "exited_at_ns"
EXIT_AT = "exited_at"
EXIT_OOM_KILLED = "oom_killed"  # init.exit only, and only when true (see CONFIG_OOM_FILE)

# Exec records, with the STDIO_* keys.
REC_PID = "pid"
REC_ARGS = "args"
REC_CWD = "cwd"
REC_USER = "user"
REC_TERMINAL = "terminal"
REC_START_TIME = "start_time"
REC_CREATED_AT = "created_at"

# The runtime call a "runtime_step" names (runtime.runtime_error's step for create, exec).
STEP_CREATE = "create"
STEP_EXEC = "exec"
STEP_START = "start"
STEP_KILL = "kill"
STEP_RESTORE = "restore"

# The gRPC code names (errors.Code) monitors send.
CODE_UNKNOWN = "UNKNOWN"
CODE_INVALID_ARGUMENT = "INVALID_ARGUMENT"
CODE_NOT_FOUND = "NOT_FOUND"
CODE_FAILED_PRECONDITION = "FAILED_PRECONDITION"
CODE_PERMISSION_DENIED = "PERMISSION_DENIED"
CODE_UNAVAILABLE = "UNAVAILABLE"
CODE_RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"  # a write under the task dir found no space
CODE_INTERNAL = "INTERNAL"

# The error kinds (errors.py class names) the compiled monitor sends where daemon.py sends
# type(exc).__name__; "" (KIND_NONE) leaves the class to the code.
KIND_NONE = ""
KIND_INVALID_ARGUMENT = "InvalidArgumentError"
KIND_NOT_FOUND = "NotFoundError"
KIND_FAILED_PRECONDITION = "FailedPreconditionError"
KIND_INVALID_STATE = "InvalidStateError"
KIND_PERMISSION_DENIED = "PermissionDeniedError"
KIND_UNAVAILABLE = "UnavailableError"
KIND_RESOURCE_EXHAUSTED = "ResourceExhaustedError"
# An exit record that cannot be written (a full disk) is kept and written again every
# RECORD_RETRY_MS until it lands; waits are answered from memory meanwhile, and the monitor
# lives on until then (or until its task dir is removed).
RECORD_RETRY_MS = 500
KIND_RUNTIME_FAILED = "RuntimeFailedError"
KIND_INTERNAL = "InternalError"
KIND_OS_ERROR = "OSError"  # a monitor's own system call failed before readiness
# monitor.json: the runtime calls the monitor makes (see the docstring).
CONFIG_RUNTIME_ARGV = "runtime_argv"
CONFIG_PID_FILE = "pid_file"              # the init's pid file, named in the create argv
CONFIG_CONSOLE_SOCKET = "console_socket"  # with a terminal: the init's console socket name
# The namespace's event journal (docs/architecture.md §7), where the monitor appends each
# /tasks/exit before it writes the exit record: an exit journaled once, by its witness.
CONFIG_EVENTS_DIR = "events_dir"
CONFIG_NAMESPACE = "namespace"
CONFIG_EVENTS_MAX_BYTES = "events_max_bytes"  # rotate the journal past this many bytes
# The container's memory cgroup: the file whose OOM_KILL_KEY line counts the kernel's OOM
# kills (memory.events on v2, memory.oom_control on v1) and, on v1, the cgroup.event_control
# that hands out an eventfd for OOM ("" on v2: inotify on the file instead). Each time the
# count grows the monitor journals TOPIC_OOM; an init exit after any growth since the task
# was created carries EXIT_OOM_KILLED. Empty CONFIG_OOM_FILE: no memory cgroup, no watch.
CONFIG_OOM_FILE = "oom_file"
CONFIG_OOM_EVENT_CONTROL = "oom_event_control"
OOM_KILL_KEY = "oom_kill"
JOURNAL_NAME = "journal"
JOURNAL_ROTATED_NAME = "journal.1"
TOPIC_EXIT = "/tasks/exit"
TOPIC_OOM = "/tasks/oom"
TOPIC_EXEC_ADDED = "/tasks/exec-added"      # and exec-started: journaled by the monitor
TOPIC_EXEC_STARTED = "/tasks/exec-started"  # once the runtime's exec gave the pid
# A journal line's keys (state/event_journal.encode); /tasks/exit's event holds
# EVENT_CONTAINER_ID, EVENT_ID and the exit record's EXIT_PID, EXIT_STATUS, EXIT_AT.
LINE_TIMESTAMP = "timestamp"
LINE_NAMESPACE = "namespace"
LINE_TOPIC = "topic"
LINE_ID = "id"
LINE_EVENT = "event"
EVENT_CONTAINER_ID = "container_id"
EVENT_ID = "id"
EVENT_EXEC_ID = "exec_id"
# The task's own log (state/task_log.py, docs/architecture.md §5): a stdout or stderr path
# that is LOG_NAME in the task dir gets line records, not raw bytes, from both monitors:
# "<RFC 3339 UTC> <LOG_STDOUT|LOG_STDERR> <LOG_FULL|LOG_PARTIAL> <bytes>\n", and
# "<RFC 3339 UTC> <stream> LOG_DROPPED <count>\n" where output could not be written. Past
# CONFIG_LOG_MAX_BYTES (default LOG_MAX_BYTES) it is renamed to LOG_ROTATED_NAME.
CONFIG_LOG_MAX_BYTES = "log_max_bytes"
LOG_MAX_BYTES = 8 << 20
LOG_NAME = "output.log"
LOG_ROTATED_NAME = "output.log.1"
LOG_STDOUT = "stdout"
LOG_STDERR = "stderr"
LOG_FULL = "F"      # a line, its newline taken off
LOG_PARTIAL = "P"   # a chunk that did not end in a newline: the line goes on in the next
LOG_DROPPED = "D"   # this many bytes of the stream were dropped here (a failed write)
ARGV_CREATE = "create"      # `create`, or `run --detach` for a task started at once
ARGV_START = "start"        # OP_START
ARGV_KILL = "kill"          # a termination signal the monitor received, for the init
ARGV_KILL_ALL = "kill_all"  # OP_KILL with all; every process at the init's exit (no pid ns)
ARGV_DELETE = "delete"      # `delete --force` after a failed create
# A task restored from a checkpoint has ARGV_RESTORE instead of ARGV_CREATE: the monitor
# sets up the init's stdio at once but runs the restore (`restore --detach`, with those
# stdio as its 0..2) only at OP_START; until then the init's pid is 0. A kill before it
# (or after a restore that failed) is the init's exit with 128+signal, no process involved.
ARGV_RESTORE = "restore"
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
    try:
        value = json.loads(line)
    except RecursionError:  # hostile nesting is a bad line like any other
        raise ValueError("message is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("message is not a JSON object")
    return value


def integer(message: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """message[key] when it is a JSON integer in low..high (absent or null: default);
    ValueError otherwise, worded as both monitors word it."""
    value = message.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be an integer {low}..{high}")
    return value


def error_reply(code: str, message: str, kind: str = "") -> dict[str, Any]:
    return {REPLY_ERROR: message, REPLY_CODE: code, REPLY_KIND: kind}


def exit_record(pid: int, exit_status: int, exited_at_ns: int, **extra: Any) -> dict[str, Any]:
    return {EXIT_PID: pid, EXIT_STATUS: exit_status, EXIT_AT_NS: exited_at_ns,
            EXIT_AT: rfc3339(exited_at_ns), **extra}


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
