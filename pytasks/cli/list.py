"""pytasks list: the List RPC.

Table and -q output render straight from the task records (pytasks.task.select, which the
List RPC itself wraps): the protobuf runtime costs ~20 ms to import, more than the rest of
a light call, so it is loaded only for --format json (DESIGN §8, issue 5 budgets).
"""

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
    from pytasks.cli.output import print_ids, print_message_json, render_table

    if output_format == "json" and not quiet:
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2

        print_message_json(app.service.list(tasks_pb2.ListTasksRequest(filter=filter_text)))
        return 0
    from pytasks.task import select

    views = select(app.layout, filter_text)
    if quiet:
        print_ids(v.task_id for v in views)
    else:
        render_table(["TASK", "PID", "STATUS"],
                     [[v.task_id, str(v.pid), v.status.name] for v in views])
    return 0
