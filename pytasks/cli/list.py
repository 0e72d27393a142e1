"""pytasks list: the List RPC.

Table and -q output render from the Engine's list (the RPC without protobuf, which costs
more to import than the rest of a light call); --format json prints the ListTasksResponse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.options import format_option, quiet_option

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("list")
@click.option("--filter", "filter_text", default="", metavar="EXPR",
              help="containerd filter, e.g. 'status==running,id~=^web' (',' = and).")
@quiet_option
@format_option
@click.pass_obj
def command(app: App, filter_text: str, quiet: bool, output_format: str) -> int:
    """List the tasks of the namespace: TASK PID STATUS."""
    from pytasks.cli import actions

    return actions.list_tasks(app, filter_text, quiet, output_format)
