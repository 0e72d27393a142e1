"""pytasks resize-pty: the ResizePty RPC."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def resize_pty(app: App, container: str, pid: int, cols: int, rows: int) -> int:
    app.engine.resize_pty(container, pid, cols, rows)
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.checks import TERMINAL_MAX
    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import pid_type

    @click.command("resize-pty")
    @click.argument("container", shell_complete=complete_tasks)
    @click.argument("pid", type=pid_type(0))
    @click.argument("cols", type=click.IntRange(1, TERMINAL_MAX))
    @click.argument("rows", type=click.IntRange(1, TERMINAL_MAX))
    @click.pass_obj
    def resize_pty_command(app: App, container: str, pid: int, cols: int, rows: int) -> int:
        """Set the terminal size of a process (the init pid, or 0, for the task itself).
        A process without a terminal is left alone.

        \b
        Examples:
          pytasks resize-pty box 0 120 40
          pytasks resize-pty box 4242 80 24
        """
        return resize_pty(app, container, pid, cols, rows)

    return resize_pty_command
