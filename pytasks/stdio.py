"""Client-side stdio of attached verbs (run, exec, attach): FIFO sets and the copy loop.

Open order follows containerd's cio: we create the FIFOs and open our ends without blocking
(outputs O_RDONLY|O_NONBLOCK, stdin O_RDWR) before the process is created; the monitor opens
its ends read-write, so neither side ever blocks on open or sees EPIPE.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
from collections.abc import Callable

from pytasks.plain import Plain, field
from pytasks.state.layout import Layout, ensure_dir

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypedDict

    class StdioPaths(TypedDict):
        """The stdio fields of CreateTaskRequest / ExecProcessRequest."""

        stdin: str
        stdout: str
        stderr: str

# Every catchable signal is forwarded to the process except these: SIGWINCH becomes a
# resize, and SIGCHLD/SIGPIPE/SIGURG concern only us.
_NOT_FORWARDED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGPIPE,
                  signal.SIGURG, signal.SIGWINCH}
# valid_signals() once: calling it per candidate is slow (bench/README.md).
FORWARDED = tuple(signal.Signals(n) for n in sorted(signal.valid_signals())
                  if n < 32 and n not in _NOT_FORWARDED)
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q, as docker and podman
CHUNK = 65536


class FifoSet(Plain):
    """A FIFO per stream in a private directory under <state>/fifo/ (removed by close)."""

    directory: str
    stdin: str | None
    stdout: str
    stderr: str | None
    fds: dict[str, int] = field(default_factory=dict)  # stream name -> our open end

    @classmethod
    def create(cls, layout: Layout, task_id: str, kind: str, *, stdin: bool,
               terminal: bool) -> FifoSet:
        from pytasks.monitor import protocol

        # KIND-PID-STARTTIME-TAG: gc tells a set whose client is gone by its name.
        me = os.getpid()
        directory = os.path.join(ensure_dir(layout.fifo_task_dir(task_id)),
                                 f"{kind}-{me}-{protocol.process_start_time(me) or 0}-"
                                 f"{os.urandom(6).hex()}")
        os.mkdir(directory, 0o700)
        fifos = cls(directory, os.path.join(directory, "stdin") if stdin else None,
                    os.path.join(directory, "stdout"),
                    None if terminal else os.path.join(directory, "stderr"))
        try:
            for stream in ("stdin", "stdout", "stderr"):
                path = getattr(fifos, stream)
                if path is None:
                    continue
                os.mkfifo(path, 0o600)
                flags = os.O_RDWR if stream == "stdin" else os.O_RDONLY
                fifos.fds[stream] = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)
        except BaseException:
            fifos.close()
            raise
        return fifos

    def close_stdin(self) -> None:
        """Our stdin writer is done (local EOF): the process sees EOF after CloseIO."""
        fd = self.fds.pop("stdin", None)
        if fd is not None:
            os.close(fd)

    def outputs(self) -> dict[int, int]:
        """Our read fds -> the fd to copy to (1 stdout, 2 stderr)."""
        return {fd: 1 if stream == "stdout" else 2 for stream, fd in self.fds.items()
                if stream != "stdin"}

    def request_paths(self) -> StdioPaths:
        return dict(stdin=self.stdin or "", stdout=self.stdout, stderr=self.stderr or "")

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
        # Our own directory holds only our FIFOs (no shutil: see docs/architecture.md §8).
        for path in (self.stdin, self.stdout, self.stderr):
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        try:
            os.rmdir(self.directory)
        except OSError:
            pass


def _ignore(*_args: object) -> None:
    pass


class Session(Plain):
    """The attached copy loop. Outputs come either from FIFOs (run, exec) or from a framed
    monitor stream (attach); local stdin goes to a FIFO or into frames.

    Callbacks: on_signal(signum) forwards a signal; on_resize() sends ResizePty;
    on_stdin_eof() sends CloseIO. Returns the exit info of a framed stream, if any.
    """

    outputs: dict[int, int] = field(default_factory=dict)  # read fd -> 1|2
    stdin_fd: int | None = None               # FIFO writer, or None
    stream: socket.socket | None = None       # framed attach stream
    forward_stdin: bool = False
    terminal: bool = False
    detach_keys: bool = False
    on_signal: Callable[[int], None] = _ignore
    on_resize: Callable[[], None] = _ignore
    on_stdin_eof: Callable[[], None] = _ignore
    detached: bool = False
    exit_info: dict[str, Any] | None = None

    def run(self) -> dict[str, Any] | None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        caught = (*FORWARDED, signal.SIGWINCH)
        old_handlers = {s: signal.signal(s, lambda *_: None) for s in caught}
        restore = raw_terminal() if self.terminal and self.forward_stdin else None
        try:
            self.on_resize()
            self._loop(wake_r)
        finally:
            if restore is not None:
                restore()
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            os.close(wake_r)
            os.close(wake_w)
        return self.exit_info

    def _loop(self, wake_r: int) -> None:
        from pytasks.monitor import protocol

        sel = selectors.DefaultSelector()
        sel.register(wake_r, selectors.EVENT_READ, "signal")
        for fd in self.outputs:
            sel.register(fd, selectors.EVENT_READ, "output")
        if self.stream is not None:
            sel.register(self.stream, selectors.EVENT_READ, "stream")
        if self.forward_stdin:
            os.set_blocking(0, False)
            sel.register(0, selectors.EVENT_READ, "stdin")
        framebuf = bytearray()
        held = b""  # a ctrl-p waiting to see whether ctrl-q follows
        open_outputs = len(self.outputs) + (1 if self.stream is not None else 0)
        try:
            while open_outputs and not self.detached:
                for key, _ in sel.select():
                    kind = key.data
                    if kind == "signal":
                        for signum in os.read(wake_r, 64):
                            if signum == signal.SIGWINCH:
                                self.on_resize()
                            else:
                                self.on_signal(signum)
                    elif kind == "output":
                        data = _read(key.fd)
                        if data is None:
                            continue
                        if not data:
                            sel.unregister(key.fd)
                            open_outputs -= 1
                        else:
                            write_all(self.outputs[key.fd], data)
                    elif kind == "stream":
                        assert self.stream is not None
                        data = self.stream.recv(CHUNK)
                        if not data:
                            sel.unregister(self.stream)
                            open_outputs -= 1
                            continue
                        framebuf += data
                        for stream_id, payload in protocol.split_frames(framebuf):
                            if stream_id in (protocol.STREAM_STDOUT, protocol.STREAM_STDERR):
                                write_all(stream_id, payload)
                            elif stream_id == protocol.STREAM_EXIT:
                                import json

                                self.exit_info = json.loads(payload)
                    elif kind == "stdin":
                        data = _read(0)
                        if data is None:
                            continue
                        if not data:
                            sel.unregister(0)
                            self._stdin_eof()
                            continue
                        if self.detach_keys:
                            data, held = _detach_scan(held + data)
                            if data is None:
                                self.detached = True
                                break
                        self._send_stdin(data)
        finally:
            sel.close()
            if self.forward_stdin:
                try:
                    os.set_blocking(0, True)
                except OSError:
                    pass

    def _send_stdin(self, data: bytes) -> None:
        if not data:
            return
        if self.stream is not None:
            from pytasks.monitor import protocol

            self.stream.sendall(protocol.frame(protocol.STREAM_STDIN, data))
        elif self.stdin_fd is not None:
            write_all(self.stdin_fd, data)

    def _stdin_eof(self) -> None:
        self.stdin_fd = None  # its owner closes it in on_stdin_eof
        self.on_stdin_eof()


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, CHUNK)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _detach_scan(data: bytes) -> tuple[bytes | None, bytes]:
    """Strip the detach sequence: (None, b"") when it was typed, else (data to send, held)."""
    index = data.find(DETACH_KEYS)
    if index >= 0:
        return None, b""
    if data.endswith(DETACH_KEYS[:1]):
        return data[:-1], data[-1:]
    return data, b""


def write_all(fd: int, data: bytes) -> None:
    """Write everything, waiting while a non-blocking fd is full. A vanished reader of our
    own stdout is ignored so the process's output keeps draining (never EPIPE upstream)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_WRITE)
                sel.select(1.0)
        except BrokenPipeError:
            return


def raw_terminal() -> Callable[[], None] | None:
    """Put our stdin terminal in raw mode; returns the function restoring it (always
    called in a finally, so ctrl-c, errors and exits leave a sane terminal)."""
    if not os.isatty(0):
        return None
    import termios
    import tty

    saved = termios.tcgetattr(0)
    # TCSANOW, not setraw's default TCSAFLUSH: keys typed before the session started
    # must reach the process (as Go's term.MakeRaw does for docker and ctr).
    tty.setraw(0, termios.TCSANOW)

    def restore() -> None:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)

    return restore


def terminal_size() -> tuple[int, int] | None:
    """(columns, rows) of our terminal, or None when we have none or it reports no size
    (a pty left at 0x0, as `script` and some CI runners make): the task then keeps the
    runtime's default size, as with docker, instead of a resize the kernel would refuse."""
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        if size.columns and size.lines:
            return size.columns, size.lines
    return None


def interactive() -> bool:
    return sys.stdin is not None and os.isatty(0)
