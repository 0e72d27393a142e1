"""pytasks kill: the Kill RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("kill")
@click.option("-s", "--signal", "signal_name", default="SIGTERM", show_default=True,
              metavar="SIGNAL", help="Signal name (TERM, SIGTERM) or number.")
@click.option("-a", "--all", "all_processes", is_flag=True,
              help="Signal every process of the task, not only its init.")
@click.option("--pid", type=click.IntRange(min=1), default=None,
              help="Signal this process of the task (the init or an exec'd process).")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, signal_name: str, all_processes: bool, pid: int | None,
            containers: tuple[str, ...]) -> int:
    """Send a signal to tasks. Killing a finished process fails with exit code 3."""
    from pytasks import signals
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.cli.batch import for_each

    if all_processes and pid is not None:
        raise click.UsageError("--all and --pid are mutually exclusive")
    signum = signals.parse(signal_name)
    def kill(container: str) -> object:
        req = tasks_pb2.KillRequest(container_id=container, signal=signum)
        if all_processes:
            req.all = True
        elif pid is not None:
            req.pid = pid
        return app.service.kill(req)

    _, code = for_each(containers, kill)
    return code
