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
    from pytasks.cli import actions
    from pytasks.cli.container_options import pop_container_options

    return actions.run(app, detach, remove, terminal, interactive, stdin, stdout, stderr,
                       container_id, command, **pop_container_options(options))
