"""What attached verbs (run, exec) share: FIFO set -> process -> copy loop -> exit status.

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
    from typing import Any

    from pytasks.cli.app import App
    from pytasks.stdio import FifoSet


def attached_failure(exc: Exception) -> int:
    """Report a failure of pytasks itself during an attached verb; return the exit code
    (126/127 when the command cannot run, else 125)."""
    from pytasks.errors import CommandNotExecutableError, CommandNotFoundError, ExitCode

    _say(exc)
    if isinstance(exc, (CommandNotFoundError, CommandNotExecutableError)):
        return int(exc.exit_code)
    return int(ExitCode.ATTACH_FAILED)


def run_attached(app: App, container_id: str, remove: bool, terminal: bool,
                 interactive: bool) -> int:
    """Create + Start with FIFOs, stream until exit, Wait, Delete (and --rm's record)."""
    from pytasks import errors
    from pytasks.cli.actions import discard
    from pytasks.stdio import FifoSet

    fifos = FifoSet.create(app.layout, container_id, "init", stdin=interactive,
                           terminal=terminal)
    created = False
    try:
        pid = app.engine.create(container_id, terminal=terminal, **fifos.request_paths())
        created = True
        if terminal:
            resize_now(app, container_id, pid)  # before start: never a 0x0 terminal
        app.engine.start(container_id)
        copy_process_io(app, container_id, pid, fifos, stdin=interactive, terminal=terminal)
        status = app.engine.wait(container_id).status
        app.engine.delete(container_id)
        created = False
    except errors.PytasksError as exc:
        status = attached_failure(exc)
    finally:
        fifos.close()
        if created:
            discard(app, container_id, remove_container=False)
    if remove:
        discard(app, container_id, remove_container=True)
    return status


def exec_attached(app: App, container: str, process: dict[str, Any], terminal: bool,
                  interactive: bool) -> int:
    """Exec with FIFOs, stream until exit, Wait, DeleteProcess."""
    from pytasks import errors
    from pytasks.stdio import FifoSet

    fifos = FifoSet.create(app.layout, container, "exec", stdin=interactive,
                           terminal=terminal)
    pid = 0
    try:
        pid = app.engine.exec(container, process, terminal=terminal, **fifos.request_paths())
        copy_process_io(app, container, pid, fifos, stdin=interactive, terminal=terminal)
        status = app.engine.wait(container, pid).status
    except errors.PytasksError as exc:
        status = attached_failure(exc)
    finally:
        fifos.close()
    if pid:
        _quietly(lambda: app.engine.delete_process(container, pid))
    return status


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
        _quietly(lambda: app.engine.close_io(container, pid, stdin=True))

    Session(outputs=fifos.outputs(), stdin_fd=fifos.fds.get("stdin"), forward_stdin=stdin,
            terminal=terminal, on_signal=forward, on_resize=resize,
            on_stdin_eof=stdin_eof).run()


def resize_now(app: App, container: str, pid: int) -> None:
    from pytasks.stdio import terminal_size

    size = terminal_size()
    if size is not None:
        _quietly(lambda: app.engine.resize_pty(container, pid, size[0], size[1]))


def _quietly(call: Callable[[], object]) -> None:
    from pytasks import errors

    try:
        call()
    except errors.PytasksError as exc:
        _say(exc)


def _say(exc: Exception) -> None:
    sys.stderr.write(f"pytasks: {exc}\n")
    sys.stderr.flush()
