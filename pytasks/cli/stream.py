"""Streaming a process's stdio here: the copy loop of the attached verbs (run, exec).

Exit statuses follow docker/podman: the process's own status passes through; 126 cannot
invoke, 127 command not found, 125 pytasks itself failed. Free of click (the fast path
serves attached exec).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pytasks.cli.app import App
    from pytasks.stdio import FifoSet


def attached_failure(exc: Exception) -> int:
    """Report a failure of pytasks itself during an attached verb; return the exit code
    (126/127 when the command cannot run, 7 without the privilege, else 125)."""
    from pytasks.errors import CommandNotFoundError, ExitCode, PermissionDeniedError

    say(exc)
    # 126 for a command that cannot run (a PermissionDenied kind), 127 not found, and 7
    # for pytasks' own lack of privilege, as every other verb says it.
    if isinstance(exc, (CommandNotFoundError, PermissionDeniedError)):
        return int(exc.exit_code)
    return int(ExitCode.ATTACH_FAILED)


def copy_process_io(app: App, container: str, pid: int, fifos: FifoSet, *,
                    stdin: bool, terminal: bool) -> None:
    """Stream the process's FIFOs here until its output ends, forwarding signals, window
    size (terminal) and stdin EOF (CloseIO)."""
    from pytasks import errors
    from pytasks.stdio import Session

    def forward(signum: int) -> None:
        try:
            app.engine.kill(container, signum, pid=pid)
        except errors.PytasksError:
            pass  # already finished: the copy loop ends on its own

    def resize() -> None:
        if terminal:
            resize_now(app, container, pid)

    def stdin_eof() -> None:
        fifos.close_stdin()
        quietly(lambda: app.engine.close_io(container, pid, stdin=True))

    Session(outputs=fifos.outputs(), stdin_fd=fifos.fds.get("stdin"), forward_stdin=stdin,
            terminal=terminal, on_signal=forward, on_resize=resize,
            on_stdin_eof=stdin_eof).run()


def resize_now(app: App, container: str, pid: int) -> None:
    from pytasks.stdio import terminal_size

    size = terminal_size()
    if size is not None:
        quietly(lambda: app.engine.resize_pty(container, pid, size[0], size[1]))


def quietly(call: Callable[[], object]) -> None:
    """Run call; a pytasks error is reported on stderr and does not end the verb."""
    from pytasks import errors

    try:
        call()
    except errors.PytasksError as exc:
        say(exc)


def say(exc: Exception) -> None:
    sys.stderr.write(f"pytasks: {exc}\n")
    sys.stderr.flush()
