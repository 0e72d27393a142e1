"""The monitor daemon: one per task. Holds the container's processes and stdio.

Life: daemonize (python-daemon) -> child subreaper -> optional private mount namespace and
rootfs mounts -> `runtime create` with pipes as the container's stdio -> report the pid (or
the runtime's own error) on the sync pipe -> serve control requests and copy output until
the init exits -> drain output -> write the exit record atomically -> answer waiters -> exit.

Imports: stdlib, python-daemon, and pytasks' stdlib-only modules. It is resident once per
task, so its memory is a budget (DESIGN §3).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import selectors
import signal
import socket
import stat
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytasks import errors
from pytasks.monitor import protocol
from pytasks.runtime import Runtime
from pytasks.signals import exit_status
from pytasks.state import layout
from pytasks.state.atomic import read_json, write_json

DRAIN_TIMEOUT = 5.0  # seconds to wait for output after the init exited
CHUNK = 65536


def _nonblocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def _close(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def open_sink(path: str) -> int | None:
    """A stdout/stderr destination: '' -> discard; FIFO -> O_RDWR (we are its keep-alive
    reader, so a vanished client never gives the container EPIPE); else append to a file."""
    if not path:
        return None
    if path.startswith("file://"):
        path = path[len("file://"):]
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISFIFO(st.st_mode):
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        _nonblocking(fd)
        return fd
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


class Pump:
    """Copies one source fd to one sink fd with backpressure and a bounded buffer: while
    the sink is full we stop reading, so the container blocks instead of us growing."""

    def __init__(self, loop: Monitor, src: int, dst: int | None, name: str) -> None:
        self.loop, self.src, self.dst, self.name = loop, src, dst, name
        self.buf = b""
        self.eof = False
        self.done = False
        _nonblocking(src)
        loop.sel.register(src, selectors.EVENT_READ, self.on_readable)

    def on_readable(self) -> None:
        try:
            data = os.read(self.src, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
            self.loop.sel.unregister(self.src)
            if not self.buf:
                self.finish()
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self.dst is None:
            return
        try:
            n = os.write(self.dst, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:  # a broken sink must not stop the task; drop its output
            self.loop.log(f"{self.name}: write failed: {exc}; discarding further output")
            _close(self.dst)
            self.dst = None
            return
        if n < len(data):
            self.buf = data[n:]
            self.loop.sel.unregister(self.src)
            self.loop.sel.register(self.dst, selectors.EVENT_WRITE, self.on_writable)

    def on_writable(self) -> None:
        data, self.buf = self.buf, b""
        self.loop.sel.unregister(self.dst)
        if self.eof:
            self._flush_blocking(data)
            return
        self.loop.sel.register(self.src, selectors.EVENT_READ, self.on_readable)
        self._write(data)

    def _flush_blocking(self, data: bytes) -> None:
        """After EOF: finish writing what is left, then close (bounded by the drain timer)."""
        self._write(data)
        if not self.buf:
            self.finish()

    def abandon(self) -> None:
        """Drain deadline passed: stop copying."""
        for fd in (self.src, self.dst):
            if fd is not None:
                try:
                    self.loop.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
        self.finish()

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        _close(self.src)
        _close(self.dst)


class Monitor:
    def __init__(self, task_dir: Path, config: dict[str, Any], sync_fd: int) -> None:
        self.task_dir = task_dir
        self.config = config
        self.sync_fd: int | None = sync_fd
        self.task_id: str = config["id"]
        self.runtime = Runtime(config["runtime"], Path(config["runtime_root"]),
                               task_dir / layout.RUNTIME_LOG)
        self.sel = selectors.DefaultSelector()
        self.pumps: list[Pump] = []
        self.stdin_keepalive: int | None = None
        self.stdin_pump: Pump | None = None
        self.init_pid = 0
        self.init_status: int | None = None
        self.init_exited_ns = 0
        self.early_exits: dict[int, int] = {}  # reaped before we knew the pid
        self.drain_deadline: float | None = None
        self.waiters: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.finished = False
        self.ready = False  # True once the pid was reported: from then on never clean up

    # diagnostics ------------------------------------------------------------------------
    def log(self, message: str) -> None:
        sys.stderr.write(f"{protocol.rfc3339(time.time_ns())} monitor[{os.getpid()}] "
                         f"{self.task_id}: {message}\n")
        sys.stderr.flush()

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

    # set-up -------------------------------------------------------------------------------
    def prepare_rootfs(self) -> None:
        mounts = self.config.get("rootfs_mounts") or []
        if not mounts:
            return
        from pytasks import mounts as mnt

        mnt.private_mount_namespace()
        target = str(self.task_dir / layout.ROOTFS_DIR)
        for entry in mounts:
            mnt.mount(entry, target)

    def prepare_stdio(self) -> tuple[int, int, int]:
        """Pipes for the container's stdio; returns the container-side ends."""
        stdio = self.config.get("stdio", {})
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        sinks: dict[str, int | None] = {}
        for name, r in (("stdout", out_r), ("stderr", err_r)):
            path = stdio.get(name, "")
            if path and path in sinks and sinks[path] is not None:
                dst: int | None = os.dup(sinks[path])  # type: ignore[arg-type]
            else:
                dst = open_sink(path)
                sinks[path] = dst
            self.pumps.append(Pump(self, r, dst, name))
        stdin_path = stdio.get("stdin", "")
        if stdin_path:
            src = os.open(stdin_path.removeprefix("file://"),
                          os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            if stat.S_ISFIFO(os.fstat(src).st_mode):
                # Keep-alive writer: stdin sees EOF only after CloseIO, never because a
                # client went away (DESIGN §5).
                self.stdin_keepalive = os.open(stdin_path,
                                               os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                _nonblocking(in_w)
                self.stdin_pump = Pump(self, src, in_w, "stdin")
            else:
                self.stdin_pump = FilePump(self, src, in_w)
        else:
            os.close(in_w)  # no stdin: the container reads EOF at once
        return in_r, out_w, err_w

    def create(self) -> None:
        stdin, stdout, stderr = self.prepare_stdio()
        pid_file = self.task_dir / layout.INIT_PID_FILE
        argv = self.runtime.create_argv(self.task_id, self.task_dir, pid_file)
        offset = self.runtime.log_offset()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTASKS_")}
        try:
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin, 0),
                (os.POSIX_SPAWN_DUP2, stdout, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
            ])
        finally:
            for fd in (stdin, stdout, stderr):
                os.close(fd)  # only the container holds them now: EOF follows its exit
        _, status = os.waitpid(pid, 0)
        if exit_status(status) != 0:
            raise _create_error(self.runtime.last_error(offset))
        self.init_pid = protocol.pid_from_file(pid_file)

    def listen(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            os.unlink(layout.MONITOR_SOCKET)
        except FileNotFoundError:
            pass
        sock.bind(layout.MONITOR_SOCKET)  # relative: cwd is the task dir (short sun_path)
        os.chmod(layout.MONITOR_SOCKET, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, self.on_accept)
        self.listener = sock

    # control requests ------------------------------------------------------------------
    def on_accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.settimeout(2.0)
        try:
            line = _read_line(conn)
            request = protocol.decode(line)
            reply = self.handle(conn, request)
        except (OSError, ValueError) as exc:
            reply = protocol.error_reply("INVALID_ARGUMENT", f"bad control request: {exc}")
        except errors.PytasksError as exc:
            reply = protocol.error_reply(exc.code.name, exc.message)
        if reply is not None:
            _send(conn, reply)
            conn.close()

    def handle(self, conn: socket.socket, request: dict[str, Any]) -> dict[str, Any] | None:
        op = request.get("op")
        if op == protocol.OP_STATE:
            return {"ok": True, "init_pid": self.init_pid,
                    "exited": self.init_status is not None}
        if op == protocol.OP_WAIT:
            if self.finished:
                return {"ok": True, **self.exit_info()}
            self.waiters.append(conn)
            return None
        if op == protocol.OP_START:
            if self.init_status is not None:
                raise errors.InvalidStateError("cannot start task in stopped state")
            self.runtime.run(self.runtime.start_argv(self.task_id))
            return {"ok": True}
        if op == protocol.OP_KILL:
            return self.kill(int(request.get("signal", signal.SIGTERM)),
                             bool(request.get("all")), int(request.get("pid") or 0))
        raise errors.InvalidArgumentError(f"unknown control operation {op!r}")

    def kill(self, sig: int, all_processes: bool, pid: int) -> dict[str, Any]:
        if pid and pid != self.init_pid:
            raise errors.NotFoundError(f"process {pid} not found in task {self.task_id}")
        if self.init_status is not None:
            raise errors.NotFoundError("process already finished")
        self.runtime.run(self.runtime.kill_argv(self.task_id, sig, all_processes))
        return {"ok": True}

    # exits -------------------------------------------------------------------------------
    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid:
                self.on_init_exit(exit_status(status))
            else:
                self.early_exits[pid] = exit_status(status)

    def on_init_exit(self, status: int) -> None:
        if self.init_status is not None:
            return
        self.init_status = status
        self.init_exited_ns = protocol.now_ns()
        self.log(f"init {self.init_pid} exited with status {status}")
        if not self.config.get("pid_namespace", True):
            # No private pid namespace: the kernel won't kill the rest (containerd's
            # ShouldKillAllOnExit).
            self.runtime.run(self.runtime.kill_argv(self.task_id, signal.SIGKILL, True),
                             check=False)
        if self.stdin_pump is not None:
            self.stdin_pump.abandon()
        _close(self.stdin_keepalive)
        self.stdin_keepalive = None
        self.drain_deadline = time.monotonic() + DRAIN_TIMEOUT

    def exit_info(self) -> dict[str, Any]:
        return protocol.exit_record(self.init_pid, self.init_status or 0, self.init_exited_ns)

    def finish(self) -> None:
        """Output is drained: write the exit record, then answer every waiter."""
        for pump in self.pumps:
            pump.abandon()
        write_json(self.task_dir / layout.INIT_EXIT_FILE, self.exit_info())
        self.finished = True
        reply = {"ok": True, **self.exit_info()}
        for conn in self.waiters:
            _send(conn, reply)
            conn.close()
        self.waiters.clear()

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
        self.listen()
        self.ready = True
        self.report({"pid": self.init_pid, "monitor_pid": os.getpid(),
                     "monitor_start_time": protocol.process_start_time(os.getpid())})
        self.reap()
        while not self.finished:
            timeout = None
            if self.drain_deadline is not None:
                if all(p.done for p in self.pumps) or time.monotonic() >= self.drain_deadline:
                    self.finish()
                    break
                timeout = max(0.0, self.drain_deadline - time.monotonic())
            for key, _ in self.sel.select(timeout):
                callback: Callable[[], None] = key.data
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
                  and self.init_status is None and self.init_pid):
                # Forward termination to the container instead of dying (as conmon does).
                    self.runtime.run(self.runtime.kill_argv(self.task_id, signum), check=False)

    def shutdown(self) -> None:
        if self.listener is not None:
            self.listener.close()
            try:
                os.unlink(self.task_dir / layout.MONITOR_SOCKET)
            except FileNotFoundError:
                pass


class FilePump(Pump):
    """stdin from a regular file: always readable, so drive it by the sink's writability."""

    def __init__(self, loop: Monitor, src: int, dst: int) -> None:
        self.loop, self.src, self.dst, self.name = loop, src, dst, "stdin"
        self.buf = b""
        self.eof = False
        self.done = False
        _nonblocking(dst)
        loop.sel.register(dst, selectors.EVENT_WRITE, self.on_writable)

    def on_writable(self) -> None:
        data = self.buf or os.read(self.src, CHUNK)
        if not data:
            self.loop.sel.unregister(self.dst)
            self.finish()
            return
        try:
            n = os.write(self.dst, data)  # type: ignore[arg-type]
        except BlockingIOError:
            n = 0
        except OSError:
            self.loop.sel.unregister(self.dst)
            self.finish()
            return
        self.buf = data[n:]

    def abandon(self) -> None:
        if not self.done:
            try:
                self.loop.sel.unregister(self.dst)
            except (KeyError, ValueError):
                pass
            self.finish()


def _create_error(message: str) -> errors.PytasksError:
    from pytasks.runtime import classify

    err = classify(message)
    if type(err) is errors.RuntimeFailedError:
        # Name the failing step, as containerd does ("OCI runtime create failed: ...").
        return errors.RuntimeFailedError(f"OCI runtime create failed: {message}")
    return err


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > protocol.MAX_LINE:
            raise ValueError("request too long")
    return data


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        conn.sendall(protocol.encode(message))
    except OSError:
        pass  # the client went away; nothing to tell


def daemonize(task_dir: Path, keep: list[int]) -> None:
    """Detach with python-daemon: double fork, setsid, explicit umask and cwd, our fds kept,
    stdout/stderr to the monitor log."""
    import daemon

    log = open(task_dir / layout.MONITOR_LOG, "a", buffering=1)  # noqa: SIM115
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
    parser = argparse.ArgumentParser(prog="pytasks-monitor")
    parser.add_argument("--sync-fd", type=int, required=True)
    parser.add_argument("task_dir", type=Path)
    args = parser.parse_args(argv)
    task_dir: Path = args.task_dir.resolve()
    config = read_json(task_dir / layout.MONITOR_FILE)
    daemonize(task_dir, [args.sync_fd])
    monitor = Monitor(task_dir, config, args.sync_fd)
    try:
        from pytasks.mounts import set_child_subreaper

        set_child_subreaper()
        monitor.run()
    except BaseException as exc:  # report anything; never leave create hanging
        if isinstance(exc, errors.PytasksError):
            code, message = exc.code.name, exc.message
            monitor.log(f"failed: {message}")
        else:
            code, message = "INTERNAL", f"monitor failed: {type(exc).__name__}: {exc}"
            monitor.log("crashed:\n" + traceback.format_exc())
        if not monitor.ready:
            # A failed create leaves nothing behind: tell create, remove the runtime's
            # state, then close the pipe so create knows cleanup is over. Rootfs mounts
            # die with our private mount namespace.
            monitor.report(protocol.error_reply(code, message), close=False)
            monitor.runtime.run(monitor.runtime.delete_argv(monitor.task_id, force=True),
                                check=False)
            monitor.close_sync()
        # After readiness a crash leaves the container running: readers then see a lost
        # monitor and an unknown exit, never an invented one.
        monitor.shutdown()
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
