"""pytasks run: containers create + Create + Start, then (unless -d) attach, wait, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pytasks.cli.container_options import CONTEXT_SETTINGS, container_options
from pytasks.cli.task_options import stdio_options

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("run", context_settings=CONTEXT_SETTINGS)
@click.option("-d", "--detach", is_flag=True, help="Print the pid and return at once.")
@click.option("--rm", "remove", is_flag=True,
              help="Delete the container record too when the task has exited.")
@click.option("-t", "--tty", "terminal", is_flag=True, help="Allocate a pseudo-terminal.")
@click.option("-i", "--interactive", is_flag=True,
              help="Connect our stdin to the task (EOF here closes the task's stdin).")
@stdio_options
@container_options
@click.argument("container_id", metavar="ID")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[CMD [ARG]...]")
@click.pass_obj
def command(app: App, detach: bool, remove: bool, terminal: bool, interactive: bool,
            stdin: str | None, stdout: str | None, stderr: str | None, container_id: str,
            command: tuple[str, ...], **options: Any) -> int:
    """Create a container and run its task.

    Attached (default): the task's output streams here, signals are forwarded to it, the
    task is deleted when it exits, and pytasks exits with the task's status (125 when
    pytasks itself failed, 126/127 when the command cannot run / does not exist).
    With -d: print the pid and return; output goes to the task's log (`pytasks logs`).
    """
    from pytasks import ids
    from pytasks.cli.container_options import build_container, pop_container_options

    ids.validate(container_id, "container id")
    if detach and remove:
        raise click.UsageError("--rm cannot be used with -d/--detach")
    if detach and interactive:
        raise click.UsageError("-i cannot be used with -d/--detach (use --stdin FIFO)")
    if not detach and any(v is not None for v in (stdin, stdout, stderr)):
        raise click.UsageError("--stdin/--stdout/--stderr need -d (attached run streams "
                               "to this terminal)")
    build_container(app, container_id, command, terminal=terminal,
                    **pop_container_options(options))
    if detach:
        return run_detached(app, container_id, terminal, stdin, stdout, stderr)
    return run_attached(app, container_id, remove, terminal, interactive)


def run_detached(app: App, container_id: str, terminal: bool, stdin: str | None,
                 stdout: str | None, stderr: str | None) -> int:
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.task_options import resolve_stdio

    try:
        resp = app.service.create(tasks_pb2.CreateTaskRequest(
            container_id=container_id, terminal=terminal,
            **resolve_stdio(app, container_id, stdin, stdout, stderr)))
        app.service.start(tasks_pb2.StartTaskRequest(container_id=container_id))
    except BaseException:
        _discard(app, container_id, remove_container=True)
        raise
    click.echo(resp.pid)
    return 0


def run_attached(app: App, container_id: str, remove: bool, terminal: bool,
                 interactive: bool) -> int:
    from pytasks import errors
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.api.extension.v1 import extension_pb2
    from pytasks.cli.attached import attached_failure, copy_process_io, resize_now
    from pytasks.stdio import FifoSet

    fifos = FifoSet.create(app.layout, container_id, "init", stdin=interactive,
                            terminal=terminal)
    created = False
    try:
        resp = app.service.create(tasks_pb2.CreateTaskRequest(
            container_id=container_id, terminal=terminal, **fifos.request_paths()))
        created = True
        if terminal:
            resize_now(app, container_id, resp.pid)  # before start: never a 0x0 terminal
        app.service.start(tasks_pb2.StartTaskRequest(container_id=container_id))
        copy_process_io(app, container_id, resp.pid, fifos, stdin=interactive,
                        terminal=terminal)
        status = int(app.service.wait(
            extension_pb2.WaitRequest(container_id=container_id)).exit_status)
        app.service.delete(tasks_pb2.DeleteTaskRequest(container_id=container_id))
        created = False
    except errors.PytasksError as exc:
        status = attached_failure(exc)
    finally:
        fifos.close()
        if created:
            _discard(app, container_id, remove_container=False)
    if remove:
        _discard(app, container_id, remove_container=True)
    return status


def _discard(app: App, container_id: str, *, remove_container: bool) -> None:
    """Best-effort cleanup after a failure or for --rm: never mask the original error."""
    from pytasks import errors
    from pytasks.cli.delete import delete_task

    try:
        delete_task(app, container_id, force=True)
    except errors.PytasksError:
        pass
    if remove_container:
        try:
            app.containers.delete(container_id)
        except errors.PytasksError:
            pass
