"""pytasks create: the Create RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_containers
from pytasks.cli.task_options import stdio_options

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("create")
@stdio_options
@click.option("--mount", "mounts", multiple=True, metavar="SPEC",
              help="Rootfs mount performed before the runtime starts, e.g. "
                   "type=overlay,src=overlay,options=lowerdir=/l:upperdir=/u:workdir=/w "
                   "(repeatable; unmounted at delete).")
@click.option("-t", "--tty", "terminal", is_flag=True,
              help="Allocate a pseudo-terminal held by the monitor (see attach).")
@click.argument("container", shell_complete=complete_containers)
@click.pass_obj
def command(app: App, container: str, stdin: str | None, stdout: str | None,
            stderr: str | None, mounts: tuple[str, ...], terminal: bool) -> int:
    """Create a task for CONTAINER (not started yet) and print its pid.

    With no stdio flag, stdout and stderr append to the task's log (see the task dir).
    """
    from pytasks import ids
    from pytasks.cli.container_spec import resolve_stdio
    from pytasks.cli.task_options import parse_rootfs_mount

    ids.validate(container, "container id")
    pid = app.engine.create(container, terminal=terminal,
                            rootfs_mounts=[parse_rootfs_mount(m) for m in mounts],
                            **resolve_stdio(app, container, stdin, stdout, stderr))
    click.echo(pid)
    return 0
