"""pytasks kill: the Kill RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("kill")
@click.option("-s", "--signal", "signal_name", default="SIGTERM", show_default=True,
              metavar="SIGNAL", help="Signal name (TERM, SIGTERM) or number.")
@click.option("-a", "--all", "all_processes", is_flag=True,
              help="Signal every process of the task, not only its init.")
@click.option("--pid", type=click.IntRange(min=1), default=None,
              help="Signal this process of the task (the init or an exec'd process).")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, signal_name: str, all_processes: bool, pid: int | None,
            containers: tuple[str, ...]) -> int:
    """Send a signal to tasks. Killing a finished process fails with exit code 3."""
    from pytasks.cli import actions

    return actions.kill(app, signal_name, all_processes, pid, containers)
