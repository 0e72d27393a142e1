"""pytasks create: the Create RPC."""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def create(app: App, container: str, stdin: str | None, stdout: str | None,
           stderr: str | None, mounts: Sequence[str], terminal: bool,
           checkpoint: str | None = None, criu_path: str | None = None) -> int:
    from pytasks.cli.task_options import parse_rootfs_mount, stdio_paths

    stdin, stdout, stderr = stdio_paths(stdin, stdout, stderr)
    pid = app.engine.create(container, terminal=terminal, stdin=stdin, stdout=stdout,
                            stderr=stderr,
                            rootfs_mounts=[parse_rootfs_mount(m) for m in mounts],
                            checkpoint=checkpoint, criu_path=criu_path)
    sys.stdout.write(f"{pid}\n")
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_checkpoints, complete_containers
    from pytasks.cli.task_options import stdio_options

    @click.command("create")
    @stdio_options
    @click.option("--mount", "mounts", multiple=True, metavar="SPEC",
                  help="Rootfs mount performed before the runtime starts, e.g. "
                       "type=overlay,src=overlay,options=lowerdir=/l:upperdir=/u:workdir=/w "
                       "(repeatable; unmounted at delete).")
    @click.option("-t", "--tty", "terminal", is_flag=True,
                  help="Allocate a pseudo-terminal held by the monitor (see attach).")
    @click.option("--checkpoint", default=None, metavar="REF",
                  shell_complete=complete_checkpoints,
                  help="Restore the task from this checkpoint (its name, index or CRIU "
                       "image digest, or a unique prefix) when it is started.")
    @click.option("--criu", "criu_path", default=None, metavar="PATH",
                  help="The CRIU that restores it (default: PYTASKS_CRIU, the one "
                       "scripts/setup installed, else criu on PATH).")
    @click.argument("container", shell_complete=complete_containers)
    @click.pass_obj
    def create_command(app: App, container: str, stdin: str | None, stdout: str | None,
                       stderr: str | None, mounts: tuple[str, ...], terminal: bool,
                       checkpoint: str | None, criu_path: str | None) -> int:
        """Create a task for CONTAINER (not started yet) and print its pid.

        With no stdio flag, stdout and stderr append to the task's log (see the task dir).
        With --checkpoint the task is created with pid 0 and `start` restores it: its
        processes continue where the checkpoint left them, in CONTAINER's rootfs (which
        must match the checkpointed one).

        \b
        Examples:
          pytasks create web
          pytasks create --tty --stdout /tmp/web.out web
          pytasks create --checkpoint web-20261203T100000Z web2
        """
        return create(app, container, stdin, stdout, stderr, mounts, terminal, checkpoint,
                      criu_path)

    return create_command
