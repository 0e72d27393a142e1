"""pytasks resume: the Resume RPC (thaw a paused task)."""

from __future__ import annotations

from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def resume(app: App, containers: Sequence[str]) -> int:
    return for_each(containers, app.engine.resume)[1]


def command() -> click.Command:
    import click

    from pytasks.cli.complete import tasks_in
    from pytasks.lifecycle import Status

    @click.command("resume")
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=tasks_in(Status.PAUSED))
    @click.pass_obj
    def resume_command(app: App, containers: tuple[str, ...]) -> int:
        """Thaw paused tasks.

        Resuming a task that is not paused fails with exit code 5.

        \b
        Examples:
          pytasks resume web
          pytasks resume web worker
        """
        return resume(app, containers)

    return resume_command
