"""The client half of the monitor: spawn one for a task, and send it control requests."""

from __future__ import annotations

import os
import select
import sys
import time

from pytasks import errors
from pytasks.monitor import protocol
from pytasks.state import layout

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

    from pytasks.runtime import Runtime

    StrPath = str | os.PathLike[str]

READY_TIMEOUT = 60.0  # runc create of a big bundle can be slow on a loaded host
# The compiled monitor (monitor-c/, built here by setup.py or its Makefile): the default.
COMPILED_MONITOR = os.path.join(os.path.dirname(__file__), "pytasks-monitor")


class MonitorGoneError(errors.UnavailableError):
    """The task's monitor is not there (exited or lost): reconcile from the records."""


def _monitor_path() -> str:
    """sys.path for the monitor, which runs with -S (no site: less to import and keep
    resident): where pytasks is, and where python-daemon is."""
    import importlib.util

    import pytasks

    roots = [os.path.dirname(os.path.dirname(os.path.realpath(pytasks.__file__)))]
    spec = importlib.util.find_spec("daemon")
    if spec is not None and spec.submodule_search_locations:
        roots.append(os.path.dirname(next(iter(spec.submodule_search_locations))))
    return os.pathsep.join(dict.fromkeys(roots))


def _selected_monitor() -> tuple[str, str]:
    """(binary, how it was chosen) by PYTASKS_MONITOR; binary "" is the Python monitor.
    Unset or empty: the compiled monitor installed next to this module (COMPILED_MONITOR,
    built by pip install or `make -C monitor-c`), or the Python one when it is not there
    (PYTASKS_BUILD_MONITOR=0 installs leave it out); "python": the Python one; anything
    else: the path of a monitor binary, which must be executable."""
    choice = os.environ.get("PYTASKS_MONITOR", "")
    if choice == "python":
        return "", "reference, PYTASKS_MONITOR=python"
    binary = choice or str(COMPILED_MONITOR)
    if os.path.isfile(binary) and os.access(binary, os.X_OK):
        return binary, "PYTASKS_MONITOR" if choice else "compiled"
    if choice:
        raise errors.InvalidArgumentError(
            f"PYTASKS_MONITOR={choice} is not an executable file (unset it for the "
            "default monitor, or set it to 'python' for the Python one)")
    return "", f"fallback: no compiled monitor at {binary}"


def monitor_argv(sync_fd: int, task_dir: StrPath) -> list[str]:
    """The monitor's command line (argv[0] is the executable): see _selected_monitor."""
    binary, _how = _selected_monitor()
    tail = [protocol.SYNC_FD_FLAG, str(sync_fd), str(task_dir)]
    if binary:
        return [binary, *tail]
    return [sys.executable, "-S", "-m", "pytasks.monitor", *tail]


def monitor_choice() -> str:
    """Which monitor new tasks get, in words (for `pytasks --version`)."""
    try:
        binary, how = _selected_monitor()
    except errors.InvalidArgumentError as exc:
        return f"none: {exc.message}"
    if not binary:
        return f"python ({how})"
    return f"compiled ({binary})" if how == "compiled" else f"{binary} ({how})"


def monitor_config(task_id: str, task_dir: str, runtime: Runtime, stdio: dict[str, str],
                   terminal: bool, rootfs_mounts: list[dict[str, Any]], pid_namespace: bool,
                   start: bool, events_dir: str = "", namespace: str = "",
                   oom_files: tuple[str, str] = ("", ""),
                   restore_argv: list[str] | None = None) -> dict[str, Any]:
    """monitor.json: what the monitor of a task needs, with every runtime call it will make
    as argv that runtime.py built (docs/architecture.md §4; protocol's docstring)."""
    from pytasks.state import event_journal

    pid_file = os.path.join(task_dir, layout.INIT_PID_FILE)
    console = layout.INIT_CONSOLE_SOCKET if terminal else ""
    # Every runtime call the monitor makes on its own, keyed by protocol.ARGV_*; the kill
    # argv carry protocol.ARGV_SIGNAL where the signal goes.
    argv = {
        protocol.ARGV_CREATE: runtime.create_argv(
            task_id, task_dir, pid_file,
            protocol.console_socket_path(console) if console else None, start=start),
        protocol.ARGV_START: runtime.start_argv(task_id),
        protocol.ARGV_KILL: runtime.kill_argv(task_id, protocol.ARGV_SIGNAL),
        protocol.ARGV_KILL_ALL: runtime.kill_argv(task_id, protocol.ARGV_SIGNAL, True),
        protocol.ARGV_DELETE: runtime.delete_argv(task_id, force=True),
    }
    if restore_argv is not None:
        # Restored at Start instead of created (protocol.ARGV_RESTORE).
        del argv[protocol.ARGV_CREATE], argv[protocol.ARGV_START]
        argv[protocol.ARGV_RESTORE] = restore_argv
    return {
        "id": task_id,
        "stdio": {**stdio, "terminal": terminal},
        "rootfs_mounts": rootfs_mounts,
        "pid_namespace": pid_namespace,
        protocol.CONFIG_PID_FILE: pid_file,
        protocol.CONFIG_CONSOLE_SOCKET: console,
        protocol.CONFIG_RUNTIME_ARGV: argv,
        protocol.CONFIG_EVENTS_DIR: events_dir,
        protocol.CONFIG_NAMESPACE: namespace,
        protocol.CONFIG_EVENTS_MAX_BYTES: event_journal.MAX_BYTES,
        protocol.CONFIG_LOG_MAX_BYTES: protocol.LOG_MAX_BYTES,
        protocol.CONFIG_OOM_FILE: oom_files[0],
        protocol.CONFIG_OOM_EVENT_CONTROL: oom_files[1],
    }


def exec_request(task_id: str, task_dir: str, runtime: Runtime, process: dict[str, Any],
                 stdio: dict[str, str], terminal: bool) -> dict[str, Any]:
    """An OP_EXEC request with its runtime argv, built by runtime.py around paths chosen
    here: the pid and a random tag keep concurrent clients apart, with no round trip."""
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    process_file, pid_file, console = layout.exec_pending_files(task_dir, tag)
    argv = runtime.exec_argv(task_id, process_file, pid_file,
                             protocol.console_socket_path(console) if terminal else None)
    return {"op": protocol.OP_EXEC, "process": process, "stdio": stdio, "terminal": terminal,
            protocol.EXEC_RUNTIME_ARGV: argv, protocol.EXEC_PROCESS_FILE: process_file,
            protocol.EXEC_PID_FILE: pid_file,
            protocol.EXEC_CONSOLE_SOCKET: console if terminal else ""}


def spawn(task_dir: StrPath, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    """Start the monitor for task_dir (whose monitor.json is written) and wait until it
    reports the init pid or the runtime's error. Returns the ready message."""
    read_fd, write_fd = os.pipe()
    try:
        argv = monitor_argv(write_fd, task_dir)
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    os.set_inheritable(write_fd, True)
    env = dict(os.environ)
    if argv[0] == sys.executable:  # the Python monitor runs with -S: it needs the path
        env["PYTHONPATH"] = _monitor_path()
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
            (os.POSIX_SPAWN_DUP2, null, 2)])
    finally:
        os.close(write_fd)
        os.close(null)
    try:
        data = _read_until_eof(read_fd, timeout)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)  # the first fork of the daemonization; exits at once
    line = data.split(b"\n", 1)[0]
    if not line:
        raise errors.InternalError(f"monitor exited without reporting: {_log_tail(task_dir)}")
    return _checked(protocol.decode(line))


def _checked(message: dict[str, Any]) -> dict[str, Any]:
    """A monitor's message, or the typed error it carries.

    A compiled monitor sends a failing runtime call's raw message with "runtime_step";
    it is classified here exactly as daemon.py does in-process (create, exec and restore
    name the step via runtime_error; start/kill are plain classify). The Python monitor sends typed
    errors ("code", "kind") and never "runtime_step"."""
    if protocol.REPLY_ERROR not in message:
        return message
    text = str(message[protocol.REPLY_ERROR])
    step = message.get(protocol.REPLY_RUNTIME_STEP)
    if step:
        from pytasks.runtime import classify, runtime_error

        if step in (protocol.STEP_CREATE, protocol.STEP_EXEC, protocol.STEP_RESTORE):
            raise runtime_error(text, str(step))
        raise classify(text)
    raise errors.from_code(message.get(protocol.REPLY_CODE, protocol.CODE_UNKNOWN),
                           message[protocol.REPLY_ERROR],
                           message.get(protocol.REPLY_KIND, protocol.KIND_NONE))


def _read_until_eof(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise errors.DeadlineExceededError(
                f"monitor did not report within {timeout:.0f}s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _log_tail(task_dir: StrPath) -> str:
    try:
        with open(os.path.join(task_dir, layout.MONITOR_LOG), errors="replace") as fh:
            lines = fh.read().strip().splitlines()
    except OSError:
        return "no monitor log"
    return lines[-1] if lines else "empty monitor log"


def _name(task_dir: StrPath) -> str:
    """The task id: the last component of its directory (Path.name)."""
    return os.path.basename(os.fspath(task_dir).rstrip("/"))


def _connect(task_dir: StrPath, timeout: float | None) -> socket.socket:
    """A connected control socket, through /proc/self/fd/<dirfd>/ so deep task dirs fit
    in sun_path; MonitorGoneError when there is no monitor to talk to."""
    try:
        dir_fd = os.open(task_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise MonitorGoneError(f"task directory {task_dir} is gone") from None
    import socket  # here, not at the top: spawn (run -d) needs no socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(layout.socket_address(dir_fd))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        raise MonitorGoneError(f"monitor of {_name(task_dir)} is not running") from exc
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(dir_fd)
    return sock


def _exchange(sock: socket.socket, task_dir: StrPath, message: dict[str, Any],
              chunk: int) -> dict[str, Any]:
    """Send one request line and read one reply line (chunk 1 when frames may follow)."""
    data = b""
    try:
        sock.sendall(protocol.encode(message))
        while not data.endswith(b"\n"):
            part = sock.recv(chunk)
            if not part:
                raise MonitorGoneError(f"monitor of {_name(task_dir)} went away")
            data += part
    except TimeoutError:
        raise errors.UnavailableError(
            f"monitor of {_name(task_dir)} did not answer {message.get(protocol.REQ_OP)!r} "
            f"within {sock.gettimeout()}s") from None
    except (ConnectionResetError, BrokenPipeError) as exc:
        # It exited while we talked (its listener closed with us in the backlog).
        raise MonitorGoneError(f"monitor of {_name(task_dir)} went away") from exc
    return _checked(protocol.decode(data))


def request(task_dir: StrPath, message: dict[str, Any], timeout: float | None = 60.0
            ) -> dict[str, Any]:
    """Send one control request; return the reply or raise its typed error."""
    sock = _connect(task_dir, timeout)
    try:
        return _exchange(sock, task_dir, message, 65536)
    finally:
        sock.close()


def identify(task_dir: StrPath, timeout: float = 5.0) -> dict[str, Any] | None:
    """The monitor serving task_dir, found without the task record: for a create that died
    between starting its monitor and recording it (docs/architecture.md §7). Its pid
    comes from the socket's peer credentials (the kernel's word, not the monitor's), its
    init pid from OP_STATE. None when no monitor answers."""
    try:
        sock = _connect(task_dir, timeout)
    except (MonitorGoneError, OSError):
        return None
    import socket
    import struct

    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        monitor_pid = struct.unpack("3i", creds)[0]
        reply = _exchange(sock, task_dir, {"op": protocol.OP_STATE}, 65536)
    except (errors.PytasksError, OSError, ValueError):
        return None
    finally:
        sock.close()
    init_pid = reply.get("init_pid")
    return {"monitor_pid": monitor_pid,
            "monitor_start_time": protocol.process_start_time(monitor_pid),
            "init_pid": init_pid if isinstance(init_pid, int) and init_pid > 0 else 0}


def attach(task_dir: StrPath, pid: int, stdin: bool) -> tuple[socket.socket, dict[str, Any]]:
    """Open an attach stream to a process: returns the connected socket (frames follow,
    see protocol) and the monitor's reply (terminal, stdin)."""
    sock = _connect(task_dir, 10.0)
    try:
        # Byte by byte: frames may follow the reply line at once.
        reply = _exchange(sock, task_dir, {protocol.REQ_OP: protocol.OP_ATTACH,
                                           protocol.REQ_PID: pid, protocol.REQ_STDIN: stdin}, 1)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock, reply
