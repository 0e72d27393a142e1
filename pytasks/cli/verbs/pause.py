"""pytasks pause: the Pause RPC (freeze every process of the task)."""

from __future__ import annotations

from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def pause(app: App, containers: Sequence[str]) -> int:
    return for_each(containers, app.engine.pause)[1]


def command() -> click.Command:
    import click

    from pytasks.cli.complete import tasks_in
    from pytasks.lifecycle import Status

    @click.command("pause")
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=tasks_in(Status.RUNNING))
    @click.pass_obj
    def pause_command(app: App, containers: tuple[str, ...]) -> int:
        """Freeze running tasks (cgroup freezer); `resume` thaws them.

        Pausing a task that is not running fails with exit code 5.

        \b
        Examples:
          pytasks pause web
          pytasks pause web worker
        """
        return pause(app, containers)

    return pause_command
