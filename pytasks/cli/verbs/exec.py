"""pytasks exec: the Exec RPC (+ Wait and DeleteProcess when attached)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pytasks import errors

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import click

    from pytasks.cli.app import App


def exec_process(app: App, detach: bool, terminal: bool, interactive: bool, cwd: str | None,
                 env: Sequence[str], user: str | None, container: str,
                 command: Sequence[str]) -> int:
    from pytasks import ids, spec
    from pytasks.cli import checks
    from pytasks.cli.stream import attached_failure
    from pytasks.cli.usage import usage_error

    # A bad id or option is misuse (exit 2), found before the task is looked at; what fails
    # after these checks is pytasks failing an attached verb (125).
    ids.validate(container, "container id")
    args = list(command[1:] if command[:1] == ("--",) or command[:1] == ["--"] else command)
    if not args:
        raise usage_error("exec", "missing CMD")
    if detach and interactive:
        raise usage_error("exec", "-i cannot be used with -d/--detach")
    checks.texts(args, "argument")
    checks.texts(env, "--env")
    for option, value in (("--cwd", cwd), ("--user", user)):
        if value is not None:
            checks.text(value, option)
    spec.apply_overrides({}, env=env, cwd=cwd)  # their syntax, on no spec
    if user is not None:
        from pytasks import accounts

        accounts.parse(user)  # its syntax; names are looked up in the container's root
    try:
        process = process_spec(app, container, args, cwd=cwd, env=env, user=user,
                               terminal=terminal)
    except errors.PytasksError as exc:
        if detach or isinstance(exc, errors.InvalidArgumentError):
            raise  # misuse (an unknown --user name) is exit 2 on an attached exec too
        return attached_failure(exc)
    if detach:
        # No stdio given: the Engine sends the output to the task's log.
        sys.stdout.write(f"{app.engine.exec(container, process, terminal=terminal)}\n")
        return 0
    return exec_attached(app, container, process, terminal, interactive)


def process_spec(app: App, container: str, args: list[str], *, cwd: str | None,
                 env: Sequence[str], user: str | None, terminal: bool) -> dict[str, Any]:
    """The container's process with args/cwd/env/user/terminal overridden (as ctr does)."""
    import json

    from pytasks import spec

    raw = app.engine.spec(container)
    if raw is None:
        app.engine.get(container)  # no task: NotFound (a half-created one has no spec yet)
    base = json.loads(raw or b"{}")
    user_root = None
    if user is not None:
        from pytasks import accounts

        if accounts.needs_root(user):
            # The container's own files as its processes see them (mounts included).
            pid = app.engine.get(container).pid
            user_root = f"/proc/{pid}/root" if pid > 0 else None
    overridden = spec.apply_overrides(base, args=args, env=env, cwd=cwd, user=user,
                                      user_root=user_root, terminal=terminal)
    process: dict[str, Any] = overridden["process"]
    if terminal:
        from pytasks.stdio import terminal_size

        size = terminal_size()
        if size is not None:
            # Sized before the process starts, so it never sees 0x0 (runc applies it).
            process["consoleSize"] = {"width": size[0], "height": size[1]}
    return process


def exec_attached(app: App, container: str, process: dict[str, Any], terminal: bool,
                  interactive: bool) -> int:
    """Exec with FIFOs, stream until exit, Wait, DeleteProcess."""
    from pytasks.cli.stream import attached_failure, copy_process_io, quietly
    from pytasks.stdio import FifoSet

    fifos = FifoSet.create(app.layout, container, "exec", stdin=interactive,
                           terminal=terminal)
    pid = 0
    try:
        pid = app.engine.exec(container, process, terminal=terminal, **fifos.request_paths())
        copy_process_io(app, container, pid, fifos, stdin=interactive, terminal=terminal)
        status = app.engine.wait(container, pid).status
    except errors.PytasksError as exc:
        status = attached_failure(exc)
    finally:
        fifos.close()
    if pid:
        quietly(lambda: app.engine.delete_process(container, pid))
    return status


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks

    @click.command("exec", context_settings={"allow_interspersed_args": False})
    @click.option("-d", "--detach", is_flag=True,
                  help="Print the pid and return; output goes to the task's log.")
    @click.option("-t", "--tty", "terminal", is_flag=True, help="Allocate a pseudo-terminal.")
    @click.option("-i", "--interactive", is_flag=True,
                  help="Connect our stdin (EOF here closes the process's stdin).")
    @click.option("--cwd", metavar="DIR", help="Working directory inside the container.")
    @click.option("--env", multiple=True, metavar="K=V", help="Set an environment variable.")
    @click.option("--user", metavar="USER[:GROUP]",
                  help="User (and group) to run as: numbers, or names from the "
                       "container's /etc/passwd and /etc/group.")
    @click.argument("container", shell_complete=complete_tasks)
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED,
                    metavar="[--] CMD [ARG]...")
    @click.pass_obj
    def exec_command(app: App, detach: bool, terminal: bool, interactive: bool,
                     cwd: str | None, env: tuple[str, ...], user: str | None, container: str,
                     command: tuple[str, ...]) -> int:
        """Run an extra process in a running task.

        Attached (default): output streams here, signals are forwarded, and pytasks exits with
        the process's status (126 cannot execute, 127 not found, 125 pytasks failed); the
        process record is then deleted. With -d: print the pid and return.

        \b
        Examples:
          pytasks exec web ps
          pytasks exec -it web sh
        """
        return exec_process(app, detach, terminal, interactive, cwd, env, user, container,
                            command)

    return exec_command
