"""pytasks delete-process: the DeleteProcess RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.options import format_option

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("delete-process")
@format_option
@click.argument("container", shell_complete=complete_tasks)
@click.argument("pid", type=click.IntRange(min=1))
@click.pass_obj
def command(app: App, output_format: str, container: str, pid: int) -> int:
    """Remove an exited exec process's record and print its exit status and time.
    Refused (exit 5) while it runs, and for the init (use delete)."""
    from pytasks.cli.actions import describe_exit
    from pytasks.cli.output import render_table

    result = app.engine.delete_process(container, pid)
    if output_format == "json":
        from pytasks.cli.output import print_message_json
        from pytasks.service import delete_response

        print_message_json(delete_response(container, result))
    else:
        render_table(["PID", "EXIT STATUS", "EXITED AT"], [[str(pid), *describe_exit(result)]])
    return 0
