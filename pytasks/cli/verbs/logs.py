"""pytasks logs: what a detached task wrote to its log, stdout and stderr kept apart, as
podman logs prints them (the log's records: state/task_log.py, docs/architecture.md §5)."""

from __future__ import annotations

import os
import sys
import time

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    import click

    from pytasks.cli.app import App
    from pytasks.state.task_log import Line

POLL = 0.1
STATUS_EVERY = 2.0  # seconds between looks at the monitor while a follow waits


def logs(app: App, follow: bool, tail: int | None, stream: str | None, timestamps: bool,
         since: str | None, container: str) -> int:
    from pytasks import errors, instants
    from pytasks.state.layout import INIT_EXIT_FILE, OUTPUT_LOG

    since_ns = instants.parse(since, "--since") if since else None
    view = app.engine.get(container)
    path = str(view.record.get("stdout", "")).removeprefix("file://")
    if path != app.layout.task_file(view.task_id, OUTPUT_LOG):
        if stream or timestamps or since:
            raise errors.FailedPreconditionError(
                f"task {container} writes raw output to {path or '/dev/null'}: --stream, "
                f"--timestamps and --since need the task's own log ({OUTPUT_LOG})")
        return raw_logs(app, follow, tail, container, path)
    from pytasks.state import task_log

    streams = (stream.encode(),) if stream else task_log.STREAMS
    printer = Printer(streams, instants.rfc3339(since_ns).encode() if since_ns else None,
                      timestamps)
    assembler = task_log.Assembler()
    task_dir = app.layout.task_dir(view.task_id)
    with task_log.Reader(task_dir) as reader:
        lines = assembler.feed(reader.history())
        if not follow:
            printer.show(last(printer.select(lines + assembler.end()), tail))
            printer.flush()
            return 0
        ended = task_ended(app, container, os.path.join(task_dir, INIT_EXIT_FILE))
        try:
            printer.show(last(printer.select(lines), tail))
            printer.flush()
            for records in reader.follow(ended, STATUS_EVERY):
                printer.show(printer.select(assembler.feed(records)))
                printer.flush()
            printer.show(printer.select(assembler.end()))
            printer.flush()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a follow of a running task ends
    return 0  # a reader that went away ends it too (cli/root.py: exit 0)


def last(lines: list[Line], count: int | None) -> list[Line]:
    """The last count lines of output, with the notices among and after them."""
    if count is None:
        return lines
    if count == 0:
        return []
    seen = 0
    for index in range(len(lines) - 1, -1, -1):
        if not lines[index].dropped:
            seen += 1
            if seen == count:
                return lines[index:]
    return lines


class Printer:
    """Lines to our stdout and stderr as the task wrote them to its own, in the log's
    order (each stream is flushed before the other is written); a notice of dropped output
    goes to stderr."""

    def __init__(self, streams: tuple[bytes, ...], since: bytes | None,
                 timestamps: bool) -> None:
        self.streams, self.since, self.timestamps = streams, since, timestamps
        self.out: BinaryIO = sys.stdout.buffer
        self.err: BinaryIO = sys.stderr.buffer
        self.last: BinaryIO | None = None

    def select(self, lines: list[Line]) -> list[Line]:
        # The log's timestamps have one fixed width: as text they sort as times do.
        since = self.since
        return [line for line in lines if line.stream in self.streams
                and (since is None or line.stamp >= since)]

    def show(self, lines: list[Line]) -> None:
        from pytasks.state.task_log import STDERR

        for line in lines:
            head = line.stamp + b" " if self.timestamps else b""
            if line.dropped:
                target = self.err
                data = head + b"pytasks: %d bytes of %s were dropped here (the log could not " \
                    b"be written)\n" % (line.dropped, line.stream)
            else:
                target = self.err if line.stream == STDERR else self.out
                data = head + line.text + (b"\n" if line.newline else b"")
            if target is not self.last:
                if self.last is not None:
                    self.last.flush()
                self.last = target
            target.write(data)

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()


def task_ended(app: App, container: str, exit_file: str) -> Callable[[], bool]:
    """Whether the task's monitor is done writing: its init's exit record is written after
    the last output (a cheap look each time), or the monitor is gone (a lost one writes
    nothing more; asked at most every STATUS_EVERY seconds)."""
    from pytasks import errors

    asked = [0.0]

    def ended() -> bool:
        if os.path.exists(exit_file):
            return True
        now = time.monotonic()
        if now - asked[0] < STATUS_EVERY:
            return False
        asked[0] = now
        try:
            return not app.engine.get(container).monitor_alive
        except errors.NotFoundError:
            return True  # deleted meanwhile

    return ended


def raw_logs(app: App, follow: bool, tail: int | None, container: str, path: str) -> int:
    """A stdout the user named (a file, not the task's own log): its bytes as they are."""
    from pytasks import errors
    from pytasks.lifecycle import Status

    if not path or not os.path.isfile(path):
        if path and not os.path.exists(path):
            raise errors.NotFoundError(f"task {container} has not logged anything yet")
        raise errors.FailedPreconditionError(
            f"task {container} does not log to a file (stdout: {path or '/dev/null'})")
    out = sys.stdout.buffer
    with open(path, "rb") as fh:
        out.write(tail_bytes(fh.read(), tail) if tail is not None else fh.read())
        out.flush()
        if not follow:
            return 0
        last_check = 0.0
        while True:
            chunk = fh.read()
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                try:
                    stopped = app.engine.get(container).status is Status.STOPPED
                except errors.NotFoundError:
                    stopped = True  # deleted meanwhile
                if stopped:
                    out.write(fh.read())  # the exit record follows the drain: all is here
                    out.flush()
                    return 0
            time.sleep(POLL)


def tail_bytes(data: bytes, lines: int) -> bytes:
    if lines == 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def command() -> click.Command:
    import click

    from pytasks.cli.checks import COUNT_MAX
    from pytasks.cli.complete import complete_tasks

    @click.command("logs")
    @click.option("-f", "--follow", is_flag=True,
                  help="Keep printing until the task exits (or Ctrl-C).")
    @click.option("--tail", type=click.IntRange(0, COUNT_MAX), default=None, metavar="N",
                  help="Start with the last N lines only (of the chosen --stream).")
    @click.option("--stream", type=click.Choice(["stdout", "stderr"]), default=None,
                  help="Only this stream (default: both, in the order they were written).")
    @click.option("-t", "--timestamps", is_flag=True,
                  help="Begin each line with the time it was written (RFC 3339, UTC).")
    @click.option("--since", metavar="TIME",
                  help="Only lines written at or after TIME: RFC 3339 "
                       "(2026-12-03T10:00:00Z), a duration back from now (10m, 1h30m) or "
                       "Unix seconds.")
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def logs_command(app: App, follow: bool, tail: int | None, stream: str | None,
                     timestamps: bool, since: str | None, container: str) -> int:
        """Print the stdout and stderr a detached task wrote to its log, kept apart.

        The task's own log (output.log in its task dir) keeps each line's stream and time:
        its stdout lines are printed on stdout and its stderr lines on stderr, in the order
        they were written. Where the log could not be written (a full disk), a notice on
        stderr says how many bytes were dropped there.

        The log keeps the last 8-16 MiB of output (it is rotated). A task whose stdout is
        a file the user named has that file printed as it is (--tail and --follow only).

        \b
        Examples:
          pytasks logs --tail 20 web
          pytasks logs -f --since 10m --timestamps web
          pytasks logs --stream stderr --since 2026-12-03T10:00:00Z web
        """
        return logs(app, follow, tail, stream, timestamps, since, container)

    return logs_command
