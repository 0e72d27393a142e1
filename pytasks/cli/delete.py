"""pytasks delete: the Delete RPC (with --force: Kill SIGKILL + Wait + Delete, as ctr)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.options import format_option

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("delete")
@click.option("-f", "--force", is_flag=True,
              help="Kill a running or paused task with SIGKILL, wait for it, then delete.")
@format_option
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, force: bool, output_format: str, containers: tuple[str, ...]) -> int:
    """Delete stopped (or, with -f, any) tasks and print each exit status."""
    from pytasks.cli import actions

    return actions.delete(app, force, output_format, containers)
