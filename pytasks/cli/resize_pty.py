"""pytasks resize-pty: the ResizePty RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("resize-pty")
@click.argument("container", shell_complete=complete_tasks)
@click.argument("pid", type=click.IntRange(min=0))
@click.argument("cols", type=click.IntRange(1, 65535))
@click.argument("rows", type=click.IntRange(1, 65535))
@click.pass_obj
def command(app: App, container: str, pid: int, cols: int, rows: int) -> int:
    """Set the terminal size of a process (the init pid, or 0, for the task itself).
    A process without a terminal is left alone."""
    app.engine.resize_pty(container, pid, cols, rows)
    return 0
