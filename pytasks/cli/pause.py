"""pytasks pause: the Pause RPC (freeze every process of the task)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("pause")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, containers: tuple[str, ...]) -> int:
    """Freeze running tasks (cgroup freezer); `resume` thaws them.

    Pausing a task that is not running fails with exit code 5.
    """
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.batch import for_each

    _, code = for_each(containers, lambda c: app.service.pause(
        tasks_pb2.PauseTaskRequest(container_id=c)))
    return code
