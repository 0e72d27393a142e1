"""pytasks logs: print (and follow) the log file of a detached task."""

from __future__ import annotations

import os
import sys
import time

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App

POLL = 0.1


def logs(app: App, follow: bool, tail: int | None, container: str) -> int:
    from pytasks import errors
    from pytasks.lifecycle import Status

    path = str(app.engine.get(container).record.get("stdout", "")).removeprefix("file://")
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
    @click.option("-f", "--follow", is_flag=True, help="Keep printing until the task exits.")
    @click.option("--tail", type=click.IntRange(0, COUNT_MAX), default=None, metavar="N",
                  help="Start with the last N lines only.")
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def logs_command(app: App, follow: bool, tail: int | None, container: str) -> int:
        """Print the output a detached task wrote to its log file (stdout and stderr as they
        were interleaved). Works for any task whose stdout is a file."""
        return logs(app, follow, tail, container)

    return logs_command
