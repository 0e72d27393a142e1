"""pytasks wait: the Wait RPC of the pytasks extension service."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.output import FORMAT_OPTION

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("wait")
@click.option("--pid", type=click.IntRange(min=1), default=None,
              help="Wait for this process of the task instead of its init.")
@FORMAT_OPTION
@click.argument("container", shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, pid: int | None, output_format: str, container: str) -> int:
    """Wait until the task exits; print its exit status and exit with it.

    Returns at once for a stopped task. If the monitor was lost and no exit was recorded,
    prints 255, says so on stderr, and exits 255. --format json prints the WaitResponse
    (exit_status, exited_at, exit_status_known) instead of the bare status.
    """
    from pytasks.api.extension.v1 import extension_pb2

    resp = app.service.wait(extension_pb2.WaitRequest(container_id=container, pid=pid or 0))
    if output_format == "json":
        from pytasks.cli.output import print_message_json

        print_message_json(resp)
    else:
        click.echo(resp.exit_status)
    if not resp.exit_status_known:
        sys.stderr.write(f"pytasks: exit status of {container} is unknown "
                         "(its monitor was lost before recording an exit)\n")
    return resp.exit_status
