"""pytasks start: the Start RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("start")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, containers: tuple[str, ...]) -> int:
    """Start created tasks (their init process begins to run)."""
    from pytasks.cli import actions

    return actions.start(app, containers)
