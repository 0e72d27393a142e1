"""The monitor daemon: one per task. Holds the container's processes and their stdio.

Life: daemonize (python-daemon) -> child subreaper -> optional private mount namespace and
rootfs mounts -> `runtime create` (pipes or a pty as the container's stdio; every runtime
call is argv that runtime.py built, from monitor.json or the exec request) -> report the
pid (or the runtime's own error) on the sync pipe -> serve control requests (start, kill,
exec, resize, close-stdin, attach, wait) and copy output until the init exits -> kill and
drain the exec processes, write their exit records -> drain the init's output -> write its
exit record -> answer waiters -> exit.

Imports: stdlib, python-daemon, and pytasks' stdlib-only modules. It is resident once per
task, so its memory is a budget (docs/architecture.md §4).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import stat
import struct
import sys
import termios
import time

from pytasks import errors
from pytasks.monitor import protocol
from pytasks.runtime import Runner, runtime_error
from pytasks.signals import exit_status
from pytasks.state import exec_record, task_log
from pytasks.state.atomic import read_json, write_json
from pytasks.state.layout import (
    EXEC_DIR,
    INIT_EXIT_FILE,
    MONITOR_FILE,
    MONITOR_LOG,
    MONITOR_SOCKET,
    ROOTFS_DIR,
    RUNTIME_LOG,
)

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:  # the monitor stays lean: no typing/pathlib/argparse at run time
    from typing import Any, TypeGuard

DRAIN_TIMEOUT = 5.0  # seconds to wait for a process's output after it exited
CHUNK = 65536
HIGH_WATER = 1 << 18  # bytes queued for one sink before its producers pause (backpressure)


def _nonblocking(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def _close(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


class Sink:
    """A destination with its own queue: a log file, a FIFO (opened O_RDWR so we are its
    keep-alive reader and a vanished client never EPIPEs the container), a container's
    stdin, or an attached client (framed). When the queue is over HIGH_WATER the pumps
    feeding it pause, so a slow reader blocks the container instead of growing us."""

    def __init__(self, mon: Monitor, fd: int, name: str, *, framed: bool = False,
                 close_when_done: bool = False) -> None:
        self.mon, self.fd, self.name = mon, fd, name
        self.framed = framed
        self.close_when_done = close_when_done
        self.buf = bytearray()
        self.paused: set[Pump] = set()
        self.watching = False
        self.closing = False
        _nonblocking(fd)

    @property
    def dead(self) -> bool:
        return self.fd < 0

    @property
    def drained(self) -> bool:
        return self.dead or not self.buf

    def offer(self, pump: Pump | None, stream: int, data: bytes) -> None:
        if self.dead:
            return
        self.buf += protocol.frame(stream, data) if self.framed else data
        self.flush()
        if pump is not None and len(self.buf) > HIGH_WATER and not self.dead:
            pump.pause()
            self.paused.add(pump)

    def flush(self) -> None:
        while self.buf and not self.dead:
            try:
                n = os.write(self.fd, self.buf)
            except BlockingIOError:
                break
            except OSError as exc:
                self.fail(exc)
                return
            del self.buf[:n]
        if self.dead:
            return
        if self.buf and not self.watching:
            self.mon.sel.register(self.fd, selectors.EVENT_WRITE, self.flush)
            self.watching = True
        elif not self.buf:
            if self.watching:
                self.mon.sel.unregister(self.fd)
                self.watching = False
            self._resume()
            if self.closing:
                self.close()

    def producer_done(self) -> None:
        if self.close_when_done:
            self.closing = True
            if not self.buf:
                self.close()

    def fail(self, exc: OSError) -> None:
        """A broken sink must never stop the task: drop its output from now on."""
        self.mon.log(f"{self.name}: {exc}; discarding its output from now on")
        self.close()

    def close(self) -> None:
        if self.dead:
            return
        if self.watching:
            self.mon.sel.unregister(self.fd)
            self.watching = False
        _close(self.fd)
        self.fd = -1
        self.buf.clear()
        self._resume()

    def _resume(self) -> None:
        paused, self.paused = self.paused, set()
        for pump in paused:
            pump.resume()


class TaskLog:
    """The task's own log (state/task_log.py), one per monitor, shared by the init and every
    exec that writes to it: records, not raw bytes, written at once (a file never makes us
    wait, so nothing is queued and no pump is ever paused for it). A write that fails (a
    full disk, EIO) never stops the task nor closes the log: what it wrote is taken off
    again, its bytes are counted per stream, and the first write that succeeds afterwards
    begins with a marker of each stream's count. Past max_bytes the file becomes
    LOG_ROTATED_NAME (replacing the older one) and a new one is begun."""

    def __init__(self, mon: Monitor, path: str, max_bytes: int) -> None:
        self.mon, self.path, self.max_bytes = mon, path, max_bytes
        self.rotated_path = os.path.join(os.path.dirname(path), protocol.LOG_ROTATED_NAME)
        self.fd = -1
        self.size = 0  # of the current generation; only we write it
        self.dropped: dict[bytes, int] = {}
        self.torn = False  # a failed write could not be taken off: end its line first
        self.failing = False
        self.rotate_failed = False
        self.reopen()  # at set-up a failure is the create's or the exec's, as open_output's

    def reopen(self) -> None:
        # O_NONBLOCK: a FIFO planted there fails the open (ENXIO) instead of hanging us.
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                          | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: int, data: bytes) -> None:
        name = task_log.STDERR if stream == protocol.STREAM_STDERR else task_log.STDOUT
        stamp = protocol.rfc3339(protocol.now_ns()).encode()
        records = task_log.frame(name, data, stamp)
        if self.dropped or self.torn:
            records = (b"\n" if self.torn else b"") + b"".join(
                task_log.dropped(s, self.dropped[s], stamp) for s in task_log.STREAMS
                if s in self.dropped) + records
        try:
            if self.fd < 0:
                self.reopen()
            view = memoryview(records)
            while view:
                written = os.write(self.fd, view)
                if not written:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
        except OSError as exc:
            self.drop(name, len(data), exc)
            return
        self.size += len(records)
        if self.failing:
            self.failing = False
            self.mon.log(f"{self.path}: writing again, after dropping "
                         f"{self.dropped.get(task_log.STDOUT, 0)} bytes of stdout, "
                         f"{self.dropped.get(task_log.STDERR, 0)} bytes of stderr")
        self.dropped.clear()
        self.torn = False
        if self.size >= self.max_bytes:
            self.rotate()

    def drop(self, name: bytes, count: int, exc: OSError) -> None:
        self.dropped[name] = self.dropped.get(name, 0) + count
        if self.fd >= 0:
            try:
                os.ftruncate(self.fd, self.size)  # no part of a failed write stays
            except OSError:
                self.torn = True
                try:
                    self.size = os.fstat(self.fd).st_size
                except OSError:
                    pass
        if not self.failing:
            self.failing = True
            self.mon.log(f"{self.path}: {exc}; dropping output until a write succeeds")

    def rotate(self) -> None:
        # A log removed by hand is begun again; another failure is said once and retried.
        try:
            os.rename(self.path, self.rotated_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if not self.rotate_failed:
                self.mon.log(f"rotating {self.path}: {exc}")
            self.rotate_failed = True
            return
        self.rotate_failed = False
        _close(self.fd)
        self.fd = -1
        try:
            self.reopen()
        except OSError as exc:  # the next write tries again, dropping until it can
            self.mon.log(f"{self.path}: {exc}")


class LogSink:
    """A process's stdout or stderr (or both) into the task's log: each chunk is written
    at once, so this sink is always drained and never pauses its pump."""

    drained = True

    def __init__(self, log: TaskLog) -> None:
        self.log = log
        self.open = True

    def offer(self, pump: Pump | None, stream: int, data: bytes) -> None:
        if self.open:
            self.log.write(stream, data)

    def producer_done(self) -> None:
        pass

    def close(self) -> None:
        self.open = False  # the log itself stays open for the task's other processes


class Pump:
    """Reads one source (a container pipe, the pty master, or a stdin FIFO) and offers
    every chunk to its sinks."""

    def __init__(self, mon: Monitor, src: int, sinks: list[Sink | LogSink], stream: int
                 ) -> None:
        self.mon, self.src, self.sinks, self.stream = mon, src, sinks, stream
        self.eof = False
        self.paused = False
        _nonblocking(src)
        mon.sel.register(src, selectors.EVENT_READ, self.on_readable)

    def on_readable(self) -> None:
        try:
            data = os.read(self.src, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO from a pty master once the slave side is gone
            data = b""
        if not data:
            self.stop()
            return
        for sink in list(self.sinks):
            sink.offer(self, self.stream, data)

    def pause(self) -> None:
        if not self.paused and not self.eof:
            self.mon.sel.unregister(self.src)
            self.paused = True

    def resume(self) -> None:
        if self.paused and not self.eof:
            self.mon.sel.register(self.src, selectors.EVENT_READ, self.on_readable)
            self.paused = False

    def stop(self) -> None:
        if self.eof:
            return
        if not self.paused:
            self.mon.sel.unregister(self.src)
        self.eof = True
        _close(self.src)
        for sink in self.sinks:
            sink.producer_done()


class Attach:
    """One attached client of a process: output is tee'd to it as frames; its stdin frames
    go to the process's stdin. Only one per process (a second reader is refused)."""

    def __init__(self, mon: Monitor, proc: Proc, conn: socket.socket, stdin: bool) -> None:
        self.mon, self.proc, self.conn = mon, proc, conn
        conn.setblocking(False)
        self.sink = Sink(mon, os.dup(conn.fileno()), "attach", framed=True)
        for pump in proc.out_pumps:
            pump.sinks.append(self.sink)
        self.inbuf = bytearray()
        self.reading = stdin and proc.stdin_sink is not None
        mon.sel.register(conn, selectors.EVENT_READ, self.on_readable)

    def on_readable(self) -> None:
        try:
            data = self.conn.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.detach()
            return
        if not self.reading:
            return
        self.inbuf += data
        try:
            frames = protocol.split_frames(self.inbuf)
        except ValueError:
            self.detach()
            return
        for stream, payload in frames:
            if stream == protocol.STREAM_STDIN and self.proc.stdin_sink is not None:
                self.proc.stdin_sink.offer(None, protocol.STREAM_STDIN, payload)

    def send_exit(self, info: dict[str, Any]) -> None:
        self.sink.offer(None, protocol.STREAM_EXIT, json.dumps(info).encode())
        # Deliver the tail now (bounded): we may exit right after this.
        deadline = time.monotonic() + 2.0
        while not self.sink.drained and time.monotonic() < deadline:
            select.select([], [self.sink.fd], [], max(0.0, deadline - time.monotonic()))
            self.sink.flush()
        self.detach()

    def detach(self) -> None:
        if self.proc.attach is not self:
            return
        self.proc.attach = None
        for pump in self.proc.out_pumps:
            if self.sink in pump.sinks:
                pump.sinks.remove(self.sink)
        self.sink.close()
        try:
            self.mon.sel.unregister(self.conn)
        except (KeyError, ValueError):
            pass
        self.conn.close()


class Proc:
    """One process of the task (the init or an exec) with its stdio and exit."""

    def __init__(self, mon: Monitor, kind: str, exit_path: str, terminal: bool) -> None:
        self.mon, self.kind, self.exit_path, self.terminal = mon, kind, exit_path, terminal
        self.pid = 0
        self.out_pumps: list[Pump] = []
        self.out_sinks: list[Sink | LogSink] = []
        self.stdin_pump: Pump | None = None
        self.stdin_sink: Sink | None = None
        self.stdin_keepalive: int | None = None
        self.console: int | None = None
        self.status: int | None = None
        self.exited_ns = 0
        self.deadline = 0.0
        self.finished = False
        self.waiters: list[socket.socket] = []
        self.attach: Attach | None = None
        self.record: dict[str, Any] = {}

    # stdio -------------------------------------------------------------------------------
    def setup_stdio(self, stdio: dict[str, str], console_name: str
                    ) -> tuple[list[int], socket.socket | None]:
        """Returns the runtime's fds 0..2 and, for a terminal, the console socket."""
        sinks: dict[str, Sink | LogSink] = {}

        def sinks_for(name: str) -> list[Sink | LogSink]:
            path = stdio.get(name, "")
            if not path:
                return []
            if path not in sinks:
                sinks[path] = (LogSink(self.mon.own_log(path))
                               if is_own_log(path, self.mon.task_dir) else
                               Sink(self.mon, open_output(path, self.mon.task_dir), name))
                self.out_sinks.append(sinks[path])
            return [sinks[path]]

        stdin_src = open_input(stdio.get(protocol.STDIO_STDIN, ""))
        if stdin_src is not None and stat.S_ISFIFO(os.fstat(stdin_src).st_mode):
            # Keep-alive writer: stdin sees EOF only after close-stdin (CloseIO), never
            # because a client went away (docs/architecture.md §5).
            self.stdin_keepalive = os.open(stdio[protocol.STDIO_STDIN].removeprefix("file://"),
                                           os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if self.terminal:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                os.unlink(console_name)
            except FileNotFoundError:
                pass
            listener.bind(console_name)  # relative to our cwd, the task dir
            listener.listen(1)
            self._stdin_src, self._stdout_sinks = stdin_src, sinks_for(protocol.STDIO_STDOUT)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            return [null, null, null], listener
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.out_pumps.append(Pump(self.mon, out_r, sinks_for(protocol.STDIO_STDOUT),
                                   protocol.STREAM_STDOUT))
        self.out_pumps.append(Pump(self.mon, err_r, sinks_for(protocol.STDIO_STDERR),
                                   protocol.STREAM_STDERR))
        if stdin_src is not None:
            self.stdin_sink = Sink(self.mon, in_w, "stdin", close_when_done=True)
            self.stdin_pump = Pump(self.mon, stdin_src, [self.stdin_sink],
                                   protocol.STREAM_STDIN)
        else:
            os.close(in_w)  # no stdin: the process reads EOF at once (like /dev/null)
        return [in_r, out_w, err_w], None

    def take_console(self, listener: socket.socket) -> None:
        """Receive the pty master from the runtime (it connected during create/exec)."""
        listener.settimeout(5.0)
        try:
            conn, _ = listener.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        finally:
            name = listener.getsockname()
            listener.close()
            try:
                os.unlink(name)
            except (FileNotFoundError, TypeError):
                pass
        if not fds:
            raise errors.RuntimeFailedError("runtime did not send the console")
        master = fds[0]
        os.set_inheritable(master, False)
        self.console = master
        self.out_pumps.append(Pump(self.mon, os.dup(master), self._stdout_sinks,
                                   protocol.STREAM_STDOUT))
        self.stdin_sink = Sink(self.mon, os.dup(master), "console")
        if self._stdin_src is not None:
            self.stdin_pump = Pump(self.mon, self._stdin_src, [self.stdin_sink],
                                   protocol.STREAM_STDIN)

    def close_stdin(self) -> None:
        _close(self.stdin_keepalive)
        self.stdin_keepalive = None

    def resize(self, width: int, height: int) -> None:
        if self.console is not None and self.status is None:
            fcntl.ioctl(self.console, termios.TIOCSWINSZ,
                        struct.pack("HHHH", height, width, 0, 0))

    # exit --------------------------------------------------------------------------------
    def on_exit(self, status: int) -> None:
        if self.status is not None:
            return
        self.status = status
        self.exited_ns = protocol.now_ns()
        self.deadline = time.monotonic() + DRAIN_TIMEOUT
        self.mon.log(f"{self.kind} {self.pid} exited with status {status}")
        if self.stdin_pump is not None:
            self.stdin_pump.stop()
        self.close_stdin()

    def output_drained(self) -> bool:
        sinks_ok = all(s.drained for s in self.out_sinks)
        attach_ok = self.attach is None or self.attach.sink.drained
        return all(p.eof for p in self.out_pumps) and sinks_ok and attach_ok

    def exit_info(self) -> dict[str, Any]:
        oom = self.mon.oom
        extra = ({protocol.EXIT_OOM_KILLED: True}
                 if self is self.mon.init and oom is not None and oom.killed else {})
        return protocol.exit_record(self.pid, self.status if self.status is not None else 255,
                                    self.exited_ns, **extra)

    def finish(self) -> None:
        """Output drained (or the deadline passed): write the exit record, answer waiters."""
        for pump in self.out_pumps:
            pump.stop()
        for sink in self.out_sinks:
            sink.close()
        if self.stdin_sink is not None:
            self.stdin_sink.close()
        _close(self.console)
        self.console = None
        if self.mon.oom is not None:
            self.mon.oom.check()  # the kill's event before the exit it caused
        info = self.exit_info()
        self.mon.journal_exit(self)  # first: a crash between leaves no unjournaled exit
        self.mon.record(self.exit_path, info)
        self.finished = True
        if self.attach is not None:
            self.attach.send_exit(info)
        for conn in self.waiters:
            _send(conn, {protocol.REPLY_OK: True, **info})
            conn.close()
        self.waiters.clear()


class Pending:
    """A connection whose request line is still arriving."""

    __slots__ = ("conn", "data", "deadline")

    def __init__(self, conn: socket.socket, deadline: float) -> None:
        self.conn = conn
        self.data = b""
        self.deadline = deadline


class OomWatch:
    """The kernel's OOM kills in the task's memory cgroup (protocol.CONFIG_OOM_FILE). Woken
    by an eventfd (v1's cgroup.event_control) or inotify on memory.events (v2), it journals
    /tasks/oom each time the oom_kill count has grown. check() also runs before any exit
    is journaled, so the OOM event precedes the exit of the process it killed even when
    SIGCHLD comes first. A watch that cannot be set up is logged: the task runs on."""

    def __init__(self, mon: Monitor, counter_file: str, event_control: str) -> None:
        self.mon = mon
        self.counter_file = counter_file
        self.event_control = event_control
        self.fd: int | None = None
        self.baseline = self.seen = 0

    def count(self) -> int:
        try:
            with open(self.counter_file, "rb") as fh:
                text = fh.read()
        except OSError:
            return self.seen  # the cgroup is gone: nothing new can have happened
        for line in text.splitlines():
            key, _, value = line.partition(b" ")
            if key == protocol.OOM_KILL_KEY.encode() and value.strip().isdigit():
                return int(value)
        return 0  # a kernel before 4.13 does not count kills (v1)

    def start(self) -> None:
        """After the runtime's create: the cgroup exists from then on."""
        self.baseline = self.seen = self.count()
        try:
            if self.event_control:
                fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                counter = os.open(self.counter_file, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    with open(self.event_control, "w") as control:
                        control.write(f"{fd} {counter}")
                except OSError:
                    os.close(fd)
                    raise
                finally:
                    os.close(counter)  # the registration holds what it needs
            else:
                from pytasks.state.inotify import open_watch

                fd = open_watch(self.counter_file)
        except OSError as exc:
            self.mon.log(f"not watching for OOM kills: {exc}")
            return
        self.fd = fd
        self.mon.sel.register(fd, selectors.EVENT_READ, self.on_readable)

    def on_readable(self) -> None:
        try:
            while os.read(self.fd or -1, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        self.check()

    def check(self) -> None:
        count = self.count()
        if count > self.seen:
            self.seen = count
            task_id = str(self.mon.config.get("id", ""))
            self.mon.journal(protocol.TOPIC_OOM, {protocol.EVENT_CONTAINER_ID: task_id})

    @property
    def killed(self) -> bool:
        return self.seen > self.baseline

    def close(self) -> None:
        if self.fd is not None:
            self.mon.sel.unregister(self.fd)
            _close(self.fd)
            self.fd = None


def os_error_reply(exc: OSError) -> dict[str, Any]:
    """A failed system call while serving a request: no space is ResourceExhausted and no
    permission PermissionDenied, as pytasks' own errors say them; the rest is a bad request
    (a path the client gave that cannot be used)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f": {exc.filename}" if exc.filename else ""
        return protocol.error_reply(protocol.CODE_RESOURCE_EXHAUSTED,
                                    f"no space left on device{where}",
                                    protocol.KIND_RESOURCE_EXHAUSTED)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return protocol.error_reply(protocol.CODE_PERMISSION_DENIED,
                                    f"permission denied: {exc.filename or exc.strerror}",
                                    protocol.KIND_PERMISSION_DENIED)
    return protocol.error_reply(protocol.CODE_INVALID_ARGUMENT, f"bad control request: {exc}")


def open_output(path: str, task_dir: str) -> int:
    """FIFO -> O_RDWR (never blocks; we stay its keep-alive reader); else append to a file.
    A file of the task dir itself (output.log) is never reached through a symlink: one
    planted there would have us append the task's output to its target."""
    path = path.removeprefix("file://")
    own = os.path.dirname(path) == task_dir
    nofollow = os.O_NOFOLLOW if own else 0
    try:
        is_fifo = stat.S_ISFIFO(os.stat(path, follow_symlinks=not own).st_mode)
    except FileNotFoundError:
        is_fifo = False
    if is_fifo:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC | nofollow)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | nofollow,
                   0o600)


def is_own_log(path: str, task_dir: str) -> bool:
    """Whether a stdio path is the task's own log (protocol.LOG_NAME in the task dir), which
    gets records instead of raw bytes. The directory is compared as a file, not as a
    string: the CLI names it through the state root as it was given."""
    path = path.removeprefix("file://")
    if os.path.basename(path) != protocol.LOG_NAME:
        return False
    try:
        return os.path.samestat(os.stat(os.path.dirname(path) or "."), os.stat(task_dir))
    except OSError:
        return False


def open_input(path: str) -> int | None:
    if not path:
        return None
    return os.open(path.removeprefix("file://"), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


class Monitor:
    def __init__(self, task_dir: str, config: dict[str, Any], sync_fd: int) -> None:
        self.task_dir = task_dir
        self.config = config
        self.sync_fd: int | None = sync_fd
        self.task_id: str = config["id"]
        # The runtime calls come as argv built by runtime.py; we never compose one
        # (docs/architecture.md §4).
        self.runtime = Runner(os.path.join(task_dir, RUNTIME_LOG))
        self.runtime_argv = config.get(protocol.CONFIG_RUNTIME_ARGV) or {}
        self.sel = selectors.DefaultSelector()
        self.init = Proc(self, "init", os.path.join(task_dir, INIT_EXIT_FILE),
                         bool(config.get("stdio", {}).get("terminal")))
        self.execs: dict[int, Proc] = {}
        self.early_exits: dict[int, int] = {}  # reaped before we knew whose pid it was
        self.listener: socket.socket | None = None
        self.task_log: TaskLog | None = None  # opened by the first process writing to it
        self.pending: list[Pending] = []  # connections whose request line is being read
        self.unwritten: list[tuple[str, dict[str, Any]]] = []  # exit records to write again
        self.oom: OomWatch | None = None
        counter_file = config.get(protocol.CONFIG_OOM_FILE)
        if counter_file and isinstance(counter_file, str):
            control = config.get(protocol.CONFIG_OOM_EVENT_CONTROL)
            self.oom = OomWatch(self, counter_file, control if isinstance(control, str) else "")
        self.ready = False  # True once the pid was reported: from then on never clean up
        # A task restored from a checkpoint (protocol.ARGV_RESTORE): the runtime's fds and
        # console listener made at set-up, held until OP_START runs the restore with them.
        self.pending_restore: tuple[list[int], socket.socket | None] | None = None
        self.restore_failed = False

    # diagnostics ------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """A line in monitor.log; a log that cannot be written (a full disk) is skipped."""
        try:
            sys.stderr.write(f"{protocol.rfc3339(time.time_ns())} monitor[{os.getpid()}] "
                             f"{self.task_id}: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def report(self, message: dict[str, Any], *, close: bool = True) -> None:
        """One line on the sync pipe. Closing it (EOF) tells create we are done with it."""
        if self.sync_fd is None:
            return
        try:
            os.write(self.sync_fd, protocol.encode(message))
        except OSError:
            pass
        if close:
            self.close_sync()

    def close_sync(self) -> None:
        _close(self.sync_fd)
        self.sync_fd = None

    def own_log(self, path: str) -> TaskLog:
        if self.task_log is None:
            limit = self.config.get(protocol.CONFIG_LOG_MAX_BYTES)
            if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                limit = protocol.LOG_MAX_BYTES
            self.task_log = TaskLog(self, path.removeprefix("file://"), limit)
        return self.task_log

    # runtime calls with our stdio ----------------------------------------------------------
    def argv(self, key: str, signal_number: int | None = None) -> list[str]:
        """The runtime argv monitor.json gave for key (protocol.ARGV_*), its signal filled in."""
        argv = self.runtime_argv.get(key) if isinstance(self.runtime_argv, dict) else None
        if not _is_argv(argv):
            raise errors.InternalError(
                f"monitor failed: {MONITOR_FILE} has no runtime argv {key!r}")
        return argv if signal_number is None else protocol.with_signal(argv, signal_number)

    def run_unchecked(self, key: str, signal_number: int) -> None:
        """A kill whose failure changes nothing (the task is ending either way); without
        its argv it is logged and skipped, never raised into the loop."""
        try:
            argv = self.argv(key, signal_number)
        except errors.InternalError as exc:
            self.log(exc.message)
            return
        self.runtime.run(argv, check=False)

    def spawn_runtime(self, step: str, argv: list[str], fds: list[int]) -> None:
        """Run create/exec with fds as its 0..2 and the task dir as fd 3; raise its error."""
        offset = self.runtime.log_offset()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTASKS_")}
        dir_fd = os.open(self.task_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, fds[0], 0), (os.POSIX_SPAWN_DUP2, fds[1], 1),
                (os.POSIX_SPAWN_DUP2, fds[2], 2),
                (os.POSIX_SPAWN_DUP2, dir_fd, protocol.CONSOLE_FD)])
        finally:
            for fd in {*fds, dir_fd}:
                os.close(fd)  # only the process holds them now: EOF follows its exit
        _, status = os.waitpid(pid, 0)
        if exit_status(status) != 0:
            raise runtime_error(self.runtime.last_error(offset), step)

    # set-up -------------------------------------------------------------------------------
    def prepare_rootfs(self) -> None:
        mounts = self.config.get("rootfs_mounts") or []
        if not mounts:
            return
        from pytasks import mounts as mnt

        mnt.private_mount_namespace()
        target = os.path.join(self.task_dir, ROOTFS_DIR)
        for entry in mounts:
            mnt.mount(entry, target)

    def create(self) -> None:
        # create, or run --detach for a task started at once: monitor.json says which;
        # or, for a restore, nothing until OP_START (protocol.ARGV_RESTORE)
        restore = isinstance(self.runtime_argv, dict) and \
            protocol.ARGV_RESTORE in self.runtime_argv
        argv = self.argv(protocol.ARGV_RESTORE if restore else protocol.ARGV_CREATE)
        pid_file = self.config.get(protocol.CONFIG_PID_FILE)
        console = self.config.get(protocol.CONFIG_CONSOLE_SOCKET)
        console = console if isinstance(console, str) else ""
        if not pid_file or not isinstance(pid_file, str) or (self.init.terminal and not console):
            missing = "console socket for a terminal" if pid_file else "pid file"
            raise errors.InternalError(f"monitor failed: {MONITOR_FILE} has no {missing}")
        fds, listener = self.init.setup_stdio(self.config.get("stdio", {}), console)
        if restore:
            self.pending_restore = (fds, listener)
            return
        try:
            self.spawn_runtime(protocol.STEP_CREATE, argv, fds)
            if listener is not None:
                self.init.take_console(listener)
        finally:
            if listener is not None:
                listener.close()
        self.init.pid = protocol.pid_from_file(pid_file)

    def restore(self) -> None:
        """OP_START of a restored task: the runtime's restore with the stdio made at
        set-up; the restored init becomes our child (we are the subreaper). A failed
        restore is final: the task waits for its kill (or delete)."""
        if self.pending_restore is None:
            raise errors.FailedPreconditionError(
                f"task {self.task_id}: its restore failed; delete the task")
        argv = self.argv(protocol.ARGV_RESTORE)
        fds, listener = self.pending_restore
        self.pending_restore = None
        try:
            self.spawn_runtime(protocol.STEP_RESTORE, argv, fds)
            if listener is not None:
                self.init.take_console(listener)
            self.init.pid = protocol.pid_from_file(str(self.config[protocol.CONFIG_PID_FILE]))
        except BaseException:
            self.restore_failed = True
            raise
        finally:
            if listener is not None:
                listener.close()
        if self.oom is not None:
            self.oom.start()  # the restore made the cgroup
        if self.init.pid in self.early_exits:
            self.on_init_exit(self.early_exits.pop(self.init.pid))

    def abandon_restore(self, sig: int) -> None:
        """A kill of a restored task's init before it exists: its exit is the signal's
        status (no process got it), and its stdio are closed so the exit completes."""
        if self.pending_restore is not None:
            fds, listener = self.pending_restore
            self.pending_restore = None
            for fd in set(fds):
                _close(fd)
            if listener is not None:
                listener.close()
        self.init.on_exit(128 + sig)

    def listen(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            os.unlink(MONITOR_SOCKET)
        except FileNotFoundError:
            pass
        sock.bind(MONITOR_SOCKET)  # relative: cwd is the task dir (short sun_path)
        os.chmod(MONITOR_SOCKET, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, self.on_accept)
        self.listener = sock

    # control requests ------------------------------------------------------------------
    def on_accept(self) -> None:
        """Take every waiting connection; each request line is then read as it comes,
        side by side with the others (protocol.REQUEST_DEADLINE_MS, MAX_PENDING)."""
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the client sees its end close
                self.log(f"accept: {exc}")
                return
            refusal = self.refusal(conn)
            if refusal is not None:
                _send(conn, refusal)
                conn.close()
                continue
            conn.setblocking(False)
            pending = Pending(conn, time.monotonic() + protocol.REQUEST_DEADLINE_MS / 1000)
            self.pending.append(pending)
            self.sel.register(conn, selectors.EVENT_READ, lambda p=pending: self.on_request(p))
            # A line already there is served now: requests keep the order of their
            # connections (a wait sent before a kill is registered before the exit).
            self.on_request(pending)

    def refusal(self, conn: socket.socket) -> dict[str, Any] | None:
        """Why this peer is not served, as the reply it gets (None: served)."""
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid not in (0, os.geteuid()):
            return protocol.error_reply(
                protocol.CODE_PERMISSION_DENIED,
                f"uid {uid} may not use the monitor of task {self.task_id}",
                protocol.KIND_PERMISSION_DENIED)
        if len(self.pending) >= protocol.MAX_PENDING:
            return protocol.error_reply(
                protocol.CODE_UNAVAILABLE, f"the monitor of task {self.task_id} is busy: "
                f"{protocol.MAX_PENDING} requests are being read; try again",
                protocol.KIND_UNAVAILABLE)
        return None

    def on_request(self, pending: Pending) -> None:
        try:
            while True:
                chunk = pending.conn.recv(65536)
                if not chunk:
                    break
                pending.data += chunk
                if pending.data.endswith(b"\n"):
                    break
                if len(pending.data) > protocol.MAX_LINE:
                    self.serve(pending, ValueError("request too long"))
                    return
        except (BlockingIOError, InterruptedError):
            return  # more to come
        except OSError as exc:
            self.serve(pending, exc)
            return
        self.serve(pending, None)

    def expire_requests(self) -> float | None:
        """Answer requests past their deadline; the seconds until the next deadline."""
        now = time.monotonic()
        for pending in [p for p in self.pending if p.deadline <= now]:
            self.serve(pending, TimeoutError(
                f"no complete line within {protocol.REQUEST_DEADLINE_MS} ms"))
        return min((p.deadline - now for p in self.pending), default=None)

    def serve(self, pending: Pending, failure: Exception | None) -> None:
        """The request is complete (or failed): handle it as one blocking exchange."""
        self.pending.remove(pending)
        conn = pending.conn
        self.sel.unregister(conn)
        conn.settimeout(2.0)
        try:
            if failure is not None:
                raise failure
            reply = self.handle(conn, protocol.decode(pending.data))
        except OSError as exc:
            reply = os_error_reply(exc)
        except (ValueError, TypeError, KeyError) as exc:
            reply = protocol.error_reply(protocol.CODE_INVALID_ARGUMENT,
                                         f"bad control request: {exc}")
        except errors.PytasksError as exc:
            reply = protocol.error_reply(exc.code.name, exc.message, type(exc).__name__)
        if reply is not None:
            _send(conn, reply)
            conn.close()

    def proc(self, pid: int) -> Proc:
        if pid in (0, self.init.pid):
            return self.init
        proc = self.execs.get(pid)
        if proc is None:
            raise errors.NotFoundError(f"process {pid} not found in task {self.task_id}")
        return proc

    def handle(self, conn: socket.socket, request: dict[str, Any]) -> dict[str, Any] | None:
        ok = protocol.REPLY_OK
        op = request.get(protocol.REQ_OP)
        pid = protocol.integer(request, protocol.REQ_PID, 0, 0, protocol.PID_MAX)
        if op == protocol.OP_STATE:
            return {ok: True, protocol.STATE_INIT_PID: self.init.pid,
                    protocol.STATE_EXITED: self.init.status is not None,
                    protocol.STATE_EXECS: {str(p): proc.status for p, proc in self.execs.items()}}
        if op == protocol.OP_WAIT:
            proc = self.proc(pid)
            if proc.finished:
                return {ok: True, **proc.exit_info()}
            conn.settimeout(None)
            proc.waiters.append(conn)
            return None
        if op == protocol.OP_START:
            if self.init.status is not None:
                raise errors.InvalidStateError("cannot start task in stopped state")
            if self.pending_restore is not None or self.restore_failed:
                self.restore()
            else:
                self.runtime.run(self.argv(protocol.ARGV_START))
            return {ok: True, protocol.START_PID: self.init.pid}
        if op == protocol.OP_KILL:
            return self.kill(protocol.integer(request, protocol.REQ_SIGNAL, signal.SIGTERM, 1,
                                              protocol.SIGNAL_MAX),
                             bool(request.get(protocol.REQ_ALL)), pid)
        if op == protocol.OP_EXEC:
            return {ok: True, protocol.EXEC_PID: self.exec(request)}
        if op == protocol.OP_RESIZE:
            self.proc(pid).resize(_dimension(request, protocol.REQ_WIDTH),
                                  _dimension(request, protocol.REQ_HEIGHT))
            return {ok: True}
        if op == protocol.OP_CLOSE_STDIN:
            self.proc(pid).close_stdin()
            return {ok: True}
        if op == protocol.OP_ATTACH:
            return self.attach(conn, self.proc(pid), bool(request.get(protocol.REQ_STDIN)))
        raise errors.InvalidArgumentError(f"unknown control operation {op!r}")

    def kill(self, sig: int, all_processes: bool, pid: int) -> dict[str, Any]:
        proc = self.proc(pid)
        if proc.status is not None:
            raise errors.NotFoundError("process already finished")
        if proc is self.init and not proc.pid:  # a restore not run (or failed)
            self.abandon_restore(sig)
            return {protocol.REPLY_OK: True}
        own_pid_ns = self.config.get("pid_namespace", True)
        if proc is self.init and all_processes and not (sig == signal.SIGKILL and own_pid_ns):
            self.runtime.run(self.argv(protocol.ARGV_KILL_ALL, sig))
        else:
            # Init and execs are our unreaped children (we are their subreaper): a pid
            # cannot have been reused, so kill(2) does what `runc kill` would, without a
            # runtime process. With its own pid namespace, SIGKILL to the init
            # takes every process of the task, as `runc kill --all` would.
            os.kill(proc.pid, sig)
        return {protocol.REPLY_OK: True}

    def exec(self, request: dict[str, Any]) -> int:
        if self.init.status is not None:
            raise errors.FailedPreconditionError("cannot exec in a stopped task")
        process = request[protocol.REQ_PROCESS]
        if not isinstance(process, dict) or not process.get("args"):
            raise errors.InvalidArgumentError("exec process spec needs non-empty args")
        terminal = bool(request.get(protocol.REQ_TERMINAL))
        # The client chose these paths and built the argv naming them (protocol).
        argv = request.get(protocol.EXEC_RUNTIME_ARGV)
        process_file = request.get(protocol.EXEC_PROCESS_FILE)
        pid_file = request.get(protocol.EXEC_PID_FILE)
        console = request.get(protocol.EXEC_CONSOLE_SOCKET) or ""
        if not (_is_argv(argv) and process_file and isinstance(process_file, str)
                and pid_file and isinstance(pid_file, str) and isinstance(console, str)
                and (console or not terminal)):
            raise errors.InvalidArgumentError(
                "exec request needs runtime_argv (a non-empty list of strings), process_file, "
                "pid_file and, with a terminal, console_socket")
        process["terminal"] = terminal
        exec_dir = os.path.join(self.task_dir, EXEC_DIR)
        try:
            os.mkdir(exec_dir, 0o700)
        except FileExistsError:
            pass
        write_json(process_file, process)
        proc = Proc(self, "exec", os.path.join(exec_dir, "pending.exit"), terminal)
        stdio = {k: str(request.get(protocol.REQ_STDIO, {}).get(k, ""))
                 for k in (protocol.STDIO_STDIN, protocol.STDIO_STDOUT, protocol.STDIO_STDERR)}
        try:
            fds, listener = proc.setup_stdio(stdio, console)
            try:
                self.spawn_runtime(protocol.STEP_EXEC, argv, fds)
                if listener is not None:
                    proc.take_console(listener)
            finally:
                if listener is not None:
                    listener.close()
            proc.pid = protocol.pid_from_file(pid_file)
        except BaseException:
            proc.status = 255
            for pump in proc.out_pumps + ([proc.stdin_pump] if proc.stdin_pump else []):
                pump.stop()
            for sink in [*proc.out_sinks, *([proc.stdin_sink] if proc.stdin_sink else [])]:
                sink.close()
            proc.close_stdin()
            raise
        finally:
            for path in (process_file, pid_file):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        proc.exit_path = exec_record.exit_path(self.task_dir, proc.pid)
        proc.record = {protocol.REC_PID: proc.pid, protocol.REC_ARGS: process.get("args", []),
                       protocol.REC_CWD: process.get("cwd", "/"),
                       protocol.REC_USER: process.get("user", {}),
                       protocol.REC_TERMINAL: terminal, **stdio,
                       protocol.REC_START_TIME: protocol.process_start_time(proc.pid),
                       protocol.REC_CREATED_AT: protocol.rfc3339(protocol.now_ns())}
        self.execs[proc.pid] = proc
        try:
            exec_record.write(self.task_dir, proc.pid, proc.record)
        except OSError as exc:  # the exec runs on; its exit record is what must land
            self.log(f"writing the record of exec {proc.pid}: {exc}")
        # Journaled here, before any exit of it can be: pytasks' exec id is the pid.
        task_id = str(self.config.get("id", ""))
        self.journal(protocol.TOPIC_EXEC_ADDED, {protocol.EVENT_CONTAINER_ID: task_id,
                                                 protocol.EVENT_EXEC_ID: str(proc.pid)})
        self.journal(protocol.TOPIC_EXEC_STARTED, {protocol.EVENT_CONTAINER_ID: task_id,
                                                   protocol.EVENT_EXEC_ID: str(proc.pid),
                                                   protocol.EXIT_PID: proc.pid})
        if proc.pid in self.early_exits:
            proc.on_exit(self.early_exits.pop(proc.pid))
        return proc.pid

    def attach(self, conn: socket.socket, proc: Proc, stdin: bool) -> dict[str, Any] | None:
        if proc.finished or proc.status is not None:
            raise errors.NotFoundError("process already finished")
        if proc.attach is not None:
            raise errors.FailedPreconditionError(
                f"process {proc.pid} of task {self.task_id} already has an attached client")
        _send(conn, {protocol.REPLY_OK: True, protocol.ATTACH_TERMINAL: proc.terminal,
                     protocol.ATTACH_STDIN: stdin and proc.stdin_sink is not None})
        proc.attach = Attach(self, proc, conn, stdin)
        return None

    # exits -------------------------------------------------------------------------------
    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = exit_status(status)
            if pid == self.init.pid:
                self.on_init_exit(code)
            elif pid in self.execs:
                self.execs[pid].on_exit(code)
            else:
                self.early_exits[pid] = code

    def record(self, path: str, info: dict[str, Any]) -> None:
        """Write an exit record; one that finds no space is kept and written again
        (protocol.RECORD_RETRY_MS) until it lands: the status is never lost."""
        try:
            write_json(path, info)
        except OSError as exc:
            self.log(f"writing {path}: {exc}; retrying until it lands")
            self.unwritten.append((path, info))

    def retry_records(self) -> float | None:
        """Write the kept records again; the seconds until the next try (None: none)."""
        for path, info in list(self.unwritten):
            try:
                write_json(path, info)
            except FileNotFoundError:
                pass  # the task dir was removed: nobody will read it
            except OSError:
                continue
            self.unwritten.remove((path, info))
        return protocol.RECORD_RETRY_MS / 1000 if self.unwritten else None

    def journal_exit(self, proc: Proc) -> None:
        """/tasks/exit in the namespace's journal (docs/architecture.md §7), once per
        process: this monitor is the one witness of the exit. A journal that cannot be
        written is logged; the exit record still follows."""
        task_id = str(self.config.get("id", ""))
        self.journal(protocol.TOPIC_EXIT, {
            protocol.EVENT_CONTAINER_ID: task_id,
            protocol.EVENT_ID: task_id if proc is self.init else str(proc.pid),
            protocol.EXIT_PID: proc.pid,
            protocol.EXIT_STATUS: proc.status if proc.status is not None else 255,
            protocol.EXIT_AT: protocol.rfc3339(proc.exited_ns)})

    def journal(self, topic: str, event: dict[str, Any]) -> None:
        events_dir = self.config.get(protocol.CONFIG_EVENTS_DIR)
        if not events_dir:
            return
        from pytasks.state import event_journal

        try:
            event_journal.append_line(events_dir, event_journal.encode(
                str(self.config.get(protocol.CONFIG_NAMESPACE, "")), topic,
                str(self.config.get("id", "")), event),
                self.config.get(protocol.CONFIG_EVENTS_MAX_BYTES))
        except (OSError, ValueError) as exc:
            self.log(f"journaling {topic}: {exc}")

    def on_init_exit(self, status: int) -> None:
        self.init.on_exit(status)
        if not self.config.get("pid_namespace", True):
            # No private pid namespace: the kernel won't kill the rest (containerd's
            # ShouldKillAllOnExit).
            self.run_unchecked(protocol.ARGV_KILL_ALL, signal.SIGKILL)
        for proc in self.execs.values():
            if proc.status is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)  # our unreaped child: no pid reuse
                except ProcessLookupError:
                    pass

    def step_exits(self) -> float | None:
        """Finish processes whose output drained; returns the select timeout to use."""
        now = time.monotonic()
        timeout: float | None = None
        for proc in self.execs.values():
            if proc.status is not None and not proc.finished:
                if proc.output_drained() or now >= proc.deadline:
                    proc.finish()
                else:
                    timeout = min(timeout or 1.0, max(0.0, proc.deadline - now))
        init = self.init
        if init.status is not None and not init.finished:
            execs_done = all(p.finished for p in self.execs.values())
            if execs_done and (init.output_drained() or now >= init.deadline):
                init.finish()  # the init's exit record is always the last one written
            else:
                timeout = min(timeout or 1.0, max(0.0, init.deadline - now) + 0.01)
        return timeout

    # loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, lambda *_: None)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.sel.register(wake_r, selectors.EVENT_READ, lambda: self.on_signals(wake_r))

        self.prepare_rootfs()
        self.create()
        if self.oom is not None and self.pending_restore is None:
            self.oom.start()
        self.listen()
        self.ready = True
        self.report({protocol.READY_PID: self.init.pid, protocol.READY_MONITOR_PID: os.getpid(),
                     protocol.READY_MONITOR_START_TIME: protocol.process_start_time(os.getpid())})
        self.reap()
        while not self.init.finished or self.unwritten:
            timeout = self.step_exits()
            retry = self.retry_records()
            if self.init.finished and not self.unwritten:
                break
            for deadline in (self.expire_requests(), retry):
                if deadline is not None:
                    timeout = deadline if timeout is None else min(timeout, deadline)
            for key, _ in self.sel.select(timeout):
                callback = key.data
                callback()
        self.shutdown()

    def on_signals(self, wake_r: int) -> None:
        try:
            data = os.read(wake_r, 256)
        except BlockingIOError:
            return
        for signum in data:
            if signum == signal.SIGCHLD:
                self.reap()
            elif (signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
                  and self.init.status is None and self.init.pid):
                # Forward termination to the container instead of dying (as conmon does).
                self.run_unchecked(protocol.ARGV_KILL, signum)

    def shutdown(self) -> None:
        for pending in self.pending:
            pending.conn.close()
        self.pending.clear()
        if self.oom is not None:
            self.oom.close()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            try:
                os.unlink(os.path.join(self.task_dir, MONITOR_SOCKET))
            except FileNotFoundError:
                pass


def _is_argv(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(a, str) for a in value)


def _dimension(request: dict[str, Any], key: str) -> int:
    value = protocol.integer(request, key, 0, -protocol.NUMBER_EXACT, protocol.NUMBER_EXACT)
    if not 1 <= value <= protocol.TERM_SIZE_MAX:
        raise errors.InvalidArgumentError(
            f"{key} must be 1..{protocol.TERM_SIZE_MAX}, got {value}")
    return value


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        conn.setblocking(True)
        conn.settimeout(2.0)
        conn.sendall(protocol.encode(message))
    except OSError:
        pass  # the client went away; nothing to tell


def daemonize(task_dir: str, keep: list[int]) -> None:
    """Detach with python-daemon: double fork, setsid, explicit umask and cwd, our fds kept,
    stdout/stderr to the monitor log."""
    import daemon

    try:  # never through a symlink; without a log (as the C monitor) rather than not at all
        log_fd = os.open(os.path.join(task_dir, MONITOR_LOG),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        log_fd = os.open(os.devnull, os.O_WRONLY)
    log = open(log_fd, "a", buffering=1)  # noqa: SIM115
    context = daemon.DaemonContext(
        detach_process=True,
        umask=0o077,
        working_directory=str(task_dir),
        files_preserve=[*keep, log.fileno()],
        stdout=log,
        stderr=log,
        # Job-control signals would stop us; SIGTERM is handled by the loop (forwarded).
        signal_map={signal.SIGTSTP: None, signal.SIGTTIN: None, signal.SIGTTOU: None,
                    signal.SIGHUP: None, signal.SIGPIPE: None},
        prevent_core=True,
    )
    context.open()


def main(argv: list[str] | None = None) -> int:
    """`python -m pytasks.monitor --sync-fd N TASK_DIR` (argv parsed by hand: argparse
    would cost the resident monitor memory for one call)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != protocol.SYNC_FD_FLAG or not args[1].isdigit():
        sys.stderr.write("usage: python -m pytasks.monitor --sync-fd N TASK_DIR\n")
        return 2
    sync_fd, task_dir = int(args[1]), os.path.realpath(args[2])
    config = read_json(os.path.join(task_dir, MONITOR_FILE))
    daemonize(task_dir, [sync_fd])
    monitor = Monitor(task_dir, config, sync_fd)
    try:
        from pytasks.mounts import set_child_subreaper

        set_child_subreaper()
        monitor.run()
    except BaseException as exc:  # report anything; never leave create hanging
        kind = type(exc).__name__
        if isinstance(exc, errors.PytasksError):
            code, message = exc.code.name, exc.message
            monitor.log(f"failed: {message}")
        else:
            code, message = protocol.CODE_INTERNAL, f"monitor failed: {kind}: {exc}"
            import traceback

            monitor.log("crashed:\n" + traceback.format_exc())
        if not monitor.ready:
            # A failed create leaves nothing behind: tell create, remove the runtime's
            # state, then close the pipe so create knows cleanup is over. Rootfs mounts
            # die with our private mount namespace.
            monitor.report(protocol.error_reply(code, message, kind), close=False)
            try:
                monitor.runtime.run(monitor.argv(protocol.ARGV_DELETE), check=False)
            except errors.InternalError:
                pass  # no delete argv: the report above already names what is missing
            monitor.close_sync()
        # After readiness a crash leaves the container running: readers then see a lost
        # monitor and an unknown exit, never an invented one.
        monitor.shutdown()
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
