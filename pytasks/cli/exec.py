"""pytasks exec: the Exec RPC (+ Wait and DeleteProcess when attached)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pytasks.cli.complete import complete_tasks

if TYPE_CHECKING:
    from pytasks.cli.app import App
    from pytasks.stdio import StdioPaths

SPEC_PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"


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
    from pytasks import errors, ids

    ids.validate(container, "container id")
    args = list(command[1:] if command[:1] == ("--",) else command)
    if not args:
        raise click.UsageError("missing CMD")
    if detach and interactive:
        raise click.UsageError("-i cannot be used with -d/--detach")
    try:
        process = process_spec(app, container, args, cwd=cwd, env=env, user=user,
                               terminal=terminal)
    except errors.PytasksError as exc:
        if detach:
            raise
        from pytasks.cli.attached import attached_failure

        return attached_failure(exc)
    if detach:
        return exec_detached(app, container, process, terminal)
    return exec_attached(app, container, process, terminal, interactive)


def process_spec(app: App, container: str, args: list[str], *, cwd: str | None,
                 env: tuple[str, ...], user: str | None, terminal: bool) -> dict[str, Any]:
    """The container's process with args/cwd/env/user/terminal overridden (as ctr does)."""
    import json

    from pytasks import spec
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2

    task = app.service.get(tasks_pb2.GetTaskRequest(container_id=container)).task
    base = json.loads(task.spec.value or b"{}")
    overridden = spec.apply_overrides(base, args=args, env=env, cwd=cwd, user=user,
                                      terminal=terminal)
    process = overridden["process"]
    if terminal:
        from pytasks.stdio import terminal_size

        size = terminal_size()
        if size is not None:
            # Sized before the process starts, so it never sees 0x0 (runc applies it).
            process["consoleSize"] = {"width": size[0], "height": size[1]}
    return process


def _request(container: str, process: dict[str, Any], terminal: bool,
             stdio: StdioPaths) -> Any:
    import json

    from google.protobuf import any_pb2

    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2

    return tasks_pb2.ExecProcessRequest(
        container_id=container, terminal=terminal,
        spec=any_pb2.Any(type_url=SPEC_PROCESS_TYPE_URL, value=json.dumps(process).encode()),
        **stdio)


def exec_detached(app: App, container: str, process: dict[str, Any], terminal: bool) -> int:
    from pytasks.state import layout as names

    log = str(app.layout.task_file(container, names.OUTPUT_LOG))
    resp = app.service.exec(_request(container, process, terminal,
                                     {"stdin": "", "stdout": log, "stderr": log}))
    click.echo(resp.pid)
    return 0


def exec_attached(app: App, container: str, process: dict[str, Any], terminal: bool,
                  interactive: bool) -> int:
    from pytasks import errors
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
    from pytasks.api.extension.v1 import extension_pb2
    from pytasks.cli.attached import attached_failure, copy_process_io
    from pytasks.stdio import FifoSet

    fifos = FifoSet.create(app.layout, container, "exec", stdin=interactive,
                           terminal=terminal)
    pid = 0
    try:
        pid = app.service.exec(_request(container, process, terminal,
                                        fifos.request_paths())).pid
        copy_process_io(app, container, pid, fifos, stdin=interactive, terminal=terminal)
        status = int(app.service.wait(extension_pb2.WaitRequest(
            container_id=container, pid=pid)).exit_status)
    except errors.PytasksError as exc:
        status = attached_failure(exc)
    finally:
        fifos.close()
    if pid:
        try:
            app.service.delete_process(tasks_pb2.DeleteProcessRequest(container_id=container,
                                                                      pid=pid))
        except errors.PytasksError as exc:
            click.echo(f"pytasks: {exc}", err=True)
    return status
