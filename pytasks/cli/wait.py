"""pytasks wait: the Wait RPC of the pytasks extension service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.options import format_option

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("wait")
@click.option("--pid", type=click.IntRange(min=1), default=None,
              help="Wait for this process of the task instead of its init.")
@format_option
@click.argument("container", shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, pid: int | None, output_format: str, container: str) -> int:
    """Wait until the task exits; print its exit status and exit with it.

    Returns at once for a stopped task. If the monitor was lost and no exit was recorded,
    prints 255, says so on stderr, and exits 255. --format json prints the WaitResponse
    (exit_status, exited_at, exit_status_known) instead of the bare status.
    """
    from pytasks.cli import actions

    return actions.wait(app, pid, output_format, container)
