"""pytasks delete-process: the DeleteProcess RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.output import FORMAT_OPTION

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("delete-process")
@FORMAT_OPTION
@click.argument("container", shell_complete=complete_tasks)
@click.argument("pid", type=click.IntRange(min=1))
@click.pass_obj
def command(app: App, output_format: str, container: str, pid: int) -> int:
    """Remove an exited exec process's record and print its exit status and time.
    Refused (exit 5) while it runs, and for the init (use delete)."""
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.delete import describe_exit
    from pytasks.cli.output import print_message_json, render_table

    resp = app.service.delete_process(tasks_pb2.DeleteProcessRequest(container_id=container,
                                                                      pid=pid))
    if output_format == "json":
        print_message_json(resp)
    else:
        render_table(["PID", "EXIT STATUS", "EXITED AT"], [[str(pid), *describe_exit(resp)]])
    return 0
