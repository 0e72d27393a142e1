"""pytasks close-io: the CloseIO RPC."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def close_io(app: App, stdin: bool, container: str, pid: int) -> int:
    app.engine.close_io(container, pid, stdin)
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import pid_type

    @click.command("close-io")
    @click.option("--stdin/--no-stdin", default=True, show_default=True,
                  help="Close the process's stdin (the only stream CloseIO closes).")
    @click.argument("container", shell_complete=complete_tasks)
    @click.argument("pid", type=pid_type(0))
    @click.pass_obj
    def close_io_command(app: App, stdin: bool, container: str, pid: int) -> int:
        """Close a process's stdin (the init pid, or 0, for the task itself): it reads EOF
        once every writer is gone. Until this call, a client going away never closes it.

        \b
        Examples:
          pytasks close-io box 0
          pytasks close-io box 4242
        """
        return close_io(app, stdin, container, pid)

    return close_io_command
