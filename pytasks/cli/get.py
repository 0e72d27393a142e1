"""pytasks get: the Get RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.output import FORMAT_OPTION

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("get")
@FORMAT_OPTION
@click.argument("container", shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, output_format: str, container: str) -> int:
    """Show one task: pid, status and stdio (JSON adds the OCI spec)."""
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.output import render_table
    from pytasks.lifecycle import Status

    task = app.service.get(tasks_pb2.GetTaskRequest(container_id=container)).task
    if output_format == "json":
        click.echo(task_json(task))
        return 0
    render_table(["TASK", "PID", "STATUS", "STDIN", "STDOUT", "STDERR"],
                 [[task.id, str(task.pid), Status(task.status).name, task.stdin or "-",
                   task.stdout or "-", task.stderr or "-"]])
    return 0


def task_json(task: object) -> str:
    """GetTaskResponse as JSON. The spec Any carries OCI JSON, not a protobuf message, so
    the canonical mapping cannot expand it: it is shown as {"type_url", "value": <spec>}."""
    import json

    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.output import message_to_json

    copy = tasks_pb2.GetTaskResponse()
    copy.task.CopyFrom(task)  # type: ignore[arg-type]
    spec = copy.task.spec
    type_url, value = spec.type_url, spec.value
    copy.task.ClearField("spec")
    data = json.loads(message_to_json(copy))
    if type_url:
        data["task"]["spec"] = {"type_url": type_url, "value": json.loads(value)}
    return json.dumps(data, indent=2)
