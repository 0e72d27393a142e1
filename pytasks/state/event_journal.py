"""The event journal: one per namespace of a state dir, JSON lines, bounded.

Whoever knows a fact appends it (docs/architecture.md §7): the CLI for what it does, the
monitors for execs and exits (the compiled one writes the same line itself). Each
event is one line written by one write(2) on an O_APPEND descriptor, so concurrent
writers never interleave inside a line, and a reader that finds a last line without its
newline (a write in progress) leaves it for the next read. The journal is rotated when
it passes MAX_BYTES: it becomes the one previous generation (ROTATED_SUFFIX), replacing
the older one, so a namespace never holds more than twice MAX_BYTES of events. Rotation
happens under an flock of the events dir, so two writers never rotate twice.

Line shape (stable, documented in §7):
  {"timestamp": RFC 3339, "namespace": NS, "topic": "/tasks/exit", "id": CONTAINER,
   "event": {containerd's fields for the topic: container_id, pid, exit_status, ...}}
"""

from __future__ import annotations

import fcntl
import json
import os
import time

from pytasks.instants import parse_rfc3339, rfc3339
from pytasks.state.layout import JOURNAL_FILE, ROTATED_SUFFIX, Layout, ensure_dir

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

MAX_BYTES = 1 << 20   # rotate past this; at most 2 * MAX_BYTES per namespace
MAX_LINE = 16 << 10   # an event longer than this is a bug, refused rather than torn
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC

TOPICS = ("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete",
          "/tasks/exec-added", "/tasks/exec-started", "/tasks/paused", "/tasks/resumed",
          "/tasks/checkpointed", "/tasks/oom", "/containers/create", "/containers/delete")


def parse_time(text: str) -> int:
    """An event's timestamp in nanoseconds (0 for anything else: sorts first)."""
    try:
        return parse_rfc3339(text)
    except ValueError:
        return 0


def publish(layout: Layout, topic: str, container_id: str, event: dict[str, Any]) -> None:
    """append(), for a command whose own work is done: a journal that cannot be written
    (a full disk) is said on stderr and does not fail the command."""
    try:
        append(layout, topic, container_id, event)
    except (OSError, ValueError) as exc:
        import sys

        sys.stderr.write(f"pytasks: warning: event {topic} of {container_id} was not "
                         f"journaled: {exc}\n")


def line(layout: Layout, topic: str, container_id: str, event: dict[str, Any],
           at_ns: int | None = None) -> bytes:
    return encode(layout.namespace, topic, container_id, event, at_ns)


def encode(namespace: str, topic: str, container_id: str, event: dict[str, Any],
           at_ns: int | None = None) -> bytes:
    """One journal line (the compiled monitor writes the same bytes for /tasks/exit)."""
    document = {"timestamp": rfc3339(time.time_ns() if at_ns is None else at_ns),
                "namespace": namespace, "topic": topic, "id": container_id,
                "event": event}
    data = (json.dumps(document, separators=(",", ":")) + "\n").encode()
    if len(data) > MAX_LINE:
        raise ValueError(f"event {topic} of {container_id} is {len(data)} bytes long")
    return data


def append(layout: Layout, topic: str, container_id: str, event: dict[str, Any]) -> None:
    """Append one event (OSError when the journal cannot be written: the caller decides
    whether that matters)."""
    append_line(ensure_dir(layout.events_dir), line(layout, topic, container_id, event))


def append_line(events_dir: str, data: bytes, max_bytes: int | None = None) -> None:
    """Append one encoded line to the journal in events_dir (made 0700 when missing, as
    a monitor finds it after a wiped state dir), rotating it past max_bytes."""
    limit = MAX_BYTES if max_bytes is None else max_bytes
    try:
        dir_fd = os.open(events_dir, _DIR_FLAGS)
    except FileNotFoundError:
        os.makedirs(events_dir, 0o700, exist_ok=True)
        dir_fd = os.open(events_dir, _DIR_FLAGS)
    try:
        fd = os.open(JOURNAL_FILE, _APPEND_FLAGS, 0o600, dir_fd=dir_fd)
        try:
            written = os.write(fd, data)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if written != len(data):  # a full disk mid-line: the reader skips the torn end
            raise OSError(28, f"event journal {events_dir}: short write")
        if size > limit:
            _rotate(dir_fd, limit)
    finally:
        os.close(dir_fd)


def _rotate(dir_fd: int, limit: int) -> None:
    fcntl.flock(dir_fd, fcntl.LOCK_EX)
    try:
        try:
            if os.stat(JOURNAL_FILE, dir_fd=dir_fd, follow_symlinks=False).st_size \
                    <= limit:
                return  # another writer rotated it while we waited
        except FileNotFoundError:
            return
        os.rename(JOURNAL_FILE, JOURNAL_FILE + ROTATED_SUFFIX, src_dir_fd=dir_fd,
                  dst_dir_fd=dir_fd)
    finally:
        fcntl.flock(dir_fd, fcntl.LOCK_UN)


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The complete events in data and how many bytes they took (a torn last line is
    left for later); a line that is not an event is skipped, never fatal."""
    events: list[dict[str, Any]] = []
    end = data.rfind(b"\n") + 1
    for raw in data[:end].splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("topic"), str):
            events.append(event)
    return events, end


def read_all(layout: Layout) -> Iterator[dict[str, Any]]:
    """Every event in the journal, oldest first (the previous generation, then this)."""
    for name in (JOURNAL_FILE + ROTATED_SUFFIX, JOURNAL_FILE):
        data = _read(layout, name)
        yield from parse_lines(data)[0]


def _read(layout: Layout, name: str) -> bytes:
    try:
        fd = os.open(os.path.join(layout.events_dir, name),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return b""
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def follow(layout: Layout, until_ns: int | None = None, poll_seconds: float = 5.0, *,
           history: bool = False) -> Iterator[dict[str, Any]]:
    """New events as they are appended, until the clock passes until_ns (None: forever;
    the caller stops on Ctrl-C or a closed pipe). Woken by inotify on the events dir, not
    by polling the disk; the timeout only bounds how long a missed wake-up could delay an
    event. Across a rotation the rest of the old generation is read before the new
    journal. With history, every event already there comes first: the same descriptor
    reads on, so nothing written meanwhile is missed or read twice."""
    import select

    from pytasks.state.inotify import Watch

    ensure_dir(layout.events_dir)
    with Watch(layout.events_dir) as watch:
        if history:
            yield from parse_lines(_read(layout, JOURNAL_FILE + ROTATED_SUFFIX))[0]
        fd = _open_journal(layout)
        offset = os.fstat(fd).st_size if fd is not None and not history else 0
        pending = b""
        try:
            while True:
                if fd is None:
                    fd, offset = _open_journal(layout), 0
                if fd is not None:
                    chunk = os.pread(fd, 1 << 16, offset)
                    if chunk:
                        offset += len(chunk)
                        events, used = parse_lines(pending + chunk)
                        pending = (pending + chunk)[used:]
                        yield from events
                        continue
                    if _rotated(layout, fd):
                        os.close(fd)
                        fd, pending = None, b""
                        continue
                wait = poll_seconds
                if until_ns is not None:
                    left = (until_ns - time.time_ns()) / 1e9
                    if left <= 0:
                        return
                    wait = min(wait, left)
                select.select([watch.fd], [], [], wait)
                watch.drain()
        finally:
            if fd is not None:
                os.close(fd)


def _open_journal(layout: Layout) -> int | None:
    try:
        return os.open(os.path.join(layout.events_dir, JOURNAL_FILE),
                       os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _rotated(layout: Layout, fd: int) -> bool:
    """The journal path no longer names the file fd reads."""
    try:
        st = os.stat(os.path.join(layout.events_dir, JOURNAL_FILE), follow_symlinks=False)
    except FileNotFoundError:
        return False  # renamed away and not re-created yet: nothing new to read there
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino)
