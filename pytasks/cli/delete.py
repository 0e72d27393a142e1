"""pytasks delete: the Delete RPC (with --force: Kill SIGKILL + Wait + Delete, as ctr)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.output import FORMAT_OPTION

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("delete")
@click.option("-f", "--force", is_flag=True,
              help="Kill a running or paused task with SIGKILL, wait for it, then delete.")
@FORMAT_OPTION
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, force: bool, output_format: str, containers: tuple[str, ...]) -> int:
    """Delete stopped (or, with -f, any) tasks and print each exit status."""
    from pytasks.cli.batch import for_each
    from pytasks.cli.output import message_to_json, render_table

    results, code = for_each(containers, lambda c: delete_task(app, c, force=force))
    if output_format == "json":
        import json

        click.echo(json.dumps([json.loads(message_to_json(r)) for _, r in results], indent=2))
    elif results:
        render_table(["TASK", "EXIT STATUS", "EXITED AT"],
                     [[c, *describe_exit(r)] for c, r in results])
    return code


def delete_task(app: App, container: str, *, force: bool) -> Any:
    import signal

    from pytasks import errors
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.api.extension.v1 import extension_pb2
    from pytasks.lifecycle import Status
    from pytasks.task import task_status

    # The status comes from the records (Get would also read and wrap the whole spec);
    # an unknown task falls through to Delete, which reports it.
    if force and task_status(app.layout, container) in (
            Status.RUNNING, Status.PAUSED, Status.CREATED, Status.UNKNOWN):
        try:
            app.service.kill(tasks_pb2.KillRequest(container_id=container,
                                                   signal=signal.SIGKILL, all=True))
        except errors.NotFoundError:
            pass  # it finished meanwhile: exactly what we wanted
        app.service.wait(extension_pb2.WaitRequest(container_id=container))
    return app.service.delete(tasks_pb2.DeleteTaskRequest(container_id=container))


def describe_exit(resp: Any) -> list[str]:
    if not resp.HasField("exited_at"):
        return ["unknown", "-"] if resp.exit_status == 255 else [str(resp.exit_status), "-"]
    return [str(resp.exit_status), resp.exited_at.ToJsonString()]
