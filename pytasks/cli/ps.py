"""pytasks ps: the ListProcesses RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.output import FORMAT_OPTION

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("ps")
@click.option("--env", "show_env", is_flag=True,
              help="Also show each process's environment (it may hold secrets).")
@FORMAT_OPTION
@click.argument("container", shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, show_env: bool, output_format: str, container: str) -> int:
    """List the processes of a task: its init, exec'd processes and their children.

    Pids are host pids. TYPE is init, exec (started by `pytasks exec`) or child (forked
    by one of those). Exec processes that exited stay listed as STOPPED with their exit
    status until `delete-process` (or the task's delete) removes their record.
    """
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.output import print_message_json, render_table

    resp = app.service.list_processes(tasks_pb2.ListProcessesRequest(container_id=container))
    if not show_env:
        for proc in resp.processes:
            del proc.env[:]  # never print secrets unasked, not even in JSON
    if output_format == "json":
        print_message_json(resp)
        return 0
    headers = ["PID", "TYPE", "USER", "STATUS", "CMD", *(["ENV"] if show_env else [])]
    render_table(headers, [process_row(p, show_env) for p in resp.processes])
    return 0


def details(proc: Any) -> dict[str, Any]:
    """The runtime_data Struct the service attaches (kind, user_name), or {}."""
    from google.protobuf import json_format, struct_pb2

    info = struct_pb2.Struct()
    if not proc.HasField("runtime_data") or not proc.runtime_data.Unpack(info):
        return {}
    return json_format.MessageToDict(info)


def process_row(proc: Any, show_env: bool = False) -> list[str]:
    import shlex

    from pytasks.lifecycle import Status

    info = details(proc)
    status = Status(proc.status).name
    if proc.status == Status.STOPPED:
        status += f" ({proc.exit_status})"
    row = [str(proc.pid), str(info.get("kind", "-")),
           str(info.get("user_name") or proc.user.uid), status,
           shlex.join(proc.args) if proc.args else "-"]
    if show_env:
        row.append(shlex.join(proc.env) if proc.env else "-")
    return row
