"""pytasks pause: the Pause RPC (freeze every process of the task)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("pause")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, containers: tuple[str, ...]) -> int:
    """Freeze running tasks (cgroup freezer); `resume` thaws them.

    Pausing a task that is not running fails with exit code 5.
    """
    from pytasks.cli import actions

    return actions.pause(app, containers)
