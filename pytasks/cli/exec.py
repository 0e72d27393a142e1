"""pytasks exec: the Exec RPC (+ Wait and DeleteProcess when attached)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True,
              help="Print the pid and return; output goes to the task's log.")
@click.option("-t", "--tty", "terminal", is_flag=True, help="Allocate a pseudo-terminal.")
@click.option("-i", "--interactive", is_flag=True,
              help="Connect our stdin (EOF here closes the process's stdin).")
@click.option("--cwd", metavar="DIR", help="Working directory inside the container.")
@click.option("--env", multiple=True, metavar="K=V", help="Set an environment variable.")
@click.option("--user", metavar="UID[:GID]", help="Numeric user (and group) to run as.")
@click.argument("container", shell_complete=complete_tasks)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED,
                metavar="[--] CMD [ARG]...")
@click.pass_obj
def command(app: App, detach: bool, terminal: bool, interactive: bool, cwd: str | None,
            env: tuple[str, ...], user: str | None, container: str,
            command: tuple[str, ...]) -> int:
    """Run an extra process in a running task.

    Attached (default): output streams here, signals are forwarded, and pytasks exits with
    the process's status (126 cannot execute, 127 not found, 125 pytasks failed); the
    process record is then deleted. With -d: print the pid and return.
    """
    from pytasks.cli import actions

    return actions.exec_(app, detach, terminal, interactive, cwd, env, user, container,
                         command)
