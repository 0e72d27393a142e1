"""pytasks resume: the Resume RPC (thaw a paused task)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("resume")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, containers: tuple[str, ...]) -> int:
    """Thaw paused tasks.

    Resuming a task that is not paused fails with exit code 5.
    """
    from pytasks.cli import actions

    return actions.resume(app, containers)
