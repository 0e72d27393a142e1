"""pytasks run: containers create + Create + Start, then (unless -d) attach, wait, delete."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pytasks import errors

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import click

    from pytasks.cli.app import App


def run(app: App, detach: bool, remove: bool, terminal: bool, interactive: bool,
        stdin: str | None, stdout: str | None, stderr: str | None, container_id: str,
        command: Sequence[str], checkpoint: str | None = None, **options: Any) -> int:
    """containers create + Create + Start; attached unless -d. With checkpoint, the task
    is restored from it (Create --checkpoint, then Start)."""
    from pytasks.cli.container_spec import build_container
    from pytasks.cli.task_options import stdio_paths
    from pytasks.cli.usage import usage_error

    if detach and remove:
        raise usage_error("run", "--rm cannot be used with -d/--detach")
    if detach and interactive:
        raise usage_error("run", "-i cannot be used with -d/--detach (use --stdin FIFO)")
    if not detach and any(v is not None for v in (stdin, stdout, stderr)):
        raise usage_error("run", "--stdin/--stdout/--stderr need -d (attached run streams "
                                 "to this terminal)")
    # Checked before the container record is written, which a bad path would leave behind.
    stdin, stdout, stderr = stdio_paths(stdin, stdout, stderr)
    from pytasks.engine import require_root

    require_root(container_id)  # before the container record: a run that cannot start
    build_container(app, container_id, command, terminal=terminal, **options)
    if detach:
        return run_detached(app, container_id, terminal, stdin, stdout, stderr, checkpoint)
    return run_attached(app, container_id, remove, terminal, interactive, checkpoint)


def run_detached(app: App, container_id: str, terminal: bool, stdin: str | None,
                 stdout: str | None, stderr: str | None, checkpoint: str | None = None
                 ) -> int:
    """Create and start at once; the stdio paths are stdio_paths' (absolute)."""
    try:
        pid = app.engine.create(container_id, terminal=terminal, start=True, stdin=stdin,
                                stdout=stdout, stderr=stderr, checkpoint=checkpoint)
    except BaseException:
        discard(app, container_id, remove_container=True)
        raise
    sys.stdout.write(f"{pid}\n")
    return 0


def run_attached(app: App, container_id: str, remove: bool, terminal: bool,
                 interactive: bool, checkpoint: str | None = None) -> int:
    """Create + Start with FIFOs, stream until exit, Wait, Delete (and --rm's record)."""
    from pytasks.cli.stream import attached_failure, copy_process_io, resize_now
    from pytasks.stdio import FifoSet

    fifos = FifoSet.create(app.layout, container_id, "init", stdin=interactive,
                           terminal=terminal)
    created = False
    try:
        try:
            pid = app.engine.create(container_id, terminal=terminal, checkpoint=checkpoint,
                                    **fifos.request_paths())
        except BaseException:
            # This run made the container for a task that never came to be: it goes too,
            # as after a failed run -d (a retry must not find the id taken).
            discard(app, container_id, remove_container=True)
            remove = False
            raise
        created = True
        if terminal:
            resize_now(app, container_id, pid)  # before start: never a 0x0 terminal
        app.engine.start(container_id)
        if checkpoint is not None:
            pid = app.engine.get(container_id).pid  # the restored init's
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


def discard(app: App, container_id: str, *, remove_container: bool) -> None:
    """Best-effort cleanup after a failure or for --rm: never mask the original error."""
    try:
        app.engine.delete(container_id, force=True)
    except errors.PytasksError:
        pass
    if remove_container:
        try:
            app.engine.delete_container(container_id)
        except errors.PytasksError:
            pass


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_checkpoints
    from pytasks.cli.container_options import (
        CONTEXT_SETTINGS,
        container_options,
        pop_container_options,
    )
    from pytasks.cli.task_options import stdio_options

    @click.command("run", context_settings=CONTEXT_SETTINGS)
    @click.option("-d", "--detach", is_flag=True, help="Print the pid and return at once.")
    @click.option("--rm", "remove", is_flag=True,
                  help="Delete the container record too when the task has exited.")
    @click.option("-t", "--tty", "terminal", is_flag=True, help="Allocate a pseudo-terminal.")
    @click.option("-i", "--interactive", is_flag=True,
                  help="Connect our stdin to the task (EOF here closes the task's stdin).")
    @click.option("--checkpoint", default=None, metavar="REF",
                  shell_complete=complete_checkpoints,
                  help="Restore the task from this checkpoint (name, digest or unique "
                       "prefix) instead of starting CMD; the rootfs must match.")
    @stdio_options
    @container_options
    @click.argument("container_id", metavar="ID")
    @click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[CMD [ARG]...]")
    @click.pass_obj
    def run_command(app: App, detach: bool, remove: bool, terminal: bool, interactive: bool,
                    stdin: str | None, stdout: str | None, stderr: str | None,
                    checkpoint: str | None, container_id: str, command: tuple[str, ...],
                    **options: Any) -> int:
        """Create a container and run its task.

        Attached (default): the task's output streams here, signals are forwarded to it, the
        task is deleted when it exits, and pytasks exits with the task's status (125 when
        pytasks itself failed, 126/127 when the command cannot run / does not exist).
        With -d: print the pid and return; output goes to the task's log (`pytasks logs`).

        \b
        Examples:
          pytasks run --rm demo -- echo hello
          pytasks run --rm --image busybox:latest demo
          pytasks run -d --rootfs /srv/busybox --checkpoint web-20261203T100000Z web2
        """
        return run(app, detach, remove, terminal, interactive, stdin, stdout, stderr,
                   container_id, command, checkpoint, **pop_container_options(options))

    return run_command
