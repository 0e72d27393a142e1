"""pytasks list: the List RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.output import FORMAT_OPTION, QUIET_OPTION

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("list")
@click.option("--filter", "filter_text", default="", metavar="EXPR",
              help="containerd filter, e.g. 'status==running,id~=^web' (',' = and).")
@QUIET_OPTION
@FORMAT_OPTION
@click.pass_obj
def command(app: App, filter_text: str, quiet: bool, output_format: str) -> int:
    """List the tasks of the namespace: TASK PID STATUS."""
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.output import print_ids, print_message_json, render_table
    from pytasks.lifecycle import Status

    resp = app.service.list(tasks_pb2.ListTasksRequest(filter=filter_text))
    if quiet:
        print_ids(t.id for t in resp.tasks)
    elif output_format == "json":
        print_message_json(resp)
    else:
        render_table(["TASK", "PID", "STATUS"],
                     [[t.id, str(t.pid), Status(t.status).name] for t in resp.tasks])
    return 0
