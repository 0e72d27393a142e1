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
    if output_format == "json":
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2

        task = app.service.get(tasks_pb2.GetTaskRequest(container_id=container)).task
        click.echo(task_json(task))
        return 0
    # The table renders from the record the Get RPC wraps (no protobuf import: see list.py).
    from pytasks import ids
    from pytasks.cli.output import render_table
    from pytasks.task import load

    view = load(app.layout, ids.validate(container, "container id"))
    rec = view.record
    render_table(["TASK", "PID", "STATUS", "STDIN", "STDOUT", "STDERR"],
                 [[view.task_id, str(view.pid), view.status.name, rec.get("stdin") or "-",
                   rec.get("stdout") or "-", rec.get("stderr") or "-"]])
    return 0


def task_json(task: object) -> str:
    """GetTaskResponse as JSON. The spec Any carries OCI JSON, not a protobuf message, so
    the canonical mapping cannot expand it: it is shown as {"type_url", "value": <spec>}."""
    import json

    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.output import message_to_json

    copy = tasks_pb2.GetTaskResponse()
    copy.task.CopyFrom(task)
    spec = copy.task.spec
    type_url, value = spec.type_url, spec.value
    copy.task.ClearField("spec")
    data = json.loads(message_to_json(copy))
    if type_url:
        data["task"]["spec"] = {"type_url": type_url, "value": json.loads(value)}
    return json.dumps(data, indent=2)
