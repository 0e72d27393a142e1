"""What attached verbs (run, exec) share: FIFO set -> process -> copy loop -> exit status.

Exit statuses follow docker/podman: the process's own status passes through; 126 cannot
invoke, 127 command not found, 125 pytasks itself failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pytasks.cli.app import App
    from pytasks.stdio import FifoSet


def attached_failure(exc: Exception) -> int:
    """Report a failure of pytasks itself during an attached verb; return the exit code
    (126/127 when the command cannot run, else 125)."""
    from pytasks.errors import CommandNotExecutableError, CommandNotFoundError, ExitCode

    click.echo(f"pytasks: {exc}", err=True)

    if isinstance(exc, (CommandNotFoundError, CommandNotExecutableError)):
        return int(exc.exit_code)
    return int(ExitCode.ATTACH_FAILED)


def copy_process_io(app: App, container: str, pid: int, fifos: FifoSet, *,
                    stdin: bool, terminal: bool) -> None:
    """Stream the process's FIFOs here until its output ends, forwarding signals, window
    size (terminal) and stdin EOF (CloseIO)."""
    from pytasks import errors
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.stdio import Session

    def forward(signum: int) -> None:
        try:
            app.service.kill(tasks_pb2.KillRequest(container_id=container, signal=signum,
                                                   pid=pid))
        except errors.PytasksError:
            pass  # already finished: the copy loop ends on its own

    def resize() -> None:
        if terminal:
            resize_now(app, container, pid)

    def stdin_eof() -> None:
        fifos.close_stdin()
        _quietly(lambda: app.service.close_io(tasks_pb2.CloseIORequest(
            container_id=container, pid=pid, stdin=True)))

    Session(outputs=fifos.outputs(), stdin_fd=fifos.fds.get("stdin"), forward_stdin=stdin,
            terminal=terminal, on_signal=forward, on_resize=resize,
            on_stdin_eof=stdin_eof).run()


def resize_now(app: App, container: str, pid: int) -> None:
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.stdio import terminal_size

    size = terminal_size()
    if size is not None:
        _quietly(lambda: app.service.resize_pty(tasks_pb2.ResizePtyRequest(
            container_id=container, pid=pid, width=size[0], height=size[1])))


def _quietly(call: Callable[[], object]) -> None:
    from pytasks import errors

    try:
        call()
    except errors.PytasksError as exc:
        click.echo(f"pytasks: {exc}", err=True)
