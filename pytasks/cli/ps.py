"""pytasks ps: the ListProcesses RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.options import format_option

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("ps")
@click.option("--env", "show_env", is_flag=True,
              help="Also show each process's environment (it may hold secrets).")
@format_option
@click.argument("container", shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, show_env: bool, output_format: str, container: str) -> int:
    """List the processes of a task: its init, exec'd processes and their children.

    Pids are host pids. TYPE is init, exec (started by `pytasks exec`) or child (forked
    by one of those). Exec processes that exited stay listed as STOPPED with their exit
    status until `delete-process` (or the task's delete) removes their record.
    """
    from pytasks.cli import actions

    return actions.ps(app, show_env, output_format, container)
