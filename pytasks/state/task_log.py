"""The task's own log: output.log in the task dir, where a detached task's stdout and stderr
go, one record per line with its stream and time (docs/architecture.md §5, §7). Stdlib
only: the Python monitor frames its records here.

Both monitors write it (daemon.py with frame() and dropped(), the compiled one the same
bytes itself, from the names in protocol.py); `pytasks logs` reads it with Reader. The
record is the CRI "k8s-file" line, one per line of output:

  <RFC 3339 UTC, nanoseconds> <stdout|stderr> <F|P> <bytes>\\n

F is a line with its newline taken off; P a chunk that did not end in a newline, whose
line goes on in the next record of the same stream. A write that failed (a full disk)
leaves no part of its records behind; once a write succeeds again, one record per stream
says how many bytes of it were lost at that point:

  <time> <stream> D <count>\\n

Past its bound the log is renamed to output.log.1 (one previous generation, replacing the
older one) and a new output.log is started; a reader takes output.log.1, then output.log,
and a follower reads the rest of a renamed generation before the new one."""

from __future__ import annotations

import os

from pytasks.state.layout import OUTPUT_LOG, ROTATED_SUFFIX

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

STDOUT = b"stdout"
STDERR = b"stderr"
STREAMS = (STDOUT, STDERR)
FULL = b"F"
PARTIAL = b"P"
DROPPED = b"D"
TAGS = (FULL, PARTIAL, DROPPED)
ROTATED = OUTPUT_LOG + ROTATED_SUFFIX
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_FOLLOW_READ = 1 << 16

# A record as read: (timestamp, stream, tag, content); a plain tuple keeps a large log cheap.
Record = tuple[bytes, bytes, bytes, bytes]


# writing (the Python monitor) -------------------------------------------------------------
def frame(stream: bytes, data: bytes, stamp: bytes) -> bytes:
    """The records of one chunk of a stream's output, all stamped with one time: one F
    record per newline, then one P record for a rest without one. Only newlines are
    looked for, by bytes.replace (no object per line): the pump's path stays cheap."""
    end = data.rfind(b"\n") + 1
    out = b""
    if end:
        head = stamp + b" " + stream + b" F "
        out = head + data[:end - 1].replace(b"\n", b"\n" + head) + b"\n"
    if end < len(data):
        out += stamp + b" " + stream + b" P " + data[end:] + b"\n"
    return out


def dropped(stream: bytes, count: int, stamp: bytes) -> bytes:
    """The marker of count bytes of stream that could not be written before this point."""
    return b"%s %s D %d\n" % (stamp, stream, count)


# reading ------------------------------------------------------------------------------------
def parse(data: bytes) -> tuple[list[Record], int]:
    """The complete records in data and how many bytes they took (a last line without its
    newline, a write in progress, is left for later). A line that is not a record (the
    torn end of a write a failing disk cut short) is skipped, never fatal."""
    end = data.rfind(b"\n") + 1
    records: list[Record] = []
    if not end:
        return records, 0
    # split, not splitlines: a record's bytes may hold \r and other line breaks.
    for raw in data[:end - 1].split(b"\n"):
        parts = raw.split(b" ", 3)
        if len(parts) == 4 and parts[1] in STREAMS and parts[2] in TAGS:
            records.append((parts[0], parts[1], parts[2], parts[3]))
    return records, end


class Line:
    """One line to show: a stream's output (text without its newline; newline False for
    the unfinished end of a stream), or the notice of dropped bytes (dropped > 0)."""

    __slots__ = ("dropped", "newline", "stamp", "stream", "text")

    def __init__(self, stamp: bytes, stream: bytes, text: bytes, *, newline: bool = True,
                 dropped: int = 0) -> None:
        self.stamp, self.stream, self.text = stamp, stream, text
        self.newline, self.dropped = newline, dropped

    def __repr__(self) -> str:
        return (f"Line({self.stamp!r}, {self.stream!r}, {self.text!r}, "
                f"newline={self.newline}, dropped={self.dropped})")


class Assembler:
    """Lines from records: a stream's P records are joined to the record that ends their
    line, which is shown where that record is, with the time of the line's first part."""

    def __init__(self) -> None:
        self.pending: dict[bytes, tuple[bytes, list[bytes]]] = {}

    def feed(self, records: list[Record]) -> list[Line]:
        lines: list[Line] = []
        pending = self.pending
        for stamp, stream, tag, content in records:
            if tag == FULL:
                if stream in pending:
                    first, parts = pending.pop(stream)
                    lines.append(Line(first, stream, b"".join(parts) + content))
                else:
                    lines.append(Line(stamp, stream, content))
            elif tag == PARTIAL:
                if stream in pending:
                    pending[stream][1].append(content)
                else:
                    pending[stream] = (stamp, [content])
            elif content.isdigit():
                lines.append(Line(stamp, stream, b"", dropped=int(content)))
        return lines

    def end(self) -> list[Line]:
        """The unfinished line of each stream (the output ended without a newline)."""
        lines = [Line(first, stream, b"".join(parts), newline=False)
                 for stream, (first, parts) in self.pending.items()]
        self.pending = {}
        return lines


class Reader:
    """The log of one task dir: history() is everything written so far (the previous
    generation, then the current one), follow() what is written after it, through the
    same descriptor, so nothing is missed or read twice."""

    def __init__(self, task_dir: str) -> None:
        self.task_dir = task_dir
        self.path = os.path.join(task_dir, OUTPUT_LOG)
        self.fd: int | None = None
        self.offset = 0
        self.pending = b""

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def history(self) -> list[Record]:
        current = _open(self.path)
        older = _open(os.path.join(self.task_dir, ROTATED))
        if current is not None and older is not None and _same(current, older):
            # Rotated between the two opens: what we took for current is the older one.
            os.close(current)
            current = _open(self.path)
        records: list[Record] = []
        if older is not None:
            with os.fdopen(older, "rb") as fh:
                records = parse(fh.read())[0]
        self.fd, self.offset, self.pending = current, 0, b""
        if current is not None:
            records += self._read_on()
        return records

    def follow(self, ended: Callable[[], bool], wait_seconds: float = 1.0
               ) -> Iterator[list[Record]]:
        """The records written from now on, as they come, until ended() says the task's
        writer is gone (its exit record is written after its output) and the rest is read.
        Woken by inotify on the task dir, not by polling the disk; wait_seconds only bounds
        how long a missed wake-up (or a lost monitor) could go unseen."""
        import select

        from pytasks.state.inotify import Watch

        with Watch(self.task_dir) as watch:
            last_pass = False
            while True:
                if self.fd is None:
                    self.fd, self.offset, self.pending = _open(self.path), 0, b""
                records = self._read_on() if self.fd is not None else []
                if records:
                    yield records
                    continue
                if self.fd is not None and self._rotated():
                    self._close()  # the renamed generation is read to its end
                    continue
                if last_pass:
                    return
                if ended():
                    last_pass = True  # everything is written: read what is left
                    continue
                select.select([watch.fd], [], [], wait_seconds)
                watch.drain()

    def _read_on(self) -> list[Record]:
        """Records from the descriptor's offset to its current end."""
        assert self.fd is not None
        records: list[Record] = []
        while True:
            chunk = os.pread(self.fd, _FOLLOW_READ, self.offset)
            if not chunk:
                size = os.fstat(self.fd).st_size
                if size < self.offset:
                    # A failed write was taken off again after we read part of it: what
                    # follows is written from there (its bytes are in the D record).
                    self.offset, self.pending = size, b""
                return records
            self.offset += len(chunk)
            found, used = parse(self.pending + chunk)
            self.pending = (self.pending + chunk)[used:]
            records += found

    def _rotated(self) -> bool:
        """The log's path no longer names the file being read."""
        assert self.fd is not None
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False  # renamed away and not made again yet: nothing new to read
        mine = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino)

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _open(path: str) -> int | None:
    try:
        return os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None


def _same(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
