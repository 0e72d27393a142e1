"""pytasks start: the Start RPC."""

from __future__ import annotations

from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def start(app: App, containers: Sequence[str]) -> int:
    return for_each(containers, app.engine.start)[1]


def command() -> click.Command:
    import click

    from pytasks.cli.complete import tasks_in
    from pytasks.lifecycle import Status

    @click.command("start")
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=tasks_in(Status.CREATED))
    @click.pass_obj
    def start_command(app: App, containers: tuple[str, ...]) -> int:
        """Start created tasks (their init process begins to run).

        \b
        Examples:
          pytasks start web
          pytasks start web worker
        """
        return start(app, containers)

    return start_command
