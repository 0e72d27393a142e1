"""pytasks get: the Get RPC."""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def get(app: App, output_format: str, container: str) -> int:
    if output_format == "json":
        from pytasks import ids

        # Before it goes into a request message (protobuf refuses text that is not UTF-8);
        # the table path leaves it to the Engine, which checks every id on its way in.
        ids.validate(container, "container id")
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
        from pytasks.cli.output import task_json

        task = app.service.get(tasks_pb2.GetTaskRequest(container_id=container)).task
        oom_killed = app.engine.get(container).oom_killed
        sys.stdout.write(task_json(task, oom_killed=oom_killed) + "\n")
        return 0
    from pytasks.cli.output import render_table

    view = app.engine.get(container)
    rec = view.record
    render_table(["TASK", "PID", "STATUS", "STDIN", "STDOUT", "STDERR"],
                 [[view.task_id, str(view.pid), view.status.name, rec.get("stdin") or "-",
                   rec.get("stdout") or "-", rec.get("stderr") or "-"]])
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import format_option

    @click.command("get")
    @format_option
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def get_command(app: App, output_format: str, container: str) -> int:
        """Show one task: pid, status and stdio (JSON adds the OCI spec).

        \b
        Examples:
          pytasks get web
          pytasks get --format json web | jq .task.status
        """
        return get(app, output_format, container)

    return get_command
